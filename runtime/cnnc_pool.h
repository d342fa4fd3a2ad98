/*
 * cnnc runtime: a small pthreads pool behind the cnnc_parallel hook (cnnc_status.h), for
 * the cffi path and the standalone drivers.  The caller provides the storage (no malloc):
 *
 *   cnnc_pool pool;
 *   cnnc_pool_start(&pool, 2);                 workers - 1 threads; the caller is worker 0
 *   model_run_parallel(..., cnnc_pool_parallel(&pool));
 *   cnnc_pool_stop(&pool);
 *
 * One run at a time per pool.  Build with -pthread.
 */
#ifndef CNNC_POOL_H
#define CNNC_POOL_H

#include <pthread.h>

#include "cnnc_status.h"

#define CNNC_POOL_MAX 64

struct cnnc_pool;

typedef struct cnnc_pool_slot {
    struct cnnc_pool *pool;
    int worker;
} cnnc_pool_slot;

typedef struct cnnc_pool {
    pthread_t threads[CNNC_POOL_MAX];
    cnnc_pool_slot slots[CNNC_POOL_MAX];
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    int workers, stop, busy;
    long generation, next, n;
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
