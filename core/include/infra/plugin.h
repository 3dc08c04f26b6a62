/*
 * infra plugin ABI — the one public header.
 *
 * A plugin is a shared object exporting one symbol, INFRA_PLUGIN_ENTRY_SYMBOL,
 * a function of type infra_plugin_entry_func (declared at the end of this
 * header, so that a definition with another signature does not compile).
 * The host calls it once after dlopen() and receives a descriptor. Plugins never link against the infra binary: every
 * service they use comes through the size-prefixed infra_host table.
 *
 * ABI rules (see docs/internals/abi.md):
 *  - every table starts with its own size in bytes and only grows at the end;
 *  - a caller uses a slot only when the table is large enough to hold it and
 *    the slot is non-NULL (INFRA_HAS_SLOT);
 *  - a breaking change bumps INFRA_ABI_MAJOR; the host refuses other majors;
 *  - inputs are borrowed for the duration of a call; anything handed back is
 *    allocated with host->alloc (or a host constructor) and freed by the host;
 *  - functions return 0 or a negative INFRA_E* category; the text of an error
 *    goes through host->diag with an attribute path.
 *
 * This header is C99, has no dependencies beyond the C library headers, and
 * compiles on its own with -std=c99 -pedantic -Werror.
 */
#ifndef INFRA_PLUGIN_H
#define INFRA_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Versioning                                                         */

#define INFRA_PLUGIN_MAGIC 0x494e4652u /* "INFR": first field of every descriptor */
#define INFRA_ABI_MAJOR 1              /* bumped on any incompatible change */
#define INFRA_ABI_MINOR 3              /* bumped when a slot is appended */
#define INFRA_PLUGIN_ENTRY_SYMBOL "infra_plugin_entry" /* the one exported symbol */

/* Mark the entry function exported while the rest of the plugin stays hidden. */
#if defined(__GNUC__) || defined(__clang__)
#define INFRA_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define INFRA_PLUGIN_EXPORT
#endif

/* True when table T (a pointer) is large enough to hold SLOT and SLOT is set. */
#define INFRA_HAS_SLOT(T, SLOT)                                                \
    ((T) != NULL &&                                                            \
     (T)->size >= offsetof(__typeof__(*(T)), SLOT) + sizeof((T)->SLOT) &&      \
     (T)->SLOT != NULL)

/* Portable variant of INFRA_HAS_SLOT for compilers without __typeof__. */
#define INFRA_HAS_SLOT_T(TYPE, T, SLOT)                                        \
    ((T) != NULL && (T)->size >= offsetof(TYPE, SLOT) + sizeof((T)->SLOT) &&   \
     (T)->SLOT != NULL)

/* ------------------------------------------------------------------ */
/* Error categories                                                   */

#define INFRA_OK 0            /* success */
#define INFRA_ENOTFOUND (-1)  /* the object does not exist (a read after deletion) */
#define INFRA_EAUTH (-2)      /* credentials missing, wrong or not permitted */
#define INFRA_ETRANSIENT (-3) /* worth retrying: throttling, 5xx, timeouts */
#define INFRA_ECONFLICT (-4)  /* the object exists or is in a conflicting state */
#define INFRA_EINVALID (-5)   /* the input is wrong: fix the topology */
#define INFRA_ENOTSUP (-6)    /* the operation or resource type is not supported */
#define INFRA_EINTERNAL (-7)  /* a bug or an unexpected answer */
#define INFRA_ECANCELLED (-8) /* the host asked the call to stop */

/* ------------------------------------------------------------------ */
/* Opaque handles                                                     */

typedef struct infra_call infra_call;           /* one host->plugin call: resource, token, cancellation */
typedef struct infra_json infra_json;           /* a JSON value owned by the host's JSON service */
typedef struct infra_secret infra_secret;       /* a secret value, zeroised when freed */
typedef struct infra_ssh infra_ssh;             /* an SSH session opened by the host */
typedef struct infra_provider infra_provider;   /* a provider plugin's own context */
typedef struct infra_scheduler infra_scheduler; /* a scheduler plugin's own context */

