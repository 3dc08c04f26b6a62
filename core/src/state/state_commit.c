/* Commits: what changed since the previous commit, gathered under the
 * state's mutex and sent to the backend outside it, and the replacement
 * of everything by an imported document (`infra state push`).
 *
 * Commits are serialised by write_mu (always taken before mu) so that
 * serials reach the store in order. A commit carries only the rows that
 * changed, so it costs the same whatever the size of the state; backends
 * that keep one object (S3) get the whole document as well. A failed
 * attempt marks its rows changed again, so a later attempt writes them. */
#define _GNU_SOURCE
#include "state/state_int.h"

#include <stdlib.h>
#include <string.h>

#include "infra/plugin.h"
#include "base/util.h"

/* ------------------------------------------------------------------ */
/* Documents                                                          */

/* Texts of every resource, made for entries read from the store and
 * never put since. Caller holds mu. */
static void texts_complete_locked(state *st)
{
    if (json_object_size(st->texts) == json_object_size(st->resources))
        return;
    const char *address;
    json_t *entry;
    json_object_foreach(st->resources, address, entry) {
        if (!json_object_get(st->texts, address)) {
            json_t *text = state_entry_text(entry);
            json_object_set_new(st->texts, address, text ? text : json_string("null"));
        }
    }
}

/* The document text: the small members dumped by jansson, the resources
 * from their texts in the order first put. NULL when a member cannot be
 * serialised. */
static char *render(const state *st, long long serial, const char *lineage, json_t *texts,
                    json_t *intents, json_t *outputs, size_t *len)
{
    util_buf b = {0};
    char *text = NULL;
    json_t *head = json_pack("{s:i, s:I, s:s, s:s, s:s}", "version", STATE_FORMAT_VERSION, "serial",
                             (json_int_t)serial, "lineage", lineage, "topology", st->name,
                             "environment", st->env);
    char *head_text = head ? json_dumps(head, JSON_COMPACT) : NULL;
    char *intents_text = json_dumps(intents, JSON_COMPACT);
    char *outputs_text = json_dumps(outputs, JSON_COMPACT);

    if (!head_text || !intents_text || !outputs_text)
        goto done;
    util_buf_put(&b, head_text, strlen(head_text) - 1); /* all but its closing brace */
    util_buf_puts(&b, ",\"resources\":{");
    int first = 1;
    const char *address;
    json_t *value;
    json_object_foreach(texts, address, value) {
        json_t *key = json_string(address);
        char *key_text = key ? json_dumps(key, JSON_ENCODE_ANY) : NULL;
        json_decref(key);
        if (!key_text)
            continue;
        if (!first)
            util_buf_put(&b, ",", 1);
        util_buf_printf(&b, "%s:", key_text);
        util_buf_put(&b, json_string_value(value), json_string_length(value));
        free(key_text);
        first = 0;
    }
    util_buf_puts(&b, "},\"intents\":");
    util_buf_puts(&b, intents_text);
    util_buf_puts(&b, ",\"outputs\":");
    util_buf_puts(&b, outputs_text);
    util_buf_puts(&b, "}");
    *len = b.len;
    text = util_buf_take(&b);
done:
    util_buf_free(&b);
    json_decref(head);
    free(head_text);
    free(intents_text);
    free(outputs_text);
    return text;
}

/* ------------------------------------------------------------------ */
/* Commits                                                            */

/* What one attempt writes: taken from the state under mu. */
typedef struct gathered {
    json_t *resources; /* address -> text string, or null for a removal */
    json_t *intents;   /* address -> intent, or null */
    json_t *outputs;   /* or NULL: unchanged */
    json_t *all_texts; /* whole_document: every resource text */
    json_t *all_intents;
    json_t *all_outputs;
} gathered;

static void gather_locked(state *st, gathered *g)
{
    const char *key;
    json_t *ignored;

    g->resources = st->dirty;
    st->dirty = json_object();
    json_object_foreach(g->resources, key, ignored) {
        json_t *text = json_object_get(st->texts, key);
        json_object_set(g->resources, key, text ? text : json_null());
    }
    g->intents = st->dirty_intents;
    st->dirty_intents = json_object();
    json_object_foreach(g->intents, key, ignored) {
        json_t *intent = json_object_get(st->intents, key);
        json_object_set(g->intents, key, intent ? intent : json_null());
    }
    g->outputs = st->dirty_outputs ? json_incref(st->outputs) : NULL;
    st->dirty_outputs = 0;
    if (st->backend->whole_document) {
        texts_complete_locked(st);
        g->all_texts = json_copy(st->texts);
        g->all_intents = json_copy(st->intents);
        g->all_outputs = json_incref(st->outputs);
    }
}

