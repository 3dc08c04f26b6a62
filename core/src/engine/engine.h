/* The engine: a loaded topology with its providers (plugin, schema,
 * lazily configured context), its state, and the helpers every command
 * shares: diagnostics at YAML locations, provider calls with retries,
 * sensitive-value handling and reference lookups.
 *
 *   engine_open      topology + plugins + schemas + validation (infra validate)
 *   engine_state     lock (optional) and open the state
 *   plan_*           (plan.h) what would change
 *   engine_apply     (below) make it so with the worker pool
 */
#ifndef INFRA_ENGINE_H
#define INFRA_ENGINE_H

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include <infra/plugin.h>

#include "base/diag.h"
#include "plugin/host.h"
#include "plugin/loader.h"
#include "state/state.h"
#include "topology/topology.h"

/* What topology_eval puts where a value is not known before apply. */
#define ENGINE_UNKNOWN "(known after apply)"
/* What replaces a sensitive value wherever it would be shown. */
#define ENGINE_SENSITIVE "(sensitive)"

typedef struct progress progress;

typedef struct engine_provider {
    const topo_provider *decl;      /* borrowed from the topology */
    const infra_plugin *desc;       /* borrowed from the loader (or a built-in) */
    const infra_provider_ops *ops;  /* desc->provider */
    json_t *schema;                 /* the plugin's schema document (owned) */
    json_t *types;                  /* borrowed: schema "resources" */
    int limit;                      /* concurrent calls allowed: 0 = unlimited */
    pthread_mutex_t lock;           /* guards the three fields below */
    int configured;                 /* configure() was tried */
    int configure_error;            /* its result */
    infra_provider *ctx;            /* the configured context, or NULL */
    const infra_scheduler_ops *sched; /* a cluster's scheduler provider: the plugin's ops */
    infra_plugin bridge;            /* ... and the descriptor desc points to (scheduler.c) */
} engine_provider;

typedef struct engine_options {
    const char *topology;          /* path of the YAML file */
    const char *environment;       /* -e NAME, or NULL */
    const char *const *vars;       /* NULL-terminated "k=v", or NULL */
    const char *const *var_files;  /* NULL-terminated paths, or NULL */
    const char *state_dir;         /* --state-dir, or NULL for DIR_OF_TOPOLOGY/.infra */
    const char *const *backend_config; /* NULL-terminated --backend-config "k=v", or NULL */
    long lock_timeout_ms;          /* --lock-timeout: how long to wait for the state lock */
    const char *secrets_file;      /* --secrets-file, or NULL: beside the local state */
    int parallelism;               /* --parallelism; < 1 means 10 */
    const infra_plugin *const *builtin; /* NULL-terminated plugins found before the loader's */
} engine_options;

typedef struct engine {
    topology *topo;
    char *state_dir;               /* where the local state and the secrets file live */
    const char *const *backend_config; /* borrowed from the options */
    long lock_timeout_ms;
    char *secrets_file;            /* --secrets-file, or NULL */
    char *env;                     /* environment name for the state ("default") */
    loader ld;
    int scanned;                   /* ld holds the search path's plugins */
    engine_provider *providers;
    size_t nproviders;
    const infra_plugin *const *builtin;
    int parallelism;

    state *st;                     /* after engine_state */
    state_backend *backend;        /* where st is stored, after engine_state */
    char *secrets_path;            /* the secrets file, after engine_state */
    int locked;                    /* engine_state took the backend's lock */
    int writer_on;                 /* the state writer runs */

    volatile sig_atomic_t *stop;   /* set: start nothing new (first SIGINT); may be NULL */
    volatile int cancel;           /* set: in-flight provider calls should stop */
    progress *progress;            /* may be NULL: no progress lines */

    pthread_mutex_t diag_lock;     /* guards diags when workers add to it */
    diag_list diags;               /* errors of the current command */
} engine;

/* Loads the topology, finds and checks each provider's plugin, reads its
 * schema once and validates every provider's settings and every
 * resource's configuration (schema checks, then the plugin's validate op),
 * and checks the resource graph for cycles. No provider is configured and
 * nothing touches the network. Returns 0 with *out set, or INFRA_EINVALID
 * with the errors (and *out NULL) in diags. Warnings are added to diags in
 * both cases. Free with engine_free. */
int engine_open(const engine_options *opts, engine **out, diag_list *diags);

/* Checks every provider's settings and every resource's configuration
 * against the plugins' schemas, then through each plugin's validate op
 * (engine_validate.c). Diagnostics go to diags; INFRA_EINVALID on errors. */
int engine_validate(engine *e, diag_list *diags);

/* Stops the writer (flushing), closes providers, releases the lock. */
void engine_free(engine *e);

