/* The flows most resource types share: paths and references, reading one
 * object, inserting with a requestId and adopting what an earlier try
 * made, deleting while users go away, and starting and finishing states.
 *
 * Idempotency of a create rests on two things. Names follow from the
 * resource (its configured name, else topology, environment and
 * address), so a repeated create meets its own object. And every insert
 * carries a requestId derived from the create's token: Compute answers a
 * repeated insert with the first one's operation instead of doing it
 * again. The object itself carries the token (a label, or its
 * description), so an object of that name is adopted only when it is
 * this create's. */
#include "gcp_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#define TRANSIENT_TRIES 3      /* an operation that failed for a passing reason is tried again */
#define PENDING_WAIT_MS 120000 /* how long a name taken by a running insert is waited for */
#define CHAIN_MAX 16           /* failed operations a create follows before giving up */

char *gcp_scope(gcp_scope_kind k, const char *region, const char *zone)
{
    switch (k) {
    case GCP_REGIONAL:
        return pu_printf("regions/%s", region);
    case GCP_ZONAL:
        return pu_printf("zones/%s", zone);
    default:
        return pu_strdup("global");
    }
}

char *gcp_object_path(const infra_provider *p, const gcp_kind *kind, const char *scope,
                      const char *name)
{
    return pu_printf("projects/%s/%s/%s/%s", p->project, scope, kind->collection, name);
}

char *gcp_scope_of(const char *id)
{
    if (id == NULL)
        return NULL;
    const char *s;
    if ((s = strstr(id, "/zones/")) != NULL || (s = strstr(id, "/regions/")) != NULL) {
        s++;
        const char *slash = strchr(s, '/');
        slash = slash ? strchr(slash + 1, '/') : NULL;
        return slash ? pu_strndup(s, (size_t)(slash - s)) : pu_strdup(s);
    }
    if (strncmp(id, "zones/", 6) == 0 || strncmp(id, "regions/", 8) == 0) {
        const char *slash = strchr(strchr(id, '/') + 1, '/');
        return slash ? pu_strndup(id, (size_t)(slash - id)) : pu_strdup(id);
    }
    return strstr(id, "global/") != NULL ? pu_strdup("global") : NULL;
}

int gcp_get_object(gcp_act *a, const char *path, const char *what, infra_json **obj)
{
    return gcp_get(a->p, a->call, GCP_COMPUTE, path, NULL, what, "", "notFound", obj);
}

int gcp_resuming(infra_call *call)
{
    if (!INFRA_HAS_SLOT(pu_host, call_resuming))
        return 1;
    return pu_host->call_resuming(call) != 0;
}

void gcp_step_request_id(gcp_act *a, const char *step, char out[37])
{
    const char *token = pu_host->call_token(a->call);
    if (token != NULL && *token) {
        gcp_request_id(token, step, out);
        return;
    }
    /* An update has no token: a fresh id, reused by the retries of this call. */
    unsigned char raw[16];
    char hex[33];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        int64_t now = pu_host->now_ms();
        memset(raw, 0, sizeof(raw));
        memcpy(raw, &now, sizeof(now));
    }
    pu_hex_encode(raw, sizeof(raw), hex);
    gcp_request_id(hex, step, out);
}

int gcp_not_mine(gcp_act *a, const char *attr, const char *what, const char *path)
{
    pu_diagf(a->call, attr,
             "gcp: %s %s already exists and was not made by this resource (its infra-token "
             "is another's); give this resource another name, or remove that %s",
             what, path, what);
    return INFRA_ECONFLICT;
}

/* The object at path when it is this create's: 0 with *obj; INFRA_ENOTFOUND
 * when there is none; INFRA_ECONFLICT (with a diagnostic) when it is another's. */
static int adopt(gcp_act *a, const char *path, const char *noun, const char *attr,
                 const char *token, infra_json **obj)
{
    infra_json *found = NULL;
    int error = gcp_get_object(a, path, "get", &found);
    if (error < 0)
        return error;
    if (!gcp_object_is_mine(found, token)) {
        GJ->release(found);
        return gcp_not_mine(a, attr, noun, path);
    }
    pu_logf(a->call, INFRA_LOG_INFO, "gcp: %s %s was made by an earlier try: adopted", noun, path);
    *obj = found;
    return 0;
}

