/*
 * cnnc runtime: status codes shared by every generated model (C and CUDA).
 *
 * Every public entry point of generated code returns a cnnc_status; 0 is success.
 * cnnc_status_str() names a code for messages.  Header-only, C99, no dependencies.
 */
#ifndef CNNC_STATUS_H
#define CNNC_STATUS_H

typedef enum cnnc_status {
    CNNC_OK = 0,
    CNNC_ERR_NULL_ARG = 1,       /* a required pointer argument is NULL */
    CNNC_ERR_ARENA_TOO_SMALL = 2, /* the caller's arena is smaller than <MODEL>_ARENA_BYTES */
    CNNC_ERR_ARENA_ALIGN = 3,    /* the arena is not aligned to CNNC_ARENA_ALIGN bytes */
    CNNC_ERR_SHAPE = 4,          /* an input shape differs from the compiled one */
    CNNC_ERR_DEVICE = 5,         /* a device (CUDA) call failed */
    CNNC_ERR_THREADS = 6,        /* a cnnc_parallel with no run function or too many workers */
    CNNC_ERR_OVERLAP = 7,        /* an output buffer overlaps an input, another output or the arena */
    CNNC_ERR_WEIGHTS = 8         /* weights read at run time: not loaded, or of the wrong size or alignment */
} cnnc_status;

#define CNNC_ARENA_ALIGN 64

/*
 * The optional parallel-for hook of <model>_run_parallel: run(pool, n, fn, arg) calls
 * fn(arg, i, w) once for every task i in [0, n), each call on a worker w in [0, workers),
 * no two concurrent calls on one worker, and returns when all have returned.  The kernels
 * give each worker its own scratch, and a task's result does not depend on the worker or
 * the order: outputs are bit-identical for every worker count.  runtime/cnnc_pool.c is a
 * pthreads implementation; NULL runs every task on the calling thread.
 */
typedef struct cnnc_parallel {
    void (*run)(void *pool, long n, void (*fn)(void *arg, long i, int w), void *arg);
    void *pool;
    int workers;
} cnnc_parallel;

static inline const char *cnnc_status_str(cnnc_status s)
{
    switch (s) {
    case CNNC_OK: return "ok";
    case CNNC_ERR_NULL_ARG: return "null argument";
    case CNNC_ERR_ARENA_TOO_SMALL: return "arena too small";
    case CNNC_ERR_ARENA_ALIGN: return "arena misaligned";
    case CNNC_ERR_SHAPE: return "shape mismatch";
    case CNNC_ERR_DEVICE: return "device error";
    case CNNC_ERR_THREADS: return "bad parallel hook";
    case CNNC_ERR_OVERLAP: return "overlapping buffers";
    case CNNC_ERR_WEIGHTS: return "weights not loaded, or of the wrong size or alignment";
    }
    return "unknown status";
}

#endif /* CNNC_STATUS_H */