/* ------------------------------------------------------------------ */
/* Host services                                                      */

/* Log levels for infra_host.log. */
#define INFRA_LOG_DEBUG 0 /* developer detail, shown with -v */
#define INFRA_LOG_INFO 1  /* progress a user may want to see */
#define INFRA_LOG_WARN 2  /* something odd that did not stop the call */

/* Diagnostic severities for infra_host.diag. */
#define INFRA_DIAG_WARNING 1 /* reported, the run goes on */
#define INFRA_DIAG_ERROR 2   /* reported, the call is expected to fail */

/* JSON value types returned by infra_json_api.type. */
#define INFRA_JSON_NULL 0   /* null, or a NULL handle */
#define INFRA_JSON_BOOL 1   /* true or false */
#define INFRA_JSON_INT 2    /* integer (int64) */
#define INFRA_JSON_REAL 3   /* floating point */
#define INFRA_JSON_STRING 4 /* UTF-8 string */
#define INFRA_JSON_ARRAY 5  /* ordered list */
#define INFRA_JSON_OBJECT 6 /* string-keyed map */
#define INFRA_JSON_UNKNOWN 7 /* ABI 1.2: a value known only after apply (see below) */

/* The JSON service. Values returned "new" are owned by the caller and freed
 * with release(); values returned by get/at/next are borrowed from their
 * parent and read-only (since ABI 1.2 they are const: a value the host
 * hands to a plugin must not be changed; to change a value of your own in
 * place, reach into it with get_mutable/at_mutable).
 *
 * Unknown values (ABI 1.2): where a value depends on something not yet
 * made ("${instance.web.private_ip}" before the instance exists), the host
 * passes a value of type INFRA_JSON_UNKNOWN instead, never the template
 * text. validate sees an unknown for every attribute holding a reference;
 * plan sees one for every reference to what is not created yet; apply,
 * read and the scheduler ops never see one. A plugin's plan may put
 * new_unknown() where it only learns a value by applying (an id, an
 * address). string/integer/real/boolean of an unknown are NULL/0, and
 * equal() is 1 only between two unknowns. */
typedef struct infra_json_api {
    size_t size;                                                  /* sizeof(infra_json_api) as the host built it */
    infra_json *(*parse)(const char *text, size_t len);           /* new value, or NULL when text is not JSON */
    char *(*dump)(const infra_json *value);                       /* compact text, free with host->free */
    void (*release)(infra_json *value);                           /* drop a reference; NULL is ignored */
    int (*type)(const infra_json *value);                         /* one of INFRA_JSON_* */
    const infra_json *(*get)(const infra_json *object, const char *key); /* borrowed member, or NULL */
    size_t (*length)(const infra_json *value);                    /* elements of an array or members of an object */
    const infra_json *(*at)(const infra_json *array, size_t index); /* borrowed element, or NULL */
    int (*next)(const infra_json *object, void **iter, const char **key,
                const infra_json **value);                       /* iterate members: *iter = NULL first; 0 at end */
    const char *(*string)(const infra_json *value);               /* borrowed text, NULL unless a string */
    int64_t (*integer)(const infra_json *value);                  /* integer value, 0 unless a number */
    double (*real)(const infra_json *value);                      /* numeric value as double, 0 unless a number */
    int (*boolean)(const infra_json *value);                      /* 1 for true, 0 otherwise */
    infra_json *(*new_object)(void);                              /* new empty object */
    infra_json *(*new_array)(void);                               /* new empty array */
    infra_json *(*new_string)(const char *text);                  /* new string (copied), NULL if not UTF-8 */
    infra_json *(*new_integer)(int64_t value);                    /* new integer */
    infra_json *(*new_real)(double value);                        /* new real */
    infra_json *(*new_bool)(int value);                           /* new boolean */
    infra_json *(*new_null)(void);                                /* new null */
    int (*set)(infra_json *object, const char *key, infra_json *value); /* takes value; 0 or INFRA_EINVALID */
    int (*append)(infra_json *array, infra_json *value);          /* takes value; 0 or INFRA_EINVALID */
    int (*remove)(infra_json *object, const char *key);           /* 0, or INFRA_ENOTFOUND */
    infra_json *(*copy)(const infra_json *value);                 /* new deep copy */
    int (*equal)(const infra_json *a, const infra_json *b);       /* 1 when a and b hold the same value */
    /* ABI 1.2 */
    infra_json *(*new_unknown)(void);                             /* new value known only after apply */
    infra_json *(*get_mutable)(infra_json *object, const char *key); /* borrowed member of a value you own, to change in place */
    infra_json *(*at_mutable)(infra_json *array, size_t index);   /* borrowed element of a value you own, to change in place */
} infra_json_api;

