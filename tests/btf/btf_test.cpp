#include "btf/btf.hpp"

#include <bpf/btf.h>
#include <gtest/gtest.h>

namespace crib::btf {
namespace {

struct Built {
    std::shared_ptr<Btf> btf;
    TypeId int_id, u32, const_u32, ptr, array, point, anon_union;
};

Built build() {
    struct ::btf* b = btf__new_empty();
    Built out;
    out.int_id = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
    out.u32 = btf__add_typedef(b, "u32", out.int_id);
    out.const_u32 = btf__add_const(b, out.u32);
    out.ptr = btf__add_ptr(b, out.const_u32);
    out.array = btf__add_array(b, out.int_id, out.int_id, 3);
    out.point = btf__add_struct(b, "point___flavor", 24);
    btf__add_field(b, "x", out.int_id, 0, 0);
    btf__add_field(b, "flags", out.int_id, 32, 3);
    btf__add_field(b, "v", out.array, 64, 0);
    out.anon_union = btf__add_union(b, nullptr, 4);
    btf__add_field(b, "a", out.int_id, 0, 0);
    out.btf = Btf::adopt(b);
    return out;
}

TEST(Btf, LookupAndKinds) {
    Built t = build();
    EXPECT_EQ(t.btf->type_count(), 8u);
    EXPECT_EQ(t.btf->kind(t.point), Kind::Struct);
    EXPECT_EQ(t.btf->name(t.point), "point___flavor");
    EXPECT_EQ(t.btf->find("u32", Kind::Typedef), t.u32);
    EXPECT_FALSE(t.btf->find("u32", Kind::Struct));
    EXPECT_EQ(t.btf->find_by_essential_name("point", Kind::Struct), std::vector<TypeId>{t.point});
    EXPECT_EQ(t.btf->kind(0), Kind::Void);
    EXPECT_EQ(t.btf->kind(1000), Kind::Void);
    EXPECT_EQ(t.btf->type(1000), nullptr);
}

TEST(Btf, ModifiersAndSizes) {
    Built t = build();
    EXPECT_EQ(t.btf->skip_modifiers(t.const_u32), t.int_id);
    EXPECT_EQ(t.btf->skip_qualifiers(t.const_u32), t.u32);
    EXPECT_EQ(t.btf->target(t.ptr), t.const_u32);
    EXPECT_EQ(*t.btf->size_of(t.const_u32), 4u);
    EXPECT_EQ(*t.btf->size_of(t.array), 12u);
    EXPECT_EQ(*t.btf->size_of(t.ptr), 8u);
    EXPECT_EQ(*t.btf->size_of(t.point), 24u);
    EXPECT_FALSE(t.btf->size_of(5000));
    auto array = t.btf->array_info(t.array);
    ASSERT_TRUE(array);
    EXPECT_EQ(array->count, 3u);
    auto info = t.btf->int_info(t.int_id);
    ASSERT_TRUE(info);
    EXPECT_TRUE(info->is_signed);
    EXPECT_EQ(info->bits, 32u);
}

TEST(Btf, Members) {
    Built t = build();
    auto members = t.btf->members(t.point);
    ASSERT_EQ(members.size(), 3u);
    EXPECT_EQ(members[1].name, "flags");
    EXPECT_EQ(members[1].bit_offset, 32u);
    EXPECT_EQ(members[1].bitfield_size, 3u);
    EXPECT_EQ(members[2].bit_offset, 64u);
    EXPECT_TRUE(t.btf->members(t.int_id).empty());
}

TEST(Btf, Describe) {
    Built t = build();
    EXPECT_EQ(t.btf->describe(t.ptr), "u32 const *");
    EXPECT_EQ(t.btf->describe(t.array), "int[3]");
    EXPECT_EQ(t.btf->describe(t.point), "struct point___flavor");
    EXPECT_EQ(t.btf->describe(t.anon_union), "union (anon)");
    EXPECT_EQ(t.btf->describe(0), "void");
    EXPECT_EQ(t.btf->describe(999), "<bad type id 999>");
}

TEST(Btf, EssentialName) {
    EXPECT_EQ(essential_name("task_struct___v2"), "task_struct");
    EXPECT_EQ(essential_name("task_struct"), "task_struct");
    EXPECT_EQ(essential_name("a___b___c"), "a___b");
    EXPECT_EQ(essential_name("___x"), "___x");
}

TEST(Btf, ParseRejectsGarbage) {
    std::vector<uint8_t> junk(64, 0xab);
    auto parsed = Btf::parse(junk);
    ASSERT_FALSE(parsed);
    EXPECT_NE(parsed.error().message().find("invalid BTF"), std::string::npos);
    EXPECT_FALSE(Btf::parse({}));
}

TEST(Btf, ParseRoundTrip) {
    Built t = build();
    uint32_t size = 0;
    const void* raw = btf__raw_data(t.btf->handle(), &size);
    auto parsed = Btf::parse({static_cast<const uint8_t*>(raw), size});
    ASSERT_TRUE(parsed) << parsed.error().to_string();
    EXPECT_EQ((*parsed)->type_count(), t.btf->type_count());
    EXPECT_EQ((*parsed)->describe(t.ptr), "u32 const *");
}

}  // namespace
}  // namespace crib::btf
