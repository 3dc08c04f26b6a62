/* Containment of plugin code: every slot call is registered while it runs,
 * with its deadline, so that a plugin cannot hang infra, end it silently
 * or outlive an interrupt unnoticed.
 *
 *   - A call past its deadline sees host->cancelled() == 1. One still
 *     running CONTAIN_GRACE_MS later is abandoned: the thread it runs on
 *     is left inside the plugin, its owner (the worker pool running it)
 *     is told so that the resource fails and nothing new starts, and the
 *     plugin is never called, closed or unloaded again. A call without an
 *     owner (one made from the main thread) cannot be abandoned alone:
 *     the state is flushed and the process ends with status 1.
 *   - A plugin calling exit() inside a call ends the process with status
 *     1 and a line naming the plugin and the resource, after the state is
 *     flushed, instead of status 0 and no summary.
 *   - When an engine's stop flag (the first SIGINT) is raised, every
 *     configured provider's stop op is called once, from the watchdog.
 *
 * One watchdog thread serves the process while an engine is registered. */
#ifndef INFRA_CONTAIN_H
#define INFRA_CONTAIN_H

#include <stdint.h>

typedef struct engine engine;
typedef struct engine_call engine_call;

/* How long a call may run past its deadline before it is abandoned. */
#define CONTAIN_GRACE_MS 2000

/* Whoever waits for the thread a call runs on. */
typedef struct contain_owner contain_owner;
struct contain_owner {
    /* Called from the watchdog when the call running on the owner's
     * thread is abandoned; message (owned by the callee) says which
     * plugin did not return from what. The thread never comes back. */
    void (*abandoned)(contain_owner *owner, char *message);
};

/* Sets the owner of the calling thread's calls (NULL: none). */
void contain_owner_set(contain_owner *owner);

/* Registers engine e (starting the watchdog with the first one) and
 * forgets it; e must be registered while its providers can be called. */
void contain_engine_add(engine *e);
void contain_engine_remove(engine *e);

/* Brackets one slot call of c: contain_enter registers it (its deadline
 * is c->call.deadline_ms); contain_leave unregisters it and, when the
 * call was abandoned meanwhile, ends the calling thread there and then,
 * before it touches anything the engine may have freed. */
void contain_enter(engine_call *c);
void contain_leave(engine_call *c);

/* "30m", "1h30m", "45s" or "250 ms" for a duration; caller frees. */
char *contain_duration_text(int64_t ms);

#endif
