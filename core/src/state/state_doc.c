/* The state document as exchanged (state pull/push, the S3 object, the
 * JSON file of earlier versions): what makes a document a state of one
 * topology and environment. */
#include "state/state_backend.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "infra/plugin.h"
#include "base/util.h"

static int member_is_object(const json_t *doc, const char *key, int required)
{
    const json_t *v = json_object_get(doc, key);
    return v ? json_is_object(v) : !required;
}

int state_document_check(const json_t *doc, const char *where, const char *name, const char *env,
                         char **err)
{
    const json_t *version = json_object_get(doc, "version");
    const json_t *serial = json_object_get(doc, "serial");
    const char *lineage = json_string_value(json_object_get(doc, "lineage"));
    const char *topology = json_string_value(json_object_get(doc, "topology"));
    const char *environment = json_string_value(json_object_get(doc, "environment"));

    if (!env)
        env = "default";
    if (!json_is_object(doc) || !json_is_integer(version)) {
        *err = util_printf("%s is not a state (no integer \"version\")", where);
        return INFRA_EINVALID;
    }
    if (json_integer_value(version) != STATE_FORMAT_VERSION) {
        *err = util_printf("%s has state format version %lld; this infra reads version %d", where,
                           (long long)json_integer_value(version), STATE_FORMAT_VERSION);
        return json_integer_value(version) > STATE_FORMAT_VERSION ? INFRA_ENOTSUP : INFRA_EINVALID;
    }
    if (!topology || !environment || strcmp(topology, name) != 0 || strcmp(environment, env) != 0) {
        *err = util_printf("%s holds the state of topology \"%s\" environment \"%s\", not of "
                           "topology \"%s\" environment \"%s\"; it was copied or renamed: put "
                           "it back under its own name",
                           where, topology ? topology : "(none)",
                           environment ? environment : "(none)", name, env);
        return INFRA_ECONFLICT;
    }
    if (!lineage || !*lineage) {
        *err = util_printf("%s is not a valid state: no \"lineage\"", where);
        return INFRA_EINVALID;
    }
    if (!json_is_integer(serial) || json_integer_value(serial) < 0) {
        *err =
            util_printf("%s is not a valid state: \"serial\" is not a non-negative integer", where);
        return INFRA_EINVALID;
    }
    static const char *const members[] = {"resources", "intents", "outputs"};
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        if (!member_is_object(doc, members[i], 0)) {
            *err =
                util_printf("%s is not a valid state: \"%s\" is not an object", where, members[i]);
            return INFRA_EINVALID;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Rows                                                               */

static void rows_put(state_rows *r, const char *s, size_t len)
{
    if (r->len + len + 2 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 65536;
        while (cap < r->len + len + 2)
            cap *= 2;
        r->text = util_realloc(r->text, cap);
        r->cap = cap;
    }
    memcpy(r->text + r->len, s, len);
    r->len += len;
    r->text[r->len] = '\0';
}

/* 1 when key is its own JSON text between quotes: nothing to escape (keys
 * come from the store, where they were written as valid UTF-8). */
static int plain_key(const char *key)
{
    for (const unsigned char *c = (const unsigned char *)key; *c; c++)
        if (*c < 0x20 || *c == '"' || *c == '\\')
            return 0;
    return 1;
}

void state_rows_add(state_rows *r, const char *key, const char *value, size_t len)
{
    char *k_text = NULL;
    if (!plain_key(key)) {
        json_t *k = json_string(key);
        k_text = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
        json_decref(k);
        if (!k_text)
            return; /* not UTF-8: cannot be a key of the document either */
    }
    if ((r->n & (r->n - 1)) == 0) {
        size_t cap = r->n ? 2 * r->n : 1;
        r->starts = util_realloc(r->starts, cap * sizeof(*r->starts));
        r->keys = util_realloc(r->keys, cap * sizeof(*r->keys));
    }
    rows_put(r, r->n ? "," : "{", 1);
    r->starts[r->n] = r->len;
    r->keys[r->n++] = util_strdup(key);
    if (k_text) {
        rows_put(r, k_text, strlen(k_text));
    } else {
        rows_put(r, "\"", 1);
        rows_put(r, key, strlen(key));
        rows_put(r, "\"", 1);
    }
    rows_put(r, ":", 1);
    rows_put(r, value, len);
    free(k_text);
}

typedef struct parse_job {
    const char *text;
    size_t len;
    json_t *out;
    json_error_t jerr;
} parse_job;

static void *parse_main(void *arg)
{
    parse_job *job = arg;
    job->out = json_loadb(job->text, job->len, JSON_REJECT_DUPLICATES, &job->jerr);
    return NULL;
}

/* Parses text as two halves, split before row mid, each in a thread of
 * its own (a malloc arena of its own too: parsing many small values there
 * is much faster than in the main thread's arena, which the topology has
 * already fragmented). NULL when either half fails. */
static json_t *parse_halves(const state_rows *r, size_t mid)
{
    size_t cut = r->starts[mid] - 1; /* the ',' before row mid */
    char *second = util_malloc(r->len - cut + 1);
    second[0] = '{';
    memcpy(second + 1, r->text + cut + 1, r->len - cut - 1);
    second[r->len - cut] = '\0';
    r->text[cut] = '}';
    parse_job jobs[2] = {{r->text, cut + 1, NULL, {0}}, {second, r->len - cut, NULL, {0}}};
    pthread_t threads[2];
    int started[2];
    for (int i = 0; i < 2; i++)
        started[i] = pthread_create(&threads[i], NULL, parse_main, &jobs[i]) == 0;
    for (int i = 0; i < 2; i++) {
        if (started[i])
            pthread_join(threads[i], NULL);
        else
            parse_main(&jobs[i]);
    }
    r->text[cut] = ',';
    free(second);
    json_t *all = jobs[0].out;
    if (!all || !jobs[1].out || json_object_update(all, jobs[1].out) < 0) {
        json_decref(all);
        all = NULL;
    }
    json_decref(jobs[1].out);
    return all;
}

int state_rows_finish(state_rows *r, const char *where, json_t **out, char **err)
{
    int error = 0;
    rows_put(r, r->n ? "}" : "{}", r->n ? 1 : 2);
    *out = r->n > 2000 ? parse_halves(r, r->n / 2) : NULL;
    /* Small, or a half failed: once more as one, for the error's place. */
    parse_job job = {r->text, r->len, *out, {0}};
    if (!*out)
        parse_main(&job);
    *out = job.out;
    json_error_t jerr = job.jerr;
    if (!*out) {
        size_t at = 0;
        while (at + 1 < r->n && r->starts[at + 1] <= (size_t)jerr.position)
            at++;
        *err = util_printf("state %s: the row of %s does not parse: %s", where,
                           r->n ? r->keys[at] : "(none)", jerr.text);
        error = INFRA_EINVALID;
    }
    for (size_t i = 0; i < r->n; i++)
        free(r->keys[i]);
    free(r->keys);
    free(r->starts);
    free(r->text);
    memset(r, 0, sizeof(*r));
    return error;
}
