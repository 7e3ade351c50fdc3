// BPF_MAP_TYPE_HASH, LRU_HASH, PERCPU_HASH and LRU_PERCPU_HASH: one
// implementation, parameterised by two bits (lru, percpu), as the kernel's
// hashtab.c shares its code.
//
// Memory: like the kernel's default (preallocated) hash, every element lives
// in one pool of max_entries nodes mapped at creation and never freed before
// the map. A deleted or evicted node goes back to a free list and may be
// reused for another key, but the memory a program got from lookup_elem
// stays valid, so a program racing a delete reads stale or reused data,
// never freed memory. The pool is mapped NORESERVE and handed out from a
// bump index, so untouched nodes cost no memory (BPF_F_NO_PREALLOC is
// accepted and behaves the same).
//
// Locking: each bucket has a spin lock guarding its chain and the keys and
// values of its nodes; the pool (free list, LRU list) has one mutex. The
// order is pool -> bucket (eviction unlinks its victim from a bucket), so
// nothing takes the pool lock while holding a bucket lock: nodes are
// allocated before and released after the bucket critical section.
//
// LRU: the kernel's second-chance scheme over one common list. A program's
// lookup sets the node's reference bit (an atomic store, no lock); eviction
// walks from the tail, moving referenced nodes to the head with the bit
// cleared and taking the first unreferenced node that is still linked in
// its bucket. BPF_F_NO_COMMON_LRU is accepted and uses the common list.
#include <bit>
#include <cstring>
#include <mutex>
#include <string_view>

#include "maps/common.hpp"
#include "maps/registry.hpp"

namespace crib::maps {
namespace {

using namespace detail;

inline constexpr uint32_t kHashCreateFlags =
    kNoPrealloc | kNoCommonLru | kNumaNode | kAccessMask | kZeroSeed;
inline constexpr uint32_t kMaxBuckets = 1u << 31;

struct HashKind {
    bool lru;
    bool percpu;
};

// Header of a pool node; the key and then the value(s) follow it. Plain
// fields only, so the zeroed pool is already a valid array of nodes.
struct Node {
    Node* next;      // bucket chain, under the bucket lock
    Node* lru_prev;  // LRU list, under the pool lock
    Node* lru_next;
    Node* free_next;  // free list, under the pool lock
    uint32_t hash;
    uint8_t referenced;  // LRU second chance, accessed atomically
};
inline constexpr size_t kNodeHeader = round_up8(sizeof(Node));

struct Bucket {
    SpinLock lock;
    Node* head;
};

class HashMap final : public Map {
public:
    HashMap(MapSpec spec, HashKind kind, size_t n_buckets, Mapping buckets, Mapping nodes,
            unsigned ncpus)
        : Map(std::move(spec)),
          m_kind(kind),
          m_ncpus(kind.percpu ? ncpus : 1),
          m_elem_size(round_up8(this->spec().value_size)),
          m_key_stride(round_up8(this->spec().key_size)),
          m_node_size(kNodeHeader + m_key_stride + m_elem_size * m_ncpus),
          m_bucket_mask(static_cast<uint32_t>(n_buckets - 1)),
          m_buckets(std::move(buckets)),
          m_nodes(std::move(nodes)) {}

    size_t user_value_size() const override {
        return m_kind.percpu ? m_elem_size * m_ncpus : spec().value_size;
    }

    Result<void> lookup(const void* key, void* value_out) const override {
        uint32_t hash = hash_key(key);
        Bucket& b = bucket(hash);
        std::lock_guard guard(b.lock);
        Node* node = find(b, key, hash);
        if (!node) return to_result(*this, "lookup", {ENOENT, "no such key"});
        if (m_kind.percpu)
            std::memcpy(value_out, value_of(node, 0), m_elem_size * m_ncpus);
        else
            std::memcpy(value_out, value_of(node, 0), spec().value_size);
        return {};
    }
    Result<void> update(const void* key, const void* value, uint64_t flags) override {
        return to_result(*this, "update", store(key, value, flags, /*all_cpus=*/true));
    }
    Result<void> remove(const void* key) override { return to_result(*this, "delete", erase(key)); }
    Result<void> next_key(const void* key, void* next_key_out) const override {
        return to_result(*this, "get_next_key", find_next(key, next_key_out));
    }