/* After a failed attempt: what it carried is changed again, unless a
 * later change already marked it. Caller holds mu. */
static void regather_locked(state *st, const gathered *g)
{
    const char *key;
    json_t *ignored;
    json_object_foreach(g->resources, key, ignored)
        json_object_set_new(st->dirty, key, json_true());
    json_object_foreach(g->intents, key, ignored)
        json_object_set_new(st->dirty_intents, key, json_true());
    if (g->outputs)
        st->dirty_outputs = 1;
}

static void gathered_free(gathered *g)
{
    json_decref(g->resources);
    json_decref(g->intents);
    json_decref(g->outputs);
    json_decref(g->all_texts);
    json_decref(g->all_intents);
    json_decref(g->all_outputs);
}

/* Rows of obj (address -> string, object or null); texts of objects are
 * kept in owned, freed by the caller. */
static state_row *rows_of(json_t *obj, size_t *n, char ***owned)
{
    state_row *rows = util_calloc(json_object_size(obj) + 1, sizeof(*rows));
    *owned = util_calloc(json_object_size(obj) + 1, sizeof(**owned));
    size_t i = 0;
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value) {
        rows[i].key = key;
        if (json_is_string(value)) {
            rows[i].value = json_string_value(value);
        } else if (!json_is_null(value)) {
            (*owned)[i] = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
            rows[i].value = (*owned)[i] ? (*owned)[i] : "null";
        }
        i++;
    }
    *n = i;
    return rows;
}

static void owned_free(char **owned, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(owned[i]);
    free(owned);
}

/* Sends g as commit serial base + 1 (or the import's fields in c). */
static int commit_gathered(state *st, gathered *g, state_commit *c, char **err)
{
    int error = 0;
    char **res_owned = NULL, **int_owned = NULL;
    char *outputs_text = g->outputs ? json_dumps(g->outputs, JSON_COMPACT) : NULL;
    char *document = NULL;
    size_t document_len = 0;

    c->resources = rows_of(g->resources, &c->nresources, &res_owned);
    c->intents = rows_of(g->intents, &c->nintents, &int_owned);
    c->outputs = outputs_text;
    c->writer = st->writer_record;
    if (st->backend->whole_document) {
        document = render(st, c->serial, c->new_lineage ? c->new_lineage : c->lineage, g->all_texts,
                          g->all_intents, g->all_outputs, &document_len);
        if (!document) {
            *err = util_printf("cannot write state %s: the document could not be serialised",
                               state_path(st));
            error = INFRA_EINTERNAL;
            goto done;
        }
        c->document = document;
        c->document_len = document_len;
    }
    error = state_backend_commit(st->backend, c, err);
done:
    owned_free(res_owned, c->nresources);
    owned_free(int_owned, c->nintents);
    free((void *)c->resources);
    free((void *)c->intents);
    free(outputs_text);
    free(document);
    return error;
}

int state_commit_once(state *st, char **err)
{
    int error = 0;
    gathered g = {0};
    state_commit c = {0};

    pthread_mutex_lock(&st->mu);
    st->retry = 0;
    if (st->durable == st->changes) {
        pthread_mutex_unlock(&st->mu);
        return 0;
    }
    unsigned long long snapshot = st->changes;
    st->attempted = snapshot;
    c.lineage = st->lineage;
    c.base_serial = st->stored ? st->serial : 0;
    c.serial = c.base_serial + 1;
    gather_locked(st, &g);
    pthread_mutex_unlock(&st->mu);

    error = commit_gathered(st, &g, &c, err);

    pthread_mutex_lock(&st->mu);
    st->attempts++;
    free(st->last_error_msg);
    st->last_error_msg = NULL;
    st->last_error = error;
    if (error == 0) {
        st->serial = c.serial;
        st->stored = 1;
        if (snapshot > st->durable)
            st->durable = snapshot;
        st->writes++;
    } else {
        regather_locked(st, &g);
        st->failed = snapshot;
        st->last_error_msg = util_strdup(*err);
    }
    pthread_cond_broadcast(&st->written);
    pthread_mutex_unlock(&st->mu);
    gathered_free(&g);
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
    error = state_commit_once(st, &msg);
    pthread_mutex_unlock(&st->write_mu);
    if (error < 0 && err)
        *err = msg;
    else
        free(msg);
    return error;
}

/* ------------------------------------------------------------------ */
/* Import                                                             */

