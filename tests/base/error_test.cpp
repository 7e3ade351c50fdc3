#include "base/result.hpp"

#include <gtest/gtest.h>

namespace crib {
namespace {

Result<int> half(int value) {
    if (value % 2) return make_error(EINVAL, "{} is odd", value);
    return value / 2;
}

Result<int> quarter(int value) {
    int h = CRIB_TRY(half(value));
    return CRIB_TRY(half(h));
}

TEST(Error, PrintsLocationOutsideIn) {
    Error error(EINVAL, "bad thing");
    error.at_insn(12).in_program("dump_task").in_section("crib").in_object("x.o");
    EXPECT_EQ(error.to_string(), "obj 'x.o': sec 'crib': prog 'dump_task': insn 12: bad thing");
}

TEST(Error, InnerLocationIsKept) {
    Error error(EINVAL, "m");
    error.at_insn(3).at_insn(9);
    EXPECT_EQ(*error.loc().insn, 3);
}

TEST(Result, TryPropagatesTheFirstError) {
    EXPECT_EQ(*quarter(8), 2);
    auto failed = quarter(6);
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().code(), EINVAL);
    EXPECT_EQ(failed.error().message(), "3 is odd");
}

TEST(Error, NamesErrnoValues) {
    EXPECT_EQ(errno_name(EINVAL), "EINVAL");
    EXPECT_EQ(errno_name(ENOTSUP), "EOPNOTSUPP");
}

}  // namespace
}  // namespace crib
