// Shared pieces of the crib command line: output in text or JSON, errors,
// hex and file input.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "base/result.hpp"
#include "maps/map.hpp"
#include "runtime/runtime.hpp"

namespace crib::cli {

using Json = nlohmann::ordered_json;

// Options every command takes.
struct Common {
    bool json = false;
    int status = 0;  // exit status the command leaves
};

// Prints an error ("crib: obj 'x.o': ...: message" on stderr, or a JSON
// object with "error" and "errno" on stdout) and returns the exit status.
int report(const Common& common, const Error& error);
// Prints a JSON document (pretty) on stdout.
void print_json(const Json& document);

Result<std::vector<uint8_t>> parse_hex(std::string_view text);
Result<std::vector<uint8_t>> read_file(const std::string& path);
std::string to_hex(const void* data, size_t size);

// Every entry of a map as hex (sorted as the map iterates); printed as
// `name: key .. value ..` lines too unless `json`.
Json dump_map_entries(const maps::Map& map, bool text, const std::string& name);

// A subcommand over one object file: OBJ and --json, running `run` with the
// parsed arguments and recording its exit status.
template <typename Args>
CLI::App* add_object_command(CLI::App& parent, const char* name, const char* help, Common& common,
                             const std::shared_ptr<Args>& args,
                             int (*run)(const Common&, const Args&)) {
    auto* sub = parent.add_subcommand(name, help);
    sub->add_option("OBJ", args->object, "BPF object file (.bpf.o)")->required();
    sub->add_flag("--json", common.json, "Print JSON");
    sub->callback([&common, args, run] { common.status = run(common, *args); });
    return sub;
}

// "interp" or "jit" (--engine).
Result<runtime::Engine> parse_engine(const std::string& name);

void add_prog_commands(CLI::App& app, Common& common);
// crib dump | restore | show: checkpoint/restore (CRIB).
void add_crib_commands(CLI::App& app, Common& common);
void add_map_commands(CLI::App& app, Common& common);

}  // namespace crib::cli