/* A name taken by an insert still running (ours under an older requestId,
 * or someone's): wait until the object appears, then adopt it. */
static int adopt_when_made(gcp_act *a, const char *path, const char *noun, const char *attr,
                           const char *token, infra_json **obj)
{
    int64_t deadline = pu_host->now_ms() + PENDING_WAIT_MS;
    int64_t delay = 500;
    for (;;) {
        int error = adopt(a, path, noun, attr, token, obj);
        if (error != INFRA_ENOTFOUND)
            return error;
        if (pu_host->now_ms() + delay > deadline) {
            pu_diagf(a->call, attr,
                     "gcp: the name of %s is taken by an insert that did not finish within %d s",
                     path, PENDING_WAIT_MS / 1000);
            return INFRA_ETRANSIENT;
        }
        if ((error = gcp_sleep(a->p, a->call, delay)) < 0)
            return error;
        delay = delay * 2 > 5000 ? 5000 : delay * 2;
    }
}

int gcp_insert(gcp_act *a, const gcp_kind *kind, const char *scope, infra_json *body,
               const char *attr, infra_json **obj)
{
    const char *token = pu_host->call_token(a->call);
    return gcp_insert_token(a, kind, scope, body, attr, token,
                            token != NULL && gcp_resuming(a->call), obj);
}

int gcp_insert_token(gcp_act *a, const gcp_kind *kind, const char *scope, infra_json *body,
                     const char *attr, const char *token, int look_first, infra_json **obj)
{
    const char *name = pu_json_str(body, "name");
    char *path = gcp_object_path(a->p, kind, scope, name);
    char *collection = pu_printf("projects/%s/%s/%s", a->p->project, scope, kind->collection);
    char *what = pu_printf("%s.insert", kind->collection);
    char *salt = pu_printf("insert %s", path);
    int fresh_failures = 0, error = 0;

    *obj = NULL;
    if (token != NULL && look_first) {
        /* An earlier run may have made it: look before inserting. */
        error = adopt(a, path, kind->collection, attr, token, obj);
        if (error != INFRA_ENOTFOUND)
            goto done;
    }
    for (int chain = 0; chain < CHAIN_MAX; chain++) {
        char rid[37], *query;
        gcp_request_id(token ? token : path, salt, rid);
        query = pu_printf("requestId=%s", rid);
        gcp_req req = {
            .service = GCP_COMPUTE,
            .method = "POST",
            .path = collection,
            .query = query,
            .body = body,
            .what = what,
            .attr = attr,
            .flags = GCP_SAFE,
            .quiet = "alreadyExists RESOURCE_ALREADY_EXISTS",
        };
        gcp_resp *r = NULL;
        error = gcp_call(a->p, a->call, &req, &r);
        free(query);
        if (error == INFRA_ECONFLICT && r != NULL && gcp_error_is(&r->err, "alreadyExists")) {
            gcp_resp_free(r);
            error = adopt_when_made(a, path, kind->collection, attr, token, obj);
            goto done;
        }
        if (error < 0) {
            gcp_resp_free(r);
            goto done;
        }
        /* An operation already DONE in the insert's answer is an earlier
         * try's, replayed for this requestId. */
        const char *status = pu_json_str(r->json, "status");
        int replayed = status != NULL && strcmp(status, "DONE") == 0;
        infra_json *final = NULL;
        error = gcp_op_wait(a->p, a->call, attr, r->json, GCP_WAIT_OP_MS, &final);
        gcp_resp_free(r);
        if (error < 0)
            goto done;
        gcp_error e;
        if (!gcp_error_from_operation(final, &e)) {
            error = gcp_get_object(a, path, "get", obj);
            if (error == INFRA_ENOTFOUND && replayed) {
                /* An earlier try made it and it was deleted since (a template
                 * made again): a new requestId makes it once more. */
                free(salt);
                salt = pu_printf("insert %s after %s", path, pu_json_str(final, "name"));
                GJ->release(final);
                continue;
            }
            GJ->release(final);
            if (error == INFRA_ENOTFOUND)
                pu_diagf(a->call, attr, "gcp: %s is DONE but %s is not there", what, path);
            goto done;
        }
        if (gcp_error_is(&e, "RESOURCE_ALREADY_EXISTS")) {
            gcp_error_clear(&e);
            GJ->release(final);
            error = adopt_when_made(a, path, kind->collection, attr, token, obj);
            goto done;
        }
        /* The next try must not be answered with this failure again. */
        free(salt);
        salt = pu_printf("insert %s after %s", path, pu_json_str(final, "name"));
        int category = gcp_error_category(&e);
        if (!replayed && (category != INFRA_ETRANSIENT || ++fresh_failures >= TRANSIENT_TRIES)) {
            gcp_error_diag(a->p, a->call, attr, what, &e);
            error = category;
            gcp_error_clear(&e);
            GJ->release(final);
            goto done;
        }
        pu_logf(a->call, INFRA_LOG_INFO, "gcp: %s of %s failed (%s)%s; trying again", what, name,
                e.reason ? e.reason : "error", replayed ? " in an earlier try" : "");
        gcp_error_clear(&e);
        GJ->release(final);
        if (!replayed && (error = gcp_sleep(a->p, a->call, 1000L * fresh_failures)) < 0)
            goto done;
    }
    pu_diagf(a->call, attr, "gcp: %s of %s failed %d times", what, name, CHAIN_MAX);
    error = INFRA_ETRANSIENT;
done:
    free(path);
    free(collection);
    free(what);
    free(salt);
    return error;
}

