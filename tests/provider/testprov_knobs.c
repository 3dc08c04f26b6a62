/* Fault injection for the test provider: latency, injected failures and
 * process crashes at a chosen mutating call. */
#include "testprov.h"

#include <errno.h>
#include <signal.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Mutating calls are counted per process, not per provider context, so a
 * topology with several test providers still crashes at one global point.
 * The pid is kept beside the count because a forked child inherits the
 * parent's count but is a new process whose calls start again at 1. */
static pthread_mutex_t mutation_lock = PTHREAD_MUTEX_INITIALIZER;
static long mutation_count;
static pid_t mutation_pid;

/* Latency is slept in slices so that stop() is honoured promptly. */
#define LATENCY_SLICE_MS 50

static int parse_integer(infra_call *call, const infra_json *settings, const char *key,
                         int64_t *out)
{
    const infra_json *v = TPJ->get(settings, key);
    const char *s;
    char *end = NULL;

    if (v == NULL || TPJ->type(v) == INFRA_JSON_NULL)
        return 0;
    switch (TPJ->type(v)) {
    case INFRA_JSON_INT:
        *out = TPJ->integer(v);
        break;
    case INFRA_JSON_REAL:
        *out = (int64_t)TPJ->real(v);
        break;
    case INFRA_JSON_STRING: /* values substituted from variables arrive as text */
        s = TPJ->string(v);
        errno = 0;
        *out = strtoll(s, &end, 10);
        if (*s == '\0' || *end != '\0' || errno != 0) {
            pu_diagf(call, key, "\"%s\" is not an integer", s);
            return INFRA_EINVALID;
        }
        break;
    default:
        pu_diagf(call, key, "must be an integer");
        return INFRA_EINVALID;
    }
    if (*out < 0) {
        pu_diagf(call, key, "must not be negative");
        return INFRA_EINVALID;
    }
    return 0;
}

