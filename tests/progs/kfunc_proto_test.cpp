// Kfunc prototypes typed by BTF (set_ret_struct, set_arg_struct) and the
// registry's checks of them: a proto carries the struct's size and id and
// keeps its BTF alive; a missing or mistyped struct never registers.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <string>

#include "progs/kfuncs.hpp"

namespace crib::progs {
namespace {

uint64_t nop(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) {
    return 0;
}

// struct pair { unsigned int a; unsigned long long b; } (16 bytes, padded)
// and struct one { unsigned int x; }, as clang would describe them.
struct Types {
    std::shared_ptr<btf::Btf> btf;
    btf::TypeId u32 = 0, pair = 0, one = 0;
};

Types make_types() {
    struct ::btf* b = btf__new_empty();
    EXPECT_NE(b, nullptr);
    Types t;
    t.u32 = static_cast<btf::TypeId>(btf__add_int(b, "unsigned int", 4, 0));
    int u64 = btf__add_int(b, "unsigned long long", 8, 0);
    t.pair = static_cast<btf::TypeId>(btf__add_struct(b, "pair", 16));
    btf__add_field(b, "a", static_cast<int>(t.u32), 0, 0);
    btf__add_field(b, "b", u64, 64, 0);
    t.one = static_cast<btf::TypeId>(btf__add_struct(b, "one", 4));
    btf__add_field(b, "x", static_cast<int>(t.u32), 0, 0);
    t.btf = btf::Btf::adopt(b);
    return t;
}

TEST(KfuncProto, ReturnTypedByBtf) {
    Types types = make_types();
    KfuncProto proto;
    ASSERT_TRUE(set_ret_struct(proto, *types.btf, "pair").ok());
    EXPECT_EQ(proto.ret.kind, RetKind::PtrToMem);
    EXPECT_EQ(proto.ret_type, types.pair);
    EXPECT_EQ(proto.ret_size, 16u);
    EXPECT_EQ(proto.btf.get(), types.btf.get());
    EXPECT_FALSE(proto.ret_writable) << "BTF-typed returns are read-only unless the proto says";
}

TEST(KfuncProto, KeepsItsBtfAlive) {
    KfuncProto proto;
    {
        Types types = make_types();
        ASSERT_TRUE(set_ret_struct(proto, *types.btf, "one").ok());
    }
    ASSERT_TRUE(proto.btf);
    EXPECT_EQ(proto.btf->name(proto.ret_type), "one");
    EXPECT_EQ(*proto.btf->size_of(proto.ret_type), 4u);
}

TEST(KfuncProto, ArgumentTypedByBtf) {
    Types types = make_types();
    KfuncProto proto;
    proto.args[0] = {ArgKind::PtrToMem, kReadOnly};
    ASSERT_TRUE(set_arg_struct(proto, 0, *types.btf, "one").ok());
    EXPECT_EQ(proto.arg_types[0], types.one);
    EXPECT_EQ(proto.arg_types[1], 0u);

    auto out_of_range = set_arg_struct(proto, 5, *types.btf, "one");
    ASSERT_FALSE(out_of_range.ok());
    EXPECT_EQ(out_of_range.error().code(), EINVAL);
}

TEST(KfuncProto, MissingStructNamed) {
    Types types = make_types();
    KfuncProto proto;
    auto missing = set_ret_struct(proto, *types.btf, "no_such_record");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code(), ENOENT);
    EXPECT_NE(missing.error().message().find("struct no_such_record"), std::string::npos)
        << missing.error().message();
    EXPECT_EQ(proto.ret_type, 0u);
    EXPECT_FALSE(proto.btf) << "a failed lookup leaves the proto untyped";
}

TEST(KfuncProto, OneBtfPerProto) {
    Types first = make_types(), second = make_types();
    KfuncProto proto;
    ASSERT_TRUE(set_ret_struct(proto, *first.btf, "pair").ok());
    auto mixed = set_arg_struct(proto, 0, *second.btf, "one");
    ASSERT_FALSE(mixed.ok());
    EXPECT_EQ(mixed.error().code(), EINVAL);
}

// Registration, the last gate before the verifier trusts a proto's types.
Result<void> register_one(const std::string& name, KfuncProto proto) {
    return register_kfunc_set(ProgType::Tracing,
                              KfuncSet{name + "_set", {Kfunc{name, nop, 0, proto}}});
}

TEST(KfuncProtoRegistry, TypedProtoRegistersAndIsFound) {
    Types types = make_types();
    KfuncProto proto;
    proto.args[0] = {ArgKind::PtrToMem, kReadOnly};
    ASSERT_TRUE(set_ret_struct(proto, *types.btf, "pair").ok());
    ASSERT_TRUE(set_arg_struct(proto, 0, *types.btf, "one").ok());
    auto done = register_one("bpf_proto_test_typed", proto);
    ASSERT_TRUE(done.ok()) << done.error().to_string();
    const Kfunc* kfunc = find_kfunc(ProgType::Tracing, "bpf_proto_test_typed");
    ASSERT_NE(kfunc, nullptr);
    EXPECT_EQ(kfunc->proto.ret_type, types.pair);
    EXPECT_EQ(kfunc->proto.ret_size, 16u);
    EXPECT_EQ(kfunc->proto.arg_types[0], types.one);
    EXPECT_EQ(find_kfunc(ProgType::Xdp, "bpf_proto_test_typed"), nullptr);

    auto again = register_one("bpf_proto_test_typed", proto);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code(), EEXIST);
}

