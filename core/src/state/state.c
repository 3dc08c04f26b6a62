/* The state document in memory, its writes, and the background writer.
 *
 * One mutex (mu) guards the document and the counters. Entries handed to
 * state_put are owned by the document and never modified afterwards, so a
 * getter returns json_incref of the stored value instead of a deep copy:
 * callers treat what they get as read-only. Writes are serialised by a
 * second mutex (write_mu, always taken before mu) so that serials reach the
 * disk in order; the document is dumped under mu and the bytes are written
 * outside it, so puts are never blocked by disk I/O.
 *
 * Speed: each resource entry is serialised once, when it is put, into a
 * fragment `"ADDRESS":ENTRY`; a write concatenates the fragments instead of
 * dumping every entry again, which makes a 3 MB state about ten times
 * cheaper to write than json_dumps of the whole document.
 *
 * Group commit: every change increments `changes`; a write attempt covers
 * the value it saw when it took its snapshot (`attempted`), and success
 * moves `durable` there. state_sync waits until `durable` reaches the value
 * of `changes` at call time, so all threads waiting during one write are
 * released by the next one. See docs/internals/state.md. */
#define _GNU_SOURCE
#include "state/state.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "infra/plugin.h"
#include "services/log.h"
#include "base/util.h"

#define STATE_FORMAT_VERSION 1

struct state {
    /* Set by state_open and never changed: read without a lock. */
    char *path;
    char *backup;
    char *name;
    char *env;
    char *lineage;

    pthread_mutex_t write_mu; /* one file write at a time; taken before mu */
    state_file_id disk;       /* (write_mu) the file as last read or written */

    pthread_mutex_t mu;           /* guards everything below */
    pthread_cond_t wake;          /* for the writer: a change, a retry or stop */
    pthread_cond_t written;       /* for state_sync: a write attempt finished */
    json_t *doc;                  /* the whole document */
    json_t *resources;            /* borrowed from doc */
    json_t *intents;              /* borrowed from doc */
    json_t *fragments;            /* address -> string `"ADDRESS":ENTRY`, same order as resources */
    long long serial;             /* serial of the file on disk */
    unsigned long long changes;   /* incremented by every change */
    unsigned long long attempted; /* changes covered by the latest write attempt */
    unsigned long long durable;   /* changes known to be on disk */
    unsigned long long failed;    /* changes covered by the latest failed attempt */
    unsigned long attempts;       /* write attempts finished */
    unsigned long writes;         /* successful file writes */
    int last_error;               /* result of the latest attempt */
    char *last_error_msg;         /* its message, NULL after a success */
    int writer_on;
    int writer_stop;
    int retry; /* a state_sync caller wants a failed write tried again */
    pthread_t writer;
};

/* ------------------------------------------------------------------ */
/* Opening                                                            */

static json_t *new_document(const state *st)
{
    return json_pack("{s:i, s:I, s:s, s:s, s:s, s:{}, s:{}, s:{}}", "version", STATE_FORMAT_VERSION,
                     "serial", (json_int_t)0, "lineage", st->lineage, "topology", st->name,
                     "environment", st->env, "resources", "intents", "outputs");
}

/* The member key of doc when it is an object; created empty when missing. */
static int object_member(state *st, json_t *doc, const char *key, json_t **out, char **err)
{
    json_t *v = json_object_get(doc, key);
    if (!v) {
        v = json_object();
        json_object_set_new(doc, key, v);
    }
    if (!json_is_object(v)) {
        *err = util_printf("state file %s is not a valid state: \"%s\" is not an object", st->path,
                           key);
        return INFRA_EINVALID;
    }
    *out = v;
    return 0;
}

/* `"ADDRESS":ENTRY` exactly as it appears in the file, or NULL when the
 * address is not valid UTF-8. */
static json_t *resource_fragment(const char *address, const json_t *entry)
{
    json_t *fragment = NULL;
    json_t *key = json_string(address);
    char *key_text = key ? json_dumps(key, JSON_ENCODE_ANY) : NULL;
    char *entry_text = json_dumps(entry, JSON_COMPACT | JSON_ENCODE_ANY);

    if (key_text && entry_text) {
        char *text = util_printf("%s:%s", key_text, entry_text);
        fragment = json_stringn_nocheck(text, strlen(text));
        free(text);
    }
    free(key_text);
    free(entry_text);
    json_decref(key);
    return fragment;
}

