/* The state document in memory: opening it from a backend, its entries,
 * intents and outputs, and the whole document for `infra state pull`.
 *
 * One mutex (mu) guards the document and the counters. Entries handed to
 * state_put are owned by the document and never modified afterwards, so a
 * getter returns json_incref of the stored value instead of a deep copy:
 * callers treat what they get as read-only. Each entry is serialised once,
 * when it is put, by the thread that puts it, and its address is marked
 * changed (dirty) for the next commit (state_commit.c). */
#define _GNU_SOURCE
#include "state/state_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "infra/plugin.h"
#include "services/log.h"
#include "base/util.h"

/* ------------------------------------------------------------------ */
/* Opening                                                            */

static state *state_new(state_backend *b, const char *name, const char *env)
{
    state *st = util_calloc(1, sizeof(*st));
    pthread_mutex_init(&st->write_mu, NULL);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->wake, NULL);
    pthread_cond_init(&st->written, NULL);
    st->backend = b;
    st->name = util_strdup(name ? name : "");
    st->env = util_strdup(env ? env : "default");
    st->writer_record = state_holder_json(NULL);
    st->texts = json_object();
    st->dirty = json_object();
    st->dirty_intents = json_object();
    return st;
}

/* Takes the members of a checked document. */
static void adopt_document(state *st, const json_t *doc)
{
    st->lineage = util_strdup(json_string_value(json_object_get(doc, "lineage")));
    st->serial = (long long)json_integer_value(json_object_get(doc, "serial"));
    st->resources = json_copy(json_object_get(doc, "resources"));
    st->intents = json_copy(json_object_get(doc, "intents"));
    json_t *outputs = json_object_get(doc, "outputs");
    st->outputs = outputs ? json_copy(outputs) : json_object();
    if (!st->resources)
        st->resources = json_object();
    if (!st->intents)
        st->intents = json_object();
    st->stored = 1;
}

int state_open_backend(state_backend *b, const char *name, const char *env, state **out, char **err)
{
    int error = 0;
    char *msg = NULL;
    state_loaded loaded = {0};
    state *st = state_new(b, name, env);

    *out = NULL;
    if ((error = state_backend_load(b, &loaded, &msg)) < 0)
        goto done;
    if (loaded.notice)
        log_msg(LOG_INFO, "%s", loaded.notice);
    if (loaded.doc) {
        if ((error = state_document_check(loaded.doc, b->where, st->name, st->env, &msg)) < 0)
            goto done;
        adopt_document(st, loaded.doc);
    } else {
        st->lineage = util_random_hex();
        st->resources = json_object();
        st->intents = json_object();
        st->outputs = json_object();
        /* A new lineage is worth recording even before the first change. */
        st->changes = 1;
    }
    *out = st;
    st = NULL;
done:
    json_decref(loaded.doc);
    free(loaded.notice);
    state_free(st);
    if (error < 0 && err)
        *err = msg;
    else
        free(msg);
    return error;
}

int state_open(const char *dir, const char *name, const char *env, state **out, char **err)
{
    state_backend *b = NULL;
    int error;

    *out = NULL;
    if ((error = state_local_open(dir, name, env, &b, err)) < 0)
        return error;
    if ((error = state_open_backend(b, name, env, out, err)) < 0) {
        state_backend_free(b);
        return error;
    }
    (*out)->owned_backend = b;
    return 0;
}

void state_free(state *st)
{
    if (!st)
        return;
    if (st->writer_on) {
        char *msg = NULL;
        if (state_writer_stop(st, &msg) < 0)
            log_msg(LOG_WARN, "%s", msg);
        free(msg);
    }
    json_decref(st->resources);
    json_decref(st->texts);
    json_decref(st->intents);
    json_decref(st->outputs);
    json_decref(st->dirty);
    json_decref(st->dirty_intents);
    pthread_cond_destroy(&st->written);
    pthread_cond_destroy(&st->wake);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->write_mu);
    state_backend_free(st->owned_backend);
    free(st->last_error_msg);
    free(st->name);
    free(st->env);
    free(st->lineage);
    free(st->writer_record);
    free(st);
}

const char *state_path(const state *st)
{
    return st->backend->where;
}

const char *state_lineage(state *st)
{
    return st->lineage;
}

long long state_serial(state *st)
{
    pthread_mutex_lock(&st->mu);
    long long serial = st->serial;
    pthread_mutex_unlock(&st->mu);
    return serial;
}

unsigned long state_write_count(state *st)
{
    pthread_mutex_lock(&st->mu);
    unsigned long writes = st->writes;
    pthread_mutex_unlock(&st->mu);
    return writes;
}

/* ------------------------------------------------------------------ */
/* Entries                                                            */

void state_changed_locked(state *st)
{
    st->changes++;
    if (st->writer_on)
        pthread_cond_signal(&st->wake);
}