/* Opens the state of the topology + environment; with lock, takes the
 * state lock first and starts the background writer. 0 or a negative
 * INFRA_E* with *err (caller frees). */
int engine_state(engine *e, int lock, const char *owner, char **err);

/* Stops the background writer, flushing every change. 0 or INFRA_E* with *err. */
int engine_state_close(engine *e, char **err);

/* The backend of this topology + environment (the `backend:` block with
 * --backend-config applied), made on first use and kept in e->backend.
 * 0 or INFRA_E* with *err naming the setting at fault. */
int engine_backend(engine *e, char **err);

/* Index of the provider named name, or -1. */
int engine_provider_index(const engine *e, const char *name);

/* The configured context of provider i, configuring it on first use
 * (thread-safe). 0 or a negative INFRA_E* with *err (caller frees). */
int engine_provider_ctx(engine *e, size_t i, infra_provider **ctx, char **err);

/* The schema of a resource type ({"attributes": {...}}), borrowed, or NULL. */
const json_t *engine_type_schema(const engine *e, size_t provider, const char *type);

/* 1 when attribute attr of type is marked flag ("sensitive", "force_new",
 * "computed", "required") in the provider's schema. */
int engine_attr_flag(const engine *e, size_t provider, const char *type, const char *attr,
                     const char *flag);

/* The diagnostic key of a resource attribute: "instances.web.size" (attr
 * may be NULL or "" for the resource itself). Caller frees. */
char *engine_resource_key(const topo_resource *res, const char *attr);

/* Adds an error at the resource (or attribute) location; thread-safe. */
void engine_error_at(engine *e, const topo_resource *res, const char *attr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Collects what a plugin reports during one call. */
typedef struct engine_call {
    infra_call call;
    engine *e;
    char *attr;    /* attribute path of the first error, or NULL */
    char *message; /* text of the first error, or NULL */
    int attempts;  /* engine_retry's attempts for this call */
} engine_call;

/* Prepares a provider call for address (token may be NULL); the cancel
 * flag is the engine's. Clear with engine_call_clear. */
void engine_call_init(engine_call *c, engine *e, const char *address, size_t provider,
                      const char *token);
void engine_call_clear(engine_call *c);

/* The text of a failed call: the plugin's first error, or a description of
 * the code. Borrowed from c or static. */
const char *engine_call_error(const engine_call *c, int code);

/* Runs fn until it returns something other than INFRA_ETRANSIENT, at most
 * c->attempts times (ENGINE_ATTEMPTS, 1 for a scheduler), sleeping with exponential backoff in between
 * (cancellable). */
#define ENGINE_ATTEMPTS 5
typedef int (*engine_retry_fn)(void *ud);
int engine_retry(engine *e, engine_call *c, engine_retry_fn fn, void *ud);

/* A copy of config where each sensitive attribute of the type is replaced
 * by "sha256:HEX" of its value, so that state records that it changed
 * without recording it. New value. */
json_t *engine_config_for_state(const engine *e, size_t provider, const char *type,
                                const json_t *config);

/* A copy of value (a config or attributes) with sensitive attributes
 * replaced by ENGINE_SENSITIVE (mask = 1) or removed (mask = 0). New value. */
json_t *engine_hide_sensitive(const engine *e, size_t provider, const char *type,
                              const json_t *value, int mask);

/* Registers every sensitive string value of config with the log redaction. */
void engine_register_secrets(const engine *e, size_t provider, const char *type,
                             const json_t *config);

/* Base64 text of a provider's private blob (new string), and back
 * (*out allocated with malloc, may be NULL when len is 0). */
char *engine_base64_encode(const void *data, size_t len);
int engine_base64_decode(const char *text, void **out, size_t *len);

typedef struct plan plan;

typedef struct engine_apply_summary {
    size_t done;        /* changes made */
    size_t failed;      /* changes that failed */
    size_t skipped;     /* not tried because something they wait for failed */
    size_t not_started; /* not tried because the run was interrupted */
} engine_apply_summary;

/* Carries out plan p against e->st with the worker pool (engine_apply.c):
 * creates and updates in dependency order, deletes in reverse dependency
 * order, replace = delete then create in one node, each create guarded by
 * an intent synced to disk before the provider is called. Progress goes
 * to e->progress; each failure becomes an error in e->diags naming the
 * address and its YAML location. Returns 0, INFRA_EINTERNAL when some
 * change failed or was skipped, INFRA_ECANCELLED when interrupted. */
int engine_apply(engine *e, plan *p, engine_apply_summary *out);

/* Evaluates the topology's outputs against what plan p knows after apply
 * and stores them in the state (empty when destroy). */
void engine_outputs(engine *e, plan *p, int destroy);

/* 1 when value contains ENGINE_UNKNOWN anywhere. */
int engine_json_unknown(const json_t *value);

#endif