/* One HTTP request. Build it zeroed, set size = sizeof(infra_http_request). */
typedef struct infra_http_request {
    size_t size;                 /* sizeof(infra_http_request) as the caller built it */
    const char *method;          /* "GET", "POST", "PUT", "DELETE", ... */
    const char *url;             /* absolute http:// or https:// URL */
    const char *const *headers;  /* NULL-terminated "Name: value" lines, or NULL */
    const char *body;            /* request body, or NULL */
    size_t body_len;             /* bytes of body */
    long timeout_ms;             /* whole-request timeout; 0 = host default (60 s) */
    int max_attempts;            /* attempts on transient failure; 0 = host default (5) */
    int retry_non_idempotent;    /* 1: also retry POST on 5xx (safe with an idempotency token) */
    const char *ca_file;         /* extra CA bundle (PEM) to trust, or NULL; verification stays on */
    const char *redact;          /* a value to hide from logs and errors (a token), or NULL */
    /* ABI 1.1 */
    const char *ca_pem;          /* extra CA certificates (PEM text) to trust, or NULL; verification stays on */
} infra_http_request;

/* One HTTP response; free with infra_http_api.response_free. */
typedef struct infra_http_response {
    size_t size;            /* sizeof(infra_http_response) as the host built it */
    long status;            /* HTTP status code of the last attempt */
    char *body;             /* body, NUL-terminated for convenience */
    size_t body_len;        /* bytes of body without the terminator */
    char **headers;         /* NULL-terminated "name: value" lines, names lower-cased */
    int attempts;           /* how many attempts were made */
} infra_http_response;

/* The HTTP service: libcurl underneath, TLS verified, timeouts, retries with
 * exponential backoff and jitter on transient errors, Retry-After honoured.
 * Since ABI 1.3 a request to the address of a node behind a bastion goes
 * through the bastion (ssh->tunnel), TLS still verified against the URL's
 * host. */
typedef struct infra_http_api {
    size_t size;  /* sizeof(infra_http_api) as the host built it */
    int (*request)(infra_call *call, const infra_http_request *req,
                   infra_http_response **out); /* 0 when an HTTP answer came (any status); else INFRA_E* */
    void (*response_free)(infra_http_response *resp);        /* free a response; NULL is ignored */
    const char *(*header)(const infra_http_response *resp,
                          const char *name);                 /* borrowed value of a header (case-insensitive), or NULL */
} infra_http_api;

/* Connection parameters for infra_ssh_api.connect. */
typedef struct infra_ssh_target {
    size_t size;                 /* sizeof(infra_ssh_target) as the caller built it */
    const char *host;            /* address or name */
    int port;                    /* 0 = 22 */
    const char *user;            /* login user */
    const char *private_key;     /* key file path, or NULL for the agent */
    const char *host_key_sha256; /* expected "SHA256:..." fingerprint, or NULL for known_hosts */
    long deadline_ms;            /* keep retrying to connect until this many ms have passed */
} infra_ssh_target;

