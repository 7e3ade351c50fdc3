#include "runtime/runtime.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <unordered_map>

#include "exec/interp/interpreter.hpp"
#include "exec/jit/jit.hpp"
#include "progs/helpers.hpp"
#include "progs/kfuncs.hpp"
#include "verifier/verifier.hpp"

namespace crib::runtime {
namespace {

// Ids play the part of file descriptors: a prog_array is filled with program
// ids, as the kernel's is with fds. The table holds no ownership.
class ProgTable {
public:
    uint32_t add(const std::shared_ptr<Prog>& prog) {
        std::lock_guard lock(m_mutex);
        m_progs[prog->id()] = prog;
        return prog->id();
    }
    void remove(uint32_t id) {
        std::lock_guard lock(m_mutex);
        m_progs.erase(id);
    }
    std::shared_ptr<const void> resolve(uint32_t id) {
        std::lock_guard lock(m_mutex);
        auto it = m_progs.find(id);
        if (it == m_progs.end()) return nullptr;
        auto prog = it->second.lock();
        if (!prog || !prog->code()) return nullptr;
        // The slot keeps the Prog alive and hands the engine its Program.
        return std::shared_ptr<const void>(prog, prog->code());
    }

private:
    std::mutex m_mutex;
    std::unordered_map<uint32_t, std::weak_ptr<Prog>> m_progs;
};

ProgTable& prog_table() {
    static ProgTable table;
    return table;
}

// Programs and maps number apart, as the kernel's idr spaces do.
uint32_t next_prog_id() {
    static std::atomic<uint32_t> id{1};
    return id++;
}

uint32_t next_map_id() {
    static std::atomic<uint32_t> id{1};
    return id++;
}

maps::MapSpec spec_of(const object::MapDef& def) {
    return maps::MapSpec{static_cast<maps::MapType>(def.type),
                         def.key_size,
                         def.value_size,
                         def.max_entries,
                         def.map_flags,
                         def.name};
}

}  // namespace

class Loader {
public:
    Loader(const object::Object& object, const LoadOptions& options)
        : m_object(object), m_options(options), m_loaded(std::make_unique<LoadedObject>()) {
        m_loaded->m_name = object.name;
    }

    Result<std::unique_ptr<LoadedObject>> run() {
        for (const object::MapDef& def : m_object.maps) CRIB_TRY(create_map(def));
        for (const object::Program& program : m_object.programs) CRIB_TRY(load_program(program));
        for (auto& entry : m_loaded->m_maps)
            if (entry.map->type() == maps::MapType::ProgArray)
                maps::set_prog_resolver(*entry.map,
                                        [](uint32_t id) { return prog_table().resolve(id); });
        for (const auto& prog : m_loaded->m_programs) prog_table().add(prog);
        return std::move(m_loaded);
    }

private:
    Error map_error(Error error, const object::MapDef& def) {
        error.in_section(def.section).in_object(m_object.name);
        if (!def.name.empty() && error.message().find(def.name) == std::string::npos)
            return Error(error.code(), fmt::format("map '{}': {}", def.name, error.message()),
                         error.loc());
        return error;
    }

    Result<void> create_map(const object::MapDef& def) {
        auto map = maps::create_map(spec_of(def));
        if (!map) return map_error(std::move(map).error(), def);
        if (def.kind != object::MapKind::User) {
            uint32_t key = 0;
            std::vector<uint8_t> value(def.value_size);
            std::copy_n(def.initial.begin(), std::min(def.initial.size(), value.size()),
                        value.begin());
            if (auto ok = (*map)->update(&key, value.data(), maps::kAny); !ok)
                return map_error(std::move(ok).error(), def);
        }
        m_loaded->m_maps.push_back(MapEntry{next_map_id(), def.name, std::move(*map)});
        return {};
    }

