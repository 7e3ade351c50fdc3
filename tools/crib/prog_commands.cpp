// crib prog load|show|dump|run
#include <chrono>
#include <cstdio>
#include <optional>

#include "cli.hpp"
#include "isa/disassembler.hpp"
#include "maps/ringbuf.hpp"
#include "object/object.hpp"
#include "progs/helpers.hpp"
#include "progs/prog_types.hpp"
#include "runtime/runtime.hpp"

namespace crib::cli {
namespace {

struct ProgArgs {
    std::string object;
    std::string prog;
    std::string ctx_file;
    std::string ctx_hex;
    std::string data_file;
    uint32_t repeat = 0;
    std::string engine = "jit";
    bool show_maps = false;
    bool log = false;
};

// Load options from the command line; --log sends the verifier's walk and
// the runtime's notes (a JIT fallback) to stderr.
Result<runtime::LoadOptions> load_options(const ProgArgs& args) {
    runtime::LoadOptions options;
    options.engine = CRIB_TRY(parse_engine(args.engine));
    options.log = [](LogLevel, std::string_view line) {
        std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
    };
    if (!args.log) {
        // Without --log only warnings reach the user.
        options.log = [](LogLevel level, std::string_view line) {
            if (level >= LogLevel::Warn)
                std::fprintf(stderr, "crib: %.*s\n", static_cast<int>(line.size()), line.data());
        };
    }
    options.verifier_log = args.log;
    return options;
}

Result<runtime::Prog*> pick_program(const runtime::LoadedObject& loaded, const std::string& name) {
    if (!name.empty()) {
        if (auto* prog = loaded.find_program(name)) return prog;
        return make_error(ENOENT, "obj '{}': no program named '{}'", loaded.name(), name);
    }
    if (loaded.programs().size() == 1) return loaded.programs().front().get();
    std::string names;
    for (const auto& prog : loaded.programs()) names += (names.empty() ? "" : ", ") + prog->name();
    return make_error(EINVAL, "obj '{}': has {} programs ({}); choose one with --prog",
                      loaded.name(), loaded.programs().size(), names);
}

Json describe_program(const runtime::Prog& prog) {
    return Json{{"id", prog.id()},
                {"name", prog.name()},
                {"section", prog.section()},
                {"type", std::string(prog.type().name)},
                {"insns", prog.insns().size()},
                {"verified_insns", prog.verified_insns()},
                {"max_ctx_offset", prog.max_ctx_offset()}};
}

Json describe_map(const runtime::MapEntry& entry) {
    const maps::MapSpec& spec = entry.map->spec();
    return Json{{"id", entry.id},
                {"name", entry.name},
                {"type", std::string(maps::map_type_name(spec.type))},
                {"key_size", spec.key_size},
                {"value_size", spec.value_size},
                {"max_entries", spec.max_entries},
                {"flags", spec.flags}};
}

void print_loaded(const runtime::LoadedObject& loaded) {
    for (const auto& prog : loaded.programs())
        std::printf("prog %-3u %-24s sec %-16s type %-12s %zu insns\n", prog->id(),
                    prog->name().c_str(), prog->section().c_str(),
                    std::string(prog->type().name).c_str(), prog->insns().size());
    for (const auto& entry : loaded.maps()) {
        const maps::MapSpec& spec = entry.map->spec();
        std::printf("map  %-3u %-24s type %-12s key %u value %u max_entries %u\n", entry.id,
                    entry.name.c_str(), std::string(maps::map_type_name(spec.type)).c_str(),
                    spec.key_size, spec.value_size, spec.max_entries);
    }
}

int prog_load(const Common& common, const ProgArgs& args) {
    auto options = load_options(args);
    if (!options) return report(common, options.error());
    auto loaded = runtime::load_file(args.object, *options);
    if (!loaded) return report(common, loaded.error());
    if (common.json) {
        Json programs = Json::array(), maps = Json::array();
        for (const auto& prog : (*loaded)->programs()) programs.push_back(describe_program(*prog));
        for (const auto& entry : (*loaded)->maps()) maps.push_back(describe_map(entry));
        print_json(Json{{"object", (*loaded)->name()}, {"programs", programs}, {"maps", maps}});
    } else {
        print_loaded(**loaded);
    }
    return 0;
}

int prog_show(const Common& common, const ProgArgs& args) {
    auto object = object::load_object_file(args.object);
    if (!object) return report(common, object.error());
    Json programs = Json::array();
    for (const auto& prog : object->programs) {
        const progs::ProgTypeInfo* type = progs::prog_type_for_section(prog.section);
        std::string type_name = type ? std::string(type->name) : "unknown";
        if (common.json) {
            programs.push_back(Json{{"name", prog.name},
                                    {"section", prog.section},
                                    {"type", type_name},
                                    {"insns", prog.insns.size()}});
        } else {
            std::printf("%-24s sec %-16s type %-12s %zu insns\n", prog.name.c_str(),
                        prog.section.c_str(), type_name.c_str(), prog.insns.size());
        }
    }
    Json maps = Json::array();
    for (const auto& map : object->maps) {
        if (common.json) {
            maps.push_back(Json{
                {"name", map.name},
                {"type", std::string(maps::map_type_name(static_cast<maps::MapType>(map.type)))},
                {"key_size", map.key_size},
                {"value_size", map.value_size},
                {"max_entries", map.max_entries}});
        } else {
            std::printf(
                "map %-20s type %-12s key %u value %u max_entries %u\n", map.name.c_str(),
                std::string(maps::map_type_name(static_cast<maps::MapType>(map.type))).c_str(),
                map.key_size, map.value_size, map.max_entries);
        }
    }
    if (common.json)
        print_json(Json{{"object", object->name},
                        {"license", object->license},
                        {"programs", programs},
                        {"maps", maps}});
    return 0;
}

// Names for the disassembler: helpers from the helper table, kfuncs from
// the program's extern references, maps by their names in the object.
isa::DisasmOptions naming(const object::Object& object, const object::Program& prog) {
    isa::DisasmOptions options;
    options.call_name = [&prog](const isa::Insn& insn, int pc) -> std::string {
        if (insn.info().operation == isa::Operation::Helper) {
            const progs::HelperInfo* helper = progs::find_helper(insn.imm);
            return helper ? "bpf_" + std::string(helper->name) : std::string();
        }
        for (const object::ExternRef& ref : prog.externs)
            if (ref.insn == static_cast<size_t>(pc)) return ref.name;
        return {};
    };
    options.imm_name = [&object](const isa::Insn& insn, int) -> std::string {
        isa::Operation kind = insn.info().operation;
        if (kind != isa::Operation::MapIdx && kind != isa::Operation::MapIdxValue) return {};
        if (insn.imm < 0 || static_cast<size_t>(insn.imm) >= object.maps.size()) return {};
        const std::string& name = object.maps[insn.imm].name;
        if (kind == isa::Operation::MapIdx) return fmt::format("map[{}]", name);
        return fmt::format("map[{}][0]+{}", name, static_cast<uint32_t>(insn.imm64 >> 32));
    };
    return options;
}

int prog_dump(const Common& common, const ProgArgs& args) {
    auto object = object::load_object_file(args.object);
    if (!object) return report(common, object.error());
    Json programs = Json::array();
    bool found = false;
    for (const auto& prog : object->programs) {
        if (!args.prog.empty() && prog.name != args.prog) continue;
        found = true;
        isa::DisasmOptions options = naming(*object, prog);
        Json insns = Json::array();
        if (!common.json) std::printf("%s (sec %s):\n", prog.name.c_str(), prog.section.c_str());
        const object::LineInfo* last_line = nullptr;
        for (size_t pc = 0; pc < prog.insns.size(); ++pc) {
            const isa::Insn& insn = prog.insns[pc];
            if (insn.op == isa::Op::lddw_tail) continue;
            const object::LineInfo* line = prog.line_for(pc);
            std::string text = isa::disassemble(insn, static_cast<int>(pc), options);
            if (common.json) {
                Json row{{"pc", pc}, {"text", text}};
                if (line)
                    row["source"] =
                        Json{{"file", line->file}, {"line", line->line}, {"text", line->source}};
                insns.push_back(row);
                continue;
            }
            bool new_line = line && (!last_line || line->line != last_line->line ||
                                     line->file != last_line->file);
            if (new_line && line->line != 0)
                std::printf("; %s @ %s:%u\n", line->source.c_str(), line->file.c_str(), line->line);
            if (line) last_line = line;
            std::printf("%5zu: %s\n", pc, text.c_str());
        }
        if (common.json)
            programs.push_back(
                Json{{"name", prog.name}, {"section", prog.section}, {"insns", insns}});
    }
    if (!found)
        return report(
            common, make_error(ENOENT, "obj '{}': no program named '{}'", object->name, args.prog));
    if (common.json) print_json(Json{{"object", object->name}, {"programs", programs}});
    return 0;
}

// BPF_PROG_RUN with --repeat. Types whose test_run takes a repeat count
// (xdp) time themselves; for the others (crib, syscall: the kernel refuses
// repeat there) crib runs the program N times and takes the mean.
Result<progs::TestRunResult> run_repeated(const runtime::Prog& prog, std::span<const uint8_t> ctx,
                                          std::span<const uint8_t> data, uint32_t repeat) {
    progs::TestRunAttr attr;
    attr.ctx_in = ctx;
    attr.data_in = data;
    bool type_repeats = prog.type().type == progs::ProgType::Xdp;
    if (type_repeats || repeat <= 1) {
        attr.repeat = type_repeats ? repeat : 0;
        return prog.test_run(attr);
    }
    auto start = std::chrono::steady_clock::now();
    progs::TestRunResult result;
    for (uint32_t i = 0; i < repeat; ++i) result = CRIB_TRY(prog.test_run(attr));
    auto elapsed =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start);
    result.duration_ns = static_cast<uint32_t>(std::min(elapsed.count() / repeat, 4294967295.0));
    return result;
}

int prog_run(const Common& common, const ProgArgs& args) {
    auto options = load_options(args);
    if (!options) return report(common, options.error());
    auto loaded = runtime::load_file(args.object, *options);
    if (!loaded) return report(common, loaded.error());
    auto prog = pick_program(**loaded, args.prog);
    if (!prog) return report(common, prog.error());

    std::vector<uint8_t> ctx, data;
    if (!args.ctx_file.empty() && !args.ctx_hex.empty())
        return report(common, make_error(EINVAL, "--ctx and --ctx-hex exclude each other"));
    if (!args.ctx_file.empty()) {
        auto bytes = read_file(args.ctx_file);
        if (!bytes) return report(common, bytes.error());
        ctx = std::move(*bytes);
    } else if (!args.ctx_hex.empty()) {
        auto bytes = parse_hex(args.ctx_hex);
        if (!bytes) return report(common, bytes.error());
        ctx = std::move(*bytes);
    }
    if (!args.data_file.empty()) {
        auto bytes = read_file(args.data_file);
        if (!bytes) return report(common, bytes.error());
        data = std::move(*bytes);
    }

    auto result = run_repeated(**prog, ctx, data, args.repeat);
    if (!result)
        return report(
            common,
            std::move(result.error().in_program((*prog)->name()).in_object((*loaded)->name())));

    // Ringbuf records the run produced, in order.
    Json records = Json::array();
    for (const auto& entry : (*loaded)->maps()) {
        if (entry.map->type() != maps::MapType::Ringbuf) continue;
        auto consumer =
            maps::RingbufConsumer::create(*entry.map, [&](std::span<const uint8_t> record) {
                if (common.json)
                    records.push_back(
                        Json{{"map", entry.name}, {"data", to_hex(record.data(), record.size())}});
                else
                    std::printf("ringbuf %s: %s\n", entry.name.c_str(),
                                to_hex(record.data(), record.size()).c_str());
                return 0;
            });
        if (!consumer) return report(common, consumer.error());
        consumer->consume();
    }
    Json maps_json = Json::object();
    if (args.show_maps)
        for (const auto& entry : (*loaded)->maps())
            if (entry.map->type() != maps::MapType::Ringbuf)
                maps_json[entry.name] = dump_map_entries(*entry.map, !common.json, entry.name);

    if (common.json) {
        Json out{{"program", (*prog)->name()}, {"engine", args.engine},
                 {"retval", result->retval},   {"duration_ns", result->duration_ns},
                 {"repeat", args.repeat},      {"ringbuf", records}};
        if (args.show_maps) out["maps"] = maps_json;
        print_json(out);
    } else {
        std::printf("retval %u (%#x)\n", result->retval, result->retval);
        if (args.repeat > 1)
            std::printf("duration %u ns per run (mean of %u)\n", result->duration_ns, args.repeat);
    }
    return 0;
}

}  // namespace

