/* cnnc runtime: the pthreads pool of cnnc_pool.h. */
#define _POSIX_C_SOURCE 200809L
#include "cnnc_pool.h"

/* run tasks of the current job as worker w until none is left; called with p->mu held */
static void cnnc_pool_drain(cnnc_pool *p, int w)
{
    while (p->next < p->n) {
        long i = p->next++;
        pthread_mutex_unlock(&p->mu);
        p->fn(p->arg, i, w);
        pthread_mutex_lock(&p->mu);
    }
}

static void *cnnc_pool_loop(void *arg)
{
    cnnc_pool_slot *slot = (cnnc_pool_slot *)arg;
    cnnc_pool *p = slot->pool;
    long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->generation == seen) pthread_cond_wait(&p->wake, &p->mu);
        if (p->stop) break;
        seen = p->generation;
        ++p->busy;
        cnnc_pool_drain(p, slot->worker);
        if (--p->busy == 0) pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void cnnc_pool_run(void *pool, long n, void (*fn)(void *arg, long i, int w), void *arg)
{
    cnnc_pool *p = (cnnc_pool *)pool;
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->next = 0;
    ++p->generation;
    pthread_cond_broadcast(&p->wake);
    ++p->busy;
    cnnc_pool_drain(p, 0);
    --p->busy;
    while (p->busy > 0) pthread_cond_wait(&p->done, &p->mu);
    p->fn = NULL;
    pthread_mutex_unlock(&p->mu);
}

int cnnc_pool_start(cnnc_pool *p, int workers)
{
    if (workers < 1 || workers > CNNC_POOL_MAX) return -1;
    p->workers = 1;
    p->stop = 0;
    p->busy = 0;
    p->generation = 0;
    p->next = p->n = 0;
    p->fn = NULL;
    p->arg = NULL;
    if (pthread_mutex_init(&p->mu, NULL) != 0) return -1;
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int w = 1; w < workers; ++w) {
        p->slots[w].pool = p;
        p->slots[w].worker = w;
        if (pthread_create(&p->threads[w], NULL, cnnc_pool_loop, &p->slots[w]) != 0) break;
        p->workers = w + 1;
    }
    p->par.run = cnnc_pool_run;
    p->par.pool = p;
    p->par.workers = p->workers;
    return p->workers == workers ? 0 : -1;
}

void cnnc_pool_stop(cnnc_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int w = 1; w < p->workers; ++w) pthread_join(p->threads[w], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    p->workers = 0;
}

const cnnc_parallel *cnnc_pool_parallel(cnnc_pool *p)
{
    return &p->par;
}

unsigned long cnnc_pool_bytes(void)
{
    return (unsigned long)sizeof(cnnc_pool);
}
