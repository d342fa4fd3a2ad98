/*
 * cnnc CUDA emulator: compiles generated CUDA as C++17 with a host compiler and runs it on
 * the CPU with CUDA's execution model, so every kernel's logic can be checked against the
 * numpy reference on a machine without a GPU.
 *
 *   g++ -x c++ -std=c++17 -include cnnc_cuda_emu.h model.cu ...
 *
 * THIS IS NOT A GPU RUN.  It checks indexing, barriers and launch configurations; it says
 * nothing about performance, memory coalescing, bank conflicts, real device limits beyond
 * the launch-configuration ones checked here, or races a GPU would expose between blocks.
 *
 * The model of execution:
 *  - a launch runs its blocks one after the other (so a `__shared__` variable, which is a
 *    function-local `static` here, is exactly the running block's shared memory);
 *  - a block's threads run as fibers on one host thread; `__syncthreads()` switches to the
 *    next fiber, and a fiber resumes past the barrier only after every live thread of its
 *    block reached it (round-robin: no thread runs ahead);
 *  - threadIdx/blockIdx/blockDim/gridDim are globals set before each switch;
 *  - atomics are plain read-modify-writes (fibers switch only at barriers);
 *  - streams execute eagerly in launch order; stream capture records launches and
 *    asynchronous copies into a graph that cudaGraphLaunch replays;
 *  - device memory is host memory; cudaMemcpy is memcpy.
 * Launches are serialized by one lock, so concurrent host threads are safe (and slow).
 * CNNC_EMU_FAIL_LAUNCH=k (environment) makes the k-th launch fail, to test error paths.
 * Not supported: dynamic shared memory (`extern __shared__`; shared sizes are render-time
 * constants in cnnc), warp intrinsics (__shfl*, vote), cooperative groups, textures.
 *
 * Fibers: created once with makecontext and switched with _setjmp/_longjmp (no signal-mask
 * system call per switch), which is why _FORTIFY_SOURCE (whose longjmp check rejects
 * switching stacks) is turned off for this translation unit.
 */
#ifndef CNNC_CUDA_EMU_H
#define CNNC_CUDA_EMU_H

#ifdef _FORTIFY_SOURCE
#undef _FORTIFY_SOURCE
#endif

#define CNNC_CUDA_EMU 1

#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>

/* ------------------------------------------------------------------ qualifiers */
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __shared__ static
#define __constant__

/* ------------------------------------------------------------------ vector types */
struct uint3 {
    unsigned int x, y, z;
};

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
};

inline uint3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

/* ------------------------------------------------------------------ errors */
enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorNotReady = 600,
    cudaErrorStreamCaptureUnsupported = 900,
    cudaErrorStreamCaptureInvalidated = 901,
    cudaErrorLaunchFailure = 719,
    cudaErrorUnknown = 999
};
typedef cudaError_t cudaError;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
};

enum cudaStreamCaptureMode {
    cudaStreamCaptureModeGlobal = 0,
    cudaStreamCaptureModeThreadLocal = 1,
    cudaStreamCaptureModeRelaxed = 2
};

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00

