/* The blob's first bytes: the entry the engine jumps to (offset 0) and the
 * syscall gadget the tracer uses for the last munmap (offset 16). */
    .section .text.entry, "ax"
    .globl crib_restorer_entry
crib_restorer_entry:
    jmp crib_restorer_main
    .balign 16
crib_restorer_gadget:
    syscall
    int3
    .section .note.GNU-stack, "", @progbits
