/* The engine: a loaded topology with its providers (plugin, schema,
 * lazily configured context), its state, and the helpers every command
 * shares: diagnostics at YAML locations, sensitive-value handling.
 * Layers, each using only those above it:
 *
 *   graph, apply, progress   generic graph, worker pool, progress lines
 *   engine_util              schemas, locations, sensitive values
 *   contain, call            the provider-call layer (every plugin slot)
 *   scheduler                a cluster's scheduler served as a provider
 *   engine_validate, resource_graph
 *   engine                   engine_open (infra validate), state, free
 *   plan, refresh            what would change (plan.h)
 *   engine_apply             make it so (engine_apply.h)
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

/* What replaces a sensitive value wherever it would be shown. */
#define ENGINE_SENSITIVE "(sensitive)"

typedef struct progress progress;
typedef struct engine engine;
typedef struct engine_call engine_call;

/* One loaded plugin, shared by the provider blocks (and clusters) that use
 * it: the "one thread at a time" promise of a plugin without
 * INFRA_CAP_CONCURRENT is kept here, per plugin (engine/call.c). */
typedef struct engine_plugin {
    const infra_plugin *desc;       /* borrowed from the loader (or a built-in) */
    pthread_mutex_t lock;           /* guards busy */
    pthread_cond_t idle;            /* signalled when busy drops to 0 */
    int busy;                       /* a slot call is running (without CONCURRENT) */
    volatile int hung;              /* a call never returned: never closed or unloaded */
} engine_plugin;

/* How a cluster's scheduler serves the resources of "cluster.NAME"
 * (engine/scheduler.c); called by the call layer, never by anything else. */
typedef struct engine_bridge {
    int (*apply)(engine_call *c, const char *type, const json_t *prior, const json_t *planned,
                 json_t **new_state);
    int (*read)(engine_call *c, const char *type, const json_t *state, json_t **out);
} engine_bridge;

