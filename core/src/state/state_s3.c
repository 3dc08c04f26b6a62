/* The s3 backend: the state as one object in an S3 bucket, the run lock
 * as a second object beside it.
 *
 *   s3://BUCKET/KEY        the state document (exchange format), written
 *                          whole by every commit
 *   s3://BUCKET/KEY.lock   the lock: the holder's record, created with
 *                          If-None-Match: * so that only one run makes it
 *
 * A commit is a conditional PutObject: If-Match with the ETag this run
 * read or last wrote (If-None-Match: * for a state not stored yet), so S3
 * itself refuses it when another process changed the object meanwhile;
 * nothing passes between the check and the write. The writer's record and
 * the serial travel as object metadata, to name the other writer in the
 * refusal and to recognise an answer lost after S3 took the write.
 *
 * On a versioned bucket every commit keeps the previous state as a
 * version, and the lock is removed by its version id (no delete marker is
 * left, and only that very object goes); on an unversioned one it is
 * removed with If-Match on its ETag. A lock whose holder ran on this host
 * and is gone is taken over; one held from another host is only broken by
 * `infra unlock --force`. Credentials, region and endpoint are found as the
 * AWS CLI finds them (lib/awsauth); server-side encryption settings are
 * passed on every PutObject. */
#define _GNU_SOURCE
#include "state/state.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "aws_profile.h"
#include "base/util.h"
#include "infra/plugin.h"
#include "services/http.h"
#include "services/log.h"
#include "state/state_s3.h"
#include "state/xml_lib.h"

typedef struct s3_backend {
    state_backend base;
    s3_client client;
    char *key;
    char *lock_key;
    char *name;
    char *env;
    char *sse;        /* x-amz-server-side-encryption, or NULL */
    char *kms_key_id; /* with sse aws:kms, or NULL */
    pthread_mutex_t mu;
    char *etag;      /* of the state object as last read or written; NULL: none */
    int versioned;   /* -1: not asked yet */
    char *lock_etag; /* of the lock object this backend made */
    char *lock_version;
    int locked;
} s3_backend;

/* ------------------------------------------------------------------ */
/* Helpers                                                            */

static char *b64(const char *text)
{
    size_t n = strlen(text);
    char *out = util_malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)text, (int)n);
    return out;
}

static char *unb64(const char *text)
{
    if (!text)
        return NULL;
    size_t n = strlen(text);
    unsigned char *out = util_malloc(3 * (n / 4) + 4);
    int len = EVP_DecodeBlock(out, (const unsigned char *)text, (int)n);
    if (len < 0) {
        free(out);
        return NULL;
    }
    while (len > 0 && out[len - 1] == '\0')
        len--;
    out[len] = '\0';
    return (char *)out;
}

static char *header_copy(const infra_http_response *r, const char *name)
{
    const char *v = http_header(r, name);
    return v ? util_strdup(v) : NULL;
}

static int fail_answer(s3_backend *sb, const char *what, const infra_http_response *r, char **err)
{
    char *text = s3_error_text(r);
    *err = util_printf("state %s: %s: %s", sb->base.where, what, text);
    free(text);
    if (r->status == 403 || r->status == 401)
        return INFRA_EAUTH;
    if (r->status == 404)
        return INFRA_ENOTFOUND;
    if (r->status >= 500 || r->status == 429)
        return INFRA_ETRANSIENT;
    return INFRA_EINTERNAL;
}

static int fail_transport(s3_backend *sb, char *msg, char **err)
{
    *err = util_printf("state %s: %s", sb->base.where, msg);
    free(msg);
    return INFRA_ETRANSIENT;
}

/* Whether the bucket keeps versions (asked once; a refusal to say counts
 * as no). Caller holds mu. */