static void strings_free(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

/* A list of strings; a single string is taken as a list of one. */
static int parse_strings(infra_call *call, const infra_json *settings, const char *key,
                         char ***out, size_t *nout)
{
    const infra_json *v = TPJ->get(settings, key);
    size_t n;
    char **list;

    if (v == NULL || TPJ->type(v) == INFRA_JSON_NULL)
        return 0;
    if (TPJ->type(v) == INFRA_JSON_STRING) {
        if ((list = calloc(1, sizeof(*list))) == NULL || (list[0] = strdup(TPJ->string(v))) == NULL) {
            free(list);
            return INFRA_EINTERNAL;
        }
        *out = list;
        *nout = 1;
        return 0;
    }
    if (TPJ->type(v) != INFRA_JSON_ARRAY) {
        pu_diagf(call, key, "must be a list of resource addresses");
        return INFRA_EINVALID;
    }
    n = TPJ->length(v);
    if ((list = calloc(n ? n : 1, sizeof(*list))) == NULL)
        return INFRA_EINTERNAL;
    for (size_t i = 0; i < n; i++) {
        const char *s = TPJ->string(TPJ->at(v, i));
        if (s == NULL) {
            pu_diagf(call, key, "element %zu is not a string", i);
            strings_free(list, i);
            return INFRA_EINVALID;
        }
        if ((list[i] = strdup(s)) == NULL) {
            strings_free(list, i);
            return INFRA_EINTERNAL;
        }
    }
    *out = list;
    *nout = n;
    return 0;
}

int testprov_knobs_parse(infra_call *call, const infra_json *settings, testprov_knobs *k)
{
    int error = 0;
    int64_t crash_at = 0;
    const infra_json *when = TPJ->get(settings, "crash_when");

    pthread_mutex_init(&k->lock, NULL);
    if ((error = parse_integer(call, settings, "latency_ms", &k->latency_ms)) < 0 ||
        (error = parse_integer(call, settings, "crash_at", &crash_at)) < 0 ||
        (error = parse_integer(call, settings, "max_parallel", &k->max_parallel)) < 0 ||
        (error = parse_strings(call, settings, "fail", &k->fail, &k->nfail)) < 0 ||
        (error = parse_strings(call, settings, "fail_transient", &k->fail_transient,
                               &k->nfail_transient)) < 0 ||
        (error = parse_strings(call, settings, "misbehave", &k->misbehave, &k->nmisbehave)) < 0)
        return error;
    k->crash_at = (long)crash_at;
    const infra_json *largest = TPJ->get(settings, "largest_size");
    if (largest != NULL && TPJ->type(largest) != INFRA_JSON_NULL) {
        k->largest_size = testprov_size_rank(TPJ->string(largest));
        if (k->largest_size == 0) {
            pu_diagf(call, "largest_size", "must be small, medium or large");
            return INFRA_EINVALID;
        }
    }
    if (k->nfail_transient > 0 &&
        (k->transient_done = calloc(k->nfail_transient, 1)) == NULL)
        return INFRA_EINTERNAL;
    if (when != NULL && TPJ->type(when) != INFRA_JSON_NULL) {
        const char *s = TPJ->string(when);
        if (s != NULL && strcmp(s, "before") == 0) {
            k->crash_before = 1;
        } else if (s == NULL || strcmp(s, "after") != 0) {
            pu_diagf(call, "crash_when", "must be \"before\" or \"after\"");
            return INFRA_EINVALID;
        }
    }
    return 0;
}

void testprov_knobs_free(testprov_knobs *k)
{
    strings_free(k->fail, k->nfail);
    strings_free(k->fail_transient, k->nfail_transient);
    strings_free(k->misbehave, k->nmisbehave);
    free(k->transient_done);
    pthread_mutex_destroy(&k->lock);
    memset(k, 0, sizeof(*k));
}

int testprov_latency(infra_provider *p, infra_call *call)
{
    int64_t deadline;

    if (p->knobs.latency_ms <= 0)
        return 0;
    /* Against the host clock, so that the full latency passes however the
     * slices round. */
    deadline = pu_host->now_ms() + p->knobs.latency_ms;
    for (;;) {
        int64_t left = deadline - pu_host->now_ms();
        int error;
        if (left <= 0)
            return 0;
        if (atomic_load(&p->stopped))
            return INFRA_ECANCELLED;
        if ((error = pu_host->sleep_ms(call, left < LATENCY_SLICE_MS ? left : LATENCY_SLICE_MS)) <
            0)
            return error;
    }
}

static void crash_now(void)
{
    raise(SIGKILL);
    _exit(137); /* not reached: SIGKILL cannot be caught */
}

long testprov_mutation_begin(infra_provider *p)
{
    long n;

    pthread_mutex_lock(&mutation_lock);
    if (mutation_pid != getpid()) {
        mutation_pid = getpid();
        mutation_count = 0;
    }
    n = ++mutation_count;
    pthread_mutex_unlock(&mutation_lock);
    if (p->knobs.crash_at == n && p->knobs.crash_before)
        crash_now();
    return n;
}

void testprov_mutation_end(infra_provider *p, long n)
{
    if (p->knobs.crash_at == n && !p->knobs.crash_before)
        crash_now();
}

int testprov_injected_failure(infra_provider *p, infra_call *call, const char *address)
{
    testprov_knobs *k = &p->knobs;
    int transient = 0;

    for (size_t i = 0; i < k->nfail; i++) {
        if (strcmp(k->fail[i], address) == 0) {
            pu_diagf(call, "", "injected failure");
            return INFRA_EINVALID;
        }
    }
    pthread_mutex_lock(&k->lock);
    for (size_t i = 0; i < k->nfail_transient; i++) {
        if (strcmp(k->fail_transient[i], address) == 0 && !k->transient_done[i]) {
            k->transient_done[i] = 1;
            transient = 1;
            break;
        }
    }
    pthread_mutex_unlock(&k->lock);
    if (transient) {
        /* A warning: the engine retries and the run is expected to succeed. */
        pu_host->diag(call, INFRA_DIAG_WARNING, "", "injected transient failure");
        return INFRA_ETRANSIENT;
    }
    return 0;
}

static const char *const fault_names[] = {
    [TESTPROV_FAULT_HANG] = "hang",
    [TESTPROV_FAULT_EXIT] = "exit",
    [TESTPROV_FAULT_GARBAGE] = "garbage",
    [TESTPROV_FAULT_BAD_TYPE] = "bad_type",
};

testprov_fault testprov_misbehaviour(infra_provider *p, const char *op, const char *address)
{
    for (size_t i = 0; i < p->knobs.nmisbehave; i++) {
        const char *entry = p->knobs.misbehave[i];
        for (int f = TESTPROV_FAULT_HANG; f <= TESTPROV_FAULT_BAD_TYPE; f++) {
            size_t n = strlen(fault_names[f]), m = strlen(op);
            if (strncmp(entry, fault_names[f], n) == 0 && entry[n] == ' ' &&
                strncmp(entry + n + 1, op, m) == 0 && entry[n + 1 + m] == ' ' &&
                strcmp(entry + n + 2 + m, address) == 0)
                return (testprov_fault)f;
        }
    }
    return TESTPROV_FAULT_NONE;
}

int testprov_misbehave(infra_provider *p, infra_call *call, testprov_fault fault, const char *op,
                       infra_json **state)
{
    const char *address = pu_host->call_address(call);
    int told = 0;
    switch (fault) {
    case TESTPROV_FAULT_HANG:
        testprov_calls_log(p, op, address, "-", "hanging");
        for (;;) { /* deaf to cancellation and to stop: only abandoning helps */
            if (!told && pu_host->cancelled(call)) {
                testprov_calls_log(p, op, address, "-", "cancelled");
                told = 1;
            }
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
    case TESTPROV_FAULT_EXIT:
        testprov_calls_log(p, op, address, "-", "exit");
        exit(0);
    case TESTPROV_FAULT_GARBAGE:
        TPJ->release(*state);
        *state = TPJ->new_string("garbage");
        return 0;
    case TESTPROV_FAULT_BAD_TYPE:
        if (*state == NULL)
            *state = TPJ->new_object();
        TPJ->set(*state, "size", TPJ->new_integer(7));
        return 0;
    default:
        return 0;
    }
}

int testprov_size_rank(const char *size)
{
    static const char *const sizes[] = {"small", "medium", "large"};
    for (int i = 0; size != NULL && i < 3; i++)
        if (strcmp(size, sizes[i]) == 0)
            return i + 1;
    return 0;
}
