/* Helpers shared by the in-tree plugins (local, aws, nomad and the test
 * plugins): memory that aborts when it runs out, a growable string,
 * printf-style diagnostics and logs through the host, JSON getters and
 * setters over host->json, schema tables, whole-file reads, hex and
 * FNV-1a.
 *
 * A static library linked into each plugin and hidden inside it: every
 * plugin has its own copy, its own pu_host, and nothing here is part of
 * the plugin ABI or installed. It uses only <infra/plugin.h> and the C
 * library, like the plugins themselves. */
#ifndef PLUGIN_UTIL_H
#define PLUGIN_UTIL_H

#include <infra/plugin.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* plugin_mem.c: the host table, memory, text                         */

/* The host table given to the entry function; valid until unload. */
extern const infra_host *pu_host;

/* Keeps host for every pu_* function and who ("aws provider") for the
 * out-of-memory message. Called by the entry function (and by unit tests
 * that hand the plugin's sources a host of their own). */
void pu_init(const infra_host *host, const char *who);

/* Allocation that aborts the process when memory is out, like the host's:
 * a plugin has no better answer, and every caller would otherwise carry
 * an untestable error path. A zero size is allocated as one byte. */
void *pu_malloc(size_t len);
void *pu_calloc(size_t n, size_t len);
void *pu_realloc(void *ptr, size_t len);
/* A copy of s (caller frees); NULL is copied as "". */
char *pu_strdup(const char *s);
/* A copy of at most n bytes of s, NUL-terminated (caller frees). */
char *pu_strndup(const char *s, size_t n);
/* printf into a new string (caller frees). */
char *pu_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *pu_vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* ------------------------------------------------------------------ */
/* plugin_buf.c: a growable string                                    */

/* A NUL-terminated string that grows; start it zeroed, free data with
 * free() or take it. data stays NULL until something is put. Appending
 * aborts when memory is out, like pu_malloc. */