static int versioned(s3_backend *sb)
{
    if (sb->versioned >= 0)
        return sb->versioned;
    infra_http_response *r = NULL;
    char *msg = NULL;
    aws_kv q[] = {{"versioning", ""}};
    sb->versioned = 0;
    if (s3_send(&sb->client, "GET", NULL, q, 1, NULL, NULL, 0, &r, &msg) == 0 && r->status == 200) {
        char *status = s3_xml_text(r->body, r->body_len, "Status");
        sb->versioned = status && !strcmp(status, "Enabled");
        free(status);
    } else {
        log_msg(LOG_DEBUG, "state %s: cannot tell whether the bucket keeps versions",
                sb->base.where);
    }
    http_response_free(r);
    free(msg);
    return sb->versioned;
}

/* GetObject of key: 0 with *out (status 200 or 404), or INFRA_E*. */
static int get_object(s3_backend *sb, const char *key, infra_http_response **out, char **err)
{
    char *msg = NULL;
    int error = s3_send(&sb->client, "GET", key, NULL, 0, NULL, NULL, 0, out, &msg);
    if (error < 0)
        return fail_transport(sb, msg, err);
    if ((*out)->status != 200 && (*out)->status != 404) {
        error = fail_answer(sb, "cannot read it", *out, err);
        http_response_free(*out);
        *out = NULL;
    }
    return error;
}

/* ------------------------------------------------------------------ */
/* The state object                                                   */

static int s3_load(state_backend *b, state_loaded *out, char **err)
{
    s3_backend *sb = (s3_backend *)b;
    infra_http_response *r = NULL;
    int error = 0;

    pthread_mutex_lock(&sb->mu);
    free(sb->etag);
    sb->etag = NULL;
    if ((error = get_object(sb, sb->key, &r, err)) < 0)
        goto done;
    if (r->status == 404) {
        char *code = s3_xml_text(r->body, r->body_len, "Code");
        if (code && !strcmp(code, "NoSuchBucket")) {
            error = fail_answer(sb, "the bucket does not exist", r, err);
            error = INFRA_EINVALID;
        }
        free(code);
        goto done;
    }
    json_error_t jerr;
    out->doc = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!out->doc) {
        *err = util_printf("state %s does not parse: line %d, column %d: %s; it was left "
                           "untouched (an earlier version of the object may be in the bucket's "
                           "versions)",
                           sb->base.where, jerr.line, jerr.column, jerr.text);
        error = INFRA_EINVALID;
        goto done;
    }
    sb->etag = header_copy(r, "etag");
done:
    http_response_free(r);
    pthread_mutex_unlock(&sb->mu);
    return error;
}

/* After a refused conditional write: what the store holds now. 0 when it
 * is what this very commit wrote (the answer was lost and the request
 * retried), else INFRA_ECONFLICT with *err. */
static int explain_refusal(s3_backend *sb, const state_commit *c, char **err)
{
    infra_http_response *r = NULL;
    int error = get_object(sb, sb->key, &r, err);
    if (error < 0)
        return error;
    char *writer = unb64(http_header(r, "x-amz-meta-infra-writer"));
    const char *serial_text = http_header(r, "x-amz-meta-infra-serial");
    long long serial = serial_text ? strtoll(serial_text, NULL, 10) : -1;
    json_t *doc = r->status == 200 ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
    const char *lineage = json_string_value(json_object_get(doc, "lineage"));
    if (serial < 0 && doc)
        serial = (long long)json_integer_value(json_object_get(doc, "serial"));
    char *who = state_holder_describe(writer);
    const char *mine = c->new_lineage ? c->new_lineage : c->lineage;
    if (r->status == 200 && serial == c->serial && lineage && !strcmp(lineage, mine) &&
        state_holder_same_run(writer, c->writer)) {
        free(sb->etag);
        sb->etag = header_copy(r, "etag");
        error = 0;
    } else if (r->status == 404) {
        *err = util_printf("state %s holds nothing any more while this run had serial %lld; "
                           "refusing to write a partial state",
                           sb->base.where, c->base_serial);
        error = INFRA_ECONFLICT;
    } else if (lineage && strcmp(lineage, c->lineage) != 0) {
        *err = util_printf("state %s was replaced while in use: it now has lineage %s (serial "
                           "%lld, written by %s) but this run's state has lineage %s; refusing "
                           "to overwrite it",
                           sb->base.where, lineage, serial, who, c->lineage);
        error = INFRA_ECONFLICT;
    } else {
        *err = util_printf("state %s was written by another process: %s wrote serial %lld, "
                           "this run holds serial %lld; refusing to overwrite it",
                           sb->base.where, who, serial, c->base_serial);
        error = INFRA_ECONFLICT;
    }
    free(who);
    free(writer);
    json_decref(doc);
    http_response_free(r);
    return error;
}