namespace cnnc_emu {

inline cudaError_t &last_error()
{
    static thread_local cudaError_t e = cudaSuccess;
    return e;
}

inline cudaError_t fail(cudaError_t e)
{
    last_error() = e;
    return e;
}

/* ------------------------------------------------------------------ operations */
/* A type-erased callable (a launch's kernel call with its arguments, a copy): the header
 * avoids <functional> and the other heavy standard headers to keep emulated builds fast. */
struct Op {
    void (*run)(void *);
    void (*destroy)(void *);
    void *(*clone)(const void *);
    void *data;
};

template <class F>
Op make_op(const F &f)
{
    Op op;
    op.run = [](void *d) { (*static_cast<F *>(d))(); };
    op.destroy = [](void *d) { delete static_cast<F *>(d); };
    op.clone = [](const void *d) -> void * { return new F(*static_cast<const F *>(d)); };
    op.data = new F(f);
    return op;
}

/* ------------------------------------------------------------------ fibers */
struct Fiber {
    ucontext_t uc;
    jmp_buf ctx;
    void *stack;
    uint3 tid;
    bool done;
};

constexpr size_t STACK_BYTES = 256 * 1024;

struct Scheduler {
    Fiber **fibers = nullptr;
    unsigned n_fibers = 0;
    jmp_buf sched;
    Fiber *current = nullptr;
    const Op *body = nullptr;
};

inline Scheduler &sched()
{
    static Scheduler s;
    return s;
}

/* the loop every fiber runs: wait for a thread to run, run it, report done */
inline void fiber_main()
{
    Scheduler &s = sched();
    for (;;) {
        Fiber *f = s.current;
        if (!_setjmp(f->ctx)) {
            _longjmp(s.sched, 1);
        }
        s.body->run(s.body->data);
        s.current->done = true;
    }
}

inline Fiber *new_fiber()
{
    Scheduler &s = sched();
    Fiber *f = new Fiber();
    f->stack = mmap(nullptr, STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                    -1, 0);
    if (f->stack == MAP_FAILED) {
        fprintf(stderr, "cnnc CUDA emulator: cannot map a fiber stack\n");
        abort();
    }
    getcontext(&f->uc);
    f->uc.uc_stack.ss_sp = f->stack;
    f->uc.uc_stack.ss_size = STACK_BYTES;
    f->uc.uc_link = nullptr;
    makecontext(&f->uc, fiber_main, 0);
    /* run the fiber up to its first wait */
    s.current = f;
    if (!_setjmp(s.sched)) {
        setcontext(&f->uc);
    }
    return f;
}

/* switch into fiber f; returns when it reaches a barrier or finishes its thread */
inline void resume(Fiber *f)
{
    Scheduler &s = sched();
    s.current = f;
    threadIdx = f->tid;
    if (!_setjmp(s.sched)) {
        _longjmp(f->ctx, 1);
    }
}

inline void run_block(unsigned nthreads)
{
    Scheduler &s = sched();
    if (s.n_fibers < nthreads) {
        s.fibers = static_cast<Fiber **>(realloc(s.fibers, nthreads * sizeof(Fiber *)));
        if (s.fibers == nullptr) abort();
        while (s.n_fibers < nthreads) {
            s.fibers[s.n_fibers++] = new_fiber();
        }
    }
    unsigned t = 0;
    for (unsigned z = 0; z < blockDim.z; ++z) {
        for (unsigned y = 0; y < blockDim.y; ++y) {
            for (unsigned x = 0; x < blockDim.x; ++x, ++t) {
                s.fibers[t]->tid = uint3{x, y, z};
                s.fibers[t]->done = false;
            }
        }
    }
    /* each round runs every live thread to its next barrier (or its end) */
    for (bool live = true; live;) {
        live = false;
        for (unsigned i = 0; i < nthreads; ++i) {
            Fiber *f = s.fibers[i];
            if (!f->done) {
                resume(f);
                live = live || !f->done;
            }
        }
    }
}

inline pthread_mutex_t *launch_lock()
{
    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    return &m;
}

/* ------------------------------------------------------------------ streams and graphs */
struct Graph {
    Op *ops = nullptr;
    size_t n = 0, cap = 0;

    void push(Op op)
    {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            ops = static_cast<Op *>(realloc(ops, cap * sizeof(Op)));
            if (ops == nullptr) abort();
        }
        ops[n++] = op;
    }

    ~Graph()
    {
        for (size_t i = 0; i < n; ++i) ops[i].destroy(ops[i].data);
        free(ops);
    }
};

struct Stream {
    Graph *capture = nullptr;
};

inline Stream &default_stream()
{
    static Stream s;
    return s;
}

}  // namespace cnnc_emu

typedef cnnc_emu::Stream *cudaStream_t;
typedef cnnc_emu::Graph *cudaGraph_t;
typedef cnnc_emu::Graph *cudaGraphExec_t;
struct CUevent_st {
    double ms;
};
typedef CUevent_st *cudaEvent_t;

namespace cnnc_emu {

inline Stream *stream_of(cudaStream_t s)
{
    return s ? s : &default_stream();
}

/* run `f` now, or record it when the stream is capturing */
template <class F>
cudaError_t enqueue(cudaStream_t stream, const F &f)
{
    Stream *s = stream_of(stream);
    if (s->capture) {
        s->capture->push(make_op(f));
    } else {
        f();
    }
    return cudaSuccess;
}

inline long &launch_count()
{
    static long n = 0;
    return n;
}

inline void execute(dim3 grid, dim3 block, const Op &body)
{
    pthread_mutex_lock(launch_lock());
    Scheduler &s = sched();
    s.body = &body;
    gridDim = grid;
    blockDim = block;
    const unsigned nthreads = block.x * block.y * block.z;
    for (unsigned z = 0; z < grid.z; ++z) {
        for (unsigned y = 0; y < grid.y; ++y) {
            for (unsigned x = 0; x < grid.x; ++x) {
                blockIdx = uint3{x, y, z};
                run_block(nthreads);
            }
        }
    }
    s.body = nullptr;
    pthread_mutex_unlock(launch_lock());
}

/* a kernel launch: the configuration is checked against the limits of compute
 * capability 8.x/9.x, as a real launch would be (cudaErrorInvalidConfiguration) */
template <class F>
void launch(dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream, const F &kernel_call)
{
    const unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0 || threads > 1024 || block.z > 64 ||
        grid.y > 65535 || grid.z > 65535 || grid.x > 2147483647u || shared_bytes > 0) {
        /* dynamic shared memory is not emulated; cnnc kernels size shared arrays statically */
        fail(cudaErrorInvalidConfiguration);
        return;
    }
    /* fault injection for tests of the error paths: CNNC_EMU_FAIL_LAUNCH=k makes the k-th
     * launch of the process fail as a faulting kernel would (cudaErrorLaunchFailure) */
    const char *inject = getenv("CNNC_EMU_FAIL_LAUNCH");
    if (inject != nullptr && ++launch_count() == strtol(inject, nullptr, 10)) {
        fail(cudaErrorLaunchFailure);
        return;
    }
    enqueue(stream, [grid, block, kernel_call]() {
        Op body = make_op(kernel_call);
        execute(grid, block, body);
        body.destroy(body.data);
    });
}

}  // namespace cnnc_emu

