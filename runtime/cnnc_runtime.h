/*
 * cnnc runtime: the small helpers generated kernels share.  Header-only C99, libm only.
 *
 *   cnnc_expf / cnnc_sigmoidf / cnnc_erff  shared math, written once (cnnc_expf: libm-free, vectorizable)
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
#include <string.h>

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

/* exp(x) in float without libm, branch-free, so that a loop calling it vectorizes (expf
 * is a library call no loop around it vectorizes).  Cephes' reduction x = n ln2 + r
 * (ln2 in two parts; n = x / ln2 rounded to nearest by adding and subtracting 1.5 * 2^23,
 * as floorf keeps GCC from vectorizing), its degree-6 polynomial for exp(r), and 2^n as
 * 2^(n/2) * 2^(n - n/2) from exponent bits, n clamped to [-150, 128] so that both are
 * normal floats (the products overflow to +inf past 88.72, and round into the denormals as
 * expf does).  Within 2 ulp of expf on normal results; 0 below -104; +inf for +inf; NaN
 * stays NaN.  The clamps are selects between a value and a constant, and so is the rest:
 * GCC if-converts those, and no float-to-int conversion sees a NaN or an overflow. */
CNNC_HELPER float cnnc_expf(float x)
{
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    n = n < 128.0f ? n : 128.0f;
    n = n > -150.0f ? n : -150.0f;                         /* NaN: -150 */
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float e = p * r * r + r + 1.0f;
    const int32_t ni = (int32_t)n, n1 = (ni + 256) / 2 - 128, n2 = ni - n1;   /* n1 = floor(n / 2) */
    const int32_t b1 = (n1 + 127) * 8388608, b2 = (n2 + 127) * 8388608;   /* (n + 127) << 23 */
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    float y = e * s1 * s2;
    y = x >= -104.0f ? y : 0.0f;
    return x == x ? y : x;
}

/* 1 / (1 + exp(-x)): exp(-x) overflows to +inf for x < -88.7, giving 0; vectorizable */
CNNC_HELPER float cnnc_sigmoidf(float x)
{
    return 1.0f / (1.0f + cnnc_expf(-x));
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