static json_t *member_get(state *st, json_t **obj, const char *key)
{
    if (!key)
        return NULL;
    pthread_mutex_lock(&st->mu);
    json_t *v = json_incref(json_object_get(*obj, key));
    pthread_mutex_unlock(&st->mu);
    return v;
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *sorted_keys(state *st, json_t **obj)
{
    json_t *array = json_array();
    pthread_mutex_lock(&st->mu);
    size_t n = json_object_size(*obj), i = 0;
    const char **keys = util_calloc(n ? n : 1, sizeof(*keys));
    for (void *it = json_object_iter(*obj); it; it = json_object_iter_next(*obj, it))
        keys[i++] = json_object_iter_key(it);
    qsort(keys, n, sizeof(*keys), compare_keys);
    for (i = 0; i < n; i++)
        json_array_append_new(array, json_string(keys[i]));
    pthread_mutex_unlock(&st->mu);
    free(keys);
    return array;
}

json_t *state_entry_text(const json_t *entry)
{
    char *text = json_dumps(entry, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return NULL;
    json_t *s = json_stringn_nocheck(text, strlen(text));
    free(text);
    return s;
}

json_t *state_get(state *st, const char *address)
{
    return member_get(st, &st->resources, address);
}

void state_put(state *st, const char *address, json_t *entry)
{
    if (!entry) {
        state_remove(st, address);
        return;
    }
    /* Serialised before taking the mutex: the caller pays for its entry. */
    json_t *text = address ? state_entry_text(entry) : NULL;
    if (!text) {
        json_decref(entry);
        return;
    }
    pthread_mutex_lock(&st->mu);
    json_t *old = json_object_get(st->resources, address);
    if (old && json_equal(old, entry)) {
        json_decref(entry);
        json_decref(text);
    } else if (json_object_set_new(st->resources, address, entry) == 0) {
        json_object_set_new(st->texts, address, text);
        json_object_set_new(st->dirty, address, json_true());
        state_changed_locked(st);
    } else {
        json_decref(text); /* the address is not valid UTF-8 */
    }
    pthread_mutex_unlock(&st->mu);
}

void state_remove(state *st, const char *address)
{
    if (!address)
        return;
    pthread_mutex_lock(&st->mu);
    if (json_object_del(st->resources, address) == 0) {
        json_object_del(st->texts, address);
        json_object_set_new(st->dirty, address, json_true());
        state_changed_locked(st);
    }
    pthread_mutex_unlock(&st->mu);
}

json_t *state_addresses(state *st)
{
    return sorted_keys(st, &st->resources);
}

json_t *state_intent_get(state *st, const char *address)
{
    return member_get(st, &st->intents, address);
}

void state_intent_put(state *st, const char *address, json_t *intent)
{
    if (!intent) {
        state_intent_remove(st, address);
        return;
    }
    if (!address) {
        json_decref(intent);
        return;
    }
    pthread_mutex_lock(&st->mu);
    json_t *old = json_object_get(st->intents, address);
    if (old && json_equal(old, intent)) {
        json_decref(intent);
    } else if (json_object_set_new(st->intents, address, intent) == 0) {
        json_object_set_new(st->dirty_intents, address, json_true());
        state_changed_locked(st);
    }
    pthread_mutex_unlock(&st->mu);
}

void state_intent_remove(state *st, const char *address)
{
    if (!address)
        return;
    pthread_mutex_lock(&st->mu);
    if (json_object_del(st->intents, address) == 0) {
        json_object_set_new(st->dirty_intents, address, json_true());
        state_changed_locked(st);
    }
    pthread_mutex_unlock(&st->mu);
}

json_t *state_intent_addresses(state *st)
{
    return sorted_keys(st, &st->intents);
}

void state_set_outputs(state *st, json_t *outputs)
{
    if (!outputs)
        outputs = json_object();
    if (!json_is_object(outputs)) {
        log_msg(LOG_WARN, "state %s: outputs must be an object; not recorded", state_path(st));
        json_decref(outputs);
        return;
    }
    pthread_mutex_lock(&st->mu);
    if (json_equal(st->outputs, outputs)) {
        json_decref(outputs);
    } else {
        json_decref(st->outputs);
        st->outputs = outputs;
        st->dirty_outputs = 1;
        state_changed_locked(st);
    }
    pthread_mutex_unlock(&st->mu);
}

json_t *state_get_outputs(state *st)
{
    pthread_mutex_lock(&st->mu);
    json_t *v = json_incref(st->outputs);
    pthread_mutex_unlock(&st->mu);
    return v;
}

/* ------------------------------------------------------------------ */
/* The whole document                                                 */

json_t *state_export(state *st)
{
    pthread_mutex_lock(&st->mu);
    json_t *doc =
        json_pack("{s:i, s:I, s:s, s:s, s:s, s:o, s:o, s:O}", "version", STATE_FORMAT_VERSION,
                  "serial", (json_int_t)st->serial, "lineage", st->lineage, "topology", st->name,
                  "environment", st->env, "resources", json_copy(st->resources), "intents",
                  json_copy(st->intents), "outputs", st->outputs);
    pthread_mutex_unlock(&st->mu);
    return doc;
}
