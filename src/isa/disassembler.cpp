#include "isa/disassembler.hpp"

#include <fmt/format.h>

namespace crib::isa {
namespace {

// The kernel's operator spellings, one entry per Operation (disasm.c keeps
// them in arrays indexed by opcode bits; we index by meaning instead).
struct Spelling {
    Operation operation;
    std::string_view symbol;
};
constexpr Spelling kSymbols[] = {
    {Operation::Add, "+="},       {Operation::Sub, "-="},       {Operation::Mul, "*="},
    {Operation::Div, "/="},       {Operation::Sdiv, "s/="},     {Operation::Or, "|="},
    {Operation::And, "&="},       {Operation::Lsh, "<<="},      {Operation::Rsh, ">>="},
    {Operation::Mod, "%="},       {Operation::Smod, "s%="},     {Operation::Xor, "^="},
    {Operation::Mov, "="},        {Operation::Movsx, "="},      {Operation::Arsh, "s>>="},
    {Operation::Jeq, "=="},       {Operation::Jgt, ">"},        {Operation::Jge, ">="},
    {Operation::Jset, "&"},       {Operation::Jne, "!="},       {Operation::Jsgt, "s>"},
    {Operation::Jsge, "s>="},     {Operation::Jlt, "<"},        {Operation::Jle, "<="},
    {Operation::Jslt, "s<"},      {Operation::Jsle, "s<="},     {Operation::AtomicAdd, "+="},
    {Operation::AtomicOr, "|="},  {Operation::AtomicAnd, "&="}, {Operation::AtomicXor, "^="},
    {Operation::FetchAdd, "add"}, {Operation::FetchOr, "or"},   {Operation::FetchAnd, "and"},
    {Operation::FetchXor, "xor"},
};

std::string_view symbol(Operation operation) {
    for (const Spelling& spelling : kSymbols)
        if (spelling.operation == operation) return spelling.symbol;
    return "?";
}

std::string_view unsigned_type(int size) {
    switch (size) {
        case 1:
            return "u8";
        case 2:
            return "u16";
        case 4:
            return "u32";
        default:
            return "u64";
    }
}

std::string_view signed_type(int size) {
    switch (size) {
        case 1:
            return "s8";
        case 2:
            return "s16";
        default:
            return "s32";
    }
}

// Registers print as wN in 32-bit ALU and JMP32 instructions.
char reg_prefix(const OpInfo& row) {
    return row.width == 32 ? 'w' : 'r';
}

std::string lddw_operand(const Insn& insn, int pc, const DisasmOptions& options) {
    if (options.imm_name) {
        std::string name = options.imm_name(insn, pc);
        if (!name.empty()) return name;
    }
    int32_t low = insn.imm;
    uint32_t high = static_cast<uint32_t>(insn.imm64 >> 32);
    switch (insn.info().operation) {
        case Operation::MapFd:
            return fmt::format("map[fd:{}]", low);
        case Operation::MapValue:
            return fmt::format("map[fd:{}][0]+{}", low, high);
        case Operation::MapIdx:
            return fmt::format("map[idx:{}]", low);
        case Operation::MapIdxValue:
            return fmt::format("map[idx:{}][0]+{}", low, high);
        case Operation::BtfId:
            return fmt::format("btf_id[{}]", low);
        case Operation::Func:
            return fmt::format("func pc{:+d}", low);
        default:
            return fmt::format("{:#x}", insn.imm64);
    }
}

std::string call_text(const Insn& insn, int pc, const DisasmOptions& options) {
    const OpInfo& row = insn.info();
    if (row.operation == Operation::Indirect) return fmt::format("callx r{}", insn.dst);
    std::string name = options.call_name ? options.call_name(insn, pc) : std::string{};
    if (row.operation == Operation::Local)
        return name.empty() ? fmt::format("call pc{:+d}", insn.imm) : fmt::format("call {}", name);
    if (name.empty()) name = row.operation == Operation::Kfunc ? "kernel-function" : "unknown";
    return fmt::format("call {}#{}", name, insn.imm);
}

std::string text_of(const Insn& insn, int pc, const DisasmOptions& options) {
    const OpInfo& row = insn.info();
    const char r = reg_prefix(row);
    switch (row.kind) {
        case Kind::Alu:
            if (row.operation == Operation::Neg)
                return fmt::format("{}{} = -{}{}", r, insn.dst, r, insn.dst);
            if (row.operation == Operation::Movsx)
                return fmt::format("{}{} = ({}){}{}", r, insn.dst, signed_type(row.size), r,
                                   insn.src);
            if (row.source_is_reg())
                return fmt::format("{}{} {} {}{}", r, insn.dst, symbol(row.operation), r, insn.src);
            return fmt::format("{}{} {} {}", r, insn.dst, symbol(row.operation), insn.imm);
        case Kind::Endian: {
            std::string_view name = row.operation == Operation::Swap   ? "bswap"
                                    : row.operation == Operation::ToBe ? "be"
                                                                       : "le";
            return fmt::format("r{} = {}{} r{}", insn.dst, name, row.size * 8, insn.dst);
        }
        case Kind::Jump:
            if (row.operation == Operation::Ja)
                return row.uses(Field::Imm) ? fmt::format("gotol pc{:+d}", insn.imm)
                                            : fmt::format("goto pc{:+d}", insn.off);
            if (row.source_is_reg())
                return fmt::format("if {}{} {} {}{} goto pc{:+d}", r, insn.dst,
                                   symbol(row.operation), r, insn.src, insn.off);
            return fmt::format("if {}{} {} {:#x} goto pc{:+d}", r, insn.dst, symbol(row.operation),
                               static_cast<uint32_t>(insn.imm), insn.off);
        case Kind::Load:
            return fmt::format("r{} = *({} *)(r{} {:+d})", insn.dst,
                               row.operation == Operation::LoadSx ? signed_type(row.size)
                                                                  : unsigned_type(row.size),
                               insn.src, insn.off);
        case Kind::Store:
            if (row.operation == Operation::StoreReg)
                return fmt::format("*({} *)(r{} {:+d}) = r{}", unsigned_type(row.size), insn.dst,
                                   insn.off, insn.src);
            return fmt::format("*({} *)(r{} {:+d}) = {}", unsigned_type(row.size), insn.dst,
                               insn.off, insn.imm);
        case Kind::Atomic: {
            std::string_view type = unsigned_type(row.size);
            std::string_view bits = row.width == 64 ? "64" : "";
            switch (row.operation) {
                case Operation::AtomicAdd:
                case Operation::AtomicOr:
                case Operation::AtomicAnd:
                case Operation::AtomicXor:
                    return fmt::format("lock *({} *)(r{} {:+d}) {} r{}", type, insn.dst, insn.off,
                                       symbol(row.operation), insn.src);
                case Operation::Xchg:
                    return fmt::format("r{} = atomic{}_xchg(({} *)(r{} {:+d}), r{})", insn.src,
                                       bits, type, insn.dst, insn.off, insn.src);
                case Operation::Cmpxchg:
                    return fmt::format("r0 = atomic{}_cmpxchg(({} *)(r{} {:+d}), r0, r{})", bits,
                                       type, insn.dst, insn.off, insn.src);
                default:
                    return fmt::format("r{} = atomic{}_fetch_{}(({} *)(r{} {:+d}), r{})", insn.src,
                                       bits, symbol(row.operation), type, insn.dst, insn.off,
                                       insn.src);
            }
        }
        case Kind::Lddw:
            return fmt::format("r{} = {}", insn.dst, lddw_operand(insn, pc, options));
        case Kind::LddwTail:
            return {};
        case Kind::Call:
            return call_text(insn, pc, options);
        case Kind::Exit:
            return "exit";
    }
    return {};
}

}  // namespace

std::string disassemble(const Insn& insn, int pc, const DisasmOptions& options) {
    std::string text = text_of(insn, pc, options);
    if (!options.show_opcode || text.empty()) return text;
    return fmt::format("({:02x}) {}", encode(insn).opcode, text);
}

std::string disassemble(std::span<const Insn> program, const DisasmOptions& options,
                        const Annotation& annotate) {
    std::string listing;
    for (size_t pc = 0; pc < program.size(); ++pc) {
        if (program[pc].op == Op::lddw_tail) continue;
        int index = static_cast<int>(pc);
        if (annotate) {
            std::string note = annotate(index);
            if (!note.empty()) listing += fmt::format("; {}\n", note);
        }
        listing += fmt::format("{}: {}\n", index, disassemble(program[pc], index, options));
    }
    return listing;
}

}  // namespace crib::isa