static void build_fragments(state *st)
{
    st->fragments = json_object();
    for (void *it = json_object_iter(st->resources); it;
         it = json_object_iter_next(st->resources, it)) {
        const char *address = json_object_iter_key(it);
        json_object_set_new(st->fragments, address,
                            resource_fragment(address, json_object_iter_value(it)));
    }
}

/* Takes doc as the state after checking it belongs to this topology and
 * environment. */
static int adopt_document(state *st, json_t *doc, char **err)
{
    int error = 0;
    json_t *outputs;
    json_t *version = json_object_get(doc, "version");
    json_t *serial = json_object_get(doc, "serial");
    const char *lineage = json_string_value(json_object_get(doc, "lineage"));
    const char *topology = json_string_value(json_object_get(doc, "topology"));
    const char *environment = json_string_value(json_object_get(doc, "environment"));

    if (!json_is_object(doc) || !json_is_integer(version)) {
        *err = util_printf("state file %s is not a state file (no integer \"version\")", st->path);
        error = INFRA_EINVALID;
        goto done;
    }
    if (json_integer_value(version) != STATE_FORMAT_VERSION) {
        *err = util_printf("state file %s has format version %lld; this infra reads version %d",
                           st->path, (long long)json_integer_value(version), STATE_FORMAT_VERSION);
        error = json_integer_value(version) > STATE_FORMAT_VERSION ? INFRA_ENOTSUP : INFRA_EINVALID;
        goto done;
    }
    if (!topology || !environment || strcmp(topology, st->name) != 0 ||
        strcmp(environment, st->env) != 0) {
        *err = util_printf("state file %s holds the state of topology \"%s\" environment "
                           "\"%s\", not of topology \"%s\" environment \"%s\"; it was copied "
                           "or renamed: put it back under its own name",
                           st->path, topology ? topology : "(none)",
                           environment ? environment : "(none)", st->name, st->env);
        error = INFRA_ECONFLICT;
        goto done;
    }
    if (!lineage || !*lineage) {
        *err = util_printf("state file %s is not a valid state: no \"lineage\"", st->path);
        error = INFRA_EINVALID;
        goto done;
    }
    if (!json_is_integer(serial) || json_integer_value(serial) < 0) {
        *err = util_printf("state file %s is not a valid state: \"serial\" is not a "
                           "non-negative integer",
                           st->path);
        error = INFRA_EINVALID;
        goto done;
    }
    if ((error = object_member(st, doc, "resources", &st->resources, err)) < 0 ||
        (error = object_member(st, doc, "intents", &st->intents, err)) < 0 ||
        (error = object_member(st, doc, "outputs", &outputs, err)) < 0)
        goto done;
    st->lineage = util_strdup(lineage);
    st->serial = (long long)json_integer_value(serial);
    st->doc = json_incref(doc);
    build_fragments(st);
done:
    return error;
}

int state_open(const char *dir, const char *name, const char *env, state **out, char **err)
{
    int error = 0;
    char *msg = NULL;
    json_t *doc = NULL;
    state *st = util_calloc(1, sizeof(*st));

    *out = NULL;
    pthread_mutex_init(&st->write_mu, NULL);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->wake, NULL);
    pthread_cond_init(&st->written, NULL);
    st->name = util_strdup(name ? name : "");
    st->env = util_strdup(env ? env : "default");
    if ((error = state_file_name(dir, st->name, st->env, ".json", &st->path, &msg)) < 0)
        goto done;
    st->backup = util_printf("%s.backup", st->path);
    if ((error = state_dir_create(dir, &msg)) < 0)
        goto done;
    if ((error = state_file_read(st->path, st->backup, &doc, &st->disk, &msg)) < 0)
        goto done;
    if (doc) {
        if ((error = adopt_document(st, doc, &msg)) < 0)
            goto done;
    } else {
        st->lineage = util_random_hex();
        st->doc = new_document(st);
        st->resources = json_object_get(st->doc, "resources");
        st->intents = json_object_get(st->doc, "intents");
        st->fragments = json_object();
        /* A new lineage is worth recording even before the first change. */
        st->changes = 1;
    }
    *out = st;
    st = NULL;
done:
    json_decref(doc);
    state_free(st);
    if (error < 0 && err)
        *err = msg;
    else
        free(msg);
    return error;
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
    json_decref(st->doc);
    json_decref(st->fragments);
    pthread_cond_destroy(&st->written);
    pthread_cond_destroy(&st->wake);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->write_mu);
    free(st->last_error_msg);
    free(st->path);
    free(st->backup);
    free(st->name);
    free(st->env);
    free(st->lineage);
    free(st);
}

