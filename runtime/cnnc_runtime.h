/*
 * cnnc runtime: the small helpers generated kernels share.  Header-only C99, libm only.
 *
 *   cnnc_sigmoidf / cnnc_erff helpers      shared math, written once
 *   CNNC_MIN / CNNC_MAX                     integer helpers
 *   cnnc_arena_ok()                         the arena checks every <model>_run performs
 *   cnnc_overlap(), cnnc_buffers_overlap()  its check that outputs share no byte with other buffers
 *
 * The generated CUDA includes this header too (through cnnc_cuda.cuh): CNNC_HELPER then
 * makes each helper a __host__ __device__ function, so the math is written once.
 */
#ifndef CNNC_RUNTIME_H
#define CNNC_RUNTIME_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "cnnc_status.h"

#if defined(__CUDACC__) || defined(CNNC_CUDA_EMU)
#define CNNC_HELPER static __host__ __device__ inline
#else
#define CNNC_HELPER static inline
#endif

/* On a hot kernel loop nest: GCC's -O2 vectorizes only loops that need no remainder (its
 * "very cheap" cost model), which leaves the epilogues of GEMM tiles (runs of variable
 * length, and loops the optimizer merged with them) scalar; the "cheap" model vectorizes
 * them.  Clang's -O2 already does. */
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define CNNC_VECTORIZE __attribute__((optimize("vect-cost-model=cheap")))
#else
#define CNNC_VECTORIZE
#endif

#define CNNC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CNNC_MAX(a, b) ((a) > (b) ? (a) : (b))

/* 1 / (1 + exp(-x)), without overflow for large |x| */
CNNC_HELPER float cnnc_sigmoidf(float x)
{
    if (x >= 0.0f) {
        return 1.0f / (1.0f + expf(-x));
    }
    float e = expf(x);
    return e / (1.0f + e);
}

CNNC_HELPER double cnnc_sigmoid(double x)
{
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    double e = exp(x);
    return e / (1.0 + e);
}

/* log(1 + exp(x)) without overflow */
CNNC_HELPER float cnnc_softplusf(float x)
{
    return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x));
}

/* the status of an arena of `bytes` bytes given for a model needing `need` */
CNNC_HELPER cnnc_status cnnc_arena_ok(const void *arena, size_t bytes, size_t need)
{
    if (need > 0 && arena == NULL) return CNNC_ERR_NULL_ARG;
    if (((uintptr_t)arena) % CNNC_ARENA_ALIGN != 0) return CNNC_ERR_ARENA_ALIGN;
    if (bytes < need) return CNNC_ERR_ARENA_TOO_SMALL;
    return CNNC_OK;
}

/* whether the byte ranges [a, a + an) and [b, b + bn) share a byte (compared as addresses;
   an empty range overlaps nothing) */
CNNC_HELPER int cnnc_overlap(const void *a, size_t an, const void *b, size_t bn)
{
    const uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return an > 0 && bn > 0 && x < y + bn && y < x + an;
}

/* whether an output range shares a byte with an input range, another output range or the
   arena, or an input range with the arena (ranges: pointer and byte count; n_in, n_out may
   be 0) */
CNNC_HELPER int cnnc_buffers_overlap(const void *const *in, const size_t *in_bytes, int n_in,
                                     const void *const *out, const size_t *out_bytes, int n_out,
                                     const void *arena, size_t arena_bytes)
{
    for (int o = 0; o < n_out; ++o) {
        for (int i = 0; i < n_in; ++i)
            if (cnnc_overlap(out[o], out_bytes[o], in[i], in_bytes[i])) return 1;
        for (int p = o + 1; p < n_out; ++p)
            if (cnnc_overlap(out[o], out_bytes[o], out[p], out_bytes[p])) return 1;
        if (cnnc_overlap(out[o], out_bytes[o], arena, arena_bytes)) return 1;
    }
    for (int i = 0; i < n_in; ++i)
        if (cnnc_overlap(in[i], in_bytes[i], arena, arena_bytes)) return 1;
    return 0;
}

#endif /* CNNC_RUNTIME_H */
