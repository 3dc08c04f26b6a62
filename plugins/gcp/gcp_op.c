/* Compute Engine operations, and the waiter every wait of a provider
 * shares.
 *
 * Every mutation answers an Operation (zonal, regional or global) that is
 * PENDING, then RUNNING, then DONE; a DONE operation with an error is the
 * failure of the mutation, although the HTTP call itself succeeded. The
 * engine applies resources from several worker threads, so many threads
 * wait at once. Each registers its operation; whichever thread finds the
 * next poll due makes, per scope, one operations list filtered on the
 * names of every operation still waited on ("(name = "a") OR (name =
 * "b")"), updates every waiter and sets the next poll (backing off from
 * poll_first_ms to poll_max_ms), so the calls per poll grow with the
 * scopes, not with the operations. */
#include "gcp_api.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NAMES_PER_LIST 40 /* operations named in one list filter */
#define MISSING_MS 60000  /* an operation the list never shows is an error after this */

typedef struct wait_entry {
    char *scope; /* "projects/P/zones/Z": the parent of its operations collection */
    char *name;
    int done;
    int error;
    infra_json *op;        /* the DONE operation */
    int64_t missing_since; /* -1 while listed */
    struct wait_entry *next;
} wait_entry;

struct gcp_waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    wait_entry *entries;
    int polling;
    int64_t next_poll_ms;
    int64_t interval_ms;
    long polls;
};

gcp_waiter *gcp_waiter_new(void)
{
    gcp_waiter *w = pu_calloc(1, sizeof(*w));
    pthread_condattr_t attr;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    return w;
}

void gcp_waiter_free(gcp_waiter *w)
{
    if (w == NULL)
        return;
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
}

long gcp_waiter_polls(const gcp_waiter *w)
{
    gcp_waiter *m = (gcp_waiter *)w;
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

char *gcp_op_filter(char *const *names)
{
    pu_buf b = {0};
    for (size_t i = 0; names != NULL && names[i] != NULL; i++)
        pu_buf_printf(&b, "%s(name = \"%s\")", i ? " OR " : "", names[i]);
    return pu_buf_take(&b);
}

/* The scope of op ("projects/P/zones/Z", "projects/P/regions/R" or
 * "projects/P/global") from its selfLink (caller frees), or NULL. */
static char *op_scope(const infra_json *op)
{
    const char *link = pu_json_str(op, "selfLink");
    char *rel = link ? gcp_relative_name(link) : NULL;
    char *ops = rel ? strstr(rel, "/operations/") : NULL;
    if (ops == NULL) {
        free(rel);
        return NULL;
    }
    *ops = '\0';
    return rel;
}

static void remove_entry(gcp_waiter *w, wait_entry *e)
{
    for (wait_entry **pp = &w->entries; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            return;
        }
    }
}

/* Applies one list answer of scope to the entries it was asked about. */
static void settle(gcp_waiter *w, const char *scope, char *const *asked, const infra_json *items,
                   int64_t now)
{
    for (wait_entry *e = w->entries; e != NULL; e = e->next) {
        if (e->done || strcmp(e->scope, scope) != 0 || !gcp_strv_has(asked, e->name))
            continue;
        const infra_json *found = NULL;
        for (size_t i = 0; items != NULL && i < GJ->length(items) && found == NULL; i++) {
            const char *name = pu_json_str(GJ->at(items, i), "name");
            if (name != NULL && strcmp(name, e->name) == 0)
                found = GJ->at(items, i);
        }
        if (found == NULL) {
            if (e->missing_since < 0)
                e->missing_since = now;
            else if (now - e->missing_since > MISSING_MS) {
                e->done = 1;
                e->error = INFRA_ENOTFOUND;
            }
            continue;
        }
        e->missing_since = -1;
        const char *status = pu_json_str(found, "status");
        if (status != NULL && strcmp(status, "DONE") == 0) {
            e->done = 1;
            e->op = GJ->copy(found);
        }
    }
}

/* Lists the operations of one scope named in names (every page). */
static int list_scope(infra_provider *p, infra_call *call, const char *attr, const char *scope,
                      char *const *names, infra_json **items)
{
    char *filter = gcp_op_filter(names);
    char *encoded = gcp_url_encode(filter);
    char *path = pu_printf("%s/operations", scope);
    char *page = NULL;
    int error = 0;

    *items = GJ->new_array();
    do {
        char *query = pu_printf("filter=%s&maxResults=500%s%s", encoded, page ? "&pageToken=" : "",
                                page ? page : "");
        infra_json *doc = NULL;
        error = gcp_get(p, call, GCP_COMPUTE, path, query, "operations.list", attr, NULL, &doc);
        free(query);
        free(page);
        page = NULL;
        if (error == 0) {
            const infra_json *got = GJ->get(doc, "items");
            for (size_t i = 0; got != NULL && i < GJ->length(got); i++)
                GJ->append(*items, GJ->copy(GJ->at(got, i)));
            const char *next = pu_json_str(doc, "nextPageToken");
            if (next != NULL && *next)
                page = gcp_url_encode(next);
        }
        GJ->release(doc);
    } while (error == 0 && page != NULL);
    free(page);
    free(path);
    free(encoded);
    free(filter);
    return error;
}