static int s3_commit(state_backend *b, const state_commit *c, char **err)
{
    s3_backend *sb = (s3_backend *)b;
    infra_http_response *r = NULL;
    char *msg = NULL;
    int error = 0;
    const char *headers[8];
    char *owned[6] = {0};
    size_t n = 0, k = 0;

    pthread_mutex_lock(&sb->mu);
    headers[n++] = "Content-Type: application/json";
    if (!c->force && sb->etag)
        headers[n++] = owned[k++] = util_printf("If-Match: %s", sb->etag);
    else if (!c->force)
        headers[n++] = "If-None-Match: *";
    if (sb->sse)
        headers[n++] = owned[k++] = util_printf("x-amz-server-side-encryption: %s", sb->sse);
    if (sb->kms_key_id)
        headers[n++] = owned[k++] =
            util_printf("x-amz-server-side-encryption-aws-kms-key-id: %s", sb->kms_key_id);
    char *writer = b64(c->writer ? c->writer : "{}");
    headers[n++] = owned[k++] = util_printf("x-amz-meta-infra-writer: %s", writer);
    headers[n++] = owned[k++] = util_printf("x-amz-meta-infra-serial: %lld", c->serial);
    headers[n] = NULL;
    free(writer);

    if (s3_send(&sb->client, "PUT", sb->key, NULL, 0, headers, c->document, c->document_len, &r,
                &msg) < 0) {
        error = fail_transport(sb, msg, err);
        goto done;
    }
    if (r->status == 200) {
        free(sb->etag);
        sb->etag = header_copy(r, "etag");
    } else if (r->status == 412 || (r->status == 404 && sb->etag)) {
        error = explain_refusal(sb, c, err);
    } else {
        error = fail_answer(sb, "cannot write it", r, err);
    }
done:
    for (size_t i = 0; i < k; i++)
        free(owned[i]);
    http_response_free(r);
    pthread_mutex_unlock(&sb->mu);
    return error;
}

/* ------------------------------------------------------------------ */
/* The lock object                                                    */

/* Removes the lock object whose ETag and version are given, and nothing
 * else. Caller holds mu. */
static int remove_lock(s3_backend *sb, const char *etag, const char *version, char **err)
{
    infra_http_response *r = NULL;
    char *msg = NULL, *match = NULL;
    const char *headers[2] = {NULL, NULL};
    aws_kv q[] = {{"versionId", version}};
    int error = 0;
    if (version && versioned(sb)) {
        error = s3_send(&sb->client, "DELETE", sb->lock_key, q, 1, NULL, NULL, 0, &r, &msg);
    } else {
        if (etag)
            headers[0] = match = util_printf("If-Match: %s", etag);
        error = s3_send(&sb->client, "DELETE", sb->lock_key, NULL, 0, headers, NULL, 0, &r, &msg);
    }
    if (error < 0)
        error = fail_transport(sb, msg, err);
    else if (r->status == 412)
        error = INFRA_ECONFLICT; /* another lock took its place */
    else if (r->status != 204 && r->status != 200 && r->status != 404)
        error = fail_answer(sb, "cannot remove the lock", r, err);
    free(match);
    http_response_free(r);
    return error;
}

/* The lock object now: 0 with *holder, *etag and *version (NULL when there
 * is none; caller frees). */
