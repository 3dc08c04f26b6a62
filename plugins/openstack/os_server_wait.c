/* Waiting for servers, and what their console says.
 *
 * Every server of a provider waited on at the same time shares one
 * waiter: each thread registers its server and the status it waits for
 * (ACTIVE, or gone); whichever finds the next poll due makes one
 * GET /servers/detail?tags-any= naming the infra:token tag of every server
 * waited on, settles every waiter, and sets the next poll (0.5 s, then
 * x 1.5 up to 5 s). A server missing from that list (gone, or made
 * without a token) is asked for by id.
 *
 * The SSH host key fingerprint is read from the console log where
 * cloud-init prints it:
 *
 *   -----BEGIN SSH HOST KEY FINGERPRINTS-----
 *   256 SHA256:... root@node (ECDSA)
 *   256 SHA256:... root@node (ED25519)
 *   -----END SSH HOST KEY FINGERPRINTS-----
 *
 * Lines may carry a prefix ("ec2: ", "ci-info: ") and end in "\r\n". */
#include "os_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_FIRST_MS 500
#define POLL_MAX_MS 5000
#define MISSING_MS 60000
#define BEGIN_MARK "-----BEGIN SSH HOST KEY FINGERPRINTS-----"
#define END_MARK "-----END SSH HOST KEY FINGERPRINTS-----"

/* ------------------------------------------------------------------ */
/* Console                                                            */

static int line_fingerprint(const char *line, size_t len, char *fp, size_t fp_size, char *type,
                            size_t type_size)
{
    const char *s = line, *end = line + len;
    fp[0] = type[0] = '\0';
    while (s < end) {
        while (s < end && (*s == ' ' || *s == '\t'))
            s++;
        const char *w = s;
        while (s < end && *s != ' ' && *s != '\t' && *s != '\r')
            s++;
        size_t n = (size_t)(s - w);
        if (n > 7 && strncmp(w, "SHA256:", 7) == 0 && n < fp_size) {
            memcpy(fp, w, n);
            fp[n] = '\0';
        } else if (n > 2 && w[0] == '(' && w[n - 1] == ')' && n - 2 < type_size) {
            memcpy(type, w + 1, n - 2);
            type[n - 2] = '\0';
        }
        if (n == 0 && s < end)
            s++;
    }
    return fp[0] != '\0';
}

int os_console_fingerprint(const char *console, char **out)
{
    const char *begin = console ? strstr(console, BEGIN_MARK) : NULL;
    const char *stop = begin ? strstr(begin, END_MARK) : NULL;
    if (stop == NULL)
        return INFRA_ENOTFOUND;
    char best[128] = "", first[128] = "";
    int rank_best = 0;
    const char *line = strchr(begin, '\n');
    while (line != NULL && line < stop) {
        line++;
        const char *nl = strchr(line, '\n');
        size_t len = (size_t)((nl && nl < stop ? nl : stop) - line);
        char fp[128], type[32];
        if (line_fingerprint(line, len, fp, sizeof(fp), type, sizeof(type))) {
            int rank = strcmp(type, "ECDSA") == 0 ? 3 : strcmp(type, "ED25519") == 0 ? 2 : 1;
            if (first[0] == '\0')
                snprintf(first, sizeof(first), "%s", fp);
            if (rank > rank_best) {
                rank_best = rank;
                snprintf(best, sizeof(best), "%s", fp);
            }
        }
        line = nl;
    }
    if (best[0] == '\0')
        return INFRA_ENOTFOUND;
    *out = pu_strdup(best);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The shared waiter                                                  */

typedef struct wait_entry {
    const char *id;
    const char *token;
    const char *target; /* "ACTIVE" or "DELETED" */
    int done;
    int error;
    char *fault;
    infra_json *server;
    int64_t missing_since; /* -1 while listed */
    struct wait_entry *next;
} wait_entry;

struct os_waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    wait_entry *entries;
    int polling;
    int64_t next_poll_ms;
    int64_t interval_ms;
    long polls;
};