const char *state_path(const state *st)
{
    return st->path;
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

/* Caller holds mu. */
static void changed_locked(state *st)
{
    st->changes++;
    if (st->writer_on)
        pthread_cond_signal(&st->wake);
}

static json_t *member_get(state *st, json_t *obj, const char *key)
{
    if (!key)
        return NULL;
    pthread_mutex_lock(&st->mu);
    json_t *v = json_incref(json_object_get(obj, key));
    pthread_mutex_unlock(&st->mu);
    return v;
}

/* Takes value. An equal value is not a change: no write, no serial. */
static void member_put(state *st, json_t *obj, const char *key, json_t *value)
{
    if (!key) {
        json_decref(value);
        return;
    }
    pthread_mutex_lock(&st->mu);
    json_t *old = json_object_get(obj, key);
    if (old && json_equal(old, value))
        json_decref(value);
    else if (json_object_set_new(obj, key, value) == 0)
        changed_locked(st);
    pthread_mutex_unlock(&st->mu);
}

static void member_remove(state *st, json_t *obj, const char *key)
{
    if (!key)
        return;
    pthread_mutex_lock(&st->mu);
    if (json_object_del(obj, key) == 0) {
        if (obj == st->resources)
            json_object_del(st->fragments, key);
        changed_locked(st);
    }
    pthread_mutex_unlock(&st->mu);
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *sorted_keys(state *st, json_t *obj)
{
    json_t *array = json_array();
    pthread_mutex_lock(&st->mu);
    size_t n = json_object_size(obj), i = 0;
    const char **keys = util_calloc(n ? n : 1, sizeof(*keys));
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it))
        keys[i++] = json_object_iter_key(it);
    qsort(keys, n, sizeof(*keys), compare_keys);
    for (i = 0; i < n; i++)
        json_array_append_new(array, json_string(keys[i]));
    pthread_mutex_unlock(&st->mu);
    free(keys);
    return array;
}

json_t *state_get(state *st, const char *address)
{
    return member_get(st, st->resources, address);
}

void state_put(state *st, const char *address, json_t *entry)
{
    if (!entry) {
        member_remove(st, st->resources, address);
        return;
    }
    /* Serialised before taking the mutex: the caller pays for its entry. */
    json_t *fragment = address ? resource_fragment(address, entry) : NULL;
    if (!fragment) {
        json_decref(entry);
        return;
    }
    pthread_mutex_lock(&st->mu);
    json_t *old = json_object_get(st->resources, address);
    if (old && json_equal(old, entry)) {
        json_decref(entry);
        json_decref(fragment);
    } else if (json_object_set_new(st->resources, address, entry) == 0) {
        /* Replacing a key keeps its place, so both objects stay in step. */
        json_object_set_new(st->fragments, address, fragment);
        changed_locked(st);
    } else {
        json_decref(fragment);
    }
    pthread_mutex_unlock(&st->mu);
}

void state_remove(state *st, const char *address)
{
    member_remove(st, st->resources, address);
}

json_t *state_addresses(state *st)
{
    return sorted_keys(st, st->resources);
}

json_t *state_intent_get(state *st, const char *address)
{
    return member_get(st, st->intents, address);
}

void state_intent_put(state *st, const char *address, json_t *intent)
{
    if (!intent)
        member_remove(st, st->intents, address);
    else
        member_put(st, st->intents, address, intent);
}

void state_intent_remove(state *st, const char *address)
{
    member_remove(st, st->intents, address);
}

json_t *state_intent_addresses(state *st)
{
    return sorted_keys(st, st->intents);
}

void state_set_outputs(state *st, json_t *outputs)
{
    if (!outputs)
        outputs = json_object();
    if (!json_is_object(outputs)) {
        log_msg(LOG_WARN, "state %s: outputs must be an object; not recorded", st->path);
        json_decref(outputs);
        return;
    }
    pthread_mutex_lock(&st->mu);
    if (json_equal(json_object_get(st->doc, "outputs"), outputs))
        json_decref(outputs);
    else if (json_object_set_new(st->doc, "outputs", outputs) == 0)
        changed_locked(st);
    pthread_mutex_unlock(&st->mu);
}

json_t *state_get_outputs(state *st)
{
    pthread_mutex_lock(&st->mu);
    json_t *v = json_incref(json_object_get(st->doc, "outputs"));
    pthread_mutex_unlock(&st->mu);
    return v;
}

/* ------------------------------------------------------------------ */
/* Writing                                                            */