static int import_check(state *st, const json_t *doc, const char *source, int force, char **err)
{
    const char *lineage = json_string_value(json_object_get(doc, "lineage"));
    long long serial = (long long)json_integer_value(json_object_get(doc, "serial"));
    if (force || !st->stored)
        return 0;
    if (strcmp(lineage, st->lineage) != 0) {
        *err = util_printf("%s holds lineage %s but the state in %s has lineage %s: it is "
                           "another state, not a version of this one (--force replaces it "
                           "anyway)",
                           source, lineage, state_path(st), st->lineage);
        return INFRA_ECONFLICT;
    }
    if (serial < st->serial) {
        *err = util_printf("%s has serial %lld, older than the serial %lld of the state in %s: "
                           "pull the current state and change that instead (--force replaces "
                           "it anyway)",
                           source, serial, st->serial, state_path(st));
        return INFRA_ECONFLICT;
    }
    if (serial == st->serial) {
        json_t *mine = json_pack("{s:O, s:O, s:O}", "resources", st->resources, "intents",
                                 st->intents, "outputs", st->outputs);
        json_t *theirs =
            json_pack("{s:O, s:O, s:O}", "resources", json_object_get(doc, "resources"), "intents",
                      json_object_get(doc, "intents"), "outputs", json_object_get(doc, "outputs"));
        int same = json_equal(mine, theirs);
        json_decref(mine);
        json_decref(theirs);
        if (!same) {
            *err = util_printf("%s has the serial %lld of the state in %s but other content: "
                               "both were changed since they parted; give the file a greater "
                               "serial to replace the state (or --force)",
                               source, serial, state_path(st));
            return INFRA_ECONFLICT;
        }
    }
    return 0;
}

int state_import(state *st, const json_t *doc, const char *source, int force, char **err)
{
    int error = 0;
    gathered g = {0};
    state_commit c = {0};
    json_t *copy = NULL;
    char *msg = NULL;

    if ((error = state_document_check(doc, source, st->name, st->env, &msg)) < 0)
        goto out;
    copy = json_deep_copy(doc);
    json_t *outputs = json_object_get(copy, "outputs");
    if (!outputs)
        json_object_set_new(copy, "outputs", outputs = json_object());
    long long serial = (long long)json_integer_value(json_object_get(copy, "serial"));
    const char *lineage = json_string_value(json_object_get(copy, "lineage"));

    pthread_mutex_lock(&st->write_mu);
    pthread_mutex_lock(&st->mu);
    if ((error = import_check(st, copy, source, force, &msg)) < 0) {
        pthread_mutex_unlock(&st->mu);
        goto done;
    }
    c.lineage = st->lineage;
    c.new_lineage = lineage;
    c.base_serial = st->stored ? st->serial : 0;
    c.serial = serial > st->serial ? serial : st->serial + 1;
    c.replace = 1;
    c.force = force;
    json_t *resources = json_object_get(copy, "resources");
    g.resources = json_object();
    const char *key;
    json_t *value;
    json_object_foreach(resources, key, value) {
        json_t *text = state_entry_text(value);
        json_object_set_new(g.resources, key, text ? text : json_string("null"));
    }
    g.intents = json_copy(json_object_get(copy, "intents"));
    g.outputs = json_incref(outputs);
    if (st->backend->whole_document) {
        g.all_texts = json_incref(g.resources);
        g.all_intents = json_incref(g.intents);
        g.all_outputs = json_incref(outputs);
    }
    unsigned long long snapshot = st->changes;
    pthread_mutex_unlock(&st->mu);

    error = commit_gathered(st, &g, &c, &msg);

    pthread_mutex_lock(&st->mu);
    if (error == 0) {
        free(st->lineage);
        st->lineage = util_strdup(lineage);
        st->serial = c.serial;
        st->stored = 1;
        json_decref(st->resources);
        json_decref(st->intents);
        json_decref(st->outputs);
        json_decref(st->texts);
        st->resources = json_incref(resources);
        st->intents = json_incref(json_object_get(copy, "intents"));
        st->outputs = json_incref(outputs);
        st->texts = json_incref(g.resources);
        json_object_clear(st->dirty);
        json_object_clear(st->dirty_intents);
        st->dirty_outputs = 0;
        st->durable = st->attempted = snapshot > st->durable ? snapshot : st->durable;
        st->writes++;
    }
    pthread_mutex_unlock(&st->mu);
done:
    pthread_mutex_unlock(&st->write_mu);
out:
    gathered_free(&g);
    json_decref(copy);
    if (error < 0 && err)
        *err = msg;
    else
        free(msg);
    return error;
}
