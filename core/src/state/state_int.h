/* What the state module's files share (state.c, state_commit.c,
 * state_writer.c): the state structure and the helpers between them. Not
 * for other modules: they use state.h. */
#ifndef INFRA_STATE_INT_H
#define INFRA_STATE_INT_H

#include <jansson.h>
#include <pthread.h>

#include "state/state.h"

struct state {
    state_backend *backend;       /* borrowed, or owned_backend */
    state_backend *owned_backend; /* made by state_open */
    char *name;
    char *env;
    char *lineage;       /* changed only by state_import */
    char *writer_record; /* who commits: state_holder_json, made at open */

    pthread_mutex_t write_mu; /* one commit at a time; taken before mu */

    pthread_mutex_t mu;           /* guards everything below */
    pthread_cond_t wake;          /* for the writer: a change, a retry or stop */
    pthread_cond_t written;       /* for state_sync: a commit attempt finished */
    json_t *resources;            /* address -> entry, in the order first put */
    json_t *texts;                /* address -> JSON text of the entry (made on put, or lazily) */
    json_t *intents;              /* address -> intent */
    json_t *outputs;              /* object */
    json_t *dirty;                /* address -> true: resources changed since the last gathering */
    json_t *dirty_intents;        /* the same for intents */
    int dirty_outputs;            /* outputs changed since the last gathering */
    int stored;                   /* the store holds this state (read or committed) */
    long long serial;             /* serial of the store as last read or committed */
    unsigned long long changes;   /* incremented by every change */
    unsigned long long attempted; /* changes covered by the latest commit attempt */
    unsigned long long durable;   /* changes known to be committed */
    unsigned long long failed;    /* changes covered by the latest failed attempt */
    unsigned long attempts;       /* commit attempts finished */
    unsigned long writes;         /* successful commits */
    int last_error;               /* result of the latest attempt */
    char *last_error_msg;         /* its message, NULL after a success */
    int writer_on;
    int writer_stop;
    int retry; /* a state_sync caller wants a failed commit tried again */
    pthread_t writer;
};

/* Caller holds mu: counts a change and wakes the writer. */
void state_changed_locked(state *st);
/* The entry's text as a JSON string value, or NULL when it cannot be
 * serialised. New reference. */
json_t *state_entry_text(const json_t *entry);
/* Commits everything changed so far (serial + 1) and records the outcome
 * for state_sync. Caller holds write_mu, not mu; *err is set on failure. */
int state_commit_once(state *st, char **err);

#endif
