// A clang-built XDP parser: every packet access proven against data_end.
// The runtime verifies it and runs it on both engines over real packets.
#include <gtest/gtest.h>

#include <cstring>

#include "runtime/runtime.hpp"

namespace crib::verifier {
namespace {

// Ethernet (IPv4), an IPv4 header of `ihl` words, then UDP ports.
std::vector<uint8_t> packet(uint8_t ihl, uint16_t dport, uint8_t protocol = 17) {
    std::vector<uint8_t> bytes(14 + ihl * 4 + 8, 0);
    bytes[12] = 0x08;  // ETH_P_IP, big-endian
    bytes[14] = static_cast<uint8_t>(0x40 | ihl);
    bytes[14 + 9] = protocol;
    size_t ports = 14 + ihl * 4;
    bytes[ports + 2] = static_cast<uint8_t>(dport >> 8);
    bytes[ports + 3] = static_cast<uint8_t>(dport);
    return bytes;
}

class XdpProgram : public ::testing::TestWithParam<runtime::Engine> {};

TEST_P(XdpProgram, ParsesWithProvenRanges) {
    auto loaded = runtime::load_file(std::string(CRIB_BPF_DIR) + "/verifier_xdp.bpf.o",
                                     {.engine = GetParam()});
    ASSERT_TRUE(loaded) << loaded.error().to_string();
    const runtime::Prog* prog = (*loaded)->find_program("count_protocols");
    ASSERT_NE(prog, nullptr);
    auto run = [&](std::vector<uint8_t> data) {
        progs::TestRunAttr attr;
        attr.data_in = data;
        auto result = prog->test_run(attr);
        EXPECT_TRUE(result) << result.error().to_string();
        return result ? result->retval : ~0u;
    };
    const uint32_t kDrop = 1, kPass = 2;
    EXPECT_EQ(run(packet(5, 53)), kPass);
    EXPECT_EQ(run(packet(7, 8080)), kPass);  // options move the ports
    EXPECT_EQ(run(packet(3, 1)), kDrop);     // header length below 20
    std::vector<uint8_t> cut = packet(5, 53);
    cut.resize(14 + 20 + 2);  // ends inside the ports
    EXPECT_EQ(run(cut), kDrop);

    const maps::Map* bss = (*loaded)->find_map(".bss");
    ASSERT_NE(bss, nullptr);
    uint32_t key = 0, port = 0;
    std::vector<uint8_t> value(bss->user_value_size());
    ASSERT_TRUE(bss->lookup(&key, value.data()));
    std::memcpy(&port, value.data(), sizeof port);
    EXPECT_EQ(port, 8080u);
    const maps::Map* protocols = (*loaded)->find_map("protocols");
    ASSERT_NE(protocols, nullptr);
    key = 17;
    uint64_t udp = 0;
    ASSERT_TRUE(protocols->lookup(&key, &udp));
    EXPECT_EQ(udp, 2u);
}

INSTANTIATE_TEST_SUITE_P(Engines, XdpProgram,
                         ::testing::Values(runtime::Engine::Interp, runtime::Engine::Jit),
                         [](const auto& info) {
                             return info.param == runtime::Engine::Interp ? "interp" : "jit";
                         });

}  // namespace
}  // namespace crib::verifier
