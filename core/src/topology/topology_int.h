/* Internals shared by the topology loader's files (topology*.c): the load
 * context, value evaluation with ${...} expressions, variables, and the
 * indexes kept in topology->priv. Not for use outside the topology module. */
#ifndef INFRA_TOPOLOGY_INT_H
#define INFRA_TOPOLOGY_INT_H

#include <jansson.h>
#include <stddef.h>

#include "topology/topology.h"
#include "base/util.h"
#include "topology/yaml_tree.h"

/* Bounds that keep a hostile or mistaken file from exhausting memory. */
#define TOPO_MAX_ERRORS 100     /* diagnostics kept per load */
#define TOPO_MAX_COUNT 100000   /* count of one resource */
#define TOPO_MAX_NODES 10000    /* servers or clients of one datacenter */
#define TOPO_MAX_VALUES 4000000 /* values built for one load */
#define TOPO_MAX_FILE (16u << 20) /* bytes of a topology, --var-file or job file */


/* A set of addresses in insertion order. */
typedef struct topo_deps {
    char **items;
    size_t n, cap;
    json_t *index;    /* address -> true, once the set is large */
    const char *self; /* never added: a resource does not depend on itself */
    size_t self_refs; /* ... but how often it was named, which is a cycle */
} topo_deps;

/* Adds a copy of address unless present or self. */
void topo_deps_add(topo_deps *d, const char *address);
/* Moves the items out (caller frees each and the array). */
char **topo_deps_take(topo_deps *d, size_t *n);
/* Frees the items and resets d. */
void topo_deps_free(topo_deps *d);

/* One YAML declaration of a resource: count instances follow at first. */
typedef struct topo_base {
    char *key;                    /* "instance.web" */
    size_t first;                 /* index of its first instance in topology->resources */
    long count;                   /* -1 without count */
    const ytree_node *body;       /* the YAML body (a mapping) or NULL */
    char *path;                   /* "instances.web" */
    const ytree_node *depends_on; /* the depends_on value, or NULL */
    int broken;                   /* its meta keys are in error: references to it are not checked */
    const ytree_node *keynode;    /* where it is declared */
} topo_base;

/* What topology->priv holds. */
typedef struct topo_priv {
    ytree *doc;
    json_t *addresses;  /* address -> resource index */
    json_t *base_index; /* "type.name" -> index into bases */
    topo_base *bases;
    size_t nbases, bases_cap;
    const char **candidates;   /* NULL-terminated: base keys and "cluster.NAME" */
    char **cluster_keys;       /* NULL-terminated "cluster.NAME" (owned) */
    const ytree_node **bodies; /* per resource: its YAML body (mapping) or NULL */
    const ytree_node **provider_bodies;
    const ytree_node *backend_body; /* the `backend:` mapping, or NULL */
    size_t *resource_base; /* per resource: index into bases, or (size_t)-1 for cluster nodes */
    json_t *sensitive;     /* the leaf values of sensitive variables (strings, numbers, booleans) */
    json_t *key_names;     /* "%p" of a ${...} key node -> the name it gave (regions,
                              datacenters), so that a plugin's diagnostic finds its line */
} topo_priv;

typedef enum { VT_ANY, VT_STRING, VT_NUMBER, VT_BOOL, VT_LIST, VT_MAP } topo_var_type;

typedef enum { VAR_NONE, VAR_PENDING, VAR_RESOLVING, VAR_DONE, VAR_FAILED } topo_var_state;

typedef struct topo_var {
    char *name;
    const ytree_node *key; /* where it is declared */
    topo_var_type type;
    const ytree_node *src; /* the node giving its value (default, environment, --var-file) */
    const ytree *src_doc;  /* the document of src */
    int src_is_data;       /* from a --var-file: taken as is, no ${...} */
    char *src_path;        /* key path of src */
    const char *cli;       /* --var or INFRA_VAR_ text (borrowed), or NULL */
    char *cli_from;        /* where cli came from, for errors: "--var NAME", "INFRA_VAR_NAME" */
    int sensitive;         /* declared sensitive: true, or its value uses a sensitive variable */
    json_t *value;
    size_t size; /* values in value */
    topo_var_state state;
} topo_var;