/* The SSH service (libssh2): strict host-key checking, exec, upload. */
typedef struct infra_ssh_api {
    size_t size; /* sizeof(infra_ssh_api) as the host built it */
    int (*connect)(infra_call *call, const infra_ssh_target *target,
                   infra_ssh **out); /* 0, INFRA_EAUTH on a host-key or login refusal, INFRA_ETRANSIENT on deadline */
    int (*exec)(infra_ssh *ssh, const char *command, int *exit_status, char **out_stdout,
                char **out_stderr); /* run one command; outputs freed with host->free (may be NULL) */
    int (*upload)(infra_ssh *ssh, const char *path, const void *data, size_t len,
                  int mode);        /* write a file over SFTP with the given mode */
    void (*close)(infra_ssh *ssh);  /* close the session; NULL is ignored */
    /* ABI 1.1 */
    int (*exec_sudo)(infra_ssh *ssh, const char *command, int *exit_status, char **out_stdout,
                     char **out_stderr); /* exec as root: through "sudo -n" unless the login user is root */
    /* ABI 1.2: exec and upload as part of a call. They stop with
     * INFRA_ECANCELLED when the call is cancelled or its deadline passes,
     * and report why they failed ("connection reset", "sudo: a password is
     * required") through host->diag of that call. Prefer them to exec,
     * exec_sudo and upload, which cannot be interrupted. */
    int (*run)(infra_call *call, infra_ssh *ssh, const char *command, int as_root,
               int *exit_status, char **out_stdout,
               char **out_stderr); /* 0 once the command ran (any exit status); as_root: through "sudo -n" unless root */
    int (*write_file)(infra_call *call, infra_ssh *ssh, const char *path, const void *data,
                      size_t len, int mode); /* write a file over SFTP with the given mode */
    /* ABI 1.3: a TCP port of a node behind a bastion (ssh.bastion of a
     * NODE), for what is not HTTP (a probe, ZooKeeper's four-letter
     * words); http->request routes to such a node by itself. */
    int (*tunnel)(infra_call *call, const char *host, int port,
                  int *local_port); /* 0: 127.0.0.1:*local_port reaches host:port through host's bastion, and host:port accepted a connection just now; INFRA_ENOTFOUND: host has no bastion, connect directly; INFRA_ETRANSIENT: the bastion could not reach host:port */
} infra_ssh_api;

/* Encodings of infra_secret_api.generate. */
#define INFRA_SECRET_HEX 0    /* lowercase hexadecimal */
#define INFRA_SECRET_BASE64 1 /* standard base64 with padding (Nomad/Consul gossip keys) */

/* The secrets service: values never reach state or logs. Secrets a plugin
 * generates or sets are kept in the secrets file beside the state
 * (NAME.ENV.secrets.json, mode 0600), never in the state itself. */
typedef struct infra_secret_api {
    size_t size; /* sizeof(infra_secret_api) as the host built it */
    int (*get)(infra_call *call, const char *name,
               infra_secret **out); /* a named secret (environment or secrets file); INFRA_ENOTFOUND */
    infra_secret *(*wrap)(const char *value); /* new secret holding a copy of value */
    const char *(*value)(const infra_secret *secret); /* borrowed text, valid until free */
    void (*free)(infra_secret *secret);               /* zeroise and free; NULL is ignored */
    /* ABI 1.1 */
    int (*generate)(infra_call *call, const char *name, size_t bytes, int encoding,
                    infra_secret **out); /* the named secret, made from `bytes` random bytes when missing; out may be NULL */
    int (*set)(infra_call *call, const char *name,
               const char *value); /* keep a value (a token a server issued) under name; 0 or INFRA_EINVALID */
} infra_secret_api;