TEST(KfuncProtoRegistry, RefusesTypeThatIsNotAStruct) {
    Types types = make_types();
    KfuncProto proto;
    proto.ret.kind = RetKind::PtrToMem;
    proto.btf = types.btf;
    proto.ret_type = types.u32;
    proto.ret_size = 4;
    auto refused = register_one("bpf_proto_test_int_ret", proto);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), EINVAL);
    EXPECT_NE(refused.error().message().find("bpf_proto_test_int_ret: return type id"),
              std::string::npos)
        << refused.error().message();
    EXPECT_EQ(find_kfunc(ProgType::Tracing, "bpf_proto_test_int_ret"), nullptr);
}

TEST(KfuncProtoRegistry, RefusesIdOutsideItsBtf) {
    Types types = make_types();
    KfuncProto proto;
    ASSERT_TRUE(set_ret_struct(proto, *types.btf, "pair").ok());
    proto.ret_type = 999;
    auto refused = register_one("bpf_proto_test_bad_id", proto);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), EINVAL);
}

TEST(KfuncProtoRegistry, RefusesSizeThatDiffersFromBtf) {
    Types types = make_types();
    KfuncProto proto;
    ASSERT_TRUE(set_ret_struct(proto, *types.btf, "pair").ok());
    proto.ret_size = 8;
    auto refused = register_one("bpf_proto_test_bad_size", proto);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), EINVAL);
    EXPECT_NE(refused.error().message().find("returns struct pair of 16 bytes but ret_size is 8"),
              std::string::npos)
        << refused.error().message();
}

TEST(KfuncProtoRegistry, RefusesIdsWithoutTheirBtf) {
    KfuncProto proto;
    proto.ret.kind = RetKind::PtrToMem;
    proto.ret_type = 3;
    proto.ret_size = 16;
    auto refused = register_one("bpf_proto_test_no_btf", proto);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), EINVAL);
    EXPECT_NE(refused.error().message().find("without the BTF"), std::string::npos)
        << refused.error().message();
}

TEST(KfuncProtoRegistry, RefusesTypedArgumentThatIsNotAnObject) {
    Types types = make_types();
    KfuncProto proto;
    proto.args[0] = {ArgKind::Anything, 0};
    ASSERT_TRUE(set_arg_struct(proto, 0, *types.btf, "one").ok());
    auto refused = register_one("bpf_proto_test_scalar_arg", proto);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), EINVAL);
    EXPECT_NE(refused.error().message().find("arg#0"), std::string::npos)
        << refused.error().message();
}

}  // namespace
}  // namespace crib::progs