void add_prog_commands(CLI::App& app, Common& common) {
    auto* prog = app.add_subcommand("prog", "Load, inspect and run the programs of a BPF object");
    prog->require_subcommand(1);
    auto args = std::make_shared<ProgArgs>();

    auto add = [&](const char* name, const char* help, int (*run)(const Common&, const ProgArgs&)) {
        return add_object_command(*prog, name, help, common, args, run);
    };
    auto* load = add(
        "load", "Verify and load every program (exit non-zero with the reason if one is refused)",
        prog_load);
    load->add_option("--engine", args->engine, "jit (default) or interp")
        ->check(CLI::IsMember({"interp", "jit"}));
    load->add_flag("--log", args->log, "Print the verifier's whole walk to stderr");
    add("show", "List the object's programs and maps", prog_show);
    auto* dump = add("dump", "Disassemble programs, with source lines", prog_dump);
    dump->add_option("--prog", args->prog, "Only this program");
    auto* run = add("run", "Run a program through BPF_PROG_RUN", prog_run);
    run->add_option("--prog", args->prog, "Program to run (needed when the object has several)");
    run->add_option("--ctx", args->ctx_file, "File holding the context (ctx_in)");
    run->add_option("--ctx-hex", args->ctx_hex, "The context as hex bytes");
    run->add_option("--data", args->data_file, "File holding packet data (data_in)");
    run->add_option("--repeat", args->repeat,
                    "Run N times; print the mean ns per run (crib runs types whose BPF_PROG_RUN "
                    "takes no repeat count N times itself)");
    run->add_option("--engine", args->engine, "jit (default) or interp")
        ->check(CLI::IsMember({"interp", "jit"}));
    run->add_flag("--log", args->log, "Print the verifier's whole walk to stderr");
    run->add_flag("--show-maps", args->show_maps, "Print every map's contents after the run");
}

}  // namespace crib::cli