/* The host table, handed to the entry function and valid until unload. */
typedef struct infra_host {
    size_t size;                 /* sizeof(infra_host) as the host built it */
    unsigned int abi_major;      /* INFRA_ABI_MAJOR of the host */
    unsigned int abi_minor;      /* INFRA_ABI_MINOR of the host */
    const char *host_version;    /* infra's version string */
    void *(*alloc)(size_t len);  /* allocate memory the host will free */
    void (*free)(void *ptr);     /* free memory the host allocated */
    char *(*strdup)(const char *text); /* copy a string with host->alloc */
    void (*log)(infra_call *call, int level, const char *message); /* log a line (secrets must not be passed) */
    void (*diag)(infra_call *call, int severity, const char *attr_path,
                 const char *message); /* report a problem at an attribute path ("tags.Name", "" = whole resource) */
    int (*cancelled)(infra_call *call); /* 1 when the call should stop as soon as it safely can */
    const char *(*call_address)(infra_call *call); /* resource address ("instance.web[0]"), or "" */
    const char *(*call_token)(infra_call *call);   /* idempotency token for a create, or NULL */
    int64_t (*now_ms)(void);                       /* monotonic clock in milliseconds */
    int (*sleep_ms)(infra_call *call, int64_t ms); /* sleep; INFRA_ECANCELLED if cancelled meanwhile */
    const infra_json_api *json;                    /* JSON values */
    const infra_http_api *http;                    /* HTTP client */
    const infra_ssh_api *ssh;                      /* SSH client */
    const infra_secret_api *secrets;               /* secrets */
    /* ABI 1.1 */
    const char *(*call_topology)(infra_call *call);    /* topology name ("clickcount"), or "" */
    const char *(*call_environment)(infra_call *call); /* environment ("prod"; "default" without -e), or "" */
    /* ABI 1.2 */
    int64_t (*call_deadline_ms)(infra_call *call); /* now_ms() instant the call must return by, or 0 for none */
    int (*call_resuming)(infra_call *call); /* 1: call_token was recorded by an earlier, interrupted run, or this is a retry after INFRA_ETRANSIENT, so the object may exist already: look it up before creating; 0: the token is new in this run */
} infra_host;

/* ------------------------------------------------------------------ */
/* Provider plugins                                                   */

/*
 * Schema (returned by infra_provider_ops.schema) is a JSON object:
 *   { "settings":  { ATTR... },                  provider settings
 *     "resources": { TYPE: { "attributes": { ATTR... } } } }
 * where ATTR is  NAME: { "type": "string|integer|number|bool|list|map|any",
 *                        "required": bool, "computed": bool, "force_new": bool,
 *                        "sensitive": bool, "description": "..." }
 * and a resource type may carry "version": N (an integer, default 0): the
 * version of the attributes the plugin writes for it. The host records it
 * with every resource and calls upgrade_state(from_version) when the state
 * holds an older one. Before a plugin sees a value, the host converts it to
 * the attribute's declared type ("3" for an integer, 1 for a string) or
 * refuses it at the YAML line.
 *
 * Which ops run in which command:
 *   validate  schema, validate                (no network, no configure)
 *   plan      + configure, read/read_many (refresh), plan (every create,
 *             update and replace)
 *   up        + apply, and stop on the first interrupt
 *   status    configure, read/read_many, plan (to tell drift that matters)
 *   down      configure, read (objects of interrupted creates), apply(delete)
 *   import    configure, import, read
 * Every op call has a deadline (call_deadline_ms; per provider `timeout:`);
 * a call still running past it is abandoned and the run stops.
 */

/* One resource of a read_many call (ABI 1.2). The host fills the inputs;
 * the plugin sets out and result for every item. */
