/* The host table handed to plugins, and the per-call context behind the
 * opaque infra_call handle. */
#ifndef INFRA_HOST_H
#define INFRA_HOST_H

#include <infra/plugin.h>
#include <jansson.h>

/* Receives a plugin's diagnostics for one call. */
typedef void (*host_diag_fn)(void *ud, infra_call *call, int severity, const char *attr_path,
                             const char *message);

/* Set up by the caller of a plugin op, usually on the stack. */
struct infra_call {
    const char *address;      /* resource address or "" */
    const char *token;        /* idempotency token or NULL */
    const char *plugin;       /* plugin name, for log prefixes */
    const char *topology;     /* topology name, or NULL */
    const char *environment;  /* environment name, or NULL */
    volatile int *cancel;     /* points at a flag the host sets; may be NULL */
    int64_t deadline_ms;      /* host_now_ms() instant the call must return by, or 0 */
    int resuming;             /* token was recorded by an earlier, interrupted run */
    host_diag_fn diag;        /* may be NULL: diagnostics are then logged */
    void *diag_ud;
    int errors;               /* count of error diagnostics received */
    char *first_error;        /* first error text received (owned), or NULL */
};

/* Initialises a call; free with host_call_clear. */
void host_call_init(infra_call *call, const char *address, const char *plugin);
void host_call_clear(infra_call *call);

/* The process-wide host table (static storage). */
const infra_host *host_table(void);

/* The monotonic clock of host->now_ms. */
int64_t host_now_ms(void);

/* 1 when call's cancel flag is set or its deadline has passed (host->cancelled). */
int host_call_cancelled(const infra_call *call);

/* The JSON service over jansson (static storage); an infra_json* is a json_t*. */
const infra_json_api *host_json_api(void);

/* Converts between jansson and the opaque handle (the same pointer). */
#define host_json(j) ((infra_json *)(j))
#define host_jansson(h) ((json_t *)(h))

#endif
