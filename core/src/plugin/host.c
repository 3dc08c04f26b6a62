/* The host table handed to plugins: memory, logging, diagnostics,
 * cancellation and clocks, plus pointers to the JSON, HTTP and secrets
 * services. Every text a plugin hands over passes through log_redact before
 * it is stored or printed, so a registered secret cannot leak through a
 * plugin's careless message. */
#include "plugin/host.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "services/http.h"
#include "services/log.h"
#include "services/secrets.h"
#include "services/ssh.h"
#include "base/util.h"

#ifndef INFRA_VERSION
#define INFRA_VERSION "unknown"
#endif

/* Longest single sleep between two looks at the cancel flag. */
#define HOST_SLEEP_SLICE_MS 100

/* Guards call->errors and call->first_error: a plugin may report from
 * several threads of its own during one call. */
static pthread_mutex_t host_diag_lock = PTHREAD_MUTEX_INITIALIZER;

void host_call_init(infra_call *call, const char *address, const char *plugin)
{
    memset(call, 0, sizeof(*call));
    call->address = address ? address : "";
    call->plugin = plugin;
}

void host_call_clear(infra_call *call)
{
    if (!call)
        return;
    free(call->first_error);
    call->first_error = NULL;
    call->errors = 0;
}

static void *host_alloc(size_t len)
{
    return util_malloc(len);
}

static void host_free(void *ptr)
{
    free(ptr);
}

static char *host_strdup(const char *text)
{
    return text ? util_strdup(text) : NULL;
}

/* "plugin: address: " with the empty parts left out. */
static char *call_prefix(const infra_call *call)
{
    util_buf b = {0};
    if (call && call->plugin && *call->plugin)
        util_buf_printf(&b, "%s: ", call->plugin);
    if (call && call->address && *call->address)
        util_buf_printf(&b, "%s: ", call->address);
    return util_buf_take(&b);
}

static void host_log(infra_call *call, int level, const char *message)
{
    log_level lvl = LOG_INFO;
    if (level <= INFRA_LOG_DEBUG)
        lvl = LOG_DEBUG;
    else if (level >= INFRA_LOG_WARN)
        lvl = LOG_WARN;
    if (lvl < log_get_level())
        return;
    char *prefix = call_prefix(call);
    log_msg(lvl, "%s%s", prefix, message ? message : "");
    free(prefix);
}

static void host_diag(infra_call *call, int severity, const char *attr_path, const char *message)
{
    char *clean_msg = log_redact(message ? message : "");
    char *clean_attr = log_redact(attr_path ? attr_path : "");
    int is_error = severity >= INFRA_DIAG_ERROR;

    if (call && is_error) {
        pthread_mutex_lock(&host_diag_lock);
        call->errors++;
        if (!call->first_error)
            call->first_error = util_strdup(clean_msg);
        pthread_mutex_unlock(&host_diag_lock);
    }

    if (call && call->diag) {
        call->diag(call->diag_ud, call, is_error ? INFRA_DIAG_ERROR : INFRA_DIAG_WARNING,
                   clean_attr, clean_msg);
    } else {
        char *prefix = call_prefix(call);
        log_msg(is_error ? LOG_ERROR : LOG_WARN, "%s%s%s%s", prefix, clean_attr,
                *clean_attr ? ": " : "", clean_msg);
        free(prefix);
    }
    free(clean_attr);
    free(clean_msg);
}

int64_t host_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int host_call_cancelled(const infra_call *call)
{
    if (!call)
        return 0;
    if (call->cancel && *call->cancel != 0)
        return 1;
    /* A call past its deadline is asked to stop like a cancelled one; the
     * engine abandons it if it does not (engine/contain.c). */
    return call->deadline_ms > 0 && host_now_ms() >= call->deadline_ms;
}

static int host_cancelled(infra_call *call)
{
    return host_call_cancelled(call);
}

static const char *host_call_address(infra_call *call)
{
    return call && call->address ? call->address : "";
}

static const char *host_call_token(infra_call *call)
{
    return call ? call->token : NULL;
}

static const char *host_call_topology(infra_call *call)
{
    return call && call->topology ? call->topology : "";
}

static const char *host_call_environment(infra_call *call)
{
    return call && call->environment ? call->environment : "";
}

static int64_t host_call_deadline_ms(infra_call *call)
{
    return call ? call->deadline_ms : 0;
}

static int host_call_resuming(infra_call *call)
{
    return call && call->token && call->resuming ? 1 : 0;
}

/* Sleeps in short slices so that a cancellation is seen within one slice. */
static int host_sleep_ms(infra_call *call, int64_t ms)
{
    int64_t deadline = host_now_ms() + (ms > 0 ? ms : 0);
    for (;;) {
        if (host_cancelled(call))
            return INFRA_ECANCELLED;
        int64_t left = deadline - host_now_ms();
        if (left <= 0)
            return 0;
        if (left > HOST_SLEEP_SLICE_MS)
            left = HOST_SLEEP_SLICE_MS;
        struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
        nanosleep(&ts, NULL); /* an EINTR wake-up just recomputes what is left */
    }
}

static infra_host host;
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

static void host_build(void)
{
    host.size = sizeof(infra_host);
    host.abi_major = INFRA_ABI_MAJOR;
    host.abi_minor = INFRA_ABI_MINOR;
    host.host_version = INFRA_VERSION;
    host.alloc = host_alloc;
    host.free = host_free;
    host.strdup = host_strdup;
    host.log = host_log;
    host.diag = host_diag;
    host.cancelled = host_cancelled;
    host.call_address = host_call_address;
    host.call_token = host_call_token;
    host.now_ms = host_now_ms;
    host.sleep_ms = host_sleep_ms;
    host.json = host_json_api();
    host.http = http_api();
    host.ssh = ssh_api();
    host.secrets = secrets_api();
    host.call_topology = host_call_topology;
    host.call_environment = host_call_environment;
    host.call_deadline_ms = host_call_deadline_ms;
    host.call_resuming = host_call_resuming;
}

const infra_host *host_table(void)
{
    pthread_once(&host_once, host_build);
    return &host;
}
