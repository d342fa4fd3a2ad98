/* cnnc runtime: the pthreads pool of cnnc_pool.h.
 *
 * A job is published in one 64-bit word, state = generation << 32 | next task: a worker
 * claims task i by a compare-and-swap that also checks the generation, so a worker that
 * is late from an earlier job can never run a task of the next one.  Idle workers spin
 * on the word for a while (consecutive layers follow each other within microseconds, and
 * waking a sleeping thread costs tens of them, more under a hypervisor), then sleep on a
 * condition variable.  The caller runs tasks too, then spins until every claimed task
 * has finished.  Uses the GCC/clang __atomic builtins. */
#define _POSIX_C_SOURCE 200809L
#include "cnnc_pool.h"

#if defined(__x86_64__) || defined(__i386__)
#define CNNC_POOL_PAUSE() __builtin_ia32_pause()
#elif defined(__aarch64__) || defined(__arm__)
#define CNNC_POOL_PAUSE() __asm__ __volatile__("yield")
#else
#define CNNC_POOL_PAUSE() ((void)0)
#endif

#define CNNC_LOAD(x) __atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define CNNC_STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)

/* run tasks of job `gen` as worker w until none is left or a newer job replaced it */
static void cnnc_pool_drain(cnnc_pool *p, unsigned long long gen, int w)
{
    void (*fn)(void *, long, int) = __atomic_load_n(&p->fn, __ATOMIC_ACQUIRE);
    void *arg = __atomic_load_n(&p->arg, __ATOMIC_ACQUIRE);
    const long n = __atomic_load_n(&p->n, __ATOMIC_ACQUIRE);
    unsigned long long s = CNNC_LOAD(p->state);
    while ((s >> 32) == gen && (long)(s & 0xffffffffULL) < n) {
        if (__atomic_compare_exchange_n(&p->state, &s, s + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            fn(arg, (long)(s & 0xffffffffULL), w);
            __atomic_fetch_add(&p->finished, 1, __ATOMIC_RELEASE);
            s = CNNC_LOAD(p->state);
        }
    }
}

static void *cnnc_pool_loop(void *arg)
{
    cnnc_pool_slot *slot = (cnnc_pool_slot *)arg;
    cnnc_pool *p = slot->pool;
    unsigned long long seen = 0;
    for (;;) {
        unsigned long long gen = CNNC_LOAD(p->state) >> 32;
        for (long spin = 0; gen == seen && spin < CNNC_POOL_SPIN; ++spin) {
            CNNC_POOL_PAUSE();
            gen = CNNC_LOAD(p->state) >> 32;
        }
        if (gen == seen) {
            pthread_mutex_lock(&p->mu);
            CNNC_STORE(p->sleepers, CNNC_LOAD(p->sleepers) + 1);
            while ((gen = CNNC_LOAD(p->state) >> 32) == seen) pthread_cond_wait(&p->wake, &p->mu);
            CNNC_STORE(p->sleepers, CNNC_LOAD(p->sleepers) - 1);
            pthread_mutex_unlock(&p->mu);
        }
        seen = gen;
        if (CNNC_LOAD(p->stop)) break;
        cnnc_pool_drain(p, gen, slot->worker);
    }
    return NULL;
}

/* make generation `gen` (with p->fn, arg, n set) visible and wake the sleepers */
static void cnnc_pool_publish(cnnc_pool *p, unsigned long long gen)
{
    CNNC_STORE(p->state, gen << 32);
    if (CNNC_LOAD(p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
}

static void cnnc_pool_run(void *pool, long n, void (*fn)(void *arg, long i, int w), void *arg)
{
    cnnc_pool *p = (cnnc_pool *)pool;
    const unsigned long long gen = (CNNC_LOAD(p->state) >> 32) + 1;
    __atomic_store_n(&p->fn, fn, __ATOMIC_RELEASE);
    __atomic_store_n(&p->arg, arg, __ATOMIC_RELEASE);
    __atomic_store_n(&p->n, n, __ATOMIC_RELEASE);
    CNNC_STORE(p->finished, 0);
    cnnc_pool_publish(p, gen);
    cnnc_pool_drain(p, gen, 0);
    while (__atomic_load_n(&p->finished, __ATOMIC_ACQUIRE) < n) CNNC_POOL_PAUSE();
}

int cnnc_pool_start(cnnc_pool *p, int workers)
{
    if (workers < 1 || workers > CNNC_POOL_MAX) return -1;
    p->workers = 1;
    p->stop = 0;
    p->sleepers = 0;
    p->state = 0;
    p->finished = 0;
    p->n = 0;
    p->fn = NULL;
    p->arg = NULL;
    if (pthread_mutex_init(&p->mu, NULL) != 0) return -1;
    if (pthread_cond_init(&p->wake, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        return -1;
    }
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
    CNNC_STORE(p->stop, 1);
    cnnc_pool_publish(p, (CNNC_LOAD(p->state) >> 32) + 1);
    for (int w = 1; w < p->workers; ++w) pthread_join(p->threads[w], NULL);
    pthread_cond_destroy(&p->wake);
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
