/*
 * cnnc CUDA runtime: what generated CUDA shares.
 *
 *   CNNC_LAUNCH(kernel, grid, block, shared_bytes, stream, args...)
 *       a kernel launch: kernel<<<grid, block, shared_bytes, stream>>>(args...) under nvcc,
 *       an emulated launch under cnnc_cuda_emu.h (g++, no GPU)
 *   CNNC_TRY(call)          return the cudaError_t of `call` from the enclosing function
 *                           when it is not cudaSuccess (multi-launch launchers)
 *   CNNC_GRID_CAP           the largest grid.x a launcher asks for (grid-stride loops
 *                           cover any size with it)
 *   cnnc_tf32(x)            x rounded to TF32 (10-bit mantissa) when the model was
 *                           generated with precision="tf32" (CNNC_TF32 1), else x
 *   cnnc_sigmoidf & co      the math helpers of cnnc_runtime.h, as __host__ __device__
 *                           functions (one definition for C and CUDA)
 *
 * The same source compiles with nvcc (sm_80, sm_90) and, with cnnc_cuda_emu.h included
 * first, with g++ as C++17 for the CPU emulator.
 */
#ifndef CNNC_CUDA_CUH
#define CNNC_CUDA_CUH

#ifndef CNNC_CUDA_EMU
#include <cuda_runtime.h>
#endif

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cnnc_runtime.h"
#include "cnnc_status.h"

#ifndef CNNC_TF32
#define CNNC_TF32 0
#endif

#ifdef CNNC_CUDA_EMU
#define CNNC_LAUNCH(kernel, grid, block, shared_bytes, stream, ...) \
    cnnc_emu::launch((grid), (block), (shared_bytes), (stream), [=]() { kernel(__VA_ARGS__); })
#else
#define CNNC_LAUNCH(kernel, grid, block, shared_bytes, stream, ...) \
    kernel<<<(grid), (block), (shared_bytes), (stream)>>>(__VA_ARGS__)
#endif

#define CNNC_TRY(call)                        \
    do {                                      \
        cudaError_t cnnc_try_ = (call);       \
        if (cnnc_try_ != cudaSuccess) {       \
            return cnnc_try_;                 \
        }                                     \
    } while (0)

#define CNNC_GRID_CAP 65535

/* TF32 (what tensor cores multiply): round-to-nearest (ties away) to 10 mantissa bits.
 * Accumulation stays fp32.  The relative error of one product is at most 2^-10. */
static __host__ __device__ __forceinline__ float cnnc_tf32(float x)
{
#if CNNC_TF32
#if defined(__CUDA_ARCH__)
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    /* the 13 low bits of a .tf32 result are not specified as zero (tensor cores ignore
       them; CUTLASS clears them before using the value as a float): clear them, so the
       FP32 multiply of the GEMM kernels sees exactly the emulator's TF32 value */
    return __uint_as_float(r & 0xffffe000u);
#else
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) != 0x7f800000u) {
        u = (u + 0x1000u) & 0xffffe000u;
    }
    memcpy(&x, &u, sizeof u);
    return x;
#endif
#else
    return x;
#endif
}

#endif /* CNNC_CUDA_CUH */