    // Swap the loader's map-index references for addresses, as the kernel
    // does after verification; `used` gets each map referenced.
    Result<void> resolve_maps(std::vector<isa::Insn>& insns,
                              std::vector<std::shared_ptr<maps::Map>>& used) {
        for (size_t pc = 0; pc < insns.size(); ++pc) {
            isa::Insn& insn = insns[pc];
            isa::Operation kind = insn.info().operation;
            if (insn.info().kind != isa::Kind::Lddw || kind == isa::Operation::Imm64 ||
                kind == isa::Operation::Func)
                continue;
            auto fail = [&](Error error) {
                return std::move(error.at_insn(static_cast<int64_t>(pc)));
            };
            if (kind != isa::Operation::MapIdx && kind != isa::Operation::MapIdxValue)
                return fail(make_error(EINVAL,
                                       "{} is not supported here; objects refer to maps by index",
                                       insn.info().name));
            auto index = static_cast<uint32_t>(insn.imm);
            if (index >= m_loaded->m_maps.size())
                return fail(make_error(EINVAL, "map index {} out of range ({} maps)", index,
                                       m_loaded->m_maps.size()));
            maps::Map& map = *m_loaded->m_maps[index].map;
            if (std::find(used.begin(), used.end(), m_loaded->m_maps[index].map) == used.end())
                used.push_back(m_loaded->m_maps[index].map);
            uint64_t address = reinterpret_cast<uint64_t>(&map);
            if (kind == isa::Operation::MapIdxValue) {
                auto* base = static_cast<uint8_t*>(map.direct_value());
                if (!base)
                    return fail(make_error(EINVAL, "map '{}' has no direct value to point into",
                                           m_loaded->m_maps[index].name));
                auto offset = static_cast<uint32_t>(insns[pc + 1].imm);
                if (offset >= map.spec().value_size)
                    return fail(make_error(EINVAL, "offset {} is past map '{}' value size {}",
                                           offset, m_loaded->m_maps[index].name,
                                           map.spec().value_size));
                address = reinterpret_cast<uint64_t>(base + offset);
            }
            insn = isa::make(isa::Op::lddw, insn.dst, 0, 0, static_cast<int32_t>(address));
            insn.imm64 = address;
            insns[pc + 1].imm = static_cast<int32_t>(address >> 32);
        }
        return {};
    }

    Result<void> load_program(const object::Program& program) {
        auto fail = [&](Error error) {
            return std::move(error.in_program(program.name)
                                 .in_section(program.section)
                                 .in_object(m_object.name));
        };
        const progs::ProgTypeInfo* type = progs::prog_type_for_section(program.section);
        if (!type)
            return fail(make_error(EINVAL, "no program type for section '{}'", program.section));
        if (!type->runnable)
            return fail(
                make_error(EOPNOTSUPP, "program type {} does not run in user space", type->name));

        // The verifier sees map indexes with their specs, before they become
        // addresses.
        verifier::VerifyResult verified;
        if (m_options.verify) {
            std::vector<verifier::MapInfo> map_infos;
            for (const MapEntry& entry : m_loaded->m_maps)
                map_infos.push_back(verifier::MapInfo{entry.map->spec()});
            verifier::VerifyInput input{program.insns, *type, map_infos, &program};
            verifier::VerifyOptions verify_options;
            verify_options.log_all = m_options.verifier_log;
            if (m_options.verifier_log) verify_options.log = m_options.log;
            auto result = verifier::verify(input, verify_options);
            if (!result) return fail(std::move(result).error());
            verified = std::move(*result);
        }

        std::vector<isa::Insn> insns = program.insns;
        std::vector<std::shared_ptr<maps::Map>> used_maps;
        if (auto ok = resolve_maps(insns, used_maps); !ok) return fail(std::move(ok).error());

        std::vector<exec::HelperFn> kfuncs;
        for (const object::ExternRef& ref : program.externs) {
            auto error_at = [&](Error error) {
                return fail(std::move(error.at_insn(static_cast<int64_t>(ref.insn))));
            };
            if (ref.kind != object::ExternKind::Kfunc)
                return error_at(
                    make_error(ENOENT, "extern '{}' cannot be resolved in user space", ref.name));
            const progs::Kfunc* kfunc = progs::find_kfunc(type->type, ref.name);
            if (!kfunc)
                return error_at(make_error(ENOENT, "kfunc '{}' is not available to {} programs",
                                           ref.name, type->name));
            insns[ref.insn].imm = static_cast<int32_t>(kfuncs.size());
            kfuncs.push_back(kfunc->fn);
        }

        auto prog = std::make_shared<Prog>(next_prog_id(), program.name, program.section, *type,
                                           program.insns, program.line_info);
        prog->m_max_ctx_offset = verified.max_ctx_offset;
        prog->m_used_maps = std::move(used_maps);
        prog->m_verified_insns = verified.insns_processed;
        exec::Imports imports;
        imports.helper = [type](int32_t id) -> exec::HelperFn {
            const progs::HelperInfo* helper =
                type->get_func_proto ? type->get_func_proto(id) : nullptr;
            return helper ? helper->fn : nullptr;
        };
        imports.kfunc = [kfuncs](int32_t index, int16_t) -> exec::HelperFn {
            return index >= 0 && static_cast<size_t>(index) < kfuncs.size() ? kfuncs[index]
                                                                            : nullptr;
        };
        auto code = compile(program, insns, imports);
        if (!code) return fail(std::move(code).error());
        prog->m_code = std::move(*code);
        m_loaded->m_programs.push_back(std::move(prog));
        return {};
    }