int gcp_delete_path(gcp_act *a, const char *path, const char *what)
{
    return gcp_delete_within(a, path, what, a->p->retry.in_use_ms);
}

int gcp_delete_within(gcp_act *a, const char *path, const char *what, int64_t in_use_ms)
{
    int64_t start = pu_host->now_ms();
    int64_t delay = 1000;
    char *salt = pu_printf("delete %s", path);
    int error;

    for (int attempt = 0;; attempt++) {
        char rid[37];
        gcp_step_request_id(a, salt, rid);
        char *query = pu_printf("requestId=%s", rid);
        gcp_req req = {
            .service = GCP_COMPUTE,
            .method = "DELETE",
            .path = path,
            .query = query,
            .what = what,
            .attr = "",
            .flags = GCP_SAFE,
            .quiet = "notFound RESOURCE_NOT_FOUND resourceInUseByAnotherResource "
                     "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE",
        };
        gcp_error e;
        infra_json *final = NULL;
        error = gcp_mutate(a->p, a->call, &req, GCP_WAIT_OP_MS, &e, &final);
        free(query);
        if (error == INFRA_ENOTFOUND) {
            error = 0;
        } else if (error == INFRA_ECONFLICT &&
                   gcp_error_is(&e, "resourceInUseByAnotherResource "
                                    "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE")) {
            if (in_use_ms <= 0) {
                gcp_error_clear(&e);
                GJ->release(final);
                break; /* the caller keeps it for later */
            }
            if (pu_host->now_ms() - start < in_use_ms) {
                pu_logf(a->call, INFRA_LOG_DEBUG, "gcp: %s still in use, again in %lld ms", path,
                        (long long)delay);
                /* A new requestId: the failed operation must not answer again. */
                free(salt);
                salt = pu_printf("delete %s after %s", path,
                                 final ? pu_json_str(final, "name") : "in-use");
                gcp_error_clear(&e);
                GJ->release(final);
                if ((error = gcp_sleep(a->p, a->call, delay)) < 0)
                    break;
                delay = delay * 2 > 10000 ? 10000 : delay * 2;
                continue;
            }
            gcp_error_diag(a->p, a->call, "", what, &e);
        }
        gcp_error_clear(&e);
        GJ->release(final);
        break;
    }
    free(salt);
    return error;
}

int gcp_change(gcp_act *a, const char *method, const char *path, const char *what,
               const infra_json *body, const char *attr, gcp_error *err)
{
    char rid[37];
    gcp_step_request_id(a, what, rid);
    char *query = pu_printf("requestId=%s", rid);
    gcp_req req = {
        .service = GCP_COMPUTE,
        .method = method,
        .path = path,
        .query = query,
        .body = body,
        .what = what,
        .attr = attr,
        .flags = GCP_SAFE,
        .quiet = err != NULL ? "conditionNotMet" : NULL,
    };
    int error = gcp_mutate(a->p, a->call, &req, GCP_WAIT_OP_MS, err, NULL);
    free(query);
    return error;
}