os_waiter *os_waiter_new(void)
{
    os_waiter *w = pu_calloc(1, sizeof(*w));
    pthread_condattr_t attr;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    w->interval_ms = POLL_FIRST_MS;
    return w;
}

void os_waiter_free(os_waiter *w)
{
    if (w == NULL)
        return;
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
}

long os_waiter_polls(const os_waiter *w)
{
    os_waiter *m = (os_waiter *)w;
    pthread_mutex_lock(&m->lock);
    long n = m->polls;
    pthread_mutex_unlock(&m->lock);
    return n;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What one poll learnt: the servers seen, by id. */
typedef struct seen {
    char **ids;        /* polled */
    infra_json *by_id; /* id -> server, or null when asked by id and gone */
} seen;

static void settle(os_waiter *w, const seen *s, int64_t now)
{
    for (wait_entry *e = w->entries; e != NULL; e = e->next) {
        if (e->done || !os_strv_has(s->ids, e->id))
            continue;
        const infra_json *server = OJ->get(s->by_id, e->id);
        int gone_wanted = strcmp(e->target, "DELETED") == 0;
        const char *status = pu_json_str(server, "status");
        if (server == NULL || OJ->type(server) == INFRA_JSON_NULL ||
            (status && strcmp(status, "DELETED") == 0)) {
            if (gone_wanted || (server != NULL && OJ->type(server) == INFRA_JSON_NULL)) {
                e->done = 1;
                e->error = gone_wanted ? 0 : INFRA_ENOTFOUND;
            } else if (e->missing_since < 0) {
                e->missing_since = now;
            } else if (now - e->missing_since > MISSING_MS) {
                e->done = 1;
                e->error = INFRA_ENOTFOUND;
            }
            continue;
        }
        e->missing_since = -1;
        if (!gone_wanted && status != NULL && strcmp(status, "ACTIVE") == 0) {
            e->done = 1;
        } else if (!gone_wanted && status != NULL && strcmp(status, "ERROR") == 0) {
            e->done = 1;
            e->error = INFRA_ECONFLICT;
            const char *m = pu_json_str(OJ->get(server, "fault"), "message");
            free(e->fault);
            e->fault = pu_strdup(m ? m : "no fault given");
        } else {
            continue;
        }
        OJ->release(e->server);
        e->server = OJ->copy(server);
    }
}

/* One GET /servers/{id}: the server, null when gone, nothing on error. */
static void get_one(infra_provider *p, infra_call *call, const char *id, infra_json *by_id)
{
    char *e = os_url_encode(id);
    char *path = pu_printf("/servers/%s", e);
    infra_json *body = NULL;
    int error = os_get(p, call, OS_COMPUTE, path, OS_QUIET_404, &body);
    if (error == INFRA_ENOTFOUND)
        OJ->set(by_id, id, OJ->new_null());
    else if (error == 0 && OJ->get(body, "server") != NULL)
        OJ->set(by_id, id, OJ->copy(OJ->get(body, "server")));
    OJ->release(body);
    free(path);
    free(e);
}

/* One poll for every entry waiting; called with the lock held, returns with it held. */
static int poll_now(os_waiter *w, infra_provider *p, infra_call *call)
{
    seen s = {os_strv_new(), OJ->new_object()};
    char **tags = os_strv_new(), **lone = os_strv_new();
    for (wait_entry *e = w->entries; e != NULL; e = e->next) {
        if (e->done || os_strv_has(s.ids, e->id))
            continue;
        os_strv_push(&s.ids, e->id);
        char *tag = os_tag_token(e->token);
        if (tag != NULL && strcmp(e->target, "ACTIVE") == 0 && os_strv_len(tags) < 40)
            os_strv_push(&tags, tag);
        else
            os_strv_push(&lone, e->id);
        free(tag);
    }
    w->polling = 1;
    pthread_mutex_unlock(&w->lock);

    int error = 0;
    if (os_strv_len(tags) > 0) {
        char *filter = os_tags_filter("tags-any", tags);
        char *path = pu_printf("/servers/detail?%s", filter);
        infra_json *list = NULL;
        error = os_list(p, call, OS_COMPUTE, path, "servers", &list);
        for (size_t i = 0; error == 0 && i < OJ->length(list); i++) {
            const char *id = pu_json_str(OJ->at(list, i), "id");
            if (id != NULL)
                OJ->set(s.by_id, id, OJ->copy(OJ->at(list, i)));
        }
        OJ->release(list);
        free(path);
        free(filter);
        /* A server the list misses is asked for by id. */
        for (size_t i = 0; error == 0 && s.ids[i] != NULL; i++)
            if (OJ->get(s.by_id, s.ids[i]) == NULL && !os_strv_has(lone, s.ids[i]))
                os_strv_push(&lone, s.ids[i]);
    }
    for (size_t i = 0; error == 0 && lone[i] != NULL; i++)
        get_one(p, call, lone[i], s.by_id);

    pthread_mutex_lock(&w->lock);
    int64_t now = mono_ms();
    w->polls++;
    if (error == 0)
        settle(w, &s, now);
    w->polling = 0;
    w->interval_ms = w->interval_ms * 3 / 2 > POLL_MAX_MS ? POLL_MAX_MS : w->interval_ms * 3 / 2;
    w->next_poll_ms = now + w->interval_ms;
    pthread_cond_broadcast(&w->cond);
    os_strv_free(s.ids);
    OJ->release(s.by_id);
    os_strv_free(tags);
    os_strv_free(lone);
    return error;
}

static void remove_entry(os_waiter *w, wait_entry *e)
{
    for (wait_entry **pp = &w->entries; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            return;
        }
    }
}