/* The state of one load. */
typedef struct topo_ctx {
    topology *topo;
    topo_priv *priv;
    ytree *doc;
    diag_list *diags;
    const topology_options *opts;
    size_t errors;
    int fatal;              /* stop building: a bound was hit */
    size_t values;          /* values built so far */
    const ytree_node *root; /* the document with the environment's override applied */
    const char *env_name;   /* selected environment with a declaration, or NULL */
    topo_var *vars;
    size_t nvars;
    json_t *var_index; /* name -> index into vars */
    ytree **var_docs;  /* parsed --var-file documents */
    size_t nvar_docs;
    size_t res_cap;
} topo_ctx;

/* Where and how a value is evaluated. */
typedef struct topo_scope {
    util_buf *path;    /* dotted key path of the value; grows and shrinks while walking */
    const ytree *doc;  /* document of the value (NULL: the topology) */
    int refs;          /* 1: resource references are kept as text (configs, outputs) */
    const char *where; /* what the value is, for "not allowed" errors */
    long count_index;  /* ${count.index}, or -1 outside a counted resource */
    int template;      /* 1: the result keeps ${...}: literal "${" is written "$${" */
    topo_deps *deps;   /* referenced addresses go here, or NULL */
    int quiet;         /* report nothing (a repeated count instance) */
    int *sensitive;    /* set to 1 when the value uses a sensitive variable, or NULL */
} topo_scope;

/* topology.c: diagnostics and key checks. */
/* 1 when a diagnostic for scope would be kept (not quiet, under the limit). */
int topo_reporting(topo_ctx *ctx, const topo_scope *scope);
/* Counts an error and, under TOPO_MAX_ERRORS, adds it at node of doc
 * (NULL: the topology) with key path. */
/* topology_image.c: 1 when an `images:` body has a `build:` block (a
 * managed image, not a lookup). */
int topo_image_is_built(const ytree_node *body);
/* Reads the files the steps of config's build block upload (relative to
 * the topology's directory), adding to each step "upload_path" (absolute)
 * and "upload_sha256"; a file that cannot be read is an error at its
 * line unless quiet. body is the image's YAML, path its key path. */
void topo_image_files(topo_ctx *ctx, const ytree_node *body, const char *path, json_t *config,
                      int quiet);
