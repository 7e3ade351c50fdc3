// Files placed in the binary at compile time (BPF objects built by clang,
// the restorer blob): the library needs nothing beside itself at run time.
#pragma once

#include <cstdint>
#include <span>

// CRIB_EMBED_FILE(name, "path") defines `std::span<const uint8_t> name()`
// holding the file's bytes. `path` is a string literal (a compile
// definition); the build must recompile the user when the file changes
// (OBJECT_DEPENDS).
#define CRIB_EMBED_FILE(name, path)                                                        \
    asm(".pushsection .rodata\n"                                                           \
        ".balign 8\n"                                                                      \
        "crib_embed_" #name                                                                \
        "_begin:\n"                                                                        \
        ".incbin \"" path                                                                  \
        "\"\n"                                                                             \
        "crib_embed_" #name                                                                \
        "_end:\n"                                                                          \
        ".popsection\n");                                                                  \
    extern "C" const uint8_t crib_embed_##name##_begin[];                                  \
    extern "C" const uint8_t crib_embed_##name##_end[];                                    \
    std::span<const uint8_t> name() {                                                      \
        return {crib_embed_##name##_begin,                                                 \
                static_cast<size_t>(crib_embed_##name##_end - crib_embed_##name##_begin)}; \
    }