/* Refuses to overwrite a file that another writer replaced since we read or
 * wrote it: a different lineage is another state altogether, a serial at or
 * past ours means someone else wrote. Caller holds write_mu. */
static int check_disk(state *st, long long next_serial, char **err)
{
    int error = 0;
    json_t *doc = NULL;
    state_file_id now;

    if ((error = state_file_stat(st->path, &now, err)) < 0)
        return error;
    if (!now.present || state_file_same(&now, &st->disk))
        return 0;
    if ((error = state_file_read(st->path, st->backup, &doc, NULL, err)) < 0 || !doc)
        return error;
    const char *lineage = json_string_value(json_object_get(doc, "lineage"));
    const char *topology = json_string_value(json_object_get(doc, "topology"));
    const char *environment = json_string_value(json_object_get(doc, "environment"));
    long long serial = (long long)json_integer_value(json_object_get(doc, "serial"));
    if (!lineage || strcmp(lineage, st->lineage) != 0 || !topology ||
        strcmp(topology, st->name) != 0 || !environment || strcmp(environment, st->env) != 0) {
        *err = util_printf("state file %s was replaced while in use: it now has lineage %s "
                           "(topology \"%s\" environment \"%s\") but this run's state has "
                           "lineage %s (topology \"%s\" environment \"%s\"); refusing to "
                           "overwrite it",
                           st->path, lineage ? lineage : "(none)", topology ? topology : "(none)",
                           environment ? environment : "(none)", st->lineage, st->name, st->env);
        error = INFRA_ECONFLICT;
    } else if (serial >= next_serial) {
        *err = util_printf("state file %s was written by another process (serial %lld on disk, "
                           "this run would write %lld); refusing to overwrite it",
                           st->path, serial, next_serial);
        error = INFRA_ECONFLICT;
    }
    json_decref(doc);
    return error;
}

/* The file text: the small members dumped by jansson, the resources as the
 * concatenation of their fragments. Keys come in a fixed order and objects
 * keep insertion order, which is stable enough; JSON_SORT_KEYS would make
 * the dump half as slow again. NULL when a member cannot be serialised. */
static char *render(json_t *head, json_t *fragments, json_t *intents, json_t *outputs)
{
    util_buf b = {0};
    char *text = NULL;
    char *head_text = json_dumps(head, JSON_COMPACT);
    char *intents_text = json_dumps(intents, JSON_COMPACT);
    char *outputs_text = json_dumps(outputs, JSON_COMPACT);

    if (!head_text || !intents_text || !outputs_text)
        goto done;
    util_buf_put(&b, head_text, strlen(head_text) - 1); /* all but its closing brace */
    util_buf_puts(&b, ",\"resources\":{");
    int first = 1;
    for (void *it = json_object_iter(fragments); it; it = json_object_iter_next(fragments, it)) {
        json_t *fragment = json_object_iter_value(it);
        if (!first)
            util_buf_put(&b, ",", 1);
        util_buf_put(&b, json_string_value(fragment), json_string_length(fragment));
        first = 0;
    }
    util_buf_puts(&b, "},\"intents\":");
    util_buf_puts(&b, intents_text);
    util_buf_puts(&b, ",\"outputs\":");
    util_buf_puts(&b, outputs_text);
    util_buf_puts(&b, "}");
    text = util_buf_take(&b);
done:
    util_buf_free(&b);
    free(head_text);
    free(intents_text);
    free(outputs_text);
    return text;
}

/* One write attempt of everything changed so far; records the outcome for
 * state_sync waiters. Caller holds write_mu, not mu; *err is always set on
 * failure. */
