// The verifier corpus: tests/verifier/cases/*.data, each case a small
// program named for the rule it exercises, with the verdict and a fragment
// of the message expected. Each case is its own test, named after it.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "isa/assembler.hpp"
#include "verifier/test_kfuncs.hpp"
#include "verifier/verifier.hpp"

namespace crib::verifier {
namespace {

struct Case {
    std::string name;
    std::string file;
    std::string type = "crib";
    std::vector<MapInfo> maps;
    bool accept = true;
    std::string message;
    std::string code;
    std::vector<std::string> kfuncs;  // `call kfunc:NAME` names, by the imm written
};

// Failures name the case, not its bytes.
void PrintTo(const Case& c, std::ostream* os) {
    *os << c.file << ": " << c.name;
}

// Markers the harness writes into lddw immediates for the forms the
// conformance assembler has no syntax for; patched after assembly.
constexpr uint64_t kMapMarker = 0x7eadbeef00000000, kMapValueMarker = 0x7eadbeee00000000,
                   kFuncMarker = 0x7eadbeed00000000;

maps::MapType map_type(const std::string& name) {
    if (name == "hash") return maps::MapType::Hash;
    if (name == "array") return maps::MapType::Array;
    if (name == "ringbuf") return maps::MapType::Ringbuf;
    if (name == "prog_array") return maps::MapType::ProgArray;
    if (name == "percpu_array") return maps::MapType::PercpuArray;
    return maps::MapType::Unspec;
}

std::string rewrite_markers(std::string line) {
    static const std::pair<const char*, uint64_t> kForms[] = {
        {"mapval:", kMapValueMarker}, {"map:", kMapMarker}, {"func:", kFuncMarker}};
    for (auto [form, marker] : kForms) {
        size_t at = line.find(form);
        if (at == std::string::npos) continue;
        uint64_t index = std::stoull(line.substr(at + strlen(form)));
        return line.substr(0, at) + fmt::format("{:#x}", marker | index);
    }
    return line;
}

std::vector<Case> load_cases() {
    std::vector<Case> cases;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(std::string(CRIB_SOURCE_DIR) +
                                                                 "/tests/verifier/cases"))
        if (entry.path().extension() == ".data") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
        std::ifstream in(path);
        std::string line;
        bool in_code = false;
        while (std::getline(in, line)) {
            if (line.starts_with("== ")) {
                cases.push_back(Case{line.substr(3), path.filename().string()});
                in_code = false;
                continue;
            }
            if (cases.empty() || (!in_code && (line.empty() || line.starts_with("#")))) continue;
            Case& c = cases.back();
            if (in_code) {
                // `call kfunc:NAME`: the imm indexes the case's kfunc names.
                if (size_t at = line.find("kfunc:"); at != std::string::npos) {
                    c.kfuncs.push_back(line.substr(at + 6));
                    line = line.substr(0, at) + fmt::format("kfunc {}", c.kfuncs.size() - 1);
                }
                c.code += rewrite_markers(line) + "\n";
            } else if (line.starts_with("type: ")) {
                c.type = line.substr(6);
            } else if (line.starts_with("verdict: ")) {
                c.accept = line.substr(9) == "accept";
            } else if (line.starts_with("message: ")) {
                c.message = line.substr(9);
            } else if (line.starts_with("map: ")) {
                std::istringstream words(line.substr(5));
                std::string type, flag;
                maps::MapSpec spec;
                words >> type >> spec.key_size >> spec.value_size >> spec.max_entries >> flag;
                spec.type = map_type(type);
                if (flag == "rdonly") spec.flags |= maps::kRdonlyProg;
                c.maps.push_back(MapInfo{spec});
            } else if (line == "asm:") {
                in_code = true;
            } else {
                ADD_FAILURE() << path << ": cannot read line '" << line << "'";
            }
        }
    }
    return cases;
}

Result<std::vector<isa::Insn>> assemble_case(const Case& c) {
    auto insns = CRIB_TRY(isa::assemble(c.code));
    for (size_t pc = 0; pc < insns.size(); ++pc) {
        isa::Insn& insn = insns[pc];
        if (insn.op != isa::Op::lddw) continue;
        uint64_t marker = insn.imm64 & ~uint64_t{0xffffffff};
        auto index = static_cast<int32_t>(insn.imm64 & 0xffffffff);
        isa::Op op;
        if (marker == kMapMarker)
            op = isa::Op::lddw_map_idx;
        else if (marker == kMapValueMarker)
            op = isa::Op::lddw_map_idx_value;
        else if (marker == kFuncMarker)
            op = isa::Op::lddw_func;
        else
            continue;
        int32_t imm = op == isa::Op::lddw_func ? index - static_cast<int32_t>(pc) - 1 : index;
        insn = isa::make(op, insn.dst, 0, 0, imm);
        insns[pc + 1].imm = 0;
    }
    return insns;
}

class VerifierCase : public ::testing::TestWithParam<Case> {};

TEST_P(VerifierCase, Verdict) {
    const Case& c = GetParam();
    auto insns = assemble_case(c);
    ASSERT_TRUE(insns.ok()) << c.file << ": " << insns.error().to_string();
    const progs::ProgTypeInfo* type = progs::prog_type_by_name(c.type);
    ASSERT_NE(type, nullptr) << "no program type " << c.type;
    test::register_test_kfuncs();
    // Kfunc calls name their kfunc through the program's externs, as in
    // a loaded object.
    object::Program source;
    for (size_t pc = 0; pc < insns->size(); ++pc)
        if ((*insns)[pc].op == isa::Op::call_kfunc && !c.kfuncs.empty())
            source.externs.push_back(object::ExternRef{
                pc, c.kfuncs.at(static_cast<size_t>((*insns)[pc].imm)), object::ExternKind::Kfunc});
    VerifyInput input{*insns, *type, c.maps, source.externs.empty() ? nullptr : &source};
    VerifyOptions options;
    options.log_all = true;
    auto result = verify(input, options);
    if (c.accept) {
        ASSERT_TRUE(result.ok()) << c.file << ": " << result.error().to_string();
    } else {
        ASSERT_FALSE(result.ok()) << c.file << ": accepted; log:\n" << result->log;
        EXPECT_NE(result.error().message().find(c.message), std::string::npos)
            << c.file << ": got '" << result.error().message() << "', want '" << c.message << "'";
        EXPECT_TRUE(result.error().loc().insn.has_value());
    }
}

INSTANTIATE_TEST_SUITE_P(Cases, VerifierCase, ::testing::ValuesIn(load_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(VerifierCases, CorpusIsLarge) {
    EXPECT_GE(load_cases().size(), 150u);
}

}  // namespace
}  // namespace crib::verifier