__noinline__ inline void __syncthreads()
{
    cnnc_emu::Scheduler &s = cnnc_emu::sched();
    cnnc_emu::Fiber *f = s.current;
    if (!_setjmp(f->ctx)) {
        _longjmp(s.sched, 1);
    }
    threadIdx = f->tid;
}

/* ------------------------------------------------------------------ runtime API */
inline cudaError_t cudaGetLastError()
{
    cudaError_t e = cnnc_emu::last_error();
    cnnc_emu::last_error() = cudaSuccess;
    return e;
}

inline cudaError_t cudaPeekAtLastError()
{
    return cnnc_emu::last_error();
}

inline const char *cudaGetErrorName(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorUnknown: return "cudaErrorUnknown";
    }
    return "cudaErrorUnknown";
}

inline const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument (emulated launch)";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorUnknown: return "unknown error";
    }
    return "unknown error";
}

struct cudaDeviceProp {
    char name[256];
    int major, minor;
    int multiProcessorCount;
    size_t totalGlobalMem;
};

inline cudaError_t cudaGetDeviceCount(int *count)
{
    if (count == nullptr) return cnnc_emu::fail(cudaErrorInvalidValue);
    *count = 1;
    return cudaSuccess;
}

inline cudaError_t cudaSetDevice(int device)
{
    return device == 0 ? cudaSuccess : cnnc_emu::fail(cudaErrorInvalidValue);
}

inline cudaError_t cudaGetDevice(int *device)
{
    if (device == nullptr) return cnnc_emu::fail(cudaErrorInvalidValue);
    *device = 0;
    return cudaSuccess;
}

inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device)
{
    if (prop == nullptr || device != 0) return cnnc_emu::fail(cudaErrorInvalidValue);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "cnnc CPU emulator (not a GPU)");
    prop->major = 8;
    prop->minor = 0;
    prop->multiProcessorCount = 1;
    return cudaSuccess;
}

inline cudaError_t cudaDeviceSynchronize()
{
    return cudaSuccess;
}

inline cudaError_t cudaMalloc(void **ptr, size_t bytes)
{
    if (ptr == nullptr) return cnnc_emu::fail(cudaErrorInvalidValue);
    *ptr = aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
    return *ptr ? cudaSuccess : cnnc_emu::fail(cudaErrorMemoryAllocation);
}

template <class T>
cudaError_t cudaMalloc(T **ptr, size_t bytes)
{
    return cudaMalloc(reinterpret_cast<void **>(ptr), bytes);
}

inline cudaError_t cudaFree(void *ptr)
{
    free(ptr);
    return cudaSuccess;
}

inline cudaError_t cudaMallocHost(void **ptr, size_t bytes)
{
    return cudaMalloc(ptr, bytes);
}

template <class T>
cudaError_t cudaMallocHost(T **ptr, size_t bytes)
{
    return cudaMalloc(reinterpret_cast<void **>(ptr), bytes);
}

inline cudaError_t cudaFreeHost(void *ptr)
{
    free(ptr);
    return cudaSuccess;
}

inline cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind)
{
    if (bytes && (dst == nullptr || src == nullptr)) return cnnc_emu::fail(cudaErrorInvalidValue);
    if (bytes) memmove(dst, src, bytes);
    return cudaSuccess;
}

inline cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                                   cudaStream_t stream = nullptr)
{
    if (bytes && (dst == nullptr || src == nullptr)) return cnnc_emu::fail(cudaErrorInvalidValue);
    return cnnc_emu::enqueue(stream, [=]() { cudaMemcpy(dst, src, bytes, kind); });
}

inline cudaError_t cudaMemset(void *dst, int value, size_t bytes)
{
    if (bytes && dst == nullptr) return cnnc_emu::fail(cudaErrorInvalidValue);
    if (bytes) memset(dst, value, bytes);
    return cudaSuccess;
}

inline cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t stream = nullptr)
{
    if (bytes && dst == nullptr) return cnnc_emu::fail(cudaErrorInvalidValue);
    return cnnc_emu::enqueue(stream, [=]() { cudaMemset(dst, value, bytes); });
}