static int lock_read(s3_backend *sb, char **holder, char **etag, char **version, char **err)
{
    infra_http_response *r = NULL;
    *holder = *etag = *version = NULL;
    int error = get_object(sb, sb->lock_key, &r, err);
    if (error < 0)
        return error;
    if (r->status == 200) {
        *holder = util_strndup(r->body ? r->body : "", r->body_len);
        *etag = header_copy(r, "etag");
        *version = header_copy(r, "x-amz-version-id");
    }
    http_response_free(r);
    return 0;
}

static char *refusal(s3_backend *sb, const char *holder)
{
    char *who = state_holder_describe(holder);
    char *msg = util_printf("state is locked by %s: another infra run is in progress on this "
                            "environment (%s); wait for it, or if that process is gone run: "
                            "infra unlock %s -e %s",
                            who, sb->base.where, sb->name, sb->env);
    free(who);
    return msg;
}

/* One attempt at creating the lock object: 1 made, 0 already there. */
static int lock_create(s3_backend *sb, const char *holder, char **err)
{
    infra_http_response *r = NULL;
    char *msg = NULL;
    const char *headers[4];
    char *owned[2] = {0};
    size_t n = 0;
    headers[n++] = "If-None-Match: *";
    headers[n++] = "Content-Type: application/json";
    if (sb->sse)
        headers[n++] = owned[0] = util_printf("x-amz-server-side-encryption: %s", sb->sse);
    headers[n] = NULL;
    int made = 0;
    if (s3_send(&sb->client, "PUT", sb->lock_key, NULL, 0, headers, holder, strlen(holder), &r,
                &msg) < 0) {
        made = fail_transport(sb, msg, err);
    } else if (r->status == 200) {
        free(sb->lock_etag);
        free(sb->lock_version);
        sb->lock_etag = header_copy(r, "etag");
        sb->lock_version = header_copy(r, "x-amz-version-id");
        made = 1;
    } else if (r->status != 412 && r->status != 409) {
        made = fail_answer(sb, "cannot make the lock", r, err);
    }
    free(owned[0]);
    http_response_free(r);
    return made;
}

static int s3_lock(state_backend *b, const char *holder, char **err)
{
    s3_backend *sb = (s3_backend *)b;
    int error = 0;
    char *other = NULL, *etag = NULL, *version = NULL;

    pthread_mutex_lock(&sb->mu);
    if (sb->locked)
        goto done;
    versioned(sb);
    for (int attempt = 0; attempt < 2; attempt++) {
        int made = lock_create(sb, holder, err);
        if (made < 0) {
            error = made;
            goto done;
        }
        if (made) {
            sb->locked = 1;
            goto done;
        }
        free(other);
        free(etag);
        free(version);
        if ((error = lock_read(sb, &other, &etag, &version, err)) < 0)
            goto done;
        if (!other)
            continue; /* released meanwhile: try again */
        if (state_holder_same_run(other, holder)) {
            /* Our own earlier attempt made it; its answer was lost. */
            sb->lock_etag = etag;
            sb->lock_version = version;
            etag = version = NULL;
            sb->locked = 1;
            goto done;
        }
        if (!state_holder_is_dead_here(other) || attempt > 0)
            break;
        char *who = state_holder_describe(other);
        log_msg(LOG_WARN,
                "taking over the state lock of %s left by %s, which is no longer "
                "running",
                sb->base.where, who);
        free(who);
        if ((error = remove_lock(sb, etag, version, err)) < 0 && error != INFRA_ECONFLICT)
            goto done;
        error = 0;
    }
    *err = refusal(sb, other);
    error = INFRA_ECONFLICT;
done:
    free(other);
    free(etag);
    free(version);
    pthread_mutex_unlock(&sb->mu);
    return error;
}

