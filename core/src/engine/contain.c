/* Containment of plugin calls (see contain.h): the list of calls in
 * flight, the watchdog that abandons the ones that outlive their deadline
 * and forwards an interrupt to the providers' stop ops, and the exit hook
 * that turns a plugin's exit() into a failure. */
#include "engine/contain.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "engine/call.h"
#include "services/log.h"

/* How often the watchdog looks at the calls and the stop flags. */
#define CONTAIN_TICK_MS 100

static pthread_mutex_t contain_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t contain_wake = PTHREAD_COND_INITIALIZER;
static engine_call *inflight;       /* calls inside a plugin now */
static engine **engines;            /* registered engines */
static size_t nengines;
static pthread_t watchdog_thread;
static int watchdog_running;
static unsigned watchdog_generation; /* a watchdog of an older one ends */
static pid_t contain_pid;           /* the process that registered them (not a fork) */

static __thread contain_owner *thread_owner;
static __thread engine_call *thread_call; /* the call this thread is inside */

void contain_owner_set(contain_owner *owner)
{
    thread_owner = owner;
}

char *contain_duration_text(int64_t ms)
{
    if (ms <= 0 || ms % 1000 != 0)
        return util_printf("%lld ms", (long long)ms);
    int64_t s = ms / 1000, h = s / 3600, m = s % 3600 / 60;
    s %= 60;
    util_buf b = {0};
    if (h)
        util_buf_printf(&b, "%lldh", (long long)h);
    if (m)
        util_buf_printf(&b, "%lldm", (long long)m);
    if (s || (!h && !m))
        util_buf_printf(&b, "%llds", (long long)s);
    return util_buf_take(&b);
}

/* What a call was doing, for messages: `create of instance.web[0]`. */
static char *call_doing(const engine_call *c)
{
    const char *address = c->call.address && *c->call.address ? c->call.address : NULL;
    return address ? util_printf("%s of %s", c->op, address) : util_strdup(c->op);
}

static const char *call_plugin(const engine_call *c)
{
    return c->e->providers[c->provider].desc->name;
}

/* Makes what every registered engine recorded durable, then ends the
 * process with status 1 after saying why. Caller holds contain_lock. */
static void fatal_exit(const char *message)
{
    for (size_t i = 0; i < nengines; i++) {
        engines[i]->halt = 1;
        engine_flush(engines[i]);
    }
    fprintf(stderr, "infra: %s; the state is saved: run the command again once that is fixed\n",
            message);
    fflush(stderr);
    _exit(1);
}

static void unlink_call(engine_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        inflight = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->registered = 0;
}

/* Wakes every call waiting for a plugin's lock, so that they see the halt. */
static void wake_waiters(engine *e)
{
    for (size_t i = 0; i < e->nplugins; i++) {
        pthread_mutex_lock(&e->plugins[i].lock);
        pthread_cond_broadcast(&e->plugins[i].idle);
        pthread_mutex_unlock(&e->plugins[i].lock);
    }
}

/* Gives up on c: its thread stays where it is. Caller holds contain_lock,
 * which is released while the owner is told. */
static void abandon(engine_call *c)
{
    engine *e = c->e;
    char *timeout = contain_duration_text(c->timeout_ms);
    char *doing = call_doing(c);
    char *message = util_printf("plugin \"%s\" did not return from %s within %s", call_plugin(c),
                                doing, timeout);
    free(doing);
    free(timeout);
    contain_owner *owner = c->owner;
    unlink_call(c);
    c->abandoned = 1;
    e->plugins[e->providers[c->provider].plugin].hung = 1;
    e->halt = 1;
    log_msg(LOG_DEBUG, "%s: abandoned after %d ms of grace", message, CONTAIN_GRACE_MS);
    if (!owner)
        fatal_exit(message); /* the thread waiting for it is the one stuck */
    pthread_mutex_unlock(&contain_lock);
    wake_waiters(e);
    owner->abandoned(owner, message);
    pthread_mutex_lock(&contain_lock);
}

static void *watchdog(void *arg)
{
    unsigned generation = (unsigned)(uintptr_t)arg;
    pthread_mutex_lock(&contain_lock);
    while (nengines > 0 && generation == watchdog_generation) {
        for (size_t i = 0; i < nengines; i++) {
            engine *e = engines[i];
            if (e->stop && *e->stop && !e->stop_sent) {
                e->stop_sent = 1;
                call_stop_all(e);
            }
        }
        int64_t now = host_now_ms();
        for (engine_call *c = inflight; c;) {
            engine_call *next = c->next;
            if (c->call.deadline_ms > 0 && now >= c->call.deadline_ms + CONTAIN_GRACE_MS) {
                abandon(c);
                next = inflight; /* the list may have changed while unlocked */
            }
            c = next;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += CONTAIN_TICK_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&contain_wake, &contain_lock, &ts);
    }
    pthread_mutex_unlock(&contain_lock);
    return NULL;
}

/* A plugin ending the process inside a call (exit(), or returning from
 * main of a thread of its own... anything that runs the atexit handlers)
 * is a failure of that call. */
static void at_exit(void)
{
    pthread_mutex_lock(&contain_lock);
    engine_call *c = thread_call && !thread_call->abandoned ? thread_call : NULL;
    for (engine_call *k = inflight; !c && k; k = k->next)
        c = k;
    if (!c || getpid() != contain_pid) {
        pthread_mutex_unlock(&contain_lock);
        return;
    }
    char *doing = call_doing(c);
    char *message = util_printf("plugin \"%s\" ended the process during %s", call_plugin(c),
                                doing);
    free(doing);
    fatal_exit(message);
}

void contain_engine_add(engine *e)
{
    pthread_mutex_lock(&contain_lock);
    static int hooked;
    if (!hooked) {
        atexit(at_exit);
        hooked = 1;
    }
    contain_pid = getpid();
    engines = util_realloc(engines, (nengines + 1) * sizeof(*engines));
    engines[nengines++] = e;
    if (!watchdog_running &&
        pthread_create(&watchdog_thread, NULL, watchdog,
                       (void *)(uintptr_t)++watchdog_generation) == 0)
        watchdog_running = 1;
    pthread_mutex_unlock(&contain_lock);
}

void contain_engine_remove(engine *e)
{
    pthread_t joining = 0;
    int join = 0;
    pthread_mutex_lock(&contain_lock);
    for (size_t i = 0; i < nengines; i++) {
        if (engines[i] == e) {
            engines[i] = engines[--nengines];
            break;
        }
    }
    if (nengines == 0 && watchdog_running) {
        watchdog_running = 0;
        joining = watchdog_thread;
        join = 1;
        free(engines);
        engines = NULL;
        pthread_cond_broadcast(&contain_wake);
    }
    pthread_mutex_unlock(&contain_lock);
    if (join)
        pthread_join(joining, NULL);
}

void contain_enter(engine_call *c)
{
    c->owner = thread_owner;
    pthread_mutex_lock(&contain_lock);
    c->prev = NULL;
    c->next = inflight;
    if (inflight)
        inflight->prev = c;
    inflight = c;
    c->registered = 1;
    thread_call = c;
    pthread_mutex_unlock(&contain_lock);
}

void contain_leave(engine_call *c)
{
    pthread_mutex_lock(&contain_lock);
    thread_call = NULL;
    int abandoned = c->abandoned;
    if (c->registered)
        unlink_call(c);
    pthread_mutex_unlock(&contain_lock);
    /* Everything this thread was doing has been reported failed and may
     * be freed by now: end the thread without returning into it. */
    if (abandoned)
        pthread_exit(NULL);
}
