// crib-conformance [--engine interp|jit] DIR: runs DIR/tests/*.data on an
// engine (the interpreter by default; on the JIT each case must also agree
// with the interpreter) and expects every DIR/negative/*.data to be refused. With --plugin it
// speaks the upstream runner's plugin protocol instead (see runner.hpp). -v also prints what
// refused each negative case.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <string_view>
#include <vector>

#include "runner.hpp"

namespace fs = std::filesystem;
using namespace crib::conformance;

namespace {

std::vector<fs::path> data_files(const fs::path& folder) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(folder, ec))
        if (entry.path().extension() == ".data") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    return files;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::string_view(argv[1]) == "--plugin") return run_plugin(argc - 1, argv + 1);
    bool verbose = false;
    Engine engine = Engine::Interp;
    std::vector<std::string_view> args(argv + 1, argv + argc);
    bool usage = false;
    while (!args.empty() && args.front().starts_with("-")) {
        if (args.front() == "-v") {
            verbose = true;
        } else if (args.front() == "--engine" && args.size() > 1 &&
                   (args[1] == "interp" || args[1] == "jit")) {
            engine = args[1] == "jit" ? Engine::Jit : Engine::Interp;
            args.erase(args.begin());
        } else {
            usage = true;
            break;
        }
        args.erase(args.begin());
    }
    if (usage || args.size() != 1) {
        std::cerr
            << "usage: crib-conformance [-v] [--engine interp|jit] DIR   (DIR holds tests/ and "
               "negative/)\n"
               "       crib-conformance --plugin [MEM_HEX] [--debug]   (program hex on stdin)\n";
        return 2;
    }
    fs::path root(args.front());
    int passed = 0;
    int failed = 0;
    auto judge = [&](const fs::path& path, const Outcome& outcome) {
        std::string where = path.parent_path().filename().string() + "/" + path.filename().string();
        switch (outcome.verdict) {
            case Verdict::Pass:
                ++passed;
                if (verbose)
                    std::cout << "pass " << where << (outcome.reason.empty() ? "" : ": ")
                              << outcome.reason << "\n";
                break;
            case Verdict::Fail:
                ++failed;
                std::cout << "FAIL " << where << ": " << outcome.reason << "\n";
                break;
            case Verdict::NeedsVerifier:
                std::cout << "note " << where << ": " << outcome.reason << "\n";
                break;
        }
    };

    auto tests = data_files(root / "tests");
    auto negatives = data_files(root / "negative");
    if (tests.empty()) {
        std::cout << "FAIL " << (root / "tests").string() << ": no .data files\n";
        ++failed;
    }
    for (const fs::path& path : tests) {
        auto test = load_test(path);
        judge(path,
              test ? run_test(*test, engine) : Outcome{Verdict::Fail, test.error().message()});
    }
    for (const fs::path& path : negatives) {
        // A file the parser refuses (an unknown directive) is refused input.
        auto test = load_test(path);
        judge(path,
              test ? run_negative(*test, engine) : Outcome{Verdict::Pass, test.error().message()});
    }
    std::cout << passed << " passed, " << failed << " failed\n";
    return failed > 0 ? 1 : 0;
}