static void s3_unlock(state_backend *b)
{
    s3_backend *sb = (s3_backend *)b;
    pthread_mutex_lock(&sb->mu);
    if (sb->locked) {
        char *msg = NULL;
        if (remove_lock(sb, sb->lock_etag, sb->lock_version, &msg) < 0)
            log_msg(LOG_WARN, "cannot remove the state lock of %s: %s", sb->base.where,
                    msg ? msg : "it was replaced (unlock --force?)");
        free(msg);
    }
    sb->locked = 0;
    free(sb->lock_etag);
    free(sb->lock_version);
    sb->lock_etag = sb->lock_version = NULL;
    pthread_mutex_unlock(&sb->mu);
}

static int s3_break_lock(state_backend *b, int force, char **err)
{
    s3_backend *sb = (s3_backend *)b;
    char *holder = NULL, *etag = NULL, *version = NULL;
    int error = 0;

    pthread_mutex_lock(&sb->mu);
    if ((error = lock_read(sb, &holder, &etag, &version, err)) < 0)
        goto done;
    if (!holder) {
        log_msg(LOG_INFO, "%s environment %s is not locked (no %s.lock)", sb->name, sb->env,
                sb->base.where);
        goto done;
    }
    char *who = state_holder_describe(holder);
    int dead = state_holder_is_dead_here(holder);
    if (!dead && !force) {
        *err = util_printf("state is locked by %s and that process still holds the lock (or "
                           "runs on another host, where infra cannot see whether it is alive): "
                           "wait for it or stop it (unlock --force removes the lock anyway, "
                           "which lets two runs change this environment at once)",
                           who);
        error = INFRA_ECONFLICT;
    } else if ((error = remove_lock(sb, etag, version, err)) == 0) {
        if (dead)
            log_msg(LOG_INFO, "removed the lock of %s left by %s, which is no longer running",
                    sb->base.where, who);
        else
            log_msg(LOG_WARN, "removed the lock of %s held by %s (--force)", sb->base.where, who);
    } else if (error == INFRA_ECONFLICT) {
        *err = util_printf("the lock of %s changed while it was being removed; run infra unlock "
                           "again",
                           sb->base.where);
    }
    free(who);
done:
    free(holder);
    free(etag);
    free(version);
    pthread_mutex_unlock(&sb->mu);
    return error;
}

static void s3_free(state_backend *b)
{
    s3_backend *sb = (s3_backend *)b;
    s3_unlock(b);
    s3_client_free(&sb->client);
    pthread_mutex_destroy(&sb->mu);
    free(sb->key);
    free(sb->lock_key);
    free(sb->name);
    free(sb->env);
    free(sb->sse);
    free(sb->kms_key_id);
    free(sb->etag);
    free(sb->base.where);
    free(sb);
}

/* ------------------------------------------------------------------ */
/* Opening                                                            */

static const aws_service_info s3_service = {"S3", "s3", "s3", "s3", NULL};

static const char *process_getenv(void *ud, const char *name)
{
    (void)ud;
    return getenv(name);
}

/* base URL, Host header and path prefix for the bucket at endpoint. */
static int client_place(s3_backend *sb, const state_settings *s, const char *endpoint,
                        const char *bucket, char **err)
{
    const char *scheme_end = strstr(endpoint, "://");
    const char *host = scheme_end ? scheme_end + 3 : endpoint;
    size_t hostlen = strcspn(host, "/");
    char *hostname = util_strndup(host, hostlen);
    const char *colon = strrchr(hostname, ':');
    size_t namelen = colon && !strchr(hostname, ']') ? (size_t)(colon - hostname) : hostlen;
    int aws = namelen >= 14 && !strncmp(hostname + namelen - 14, ".amazonaws.com", 14);
    int path_style = state_settings_bool(s, "use_path_style", !aws || strchr(bucket, '.'), err);
    if (path_style < 0) {
        free(hostname);
        return INFRA_EINVALID;
    }
    if (path_style) {
        sb->client.base = util_printf("%s/%s", endpoint, bucket);
        sb->client.host = hostname;
        sb->client.path_prefix = util_printf("/%s", bucket);
    } else {
        sb->client.base = util_printf("%.*s%s.%s", (int)(host - endpoint), endpoint, bucket, host);
        sb->client.host = util_printf("%s.%s", bucket, hostname);
        sb->client.path_prefix = util_strdup("");
        free(hostname);
    }
    return 0;
}

