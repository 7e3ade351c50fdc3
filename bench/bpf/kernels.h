/* Compute kernels shared by the BPF benchmark programs and their native
 * twins: the same C, compiled once by clang -target bpf and once by the host
 * compiler, so a ratio compares engines, not algorithms. */
#ifndef CRIB_BENCH_KERNELS_H
#define CRIB_BENCH_KERNELS_H

#define BENCH_DATA_SIZE 4096

struct bench_ctx {
    unsigned int len;
    unsigned int pad;
    unsigned char data[BENCH_DATA_SIZE];
};

/* Internet-style 16-bit one's complement checksum. */
static inline unsigned int kernel_checksum(const struct bench_ctx *ctx)
{
    unsigned int sum = 0;
    for (unsigned int i = 0; i + 1 < BENCH_DATA_SIZE && i + 1 < ctx->len; i += 2)
        sum += (unsigned int)ctx->data[i] << 8 | ctx->data[i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return ~sum & 0xffff;
}

/* Primes below BENCH_DATA_SIZE, using ctx->data as the sieve. */
static inline unsigned int kernel_sieve(struct bench_ctx *ctx)
{
    /* The sieve marks composites with the pass number instead of clearing a
     * buffer first: clang turns a clearing loop into memset, which BPF lacks.
     * Expects data zeroed before the first pass. */
    unsigned int count = 0;
    unsigned char pass = (unsigned char)(ctx->pad % 255 + 1);  /* never 0: primes stay 0 */
    for (unsigned int i = 2; i < BENCH_DATA_SIZE; i++) {
        if (ctx->data[i] == pass) continue;
        count++;
        for (unsigned int j = i * i; j < BENCH_DATA_SIZE; j += i) ctx->data[j] = pass;
    }
    ctx->pad = pass;
    return count;
}

/* 64-bit FNV-1a over the buffer. */
static inline unsigned long long kernel_fnv(const struct bench_ctx *ctx)
{
    unsigned long long hash = 0xcbf29ce484222325ULL;
    for (unsigned int i = 0; i < BENCH_DATA_SIZE && i < ctx->len; i++) {
        hash ^= ctx->data[i];
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

#define BENCH_CALLS 1000

#endif