typedef struct engine_provider {
    const topo_provider *decl;      /* borrowed from the topology */
    const infra_plugin *desc;       /* the plugin's descriptor (borrowed) */
    size_t plugin;                  /* index into engine plugins */
    uint32_t capabilities;          /* what the engine may rely on (INFRA_CAP_*) */
    json_t *schema;                 /* the plugin's schema document (owned) */
    json_t *types;                  /* borrowed: schema "resources" */
    json_t *flags;                  /* {TYPE: {"": ANY, ATTR: BITS}}: ENGINE_ATTR_* of the schema (owned) */
    json_t *settings;               /* what configure() receives (owned) */
    int limit;                      /* concurrent calls allowed: 0 = unlimited */
    int64_t timeout_ms;             /* the topology's `timeout:`, or 0 for the defaults */
    pthread_mutex_t lock;           /* guards the configure fields below */
    int configured;                 /* configure() was tried */
    int configure_error;            /* its result */
    char *configure_text;           /* its error text, or NULL */
    char *configure_attr;           /* the setting the error is about, or NULL */
    infra_provider *ctx;            /* the configured context of a provider plugin */
    infra_scheduler *sched_ctx;     /* ... or of a cluster's scheduler plugin */
    const engine_bridge *bridge;    /* set for a cluster's scheduler provider */
    int stopped;                    /* stop() was called */
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

struct engine {
    topology *topo;
    char *state_dir;               /* where the local state and the secrets file live */
    const char *const *backend_config; /* borrowed from the options */
    long lock_timeout_ms;
    char *secrets_file;            /* --secrets-file, or NULL */
    char *env;                     /* environment name for the state ("default") */
    loader ld;
    engine_plugin *plugins;        /* every plugin a provider uses, once */
    size_t nplugins;
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
    volatile int halt;             /* set: a call was abandoned; start nothing new */
    int stop_sent;                 /* the providers' stop ops were called (contain.c) */
    progress *progress;            /* may be NULL: no progress lines */

    pthread_mutex_t diag_lock;     /* guards diags when workers add to it */
    diag_list diags;               /* errors of the current command */
};

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

/* Waits until every change recorded so far is on disk (with the writer
 * running; nothing otherwise). Errors are logged. Thread-safe. */
void engine_flush(engine *e);

/* The index in e->plugins of the plugin desc, added on first use. Only
 * while the engine is being opened. */
size_t engine_plugin_add(engine *e, const infra_plugin *desc);

/* The backend of this topology + environment (the `backend:` block with
 * --backend-config applied), made on first use and kept in e->backend.
 * 0 or INFRA_E* with *err naming the setting at fault. */
int engine_backend(engine *e, char **err);

/* Index of the provider named name, or -1. */
int engine_provider_index(const engine *e, const char *name);

/* Worker-pool groups (engine/apply.h): one per provider, plus one per
 * plugin without INFRA_CAP_CONCURRENT that all its providers share. */
size_t engine_ngroups(const engine *e);
size_t engine_group_of(const engine *e, size_t provider);
/* The limit of every group (0 = unlimited); caller frees. */
int *engine_group_limits(const engine *e);

/* The schema of a resource type ({"attributes": {...}}), borrowed, or NULL. */
const json_t *engine_type_schema(const engine *e, size_t provider, const char *type);

/* 1 when attribute attr of type is marked flag ("sensitive", "force_new",
 * "computed", "required") in the provider's schema. */
int engine_attr_flag(const engine *e, size_t provider, const char *type, const char *attr,
                     const char *flag);

/* 1 when some attribute of type is marked flag (as engine_attr_flag). */
int engine_type_flag(const engine *e, size_t provider, const char *type, const char *flag);

/* Indexes the flags of every provider's schema for engine_attr_flag and
 * engine_type_flag (once the schemas are read). */
void engine_index_schemas(engine *e);

/* The diagnostic key of a resource attribute: "instances.web.size" (attr
 * may be NULL or "" for the resource itself). Caller frees. */
char *engine_resource_key(const topo_resource *res, const char *attr);

/* Adds an error at the provider's declaration (or the setting attr of it,
 * a cluster's key for a scheduler); thread-safe. */
void engine_provider_error_at(engine *e, size_t provider, const char *attr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Adds an error at the resource (or attribute) location; thread-safe. */
void engine_error_at(engine *e, const topo_resource *res, const char *attr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* config where each sensitive attribute (of the type's schema, or
 * holding a sensitive variable's value) is replaced by
 * secrets_hash_for_state of its value, so that state records that it
 * changed without recording it. A new reference: a copy sharing the values
 * inside, or config itself when the type has nothing sensitive; either
 * way never to be changed in place. */
json_t *engine_config_for_state(const engine *e, size_t provider, const char *type,
                                const json_t *config);

/* value (a config or attributes) with sensitive attributes (as for
 * engine_config_for_state) replaced by ENGINE_SENSITIVE (mask = 1) or removed (mask = 0). A new reference,
 * shared like engine_config_for_state's: never to be changed in place. */
json_t *engine_hide_sensitive(const engine *e, size_t provider, const char *type,
                              const json_t *value, int mask);

/* Registers every sensitive string value of config with the log redaction. */
void engine_register_secrets(const engine *e, size_t provider, const char *type,
                             const json_t *config);

/* The "version" a provider's schema gives type (0 when it gives none). */
int engine_type_version(const engine *e, size_t provider, const char *type);

/* What a state entry is made of (engine_entry_new). */
typedef struct engine_entry_source {
    size_t provider;
    const char *type;
    const topo_resource *res;  /* its deps and prevent_destroy; NULL: none */
    int data;                  /* a data source */
    const json_t *config;      /* the configuration applied (sensitive values are hashed) */
    const json_t *attributes;  /* the object's attributes (sensitive ones already removed) */
    const void *priv;          /* the plugin's private blob, or NULL */
    size_t priv_len;
    const char *token;         /* the create's idempotency token, or NULL */
} engine_entry_source;

/* A new state entry {type, provider, plugin, schema_version, config,
 * attributes, private, deps, prevent_destroy, token, data}. */
json_t *engine_entry_new(const engine *e, const engine_entry_source *src);

/* Base64 text of a provider's private blob (new string), and back
 * (*out allocated with malloc, may be NULL when len is 0). */
char *engine_base64_encode(const void *data, size_t len);
int engine_base64_decode(const char *text, void **out, size_t *len);


#endif