typedef struct infra_read_item {
    size_t size;                /* sizeof(infra_read_item) as the host built it */
    infra_call *call;           /* this resource's call: address, token, diagnostics */
    const infra_json *state;    /* attributes recorded, as for read(); NULL: look up by call_token */
    const void *private_in;     /* the private blob stored with the resource, or NULL */
    size_t private_in_len;      /* bytes of private_in */
    infra_json *out;            /* set by the plugin: the object's attributes now (host frees) */
    int result;                 /* set by the plugin: 0, INFRA_ENOTFOUND when gone, or INFRA_E* */
} infra_read_item;

/* Provider operations. Every op receives the call handle first. */
typedef struct infra_provider_ops {
    size_t size; /* sizeof(infra_provider_ops) as the plugin built it */
    int (*schema)(infra_call *call, infra_json **out); /* describe settings and resource types */
    int (*validate)(infra_call *call, const char *type,
                    const infra_json *config); /* offline checks of one resource's config */
    int (*configure)(infra_call *call, const infra_json *settings,
                     infra_provider **out); /* create a context from provider settings */
    int (*plan)(infra_provider *self, infra_call *call, const char *type,
                const infra_json *prior, const infra_json *desired, infra_json **planned,
                infra_json **requires_replace); /* prior NULL = create; planned state and array of attrs forcing replace */
    int (*apply)(infra_provider *self, infra_call *call, const char *type,
                 const infra_json *prior, const infra_json *planned,
                 const void *private_in, size_t private_in_len, infra_json **new_state,
                 void **private_out, size_t *private_out_len); /* prior NULL = create, planned NULL = delete */
    int (*read)(infra_provider *self, infra_call *call, const char *type,
                const infra_json *state, const void *private_in, size_t private_in_len,
                infra_json **out); /* refresh; state NULL = look up by call_token; INFRA_ENOTFOUND when gone */
    int (*import)(infra_provider *self, infra_call *call, const char *type, const char *id,
                  infra_json **out); /* adopt an existing object by its cloud id */
    int (*upgrade_state)(infra_provider *self, infra_call *call, const char *type,
                         int from_version, const infra_json *state,
                         infra_json **out); /* convert state written by an older plugin version */
    void (*stop)(infra_provider *self);  /* ask in-flight calls to return soon (thread-safe) */
    void (*close)(infra_provider *self); /* free the context */
    /* ABI 1.2 */
    int (*read_many)(infra_provider *self, infra_call *call, const char *type,
                     infra_read_item *items,
                     size_t count); /* refresh count resources of one type in as few API calls as the cloud allows (one paged list or describe); sets every item's out/result and returns 0, or an INFRA_E* that fails the whole batch */
} infra_provider_ops;

/* ------------------------------------------------------------------ */
/* Scheduler plugins                                                  */

/*
 * Scheduler operations. The host describes a cluster to the plugin as JSON:
 *
 *   { "name": "main", "scheduler": "nomad", "environment": "prod",
 *     "settings": { ...the cluster's own keys from the topology... },
 *     "regions": { R: { "datacenters": { DC: { "provider": "aws-us",
 *                       "settings": {...}, "node_settings": {...},
 *                       "servers": [NODE], "clients": [NODE] } } } },
 *     "federate": [R, ...] }
 *
 * listing every node the host knows to exist at the time of the call (a node
 * being created later is absent). A datacenter's "settings" are its nodes'
 * instance attributes; its "node_settings" ({} when not given) what the
 * topology tells the scheduler about those nodes. NODE is
 *
 *   { "address": "cluster.main.europe.dc-a.server[0]",  the instance's resource address
 *     "name": "main-europe-dc-a-server-0",              unique node name
 *     "role": "server" | "client", "region", "datacenter", "index": 0,
 *     "client": true,                                   only on a server that is also a
 *                                                       client (`servers: {client: true}`)
 *     "id", "private_ip", "public_ip", "hostname",      from the instance (may be null)
 *     "ssh": { "host", "port", "user", "private_key" (a path),
 *              "host_key_sha256" ("SHA256:..." or null: use known_hosts),
 *              "bastion" (only when the topology gives one: the same keys
 *              for the jump host, or null while it does not exist) } }
 *
 * A node behind a bastion has its private_ip as ssh.host; host->ssh->connect
 * to that host, port and host key goes through the bastion by itself (both
 * hops' host keys checked), so a plugin connects to it like to any node.
 * Its HTTP APIs are reached the same way (ABI 1.3): host->http->request to
 * its private_ip goes through the bastion, and host->ssh->tunnel gives a
 * loopback port for any other TCP.
 *
 * A job (or app) is
 *
 *   { "name": "clickcount", "kind": "job" | "app", "id": the id to submit under
 *     (the topology key, or set.name), "regions": [R, ...], "file": absolute path,
 *     "format": "json" | "hcl", "content": the file's text,
 *     "set": { "image_tag": "1.0", "count": 3, ... } }
 *
 * Long operations poll with host->sleep_ms and return INFRA_ECANCELLED when
 * it does. Errors name what is missing ("region us: no leader after 120 s:
 * servers 10.0.0.5, 10.0.0.6 answered, 10.0.0.7 did not").
 */