static int write_once(state *st, char **err)
{
    int error = 0;
    char *text;
    unsigned long long snapshot;
    long long serial;
    state_file_id written = {0};

    pthread_mutex_lock(&st->mu);
    st->retry = 0;
    if (st->durable == st->changes) {
        pthread_mutex_unlock(&st->mu);
        return 0;
    }
    snapshot = st->changes;
    st->attempted = snapshot;
    serial = st->serial + 1;
    /* Shallow copies: entries and fragments are immutable and shared, only
     * the containers that change in place are copied, so the rendering
     * runs without the mutex. */
    json_t *head = json_pack("{s:i, s:I, s:s, s:s, s:s}", "version", STATE_FORMAT_VERSION, "serial",
                             (json_int_t)serial, "lineage", st->lineage, "topology", st->name,
                             "environment", st->env);
    json_t *fragments = json_copy(st->fragments);
    json_t *intents = json_copy(st->intents);
    json_t *outputs = json_incref(json_object_get(st->doc, "outputs"));
    pthread_mutex_unlock(&st->mu);
    text = render(head, fragments, intents, outputs);
    json_decref(head);
    json_decref(fragments);
    json_decref(intents);
    json_decref(outputs);

    if (!text) {
        *err = util_printf("cannot write state %s: the document could not be serialised", st->path);
        error = INFRA_EINTERNAL;
    } else if ((error = check_disk(st, serial, err)) == 0) {
        error = state_file_replace(st->path, st->backup, text, strlen(text), &written, err);
        /* Even when only the directory sync failed, this is our file now. */
        if (written.present)
            st->disk = written;
    }
    free(text);

    pthread_mutex_lock(&st->mu);
    st->attempts++;
    free(st->last_error_msg);
    st->last_error_msg = NULL;
    st->last_error = error;
    if (written.present) {
        st->serial = serial;
        json_object_set_new(st->doc, "serial", json_integer(serial));
    }
    if (error == 0) {
        if (snapshot > st->durable)
            st->durable = snapshot;
        st->writes++;
    } else {
        st->failed = snapshot;
        st->last_error_msg = util_strdup(*err);
    }
    pthread_cond_broadcast(&st->written);
    pthread_mutex_unlock(&st->mu);
    return error;
}

int state_write(state *st, char **err)
{
    int error;
    char *msg = NULL;

    pthread_mutex_lock(&st->mu);
    int background = st->writer_on;
    pthread_mutex_unlock(&st->mu);
    if (background)
        return state_sync(st, err);

    pthread_mutex_lock(&st->write_mu);
    error = write_once(st, &msg);
    pthread_mutex_unlock(&st->write_mu);
    if (error < 0 && err)
        *err = msg;
    else
        free(msg);
    return error;
}

/* ------------------------------------------------------------------ */
/* Background writer                                                  */

static void *writer_main(void *arg)
{
    state *st = arg;

    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (!st->writer_stop && !st->retry && st->changes == st->attempted)
            pthread_cond_wait(&st->wake, &st->mu);
        /* The last flush is state_writer_stop's own synchronous write. */
        if (st->writer_stop)
            break;
        pthread_mutex_unlock(&st->mu);

        char *msg = NULL;
        pthread_mutex_lock(&st->write_mu);
        write_once(st, &msg); /* the outcome is recorded for state_sync */
        pthread_mutex_unlock(&st->write_mu);
        free(msg);

        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

int state_writer_start(state *st)
{
    int error = 0;

    pthread_mutex_lock(&st->mu);
    if (!st->writer_on) {
        st->writer_on = 1;
        st->writer_stop = 0;
        int rc = pthread_create(&st->writer, NULL, writer_main, st);
        if (rc != 0) {
            log_msg(LOG_ERROR, "state %s: cannot start the writer thread: %s", st->path,
                    strerror(rc));
            st->writer_on = 0;
            error = INFRA_EINTERNAL;
        }
    }
    pthread_mutex_unlock(&st->mu);
    return error;
}

int state_sync(state *st, char **err)
{
    int error = 0;

    pthread_mutex_lock(&st->mu);
    if (!st->writer_on) {
        pthread_mutex_unlock(&st->mu);
        return state_write(st, err);
    }
    unsigned long long target = st->changes;
    unsigned long start = st->attempts;
    if (st->durable < target && st->attempted >= target) {
        /* These changes were already tried (and failed, or are being
         * written now): make sure another attempt follows. */
        st->retry = 1;
        pthread_cond_signal(&st->wake);
    }
    /* A failure only counts when it comes from an attempt that finished
     * after this call began and covered these changes. */
    while (st->durable < target && !(st->attempts > start && st->failed >= target))
        pthread_cond_wait(&st->written, &st->mu);
    if (st->durable < target) {
        error = st->last_error < 0 ? st->last_error : INFRA_EINTERNAL;
        if (err)
            *err = util_strdup(st->last_error_msg ? st->last_error_msg : "state write failed");
    }
    pthread_mutex_unlock(&st->mu);
    return error;
}

int state_writer_stop(state *st, char **err)
{
    pthread_mutex_lock(&st->mu);
    if (st->writer_on) {
        st->writer_stop = 1;
        pthread_cond_signal(&st->wake);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->writer, NULL);
        pthread_mutex_lock(&st->mu);
        st->writer_on = 0;
        st->writer_stop = 0;
    }
    pthread_mutex_unlock(&st->mu);
    return state_write(st, err);
}