int os_waiter_wait(infra_provider *p, infra_call *call, const char *id, const char *token,
                   const char *target, int64_t timeout_ms, infra_json **server)
{
    os_waiter *w = p->waiter;
    wait_entry e = {.id = id, .token = token, .target = target, .missing_since = -1};
    int64_t deadline = mono_ms() + timeout_ms;
    int error = 0;

    if (server != NULL)
        *server = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->entries == NULL) {
        w->interval_ms = POLL_FIRST_MS;
        if (!w->polling)
            w->next_poll_ms = mono_ms() + POLL_FIRST_MS / 2;
    }
    e.next = w->entries;
    w->entries = &e;
    while (!e.done) {
        if ((error = os_check_cancel(p, call)) < 0)
            break;
        int64_t now = mono_ms();
        if (now >= deadline) {
            error = INFRA_ETRANSIENT;
            break;
        }
        if (!w->polling && now >= w->next_poll_ms) {
            int rc = poll_now(w, p, call);
            if (rc < 0 && rc != INFRA_ETRANSIENT) {
                error = rc; /* this thread's call saw the error and reported it */
                break;
            }
            continue;
        }
        int64_t until = w->next_poll_ms > now ? w->next_poll_ms : now + 50;
        if (until > now + 200)
            until = now + 200;
        struct timespec ts = {(time_t)(until / 1000), (long)(until % 1000) * 1000000L};
        pthread_cond_timedwait(&w->cond, &w->lock, &ts);
    }
    if (e.done && error == 0)
        error = e.error;
    remove_entry(w, &e);
    pthread_mutex_unlock(&w->lock);

    if (error == INFRA_ETRANSIENT)
        pu_diagf(call, "", "openstack: server %s did not become %s within %lld s", id,
                 strcmp(target, "DELETED") == 0 ? "gone" : target, (long long)(timeout_ms / 1000));
    else if (error == INFRA_ECONFLICT)
        pu_diagf(call, "", "openstack: server %s went to ERROR: %s", id, e.fault);
    else if (error == INFRA_ENOTFOUND)
        pu_diagf(call, "", "openstack: server %s is not known to nova in %s", id, p->region);
    free(e.fault);
    if (error == 0 && server != NULL)
        *server = e.server;
    else
        OJ->release(e.server);
    return error;
}
