/*
 * cnnc runtime: a small pthreads pool behind the cnnc_parallel hook (cnnc_status.h), for
 * the cffi path and the standalone drivers.  The caller provides the storage (no malloc):
 *
 *   cnnc_pool pool;
 *   cnnc_pool_start(&pool, 2);                 workers - 1 threads; the caller is worker 0
 *   model_run_parallel(..., cnnc_pool_parallel(&pool));
 *   cnnc_pool_stop(&pool);
 *
 * One run at a time per pool; a job has fewer than 2^32 tasks.  Build with -pthread (gcc or
 * clang: the pool uses their __atomic builtins).
 */
#ifndef CNNC_POOL_H
#define CNNC_POOL_H

#include <pthread.h>

#include "cnnc_status.h"

#define CNNC_POOL_MAX 64
/* how many pause instructions an idle worker spins before it sleeps (a few ms at most) */
#ifndef CNNC_POOL_SPIN
#define CNNC_POOL_SPIN 20000L
#endif

struct cnnc_pool;

typedef struct cnnc_pool_slot {
    struct cnnc_pool *pool;
    int worker;
} cnnc_pool_slot;

typedef struct cnnc_pool {
    pthread_t threads[CNNC_POOL_MAX];
    cnnc_pool_slot slots[CNNC_POOL_MAX];
    pthread_mutex_t mu;
    pthread_cond_t wake;
    int workers, stop, sleepers;
    unsigned long long state;   /* generation << 32 | next task */
    long n, finished;
    void (*fn)(void *arg, long i, int w);
    void *arg;
    cnnc_parallel par;
} cnnc_pool;

/* start `workers` workers (1 to CNNC_POOL_MAX); 0 on success */
int cnnc_pool_start(cnnc_pool *p, int workers);
/* stop and join the threads */
void cnnc_pool_stop(cnnc_pool *p);
/* the hook that runs tasks on the pool */
const cnnc_parallel *cnnc_pool_parallel(cnnc_pool *p);
/* sizeof(cnnc_pool), for callers that allocate it themselves (cffi) */
unsigned long cnnc_pool_bytes(void);

#endif /* CNNC_POOL_H */
