// crib-conformance-plugin: the interpreter as a plugin for the upstream
// bpf_conformance runner (`bpf_conformance_runner --plugin_path ...`).
#include "runner.hpp"

int main(int argc, char** argv) {
    return crib::conformance::run_plugin(argc, argv);
}