typedef struct infra_scheduler_ops {
    size_t size; /* sizeof(infra_scheduler_ops) as the plugin built it */
    int (*schema)(infra_call *call, infra_json **out); /* describe cluster and job settings */
    int (*validate)(infra_call *call, const infra_json *cluster); /* offline checks of a cluster */
    int (*configure)(infra_call *call, const infra_json *settings,
                     infra_scheduler **out); /* create a context */
    int (*node_bootstrap)(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                          const infra_json *node); /* render configs, upload, (re)start agents whose config changed; 0 once they answer */
    int (*wait_ready)(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                      const char *region, int64_t deadline_ms); /* leader elected, every node of the region listed in cluster ready; give up after deadline_ms ms */
    int (*federate)(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                    const char *region_a, const char *region_b); /* join two regions and verify both see each other */
    int (*job_submit)(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                      const infra_json *job, infra_json **status); /* submit to job.regions, wait for the deployments; status {"regions": {R: {...}}} */
    int (*job_status)(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                      const char *job_id, infra_json **status); /* health in every region; INFRA_ENOTFOUND when no region has it */
    int (*job_stop)(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                    const char *job_id); /* stop (deregister) the job in every region that has it */
    void (*close)(infra_scheduler *self); /* free the context */
    /* ABI 1.1 */
    int (*node_remove)(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                       const infra_json *node); /* before a node is destroyed: drain a client, make a server leave, stop agents */
    int (*cluster_status)(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                          infra_json **out); /* {"regions": {R: {"leader", "servers": [...], "clients": [...], "jobs": [...], "env": ENV}}} */
    /* ENV (optional, any ABI 1.1 plugin may add it): what the scheduler's own
     * command line tools need to reach region R, as `infra env` prints it:
     *   {"NOMAD_ADDR": {"value": "https://10.0.0.5:4646"},
     *    "NOMAD_TOKEN": {"secret": "nomad.main.nomad_management_token"},
     *    "NOMAD_CACERT": {"secret_file": "nomad.main.ca.cert"}}
     * "value" is the variable's text; "secret" names a secret (secret_api.get)
     * whose value the variable takes; "secret_file" names a secret written to
     * a 0600 file under the state directory, the variable taking its path.
     * Secret values never appear in the status itself (it is printed). */
    /* ABI 1.3: client pools, a datacenter's clients run by the cloud's
     * autoscaling (its "pool" in the cluster JSON: {"resource":
     * "autoscaling_group.workers", "cloud": "aws", "cloud_region": ...}).
     * Their instances configure themselves from user data and join without
     * infra logging in to them. */
    int (*pool_user_data)(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                          const char *region, const char *datacenter,
                          infra_secret **out); /* the instances' user data (holds secrets: a secret, never logged); the same text for the same cluster and keys */
    int (*pool_wait)(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                     const char *region, const char *datacenter, const infra_json *instances,
                     int64_t expected, int64_t deadline_ms); /* until expected clients of the pool are ready, instances ([{"id", "private_ip"}] of the group) among them; give up after deadline_ms ms naming what is missing */
    int (*pool_drain)(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                      const char *region, const char *datacenter, const char *private_ip,
                      int64_t deadline_ms); /* before the pool instance at private_ip is terminated: drain its client, wait until done; 0 when nothing runs there */
} infra_scheduler_ops;

