// The runtime: turns a loaded object into live maps and runnable programs.
// Phases: create maps (global data filled in), resolve each program's map,
// global and extern references, pick its program type from its section,
// compile it on an engine. A failure in any phase leaves nothing behind.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "base/result.hpp"
#include "exec/program.hpp"
#include "maps/map.hpp"
#include "object/object.hpp"
#include "progs/prog_types.hpp"

namespace crib::runtime {

enum class Engine { Interp, Jit };

struct LoadOptions {
    // The JIT by default; a program it cannot compile falls back to the
    // interpreter with the reason sent to `log`.
    Engine engine = Engine::Jit;
    LogSink log;
    // Trace every instruction to `log`; tracing runs on the interpreter.
    bool trace = false;
    // Every program is verified before it is compiled. Turning this off is
    // for tests of the layers below the verifier, never for running
    // programs from outside.
    bool verify = true;
    // Send the verifier's walk, insn by insn, to `log` (`crib prog load --log`).
    bool verifier_log = false;
};

class Prog {
public:
    Prog(uint32_t id, std::string name, std::string section, const progs::ProgTypeInfo& type,
         std::vector<isa::Insn> insns, std::vector<object::LineInfo> lines)
        : m_id(id),
          m_name(std::move(name)),
          m_section(std::move(section)),
          m_type(&type),
          m_insns(std::move(insns)),
          m_lines(std::move(lines)) {}
    // Leaves the id table, so the id resolves to nothing from then on.
    ~Prog();
    Prog(const Prog&) = delete;
    Prog& operator=(const Prog&) = delete;

    uint32_t id() const { return m_id; }
    const std::string& name() const { return m_name; }
    const std::string& section() const { return m_section; }
    const progs::ProgTypeInfo& type() const { return *m_type; }
    // The instructions as the object holds them, before references resolve.
    const std::vector<isa::Insn>& insns() const { return m_insns; }
    const std::vector<object::LineInfo>& lines() const { return m_lines; }
    // Null until the program is compiled; never null for a loaded object.
    const exec::Program* code() const { return m_code.get(); }
    uint32_t max_ctx_offset() const { return m_max_ctx_offset; }
    // Instructions the verifier processed (0 when loaded unverified).
    uint64_t verified_insns() const { return m_verified_insns; }

    // BPF_PROG_RUN with the program type's rules.
    Result<progs::TestRunResult> test_run(const progs::TestRunAttr& attr) const;

private:
    friend class Loader;
    uint32_t m_id;
    std::string m_name;
    std::string m_section;
    const progs::ProgTypeInfo* m_type;
    std::vector<isa::Insn> m_insns;
    std::vector<object::LineInfo> m_lines;
    std::unique_ptr<exec::Program> m_code;
    // The maps whose addresses the code holds.
    std::vector<std::shared_ptr<maps::Map>> m_used_maps;
    uint32_t m_max_ctx_offset = 0;
    uint64_t m_verified_insns = 0;
};

struct MapEntry {
    uint32_t id;
    std::string name;
    // Shared with the programs that use it: a program kept alive elsewhere
    // (in a prog_array) keeps its maps, as the kernel's used_maps do.
    std::shared_ptr<maps::Map> map;
};

class LoadedObject {
public:
    LoadedObject() = default;
    // Empties the object's prog_arrays, as the kernel does when the last user
    // reference to one goes: a program in a slot that uses the same map
    // would otherwise keep both alive forever.
    ~LoadedObject();
    LoadedObject(const LoadedObject&) = delete;
    LoadedObject& operator=(const LoadedObject&) = delete;

    const std::string& name() const { return m_name; }
    const std::vector<std::shared_ptr<Prog>>& programs() const { return m_programs; }
    const std::vector<MapEntry>& maps() const { return m_maps; }
    Prog* find_program(std::string_view name) const;
    maps::Map* find_map(std::string_view name) const;

private:
    friend class Loader;
    std::string m_name;
    std::vector<std::shared_ptr<Prog>> m_programs;
    std::vector<MapEntry> m_maps;
};

Result<std::unique_ptr<LoadedObject>> load(const object::Object& object,
                                           const LoadOptions& options = {});
Result<std::unique_ptr<LoadedObject>> load_file(const std::string& path,
                                                const LoadOptions& options = {});

}  // namespace crib::runtime
