// Native implementations the helper table points at, grouped by family in
// impl_*.cpp. Internal to src/progs: callers go through the table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace crib::progs::impl {

using u64 = uint64_t;

// impl_map.cpp: maps and callbacks.
u64 map_lookup_elem(u64 map, u64 key, u64, u64, u64);
u64 map_update_elem(u64 map, u64 key, u64 value, u64 flags, u64);
u64 map_delete_elem(u64 map, u64 key, u64, u64, u64);
u64 for_each_map_elem(u64 map, u64 callback, u64 ctx, u64 flags, u64);
u64 loop(u64 nr_loops, u64 callback, u64 ctx, u64 flags, u64);

// impl_task.cpp: the calling thread, clocks, randomness.
u64 ktime_get_ns(u64, u64, u64, u64, u64);
u64 ktime_get_boot_ns(u64, u64, u64, u64, u64);
u64 ktime_get_coarse_ns(u64, u64, u64, u64, u64);
u64 jiffies64(u64, u64, u64, u64, u64);
u64 get_prandom_u32(u64, u64, u64, u64, u64);
u64 get_smp_processor_id(u64, u64, u64, u64, u64);
u64 get_numa_node_id(u64, u64, u64, u64, u64);
u64 get_current_pid_tgid(u64, u64, u64, u64, u64);
u64 get_current_uid_gid(u64, u64, u64, u64, u64);
u64 get_current_comm(u64 buf, u64 size, u64, u64, u64);

// impl_memory.cpp: fault-safe reads and string compare.
u64 probe_read(u64 dst, u64 size, u64 unsafe_ptr, u64, u64);
u64 probe_read_str(u64 dst, u64 size, u64 unsafe_ptr, u64, u64);
u64 strncmp(u64 s1, u64 s1_size, u64 s2, u64, u64);
// Copies size bytes from an address that may be unmapped. False on a fault.
bool safe_copy(void* dst, const void* src, size_t size);
// Copies a NUL-terminated string of at most size bytes (NUL included) from
// an address that may be unmapped: bytes copied with the NUL, or -EFAULT.
long safe_copy_str(char* dst, const char* src, size_t size);

// impl_format.cpp: the bpf_bprintf_prepare format subset.
u64 trace_printk(u64 fmt, u64 fmt_size, u64 a1, u64 a2, u64 a3);
u64 snprintf(u64 str, u64 str_size, u64 fmt, u64 data, u64 data_len);
// Formats fmt with args as the kernel's bprintf does. Returns the text or a
// negative errno (EINVAL for a bad directive or too few arguments).
long format(const char* fmt, std::span<const uint64_t> args, std::string& out);

// impl_ringbuf.cpp.
u64 ringbuf_output(u64 map, u64 data, u64 size, u64 flags, u64);
u64 ringbuf_reserve(u64 map, u64 size, u64 flags, u64, u64);
u64 ringbuf_submit(u64 sample, u64 flags, u64, u64, u64);
u64 ringbuf_discard(u64 sample, u64 flags, u64, u64, u64);
u64 ringbuf_query(u64 map, u64 flags, u64, u64, u64);

// Negative errno as a helper's 64-bit return value.
inline u64 neg(int err) {
    return static_cast<u64>(-static_cast<int64_t>(err));
}

}  // namespace crib::progs::impl