/* ------------------------------------------------------------------ */
/* The descriptor                                                     */

#define INFRA_PLUGIN_PROVIDER 1  /* the plugin provides resources */
#define INFRA_PLUGIN_SCHEDULER 2 /* the plugin runs a scheduler on instances */

/* Capability bits. */
#define INFRA_CAP_IMPORT (1u << 0)          /* import() is meaningful */
#define INFRA_CAP_TOKEN_CREATE (1u << 1)    /* create honours call_token: a retried create never duplicates */
#define INFRA_CAP_READ_BY_TOKEN (1u << 2)   /* read(state = NULL) finds an object by its token */
#define INFRA_CAP_CONCURRENT (1u << 3)      /* ops may be called from several threads at once */
#define INFRA_CAP_HOST_SLOTS_CHECKED (1u << 4) /* ABI 1.2: the plugin checks INFRA_HAS_SLOT before every host slot it uses, so a host of an older ABI minor may load it */

/* Sizes of basic types the plugin was compiled with. */
typedef struct infra_build_sig {
    unsigned char pointer_size; /* sizeof(void *) */
    unsigned char size_t_size;  /* sizeof(size_t) */
    unsigned char time_t_size;  /* sizeof(time_t) */
    unsigned char reserved;     /* zero */
} infra_build_sig;

/* Initialiser for infra_build_sig matching the compiling toolchain. */
#define INFRA_BUILD_SIG_INIT                                                   \
    { (unsigned char)sizeof(void *), (unsigned char)sizeof(size_t),            \
      (unsigned char)sizeof(time_t), 0 }

/* What the entry function hands back; static storage in the plugin. */
typedef struct infra_plugin {
    uint32_t magic;                       /* INFRA_PLUGIN_MAGIC */
    uint16_t abi_major;                   /* INFRA_ABI_MAJOR the plugin was built against */
    uint16_t abi_minor;                   /* INFRA_ABI_MINOR the plugin was built against */
    size_t size;                          /* sizeof(infra_plugin) as the plugin built it */
    int kind;                             /* INFRA_PLUGIN_PROVIDER or INFRA_PLUGIN_SCHEDULER */
    const char *name;                     /* plugin name used in topologies ("aws") */
    const char *version;                  /* plugin version ("1.2.0") */
    infra_build_sig build;                /* INFRA_BUILD_SIG_INIT */
    uint32_t capabilities;                /* INFRA_CAP_* bits */
    const infra_provider_ops *provider;   /* ops when kind is PROVIDER, else NULL */
    const infra_scheduler_ops *scheduler; /* ops when kind is SCHEDULER, else NULL */
} infra_plugin;

/* Type of the entry function. Return 0 and set *out, or a negative INFRA_E*.
 * The host table is the plugin's own copy, valid until unload. */
typedef int infra_plugin_entry_func(const infra_host *host, const infra_plugin **out);
/* A pointer to it, as the loader holds it. */
typedef infra_plugin_entry_func *infra_plugin_entry_fn;

#ifndef INFRA_PLUGIN_NO_ENTRY_DECLARATION
/* The entry function every plugin defines (with INFRA_PLUGIN_EXPORT). This
 * declaration turns a definition with another signature into a compile
 * error. */
INFRA_PLUGIN_EXPORT infra_plugin_entry_func infra_plugin_entry;
#endif

#ifdef __cplusplus
}
#endif

#endif /* INFRA_PLUGIN_H */