typedef struct pu_buf {
    char *data;
    size_t len;
    size_t cap;
} pu_buf;
void pu_buf_put(pu_buf *b, const char *s, size_t len);
void pu_buf_puts(pu_buf *b, const char *s);
void pu_buf_printf(pu_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text ("" when nothing was put), owned by the caller; b is reset. */
char *pu_buf_take(pu_buf *b);

/* ------------------------------------------------------------------ */
/* plugin_diag.c: diagnostics and logs through the host               */

/* An error diagnostic at attr (NULL or "" = the whole object), printf-style. */
void pu_diagf(infra_call *call, const char *attr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A warning diagnostic at attr. */
void pu_warnf(infra_call *call, const char *attr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A log line at level (INFRA_LOG_*), printf-style. Never pass a secret. */
void pu_logf(infra_call *call, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------ */
/* plugin_json.c: JSON through host->json                             */

/* Member key of obj as a string, or NULL when obj is not an object or
 * the member is missing or not a string. Borrowed. */
const char *pu_json_str(const infra_json *obj, const char *key);
/* An integer from an integer value or a decimal string (no overflow). 0
 * or INFRA_EINVALID. */
int pu_json_to_int(const infra_json *v, long *out);
/* A boolean from a bool or "true"/"false". 0 or INFRA_EINVALID. */
int pu_json_to_bool(const infra_json *v, int *out);

/* Sets obj[key] to value, which it takes (also on failure). 0, or
 * INFRA_EINTERNAL when value is NULL (a constructor failed) or obj is
 * not an object. */
int pu_json_set(infra_json *obj, const char *key, infra_json *value);
/* Sets obj[key] to a new string; a NULL value sets null. 0 or
 * INFRA_EINTERNAL (also for text that is not UTF-8). */
int pu_json_set_str(infra_json *obj, const char *key, const char *value);
/* The same for an integer and a boolean. */
int pu_json_set_int(infra_json *obj, const char *key, int64_t value);
int pu_json_set_bool(infra_json *obj, const char *key, int value);
/* Sets obj[key] to a copy of value (null when value is NULL). */
int pu_json_set_copy(infra_json *obj, const char *key, const infra_json *value);

/* 1 when v is the unknown value (INFRA_JSON_UNKNOWN): what validate and
 * plan receive for a value only known after apply. It cannot be checked
 * offline; its string is NULL, so pu_json_str() never returns one. */
int pu_is_unknown(const infra_json *v);
/* 1 when v is or holds (in a list or map) an unknown value. */
int pu_json_has_unknown(const infra_json *v);

/* ------------------------------------------------------------------ */
/* plugin_schema.c: attribute tables and the schema document          */

#define PU_ATTR_REQUIRED 1u
#define PU_ATTR_COMPUTED 2u          /* set by the provider only */
#define PU_ATTR_FORCE_NEW 4u         /* a change replaces the object */
#define PU_ATTR_OPTIONAL_COMPUTED 8u /* set by the user, or computed when not */
#define PU_ATTR_SENSITIVE 16u        /* kept out of the state by the engine */

/* One attribute of a resource type (or of the settings). */
typedef struct pu_attr {
    const char *name;
    const char *type; /* "string", "integer", "bool", "list", "map", "any" */
    unsigned flags;   /* PU_ATTR_* */
    const char *description;
} pu_attr;

/* A resource type: its attributes, in the order diagnostics list them. */
typedef struct pu_type {
    const char *name;
    const pu_attr *attrs;
    size_t nattrs;
    int data_source; /* looked up, never created */
} pu_type;

/* Flags of pu_schema.flags. */
#define PU_SCHEMA_DATA_SOURCE 1u /* each type says "data_source": true|false */

/* A provider's whole schema and how its diagnostics name its types. */
typedef struct pu_schema {
    const char *provider;    /* "the PROVIDER provider has no resource type X": "local" */
    const pu_type *settings; /* the provider settings as a pseudo type */
    const pu_type *types;
    size_t ntypes;
    const char *unknown_of; /* "unknown attribute X of UNKNOWN_OF TYPE": "a local", "an aws" */
    const char *needs;      /* "NEEDS TYPE needs X" (and "... must be described by a map"): "a" */
    unsigned flags;         /* PU_SCHEMA_* */
} pu_schema;

/* The type called name, or NULL (borrowed from the table). */
const pu_type *pu_type_find(const pu_schema *s, const char *name);
/* The attribute called name of t, or NULL (borrowed from the table). */
const pu_attr *pu_attr_find(const pu_type *t, const char *name);
/* {NAME: {"type", "required", "computed", "force_new", "sensitive",
 * "description"}} for the attributes of t; *out is a new value. 0 or
 * INFRA_EINTERNAL. */
int pu_schema_attrs(const pu_type *t, infra_json **out);
/* {"settings": ATTRS, "resources": {TYPE: {"attributes": ATTRS}}} (each
 * type with "data_source" too under PU_SCHEMA_DATA_SOURCE), the document
 * infra_provider_ops.schema returns; *out is a new value. 0 or
 * INFRA_EINTERNAL. */
int pu_schema_build(const pu_schema *s, infra_json **out);
/* Checks config's keys, value types and required attributes against t,
 * one diagnostic per problem. Computed attributes are refused unless
 * allow_computed; unknown values pass. 0 or INFRA_EINVALID. */
int pu_check_attrs(infra_call *call, const pu_schema *s, const pu_type *t, const infra_json *config,
                   int allow_computed);

/* Refuses every key of the map obj (an element of a list attribute, at
 * attr such as "routes[0]") that keys, a NULL-ended list, does not name:
 * one diagnostic "attr.KEY: ... not supported by the PROVIDER provider"
 * per key, so that nothing a provider would ignore passes validate. A
 * value that is not a map passes. 0 or INFRA_EINVALID. */
int pu_check_keys(infra_call *call, const char *provider, const char *attr, const infra_json *obj,
                  const char *const *keys);
/* pu_check_keys on every map element of config's list attribute name
 * (at "name[i]"); anything else passes. 0 or INFRA_EINVALID. */
int pu_check_list_keys(infra_call *call, const char *provider, const infra_json *config,
                       const char *name, const char *const *keys);

/* The start of a provider's plan(): *t is the resource type, *replace a
 * new empty array (the attributes forcing a replacement), *plan a new
 * copy of desired, NULL when desired is NULL (a delete). 0;
 * INFRA_ENOTSUP for an unknown type and INFRA_EINVALID for a desired
 * state that is not a map, both with a diagnostic; INFRA_EINTERNAL.
 * On error *plan and *replace are NULL. */
int pu_plan_begin(infra_call *call, const pu_schema *s, const char *type, const infra_json *desired,
                  const pu_type **t, infra_json **plan, infra_json **replace);

/* ------------------------------------------------------------------ */
/* plugin_file.c, plugin_text.c: files, hex, hashes                   */

/* Flags of pu_read_file. */
#define PU_FILE_SECRET 1u /* the text may hold a secret: zeroise what is dropped */

/* Reads the whole file at path into *out (NUL-terminated, caller frees)
 * and its length into *len (may be NULL). 0; INFRA_ENOTFOUND when path
 * or a parent is missing; INFRA_EINTERNAL otherwise, with errno set. */
int pu_read_file(const char *path, unsigned flags, char **out, size_t *len);
/* Writes all of data to fd, again after EINTR. 0, or -1 with errno set. */
int pu_write_all(int fd, const char *data, size_t len);

/* Lowercase hex of len bytes into out (2 * len + 1 bytes, NUL-terminated). */
void pu_hex_encode(const void *data, size_t len, char *out);
/* 64-bit FNV-1a of len bytes: stable across runs, for ids made from tokens. */
uint64_t pu_fnv1a(const void *data, size_t len);

#endif
