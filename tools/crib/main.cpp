// crib: the command line. Each command is a thin layer over the library.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli.hpp"
#include "crib/kfuncs.hpp"
#include "runner.hpp"

int main(int argc, char** argv) {
    // The conformance runner passes its own flags through; hand them over
    // untouched before CLI11 sees them.
    if (argc >= 2 && std::string_view(argv[1]) == "conformance-plugin")
        return crib::conformance::run_plugin(argc - 1, argv + 1);

    // The CRIB kfuncs, so `crib prog load|run` take crib programs as `crib dump` does.
    if (auto registered = crib::dump::register_checkpoint_kfuncs(); !registered)
        std::fprintf(stderr, "crib: %s\n", registered.error().to_string().c_str());

    CLI::App app{
        "crib: eBPF in user space: load, verify and run BPF programs; checkpoint and restore "
        "processes"};
    app.require_subcommand(1);
    crib::cli::Common common;
    crib::cli::add_prog_commands(app, common);
    crib::cli::add_map_commands(app, common);
    crib::cli::add_crib_commands(app, common);
    app.add_subcommand("conformance-plugin",
                       "Run one program for the bpf_conformance runner (plugin protocol)");
    CLI11_PARSE(app, argc, argv);
    return common.status;
}
