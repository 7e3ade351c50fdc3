// Calling helpers from the table the way an engine does, for tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>

#include "progs/helpers.hpp"

namespace crib::progs {

inline uint64_t u(const void* p) {
    return reinterpret_cast<uint64_t>(p);
}
inline int64_t s(uint64_t v) {
    return static_cast<int64_t>(v);
}

inline uint64_t call(int32_t id, uint64_t r1 = 0, uint64_t r2 = 0, uint64_t r3 = 0, uint64_t r4 = 0,
                     uint64_t r5 = 0) {
    const HelperInfo* h = find_helper(id);
    EXPECT_NE(h, nullptr) << id;
    if (!h || !h->fn) {
        ADD_FAILURE() << "helper " << id << " has no implementation";
        return 0;
    }
    return h->fn(r1, r2, r3, r4, r5);
}

}  // namespace crib::progs
