// Result<T>: a value or an Error. Libraries return these instead of throwing
// or printing, so callers decide how to report.
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

#include "base/error.hpp"

namespace crib {

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : m_state(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : m_state(std::in_place_index<1>, std::move(error)) {}

    bool ok() const { return m_state.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & {
        assert(ok());
        return std::get<0>(m_state);
    }
    const T& value() const& {
        assert(ok());
        return std::get<0>(m_state);
    }
    T&& value() && {
        assert(ok());
        return std::get<0>(std::move(m_state));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    Error& error() & {
        assert(!ok());
        return std::get<1>(m_state);
    }
    const Error& error() const& {
        assert(!ok());
        return std::get<1>(m_state);
    }
    Error&& error() && {
        assert(!ok());
        return std::get<1>(std::move(m_state));
    }

private:
    std::variant<T, Error> m_state;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : m_error(std::move(error)), m_failed(true) {}

    bool ok() const { return !m_failed; }
    explicit operator bool() const { return ok(); }
    void value() const { assert(ok()); }

    Error& error() & {
        assert(!ok());
        return m_error;
    }
    const Error& error() const& {
        assert(!ok());
        return m_error;
    }
    Error&& error() && {
        assert(!ok());
        return std::move(m_error);
    }

private:
    Error m_error{0, {}};
    bool m_failed = false;
};

}  // namespace crib

// Evaluate a Result; on error return it from the enclosing function, else
// yield the value. Uses a GNU statement expression (g++ and clang).
#define CRIB_TRY(expr)                                                          \
    ({                                                                          \
        auto crib_try_result_ = (expr);                                         \
        if (!crib_try_result_.ok()) return std::move(crib_try_result_).error(); \
        std::move(crib_try_result_).value();                                    \
    })