    // The chosen engine; the JIT falls back to the interpreter, saying why,
    // for a program it cannot compile (the interpreter runs everything the
    // verifier accepts).
    Result<std::unique_ptr<exec::Program>> compile(const object::Program& program,
                                                   std::span<const isa::Insn> insns,
                                                   const exec::Imports& imports) {
        if (m_options.engine == Engine::Jit && !m_options.trace) {
            exec::jit::Options jit_options;
            jit_options.name = program.name;
            jit_options.log = m_options.log;
            auto code = exec::jit::compile(insns, imports, jit_options);
            if (code) return code;
            if (m_options.log)
                m_options.log(LogLevel::Warn,
                              fmt::format("prog '{}': JIT: {}; running it on the interpreter",
                                          program.name, code.error().to_string()));
        }
        exec::interp::Options interp_options;
        interp_options.trace = m_options.trace;
        interp_options.trace_sink = m_options.log;
        return exec::interp::compile(insns, imports, interp_options);
    }

    const object::Object& m_object;
    const LoadOptions& m_options;
    std::unique_ptr<LoadedObject> m_loaded;
};

Prog::~Prog() {
    prog_table().remove(m_id);
}

Result<progs::TestRunResult> Prog::test_run(const progs::TestRunAttr& attr) const {
    const exec::Program* code = m_code.get();
    return progs::test_run(
        *m_type, attr, [code](const void* ctx) { return code->run(ctx); }, m_max_ctx_offset);
}

LoadedObject::~LoadedObject() {
    for (const MapEntry& entry : m_maps) maps::prog_array_clear(*entry.map);
}

Prog* LoadedObject::find_program(std::string_view name) const {
    for (const auto& prog : m_programs)
        if (prog->name() == name) return prog.get();
    return nullptr;
}

maps::Map* LoadedObject::find_map(std::string_view name) const {
    for (const auto& entry : m_maps)
        if (entry.name == name) return entry.map.get();
    return nullptr;
}

Result<std::unique_ptr<LoadedObject>> load(const object::Object& object,
                                           const LoadOptions& options) {
    return Loader(object, options).run();
}

Result<std::unique_ptr<LoadedObject>> load_file(const std::string& path,
                                                const LoadOptions& options) {
    auto object = CRIB_TRY(object::load_object_file(path));
    return load(object, options);
}

}  // namespace crib::runtime