    void* lookup_elem(const void* key) override {
        uint32_t hash = hash_key(key);
        Bucket& b = bucket(hash);
        std::lock_guard guard(b.lock);
        Node* node = find(b, key, hash);
        if (!node) return nullptr;
        mark_referenced(node);
        return value_of(node, m_kind.percpu ? current_cpu() : 0);
    }
    long update_elem(const void* key, const void* value, uint64_t flags) override {
        return to_errno(store(key, value, flags, /*all_cpus=*/false));
    }
    long delete_elem(const void* key) override { return to_errno(erase(key)); }

private:
    Bucket& bucket(uint32_t hash) const {
        return reinterpret_cast<Bucket*>(m_buckets.data())[hash & m_bucket_mask];
    }
    Node* node_at(size_t index) const {
        return reinterpret_cast<Node*>(m_nodes.data() + index * m_node_size);
    }
    std::byte* key_of(Node* node) const { return reinterpret_cast<std::byte*>(node) + kNodeHeader; }
    std::byte* value_of(Node* node, unsigned cpu) const {
        return key_of(node) + m_key_stride + cpu * m_elem_size;
    }

    uint32_t hash_key(const void* key) const {
        size_t h = std::hash<std::string_view>{}(
            std::string_view(static_cast<const char*>(key), spec().key_size));
        return static_cast<uint32_t>(h ^ (h >> 32));
    }

    Node* find(const Bucket& b, const void* key, uint32_t hash) const {
        for (Node* node = b.head; node; node = node->next)
            if (node->hash == hash && std::memcmp(key_of(node), key, spec().key_size) == 0)
                return node;
        return nullptr;
    }

    // Unlinks `node` if it is still in `b`; false when someone else did.
    static bool unlink(Bucket& b, Node* node) {
        for (Node** link = &b.head; *link; link = &(*link)->next) {
            if (*link == node) {
                *link = node->next;
                return true;
            }
        }
        return false;
    }

    void mark_referenced(Node* node) const {
        std::atomic_ref<uint8_t> bit(node->referenced);
        if (m_kind.lru && !bit.load(std::memory_order_relaxed))
            bit.store(1, std::memory_order_relaxed);
    }

    // The user side writes every CPU's copy from its round_up(value_size, 8)
    // strided buffer; a program writes its own CPU's copy, and a new element
    // starts with the others zeroed so no stale data from the node's last
    // key shows through.
    void write_value(Node* node, const void* value, bool all_cpus, bool fresh) {
        if (!m_kind.percpu) {
            std::memcpy(value_of(node, 0), value, spec().value_size);
            return;
        }
        if (all_cpus) {
            std::memcpy(value_of(node, 0), value, m_elem_size * m_ncpus);
            return;
        }
        unsigned cpu = current_cpu();
        if (fresh) std::memset(value_of(node, 0), 0, m_elem_size * m_ncpus);
        std::memcpy(value_of(node, cpu), value, spec().value_size);
    }

    // Under the bucket lock, with `node` holding `key`.
    Status overwrite(Node* node, const void* value, uint64_t flags, bool all_cpus) {
        if (flags & kNoExist) return {EEXIST, "key already exists (BPF_NOEXIST)"};
        write_value(node, value, all_cpus, /*fresh=*/false);
        mark_referenced(node);
        return kOk;
    }