void topo_error(topo_ctx *ctx, const ytree *doc, const ytree_node *node, const char *path,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Reports each key of map that is not in allowed (NULL-terminated). */
void topo_check_keys(topo_ctx *ctx, const ytree_node *map, const char *path,
                     const char *const *allowed);
/* For mappings whose other keys are free settings: reports the keys that
 * look like a misspelling of one of meta. */
void topo_check_misspelt(topo_ctx *ctx, const ytree_node *map, const char *path,
                         const char *const *meta);
/* "a" SEP "b" as a new string, without printf's cost on hot paths. */
char *topo_concat(const char *a, size_t alen, char sep, const char *b, size_t blen);
/* "a, b, c" of a NULL-terminated list; caller frees. */
char *topo_join(const char *const *names);
/* Describes a value in a type error: string "x", integer 3, a list...; caller frees. */
char *topo_describe(const json_t *value);
/* Requires node to be a mapping (null counts as empty): 1, or 0 after an error. */
int topo_want_map(topo_ctx *ctx, const ytree_node *node, const char *path);
/* 1 when name is [A-Za-z0-9_-]+. */
int topo_valid_name(const char *name);
/* Append ".key" or "[index]" to a key path, returning the length to pop back to. */
size_t topo_path_key(util_buf *path, const char *key);
size_t topo_path_index(util_buf *path, size_t index);
void topo_path_pop(util_buf *path, size_t len);
/* Counts n built values against TOPO_MAX_VALUES: 0, or -1 once exceeded (reported once). */
int topo_charge(topo_ctx *ctx, const ytree_node *node, size_t n);

/* topology_expr.c: ${...} expressions. */
typedef enum { TPL_LITERAL, TPL_EXPR, TPL_UNTERMINATED } topo_tpl_kind;
typedef struct topo_tpl_part {
    topo_tpl_kind kind;
    const char *text; /* literal text, or the expression inside ${ } */
    size_t len;
} topo_tpl_part;
/* Next part of template s from *pos: 1 with *part, 0 at the end. */
int topo_tpl_next(const char *s, size_t *pos, topo_tpl_part *part);
/* Appends s to b with every "${" written "$${". */
void topo_escape(util_buf *b, const char *s);
/* A deep copy of v with "${" in every string written "$${". */
json_t *topo_escape_json(const json_t *v);
/* Appends the text form of v (strings as is, others as compact JSON, null as ""). */
void topo_json_text(util_buf *b, const json_t *v);

typedef enum { STEP_NAME, STEP_INDEX, STEP_SPLAT } topo_step_kind;
typedef struct topo_step {
    topo_step_kind kind;
    const char *name; /* STEP_NAME: a slice of the expression */
    size_t len;
    long long index; /* STEP_INDEX */
} topo_step;

#define TOPO_MAX_STEPS 32

typedef enum { EXPR_VAR, EXPR_ENV, EXPR_COUNT_INDEX, EXPR_REF } topo_expr_kind;

/* One ${...}, parsed; names are slices of the text it was parsed from. */
typedef struct topo_expr {
    topo_expr_kind kind;
    const char *text; /* the expression, trimmed */
    int text_len;
    const char *name; /* EXPR_VAR, EXPR_ENV */
    size_t name_len;
    const char *fallback; /* EXPR_ENV with ":-" */
    size_t fallback_len;
    int has_fallback;
    topo_step steps[TOPO_MAX_STEPS]; /* EXPR_REF */
    size_t nsteps;
} topo_expr;

/* Parses the inside of ${...}: 0, or -1 with *err (caller frees). */
int topo_expr_parse(const char *text, size_t len, topo_expr *e, char **err);

/* The resources a reference names. */
typedef struct topo_target {
    size_t *resources; /* indices into topology->resources */
    size_t n;
    int list;    /* [*]: the value is a list over them */
    size_t attr; /* index of the first attribute step */
} topo_target;

/* Resolves a reference: 0 with *t (free with topo_target_free); 1 when it
 * names a resource whose declaration is broken (already reported); -1 with
 * *err (caller frees). */
int topo_ref_resolve(const topology *topo, const topo_expr *e, topo_target *t, char **err);
void topo_target_free(topo_target *t);

/* Evaluates node as a value of scope: variables, environment variables and
 * count.index are substituted, references checked and kept. New reference,
 * or NULL after reporting errors. */
json_t *topo_eval_node(topo_ctx *ctx, const topo_scope *scope, const ytree_node *node);
/* The keys of a cluster datacenter that are not settings of its nodes
 * (topology_cluster.c), NULL-terminated. */
extern const char *const topo_dc_meta[];
/* Adds the addresses a depends_on entry names (an address or "type.name"
 * meaning all its instances); 0, or -1 with *err (caller frees). */
int topo_depends_on(const topology *topo, const char *target, topo_deps *deps, char **err);
/* The depends_on list node of the object at owner_path (NULL: none) into
 * deps, each entry checked; errors at OWNER.depends_on[N] unless quiet. */
void topo_add_depends_on(topo_ctx *ctx, const ytree_node *node, const char *owner_path,
                         topo_deps *deps, int quiet);
/* The bastion node of the object at owner_path (NULL: none): one instance
 * ("instance.NAME" or "instance.NAME[N]"), set as r->bastion and added to
 * deps so that it exists first; errors at OWNER.bastion unless quiet. */
void topo_add_bastion(topo_ctx *ctx, const ytree_node *node, const char *owner_path,
                      topo_resource *r, topo_deps *deps, int quiet);

/* topology_vars.c: variables and environments. */
/* Declares variables, selects the environment, applies --var-file and
 * --var, resolves every variable and sets ctx->root. 0 or -1 when the
 * document cannot be used further. */
int topo_vars_load(topo_ctx *ctx, const ytree_node *root);
/* Value of a variable for ${name} at node (errors reported there), or NULL.
 * *declared tells whether such a variable exists. */
const json_t *topo_var_get(topo_ctx *ctx, const topo_scope *scope, const ytree_node *node,
                           const char *name, size_t len, int *declared);
/* NULL-terminated names of the declared variables (caller frees the array only). */
const char **topo_var_names(topo_ctx *ctx);
/* Frees the variables and the --var-file documents of ctx. */
void topo_vars_free(topo_ctx *ctx);

/* topology_model.c: providers, resources, outputs. Each pass reports its
 * errors through ctx and returns 0, or -1 when a bound stopped the load. */
int topo_load_providers(topo_ctx *ctx);
/* The `backend:` block: where the state is kept (settings checked by the
 * state module when it is opened). */
int topo_load_backend(topo_ctx *ctx);
/* Pass 1: declares every resource (count expanded, clusters included). */
int topo_declare_resources(topo_ctx *ctx);
/* Pass 2: builds configs and dependencies. */
int topo_build_resources(topo_ctx *ctx);
int topo_load_outputs(topo_ctx *ctx);
/* A meta value (variables and environment variables allowed, no
 * references): new reference, or NULL after reporting. */
json_t *topo_meta_value(topo_ctx *ctx, const ytree_node *node, const char *path);
/* The same, checked for its type (and bounds): 0 with *out, or -1 after
 * reporting. *out of topo_meta_string is new (caller frees). */
int topo_meta_int(topo_ctx *ctx, const ytree_node *node, const char *path, long min, long max,
                  long *out);
int topo_meta_string(topo_ctx *ctx, const ytree_node *node, const char *path, char **out);
/* The declared provider a value names (new string), or NULL after reporting. */
char *topo_meta_provider(topo_ctx *ctx, const ytree_node *node, const char *path);
/* Settings: every key of map not in skip, evaluated without references.
 * template keeps them fit for topology_eval. New object, or NULL after errors. */
json_t *topo_settings(topo_ctx *ctx, const ytree_node *map, const char *path,
                      const char *const *skip, const char *where, int template);
/* Appends a resource; returns its index. address and name are taken. */
size_t topo_add_resource(topo_ctx *ctx, const ytree_node *key, char *address, const char *type,
                         char *name, long index, size_t base);

/* topology_cluster.c: clusters (expanded to instances) and jobs/apps,
 * errors reported through ctx. kind is "job" (jobs:) or "app" (apps:). */
int topo_load_clusters(topo_ctx *ctx, const ytree_node *section);
int topo_load_jobs(topo_ctx *ctx, const ytree_node *section, const char *kind);
/* topology_sched.c: each cluster's scheduler provider "cluster.NAME" and
 * its cluster_agent, cluster_region, cluster_federation and job/app
 * resources; also evaluates the nodes' datacenter settings (references
 * allowed). Run after jobs are loaded. */
int topo_build_scheduler(topo_ctx *ctx);
/* "main-eu-dc-a-server-0" for "cluster.main.eu.dc-a.server[0]"; caller frees. */
char *topo_node_name(const char *address);
/* Free what a cluster or job owns (not the struct itself). */
void topo_cluster_free(topo_cluster *c);
void topo_job_free(topo_job *j);

#endif