infra_json *gcp_state_new(const infra_json *base)
{
    if (base != NULL && GJ->type(base) == INFRA_JSON_OBJECT)
        return GJ->copy(base);
    return GJ->new_object();
}

int gcp_state_finish(gcp_act *a, infra_json *st, int error)
{
    if (error < 0 || st == NULL) {
        GJ->release(st);
        return error < 0 ? error : INFRA_EINTERNAL;
    }
    *a->out = st;
    return 0;
}

const char *gcp_state_id(const infra_json *state)
{
    const char *id = pu_json_str(state, "id");
    return id != NULL && *id ? id : NULL;
}

int gcp_state_ids(infra_json *st, const infra_json *obj)
{
    const char *link = pu_json_str(obj, "selfLink");
    char *id = gcp_relative_name(link);
    int error;
    if ((error = pu_json_set_str(st, "id", id)) == 0 &&
        (error = pu_json_set_str(st, "self_link", link)) == 0)
        error = pu_json_set_str(st, "name", pu_json_str(obj, "name"));
    free(id);
    return error;
}

const infra_json *gcp_json_alias(const infra_json *obj, const char *const *keys, const char **key)
{
    for (size_t i = 0; keys[i] != NULL; i++) {
        const infra_json *v = GJ->get(obj, keys[i]);
        if (v != NULL && GJ->type(v) != INFRA_JSON_NULL) {
            if (key != NULL)
                *key = keys[i];
            return v;
        }
    }
    if (key != NULL)
        *key = NULL;
    return NULL;
}

char *gcp_ref(const infra_provider *p, const char *value, const char *collection, const char *scope)
{
    if (value == NULL)
        return NULL;
    if (strncmp(value, "http://", 7) == 0 || strncmp(value, "https://", 8) == 0 ||
        strncmp(value, "projects/", 9) == 0)
        return pu_strdup(value);
    if (strncmp(value, "global/", 7) == 0 || strncmp(value, "regions/", 8) == 0 ||
        strncmp(value, "zones/", 6) == 0)
        return pu_printf("projects/%s/%s", p->project, value);
    return pu_printf("projects/%s/%s/%s/%s", p->project, scope, collection, value);
}

char *gcp_resource_name(gcp_act *a, const infra_json *cfg)
{
    const char *name = pu_json_str(cfg, "name");
    if (name != NULL && *name)
        return pu_strdup(name);
    return gcp_call_name(a->call);
}

int gcp_ref_same(const char *x, const char *y)
{
    if (x == NULL || y == NULL)
        return x == y;
    const char *px = strstr(x, "projects/"), *py = strstr(y, "projects/");
    if (px != NULL && py != NULL)
        return strcmp(px, py) == 0;
    return strcmp(gcp_last_segment(x), gcp_last_segment(y)) == 0;
}

int gcp_state_ref(infra_json *st, const char *key, const char *actual)
{
    const char *configured = pu_json_str(st, key);
    if (configured != NULL && gcp_ref_same(configured, actual))
        return 0;
    char *rel = gcp_relative_name(actual);
    int error = pu_json_set_str(st, key, rel);
    free(rel);
    return error;
}

/* The path a read looks at: the state's id, or the name this resource
 * would have (a read by token after a crash); then the object must carry
 * the token. */
int gcp_read_object(gcp_act *a, const gcp_kind *kind, const char *scope, const char *what,
                    infra_json **obj)
{
    const char *id = gcp_state_id(a->state);
    char *path = NULL;
    int error;

    *obj = NULL;
    if (id != NULL) {
        path = pu_strdup(id);
    } else {
        if (a->state != NULL)
            return INFRA_ENOTFOUND;
        char *name = gcp_call_name(a->call);
        path = gcp_object_path(a->p, kind, scope, name);
        free(name);
    }
    error = gcp_get_object(a, path, what, obj);
    free(path);
    if (error == 0 && id == NULL && !gcp_object_is_mine(*obj, pu_host->call_token(a->call))) {
        GJ->release(*obj);
        *obj = NULL;
        error = INFRA_ENOTFOUND;
    }
    return error;
}