    Status store(const void* key, const void* value, uint64_t flags, bool all_cpus) {
        Status status = check_update_flags(flags);
        if (!status.ok()) return status;
        uint32_t hash = hash_key(key);
        Bucket& b = bucket(hash);
        {
            std::lock_guard guard(b.lock);
            if (Node* node = find(b, key, hash)) return overwrite(node, value, flags, all_cpus);
            if (flags & kExist) return {ENOENT, "no such key (BPF_EXIST)"};
        }
        Node* fresh = allocate(hash);
        if (!fresh) return {E2BIG, "map is full"};
        std::memcpy(key_of(fresh), key, spec().key_size);
        write_value(fresh, value, all_cpus, /*fresh=*/true);
        Node* spare = nullptr;
        {
            std::lock_guard guard(b.lock);
            if (Node* node = find(b, key, hash)) {  // another thread inserted it meanwhile
                status = overwrite(node, value, flags, all_cpus);
                spare = fresh;
            } else {
                fresh->next = b.head;
                b.head = fresh;
            }
        }
        if (spare) release(spare);
        return status;
    }

    Status erase(const void* key) {
        uint32_t hash = hash_key(key);
        Bucket& b = bucket(hash);
        Node* node;
        {
            std::lock_guard guard(b.lock);
            node = find(b, key, hash);
            if (!node) return {ENOENT, "no such key"};
            unlink(b, node);
        }
        release(node);
        return kOk;
    }

    // Bucket order, then chain order; a key that is not in the map restarts
    // at the first key, as the kernel does.
    Status find_next(const void* key, void* next_out) const {
        uint32_t start = 0;
        if (key) {
            uint32_t hash = hash_key(key);
            Bucket& b = bucket(hash);
            std::lock_guard guard(b.lock);
            if (Node* node = find(b, key, hash)) {
                if (node->next) {
                    std::memcpy(next_out, key_of(node->next), spec().key_size);
                    return kOk;
                }
                start = (hash & m_bucket_mask) + 1;
            }
        }
        for (uint64_t i = start; i <= m_bucket_mask; ++i) {
            Bucket& b = bucket(static_cast<uint32_t>(i));
            std::lock_guard guard(b.lock);
            if (b.head) {
                std::memcpy(next_out, key_of(b.head), spec().key_size);
                return kOk;
            }
        }
        return {ENOENT, "no more keys"};
    }

    // A node owned by the caller, or null when the map is full (and, for
    // LRU, nothing could be evicted). The hash is set here, under the pool
    // lock, because an evictor walking the LRU list reads it.
    Node* allocate(uint32_t hash) {
        std::lock_guard guard(m_pool_lock);
        Node* node = m_free;
        if (node) {
            m_free = node->free_next;
        } else if (m_bump < spec().max_entries) {
            node = node_at(m_bump++);
        } else if (m_kind.lru) {
            node = evict_locked();
        }
        if (node) node->hash = hash;
        if (node && m_kind.lru) {
            std::atomic_ref<uint8_t>(node->referenced).store(0, std::memory_order_relaxed);
            lru_push_front(node);
        }
        return node;
    }

    void release(Node* node) {
        std::lock_guard guard(m_pool_lock);
        if (m_kind.lru) lru_remove(node);
        node->free_next = m_free;
        m_free = node;
    }

    Node* evict_locked() {
        // Two passes over the list at most: the first may only clear bits.
        for (uint64_t budget = 2ull * spec().max_entries + 1; budget && m_lru_tail; --budget) {
            Node* node = m_lru_tail;
            std::atomic_ref<uint8_t> bit(node->referenced);
            if (bit.load(std::memory_order_relaxed)) {
                bit.store(0, std::memory_order_relaxed);
                lru_remove(node);
                lru_push_front(node);
                continue;
            }
            Bucket& b = bucket(node->hash);
            bool unlinked;
            {
                std::lock_guard guard(b.lock);
                unlinked = unlink(b, node);
            }
            lru_remove(node);
            if (unlinked) return node;
            // Not in a bucket: being deleted, or not yet inserted by its
            // allocator. Its owner frees it; keep it off the list meanwhile
            // and go round to the head so the walk moves on.
            lru_push_front(node);
        }
        return nullptr;
    }

