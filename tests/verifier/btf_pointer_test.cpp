// What a load through a BTF-typed pointer gives, member kind by member
// kind, on the test_rich BTF of test_kfuncs.hpp (the .data cases in
// cases/btf.data check the verdicts and messages of whole programs).
#include <gtest/gtest.h>

#include <string>

#include "verifier/btf_access.hpp"
#include "verifier/test_kfuncs.hpp"

namespace crib::verifier {
namespace {

struct Load {
    const char* what;
    int64_t off;
    int size;
    bool sign_extend;
    int64_t smin;
    int64_t smax;
};

// Every member kind, whole or in part; bounds follow the load size, and the
// member's type where it says more (_Bool).
const Load kLoads[] = {
    {"u8", 0, 1, false, 0, 0xff},
    {"s8 zero-extended", 1, 1, false, 0, 0xff},
    {"s8 sign-extended", 1, 1, true, -128, 127},
    {"u16", 2, 2, false, 0, 0xffff},
    {"u32", 4, 4, false, 0, 0xffffffff},
    {"s32 sign-extended", 8, 4, true, INT32_MIN, INT32_MAX},
    {"flag (_Bool)", 24, 1, false, 0, 1},
    {"bytes[0], an array element", 25, 1, false, 0, 0xff},
    {"bytes[1..4]", 26, 4, false, 0, 0xffffffff},
    {"inner.value, low half", 32, 4, false, 0, 0xffffffff},
    {"items[1].value, a byte", 64, 1, false, 0, 0xff},
    {"color (enum)", 88, 4, false, 0, 0xffffffff},
    {"lo:4/hi:12 storage unit", 92, 2, false, 0, 0xffff},
};

// The member an access reaches, named by its path from the outer struct.
TEST(BtfStructAccess, NamesTheMemberReached) {
    auto types = test::test_types_btf();
    auto rich = *types->find("test_rich", btf::Kind::Struct);
    const std::pair<int64_t, const char*> kMembers[] = {
        {0, "u8"},    {17, "u64"}, {27, "bytes"}, {40, "inner.square"}, {64, "items[1].value"},
        {80, "next"}, {93, "lo"},
    };
    for (auto [off, member] : kMembers) {
        auto access = btf_struct_access(*types, rich, off, 1, false, false);
        ASSERT_TRUE(access.ok()) << access.error().to_string();
        EXPECT_EQ(access->member, member) << "off " << off;
    }
}

TEST(BtfStructAccess, LoadsAreBoundedByMemberAndSize) {
    auto types = test::test_types_btf();
    auto rich = types->find("test_rich", btf::Kind::Struct);
    ASSERT_TRUE(rich);
    for (const Load& load : kLoads) {
        SCOPED_TRACE(load.what);
        auto value = btf_struct_access(*types, *rich, load.off, load.size, false, load.sign_extend);
        ASSERT_TRUE(value.ok()) << value.error().to_string();
        EXPECT_EQ(value->value.smin, load.smin);
        EXPECT_EQ(value->value.smax, load.smax);
    }
}

TEST(BtfStructAccess, PointerAndU64MembersAreFullScalars) {
    auto types = test::test_types_btf();
    auto rich = *types->find("test_rich", btf::Kind::Struct);
    for (int64_t off : {16, 80}) {
        auto value = btf_struct_access(*types, rich, off, 8, false, false);
        ASSERT_TRUE(value.ok()) << value.error().to_string();
        EXPECT_EQ(value->value, Scalar::unknown()) << "off " << off;
    }
}

TEST(BtfStructAccess, StoresAreCheckedLikeLoads) {
    auto types = test::test_types_btf();
    auto rich = *types->find("test_rich", btf::Kind::Struct);
    EXPECT_TRUE(btf_struct_access(*types, rich, 16, 8, true, false).ok());
    auto into_pointer = btf_struct_access(*types, rich, 80, 8, true, false);
    ASSERT_FALSE(into_pointer.ok());
    EXPECT_EQ(into_pointer.error().code(), EACCES);
    auto straddle = btf_struct_access(*types, rich, 30, 4, true, false);
    ASSERT_FALSE(straddle.ok());
    EXPECT_NE(straddle.error().message().find("member bytes (mend:32)"), std::string::npos)
        << straddle.error().message();
}

TEST(BtfStructAccess, NotAStruct) {
    auto types = test::test_types_btf();
    auto u32 = types->find("unsigned int", btf::Kind::Int);
    ASSERT_TRUE(u32);
    auto refused = btf_struct_access(*types, *u32, 0, 4, false, false);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().message().find("is not a struct"), std::string::npos);
}

// The register's name in messages and the log, as the kernel's
// reg_type_str has it, with the struct.
TEST(BtfPointerReg, NamesItsStruct) {
    auto types = test::test_types_btf();
    RegState reg = RegState::pointer(RegType::BtfId);
    reg.btf = types.get();
    reg.btf_id = *types->find("test_item", btf::Kind::Struct);
    EXPECT_EQ(type_name(reg), "ptr_test_item");
    reg.read_only = true;
    reg.maybe_null = true;
    reg.id = 3;
    EXPECT_EQ(type_name(reg), "rdonly_ptr_or_null_test_item");
    EXPECT_EQ(describe(reg), "rdonly_ptr_or_null_test_item(id=3)");
    // Pruning must not take a pointer to one struct for one to another.
    RegState other = reg;
    other.btf_id = *types->find("test_rich", btf::Kind::Struct);
    EXPECT_FALSE(same_referent(reg, other));
}

TEST(BtfPointerReg, AccessOffsetsFollowTheKernel) {
    auto types = test::test_types_btf();
    RegState reg = RegState::pointer(RegType::BtfId);
    reg.btf = types.get();
    reg.btf_id = *types->find("test_rich", btf::Kind::Struct);
    reg.read_only = true;
    // Fixed offsets from arithmetic add to the insn's.
    reg.off = 32;
    auto inner = check_btf_access(reg, 1, 8, 8, false, false, nullptr);
    ASSERT_TRUE(inner.ok()) << inner.error().to_string();
    auto negative = check_btf_access(reg, 1, -40, 8, false, false, nullptr);
    ASSERT_FALSE(negative.ok());
    EXPECT_EQ(negative.error().message(), "R1 is ptr_test_rich invalid negative access: off=-8");
    // Variable offsets are refused, as the kernel refuses them.
    reg.value = Scalar::urange(0, 8);
    auto variable = check_btf_access(reg, 1, 0, 1, false, false, nullptr);
    ASSERT_FALSE(variable.ok());
    EXPECT_NE(
        variable.error().message().find("R1 is ptr_test_rich invalid variable offset: off=32"),
        std::string::npos)
        << variable.error().message();
    auto range = check_btf_range(reg, 1, 8, false);
    ASSERT_FALSE(range.ok());
}

}  // namespace
}  // namespace crib::verifier