template <class T>
cudaError_t cudaMemcpyToSymbol(T &symbol, const void *src, size_t bytes, size_t offset = 0,
                               cudaMemcpyKind kind = cudaMemcpyHostToDevice)
{
    return cudaMemcpy(reinterpret_cast<unsigned char *>(&symbol) + offset, src, bytes, kind);
}

inline cudaError_t cudaStreamCreate(cudaStream_t *stream)
{
    if (stream == nullptr) return cnnc_emu::fail(cudaErrorInvalidValue);
    *stream = new cnnc_emu::Stream();
    return cudaSuccess;
}

inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int)
{
    return cudaStreamCreate(stream);
}

inline cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
    delete stream;
    return cudaSuccess;
}

inline cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    if (cnnc_emu::stream_of(stream)->capture) return cnnc_emu::fail(cudaErrorStreamCaptureUnsupported);
    return cudaSuccess;
}

inline cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode)
{
    if (stream == nullptr) return cnnc_emu::fail(cudaErrorStreamCaptureUnsupported);
    if (stream->capture) return cnnc_emu::fail(cudaErrorInvalidValue);
    stream->capture = new cnnc_emu::Graph();
    return cudaSuccess;
}

inline cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *graph)
{
    if (stream == nullptr || stream->capture == nullptr || graph == nullptr)
        return cnnc_emu::fail(cudaErrorInvalidValue);
    *graph = stream->capture;
    stream->capture = nullptr;
    return cudaSuccess;
}

inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long = 0)
{
    if (exec == nullptr || graph == nullptr) return cnnc_emu::fail(cudaErrorInvalidValue);
    cnnc_emu::Graph *g = new cnnc_emu::Graph();
    for (size_t i = 0; i < graph->n; ++i) {
        cnnc_emu::Op op = graph->ops[i];
        op.data = op.clone(op.data);
        g->push(op);
    }
    *exec = g;
    return cudaSuccess;
}

inline cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream)
{
    if (exec == nullptr) return cnnc_emu::fail(cudaErrorInvalidResourceHandle);
    for (size_t i = 0; i < exec->n; ++i) {
        const cnnc_emu::Op op = exec->ops[i];
        cnnc_emu::enqueue(stream, [op]() { op.run(op.data); });
    }
    return cudaSuccess;
}

inline cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
    delete graph;
    return cudaSuccess;
}

inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec)
{
    delete exec;
    return cudaSuccess;
}

inline cudaError_t cudaEventCreate(cudaEvent_t *event)
{
    if (event == nullptr) return cnnc_emu::fail(cudaErrorInvalidValue);
    *event = new CUevent_st();
    return cudaSuccess;
}

inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int)
{
    return cudaEventCreate(event);
}

inline cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr)
{
    if (event == nullptr) return cnnc_emu::fail(cudaErrorInvalidResourceHandle);
    return cnnc_emu::enqueue(stream, [event]() {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        event->ms = ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
    });
}

inline cudaError_t cudaEventSynchronize(cudaEvent_t event)
{
    return event ? cudaSuccess : cnnc_emu::fail(cudaErrorInvalidResourceHandle);
}

inline cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
{
    if (ms == nullptr || start == nullptr || end == nullptr) return cnnc_emu::fail(cudaErrorInvalidValue);
    *ms = (float)(end->ms - start->ms);
    return cudaSuccess;
}

inline cudaError_t cudaEventDestroy(cudaEvent_t event)
{
    delete event;
    return cudaSuccess;
}

/* ------------------------------------------------------------------ device functions */
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
inline unsigned long max(unsigned long a, unsigned long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
inline int __float2int_rz(float x) { return (int)x; }
inline int __float2int_rd(float x) { return (int)floorf(x); }
inline float __int_as_float(int i) { float f; memcpy(&f, &i, sizeof f); return f; }
inline int __float_as_int(float f) { int i; memcpy(&i, &f, sizeof i); return i; }
inline unsigned __float_as_uint(float f) { unsigned i; memcpy(&i, &f, sizeof i); return i; }
inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, sizeof f); return f; }

template <class T>
inline T __ldg(const T *p) { return *p; }

template <class T>
inline T atomicAdd(T *p, T v) { T old = *p; *p = old + v; return old; }
template <class T>
inline T atomicMax(T *p, T v) { T old = *p; *p = old < v ? v : old; return old; }
template <class T>
inline T atomicMin(T *p, T v) { T old = *p; *p = v < old ? v : old; return old; }
template <class T>
inline T atomicExch(T *p, T v) { T old = *p; *p = v; return old; }
template <class T>
inline T atomicCAS(T *p, T compare, T v) { T old = *p; if (old == compare) *p = v; return old; }

inline void __threadfence() {}

#endif /* CNNC_CUDA_EMU_H */