/* One poll for every entry waiting; called with the lock held, returns with it held. */
static int poll_now(gcp_waiter *w, infra_provider *p, infra_call *call, const char *attr)
{
    /* Snapshot what to ask: scope and name pairs, copied, since entries
     * may leave while the lock is released. */
    char **scopes = gcp_strv_new(), **names = gcp_strv_new();
    for (wait_entry *e = w->entries; e != NULL; e = e->next) {
        if (e->done)
            continue;
        gcp_strv_push(&scopes, e->scope);
        gcp_strv_push(&names, e->name);
    }
    w->polling = 1;
    pthread_mutex_unlock(&w->lock);

    int error = 0;
    size_t n = gcp_strv_len(names);
    char *done_scope = pu_calloc(n + 1, 1);
    for (size_t i = 0; i < n && error == 0; i++) {
        if (done_scope[i])
            continue;
        /* This scope's names, up to NAMES_PER_LIST per list call. */
        char **batch = gcp_strv_new();
        for (size_t k = i; k < n; k++) {
            if (done_scope[k] || strcmp(scopes[k], scopes[i]) != 0)
                continue;
            if (gcp_strv_len(batch) >= NAMES_PER_LIST)
                break;
            if (!gcp_strv_has(batch, names[k]))
                gcp_strv_push(&batch, names[k]);
            done_scope[k] = 1;
        }
        infra_json *items = NULL;
        error = list_scope(p, call, attr, scopes[i], batch, &items);
        pthread_mutex_lock(&w->lock);
        if (error == 0)
            settle(w, scopes[i], batch, items, mono_ms());
        pthread_mutex_unlock(&w->lock);
        GJ->release(items);
        gcp_strv_free(batch);
    }
    free(done_scope);
    gcp_strv_free(scopes);
    gcp_strv_free(names);

    pthread_mutex_lock(&w->lock);
    int64_t now = mono_ms();
    w->polls++;
    w->polling = 0;
    w->interval_ms = w->interval_ms * 3 / 2 > p->retry.poll_max_ms ? p->retry.poll_max_ms
                                                                   : w->interval_ms * 3 / 2;
    w->next_poll_ms = now + w->interval_ms;
    pthread_cond_broadcast(&w->cond);
    return error;
}

int gcp_op_wait(infra_provider *p, infra_call *call, const char *attr, const infra_json *op,
                int64_t timeout_ms, infra_json **done)
{
    gcp_waiter *w = p->waiter;
    const char *name = pu_json_str(op, "name");
    const char *status = pu_json_str(op, "status");
    int error = 0;

    if (done != NULL)
        *done = NULL;
    if (status != NULL && strcmp(status, "DONE") == 0) {
        if (done != NULL)
            *done = GJ->copy(op);
        return 0;
    }
    char *scope = op_scope(op);
    if (name == NULL || scope == NULL) {
        free(scope);
        pu_diagf(call, attr, "gcp: the answer is not an operation (no name or selfLink)");
        return INFRA_EINTERNAL;
    }
    wait_entry e = {.scope = scope, .name = pu_strdup(name), .missing_since = -1};
    int64_t deadline = mono_ms() + timeout_ms;
    int64_t host_deadline = gcp_call_deadline(call);
    if (host_deadline > 0 && host_deadline - pu_host->now_ms() < timeout_ms)
        deadline = mono_ms() + (host_deadline - pu_host->now_ms());

    pthread_mutex_lock(&w->lock);
    if (w->entries == NULL) {
        w->interval_ms = p->retry.poll_first_ms;
        if (!w->polling)
            w->next_poll_ms = mono_ms() + p->retry.poll_first_ms / 2;
    }
    e.next = w->entries;
    w->entries = &e;
    while (!e.done) {
        if ((error = gcp_check_cancel(p, call)) < 0)
            break;
        int64_t now = mono_ms();
        if (now >= deadline) {
            error = INFRA_ETRANSIENT;
            break;
        }
        if (!w->polling && now >= w->next_poll_ms) {
            int rc = poll_now(w, p, call, attr);
            if (rc < 0 && rc != INFRA_ETRANSIENT) {
                /* This thread's call saw the error and reported it. */
                error = rc;
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
        pu_diagf(call, attr, "gcp: operation %s (%s of %s) was not DONE within %lld s", e.name,
                 pu_json_str(op, "operationType") ? pu_json_str(op, "operationType") : "?",
                 gcp_last_segment(pu_json_str(op, "targetLink"))
                     ? gcp_last_segment(pu_json_str(op, "targetLink"))
                     : "?",
                 (long long)(timeout_ms / 1000));
    else if (error == INFRA_ENOTFOUND)
        pu_diagf(call, attr, "gcp: operation %s is not listed in %s", e.name, e.scope);
    if (error == 0 && done != NULL) {
        *done = e.op;
        e.op = NULL;
    }
    GJ->release(e.op);
    free(e.name);
    free(e.scope);
    return error;
}

int gcp_mutate(infra_provider *p, infra_call *call, const gcp_req *req, int64_t timeout_ms,
               gcp_error *err, infra_json **done)
{
    gcp_resp *r = NULL;
    infra_json *final = NULL;
    int error = gcp_call(p, call, req, &r);

    if (err != NULL)
        memset(err, 0, sizeof(*err));
    if (done != NULL)
        *done = NULL;
    if (error < 0) {
        if (err != NULL && r != NULL) {
            *err = r->err;
            memset(&r->err, 0, sizeof(r->err));
        }
        gcp_resp_free(r);
        return error;
    }
    error = gcp_op_wait(p, call, req->attr, r->json, timeout_ms, &final);
    gcp_resp_free(r);
    if (error < 0)
        return error;
    gcp_error e;
    if (gcp_error_from_operation(final, &e)) {
        error = gcp_error_category(&e);
        if (!gcp_error_is(&e, req->quiet))
            gcp_error_diag(p, call, req->attr, req->what, &e);
        if (err != NULL)
            *err = e;
        else
            gcp_error_clear(&e);
    }
    if (done != NULL)
        *done = final;
    else
        GJ->release(final);
    return error;
}