    void lru_push_front(Node* node) {
        node->lru_prev = nullptr;
        node->lru_next = m_lru_head;
        if (m_lru_head) m_lru_head->lru_prev = node;
        m_lru_head = node;
        if (!m_lru_tail) m_lru_tail = node;
    }
    void lru_remove(Node* node) {
        (node->lru_prev ? node->lru_prev->lru_next : m_lru_head) = node->lru_next;
        (node->lru_next ? node->lru_next->lru_prev : m_lru_tail) = node->lru_prev;
        node->lru_prev = node->lru_next = nullptr;
    }

    HashKind m_kind;
    unsigned m_ncpus;
    size_t m_elem_size;
    size_t m_key_stride;
    size_t m_node_size;
    uint32_t m_bucket_mask;
    Mapping m_buckets;
    Mapping m_nodes;

    std::mutex m_pool_lock;  // guards everything below
    Node* m_free = nullptr;
    uint64_t m_bump = 0;  // nodes below it have been handed out at least once
    Node* m_lru_head = nullptr;
    Node* m_lru_tail = nullptr;
};

template <HashKind kKind>
Result<void> check(const MapSpec& spec) {
    CRIB_TRY(check_flags(spec, kHashCreateFlags));
    if (!kKind.lru && (spec.flags & kNoCommonLru))
        return spec_error(spec, EINVAL, "BPF_F_NO_COMMON_LRU needs an LRU map");
    if (kKind.lru && (spec.flags & kNoPrealloc))
        return spec_error(spec, EOPNOTSUPP, "LRU maps are always preallocated (BPF_F_NO_PREALLOC)");
    if ((spec.flags & kNumaNode) && (spec.flags & kNoCommonLru))
        return spec_error(spec, EINVAL, "BPF_F_NUMA_NODE and BPF_F_NO_COMMON_LRU are exclusive");
    CRIB_TRY(check_sizes_nonzero(spec));
    if (spec.key_size > kMaxBpfStack)
        return spec_error(spec, E2BIG, "key_size {} exceeds {} bytes", spec.key_size, kMaxBpfStack);
    if (spec.value_size >= kKmallocMaxSize - kMaxBpfStack - kNodeHeader)
        return spec_error(spec, E2BIG, "value_size {} is too large", spec.value_size);
    if (kKind.percpu && round_up8(spec.value_size) > kPcpuMinUnitSize)
        return spec_error(spec, E2BIG, "per-CPU value_size {} exceeds {} bytes", spec.value_size,
                          kPcpuMinUnitSize);
    if (spec.max_entries > kMaxBuckets)
        return spec_error(spec, E2BIG, "max_entries {} exceeds {}", spec.max_entries, kMaxBuckets);
    return {};
}

template <HashKind kKind>
Result<std::unique_ptr<Map>> create(const MapSpec& spec) {
    unsigned ncpus = kKind.percpu ? possible_cpus() : 1;
    size_t n_buckets = std::bit_ceil(static_cast<uint64_t>(spec.max_entries));
    size_t node_size = kNodeHeader + round_up8(spec.key_size) + round_up8(spec.value_size) * ncpus;
    Mapping buckets = CRIB_TRY(Mapping::create(spec, n_buckets * sizeof(Bucket), false));
    Mapping nodes = CRIB_TRY(Mapping::create(spec, node_size * spec.max_entries, false));
    return std::unique_ptr<Map>(std::make_unique<HashMap>(
        spec, kKind, n_buckets, std::move(buckets), std::move(nodes), ncpus));
}

template <HashKind kKind>
constexpr MapTypeOps row(MapType type, std::string_view name) {
    return {type, name, check<kKind>, create<kKind>};
}

}  // namespace

constinit const MapTypeOps detail::kHashType = row<HashKind{false, false}>(MapType::Hash, "hash");
constinit const MapTypeOps detail::kLruHashType =
    row<HashKind{true, false}>(MapType::LruHash, "lru_hash");
constinit const MapTypeOps detail::kPercpuHashType =
    row<HashKind{false, true}>(MapType::PercpuHash, "percpu_hash");
constinit const MapTypeOps detail::kLruPercpuHashType =
    row<HashKind{true, true}>(MapType::LruPercpuHash, "lru_percpu_hash");

}  // namespace crib::maps