int state_s3_open(const state_settings *s, state_backend **out, char **err)
{
    int error = 0;
    char *why = NULL;

    /* libxml2, for S3's answers, is loaded by the first s3 backend, not at
     * program start (base/lazylib.h); libcurl by the first request. */
    *out = NULL;
    if (!xml_lib_get(&why)) {
        *err = util_printf("state s3: %s", why);
        free(why);
        return INFRA_ENOTSUP;
    }
    s3_backend *sb = util_calloc(1, sizeof(*sb));
    const char *bucket = state_settings_string(s, "bucket");
    const char *key = state_settings_string(s, "key");
    const char *kms = state_settings_string(s, "kms_key_id");
    aws_profile prof = {0};
    char *perr = NULL;
    const char *attr = "";

    pthread_mutex_init(&sb->mu, NULL);
    sb->base.version = STATE_BACKEND_VERSION;
    sb->base.type = "s3";
    sb->base.whole_document = 1;
    sb->base.load = s3_load;
    sb->base.commit = s3_commit;
    sb->base.lock = s3_lock;
    sb->base.unlock = s3_unlock;
    sb->base.break_lock = s3_break_lock;
    sb->base.free = s3_free;
    sb->versioned = -1;
    sb->name = util_strdup(state_settings_name(s));
    sb->env = util_strdup(state_settings_env(s));
    sb->key = key ? util_strdup(key) : util_printf("%s/%s.json", sb->name, sb->env);
    sb->lock_key = util_printf("%s.lock", sb->key);
    sb->base.where = util_printf("s3://%s/%s", bucket ? bucket : "", sb->key);
    if (!bucket) {
        char *where = state_settings_where(s, "bucket");
        *err = util_printf("%s: the s3 backend needs a bucket", where);
        free(where);
        error = INFRA_EINVALID;
        goto done;
    }
    int encrypt = state_settings_bool(s, "encrypt", 0, err);
    if (encrypt < 0) {
        error = INFRA_EINVALID;
        goto done;
    }
    if (kms) {
        sb->sse = util_strdup("aws:kms");
        sb->kms_key_id = util_strdup(kms);
    } else if (encrypt) {
        sb->sse = util_strdup("AES256");
    }
    aws_profile_settings ps = {.region = state_settings_string(s, "region"),
                               .profile = state_settings_string(s, "profile"),
                               .endpoint = state_settings_string(s, "endpoint"),
                               .services = &s3_service,
                               .nservices = 1,
                               .setting_prefix = "backend setting"};
    if ((error = aws_profile_resolve(&ps, process_getenv, NULL, &prof, &perr, &attr)) < 0) {
        char *where = *attr ? state_settings_where(s, attr) : util_strdup("backend");
        *err = util_printf("%s: %s", where, perr ? perr : "no usable AWS configuration");
        free(where);
        goto done;
    }
    log_add_secret(prof.secret_key);
    if (prof.session_token)
        log_add_secret(prof.session_token);
    if ((error = client_place(sb, s, prof.endpoint[0], bucket, err)) < 0)
        goto done;
    sb->client.region = util_strdup(prof.region);
    sb->client.access_key_id = util_strdup(prof.access_key_id);
    sb->client.secret_key = util_strdup(prof.secret_key);
    sb->client.session_token = prof.session_token ? util_strdup(prof.session_token) : NULL;
    sb->client.ca_file = state_settings_path(s, "ca_file");
done:
    aws_profile_free(&prof);
    free(perr);
    if (error < 0) {
        s3_free(&sb->base);
        return error;
    }
    *out = &sb->base;
    return 0;
}
