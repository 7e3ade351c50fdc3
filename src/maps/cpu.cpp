// possible_cpus() and current_cpu(): per-CPU maps keep a slot for every
// possible CPU, indexed densely (the kernel's for_each_possible_cpu order),
// so a sparse possible mask ("0-3,8-11") still gives slots 0..n-1.
#include <sched.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "maps/common.hpp"

namespace crib::maps {
namespace {

struct CpuTable {
    std::vector<int> slot_of_cpu;  // cpu id -> dense slot, -1 when not possible
    unsigned count = 0;
};

// Parses the kernel's cpulist format: "0-7", "0,2-3,8".
CpuTable read_possible() {
    CpuTable table;
    std::ifstream in("/sys/devices/system/cpu/possible");
    std::string list;
    if (in && std::getline(in, list)) {
        std::stringstream ranges(list);
        std::string range;
        while (std::getline(ranges, range, ',')) {
            if (range.empty()) continue;
            size_t dash = range.find('-');
            int first = std::stoi(range.substr(0, dash));
            int last = dash == std::string::npos ? first : std::stoi(range.substr(dash + 1));
            if (first < 0 || last < first) continue;
            if (table.slot_of_cpu.size() <= static_cast<size_t>(last))
                table.slot_of_cpu.resize(last + 1, -1);
            for (int cpu = first; cpu <= last; ++cpu)
                if (table.slot_of_cpu[cpu] < 0) table.slot_of_cpu[cpu] = 0;
        }
    }
    for (int& slot : table.slot_of_cpu)
        if (slot >= 0) slot = static_cast<int>(table.count++);
    if (table.count == 0) {  // no sysfs (containers without it): every configured CPU
        long n = sysconf(_SC_NPROCESSORS_CONF);
        table.count = n > 0 ? static_cast<unsigned>(n) : 1;
        table.slot_of_cpu.clear();
        for (unsigned cpu = 0; cpu < table.count; ++cpu) table.slot_of_cpu.push_back(cpu);
    }
    return table;
}

const CpuTable& cpus() {
    static const CpuTable kTable = read_possible();
    return kTable;
}

}  // namespace

unsigned possible_cpus() {
    return cpus().count;
}

unsigned current_cpu() {
    const CpuTable& table = cpus();
    int cpu = sched_getcpu();
    if (cpu < 0 || static_cast<size_t>(cpu) >= table.slot_of_cpu.size() ||
        table.slot_of_cpu[cpu] < 0)
        return 0;
    return static_cast<unsigned>(table.slot_of_cpu[cpu]);
}

}  // namespace crib::maps
