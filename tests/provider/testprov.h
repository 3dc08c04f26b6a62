/* The "test" provider: resources are JSON files in a directory, with knobs
 * that inject latency, failures and crashes. Shared between its files only;
 * the plugin sees nothing of infra but <infra/plugin.h> (and the in-tree
 * plugins' helpers of plugins/common, which see only that too). */
#ifndef TESTPROV_H
#define TESTPROV_H

#include <infra/plugin.h>

#include "plugin_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The host's JSON service (pu_host is the host table, plugin_util.h). */
#define TPJ (pu_host->json)

/* Fault injection and pacing, parsed from the provider settings. */
typedef struct testprov_knobs {
    int64_t latency_ms;
    char **fail; /* addresses whose create/update fails */
    size_t nfail;
    char **fail_transient; /* addresses whose first create/update is transient */
    unsigned char *transient_done;
    size_t nfail_transient;
    char **misbehave; /* "MODE OP ADDRESS": hang, exit, garbage, bad_type (testprov_misbehave) */
    size_t nmisbehave;
    long crash_at;    /* 0 = never */
    int crash_before; /* 1: before the work, 0: after it */
    int64_t max_parallel;
    int largest_size; /* 0 any, else 1 small, 2 medium, 3 large: plan refuses bigger ones */
    pthread_mutex_t lock; /* guards transient_done */
} testprov_knobs;

struct infra_provider {
    char *dir;
    int calls_fd; /* DIR/calls.log, O_APPEND */
    testprov_knobs knobs;
    atomic_int stopped;
};

/* --- testprov_schema.c ---------------------------------------------- */

/* The settings and resource types (image is a data source). */
extern const pu_schema testprov_schema_table;

/* Builds the schema document; *out is a new JSON value. 0 or INFRA_EINTERNAL. */
int testprov_schema(infra_call *call, infra_json **out);

/* Offline checks of one resource config, diagnostics through the host.
 * 0, INFRA_ENOTSUP for an unknown type, INFRA_EINVALID for a bad value. */
int testprov_validate(infra_call *call, const char *type, const infra_json *config);

/* --- testprov_knobs.c ----------------------------------------------- */

/* Reads latency_ms, fail, fail_transient, crash_at, crash_when and
 * max_parallel from settings into k (zeroed by the caller). Bad values are
 * reported with host->diag and give INFRA_EINVALID. Free with
 * testprov_knobs_free, also on failure. */
int testprov_knobs_parse(infra_call *call, const infra_json *settings, testprov_knobs *k);
void testprov_knobs_free(testprov_knobs *k);

/* 1, 2, 3 for "small", "medium", "large"; 0 for anything else. */
int testprov_size_rank(const char *size);

/* Sleeps latency_ms in slices, returning INFRA_ECANCELLED as soon as the
 * call is cancelled or the provider stopped. 0 otherwise. */
int testprov_latency(infra_provider *p, infra_call *call);

/* Starts a mutating call: returns its process-wide sequence number (1, 2,
 * ...) and kills the process when it is crash_at with crash_when "before". */
long testprov_mutation_begin(infra_provider *p);

/* Ends mutating call n: kills the process when n is crash_at with
 * crash_when "after" (the work is done, the answer not yet returned). */
void testprov_mutation_end(infra_provider *p, long n);

/* The injected outcome for a create/update of address: 0, INFRA_EINVALID
 * (listed in fail) or INFRA_ETRANSIENT (first call for an address listed in
 * fail_transient), with a diagnostic when not 0. */
int testprov_injected_failure(infra_provider *p, infra_call *call, const char *address);

/* What the plugin does wrong for op ("create", "update", "delete", "read",
 * "plan") on address, from the `misbehave` setting: */
typedef enum testprov_fault {
    TESTPROV_FAULT_NONE = 0,
    TESTPROV_FAULT_HANG,     /* never returns, not even when cancelled (it logs "cancelled") */
    TESTPROV_FAULT_EXIT,     /* calls exit(0) */
    TESTPROV_FAULT_GARBAGE,  /* returns the string "garbage" as the state */
    TESTPROV_FAULT_BAD_TYPE, /* returns the state with "size" as the integer 7 */
} testprov_fault;

/* The fault for op on address (TESTPROV_FAULT_NONE when none applies). */
testprov_fault testprov_misbehaviour(infra_provider *p, const char *op, const char *address);

/* Does the fault: HANG and EXIT never return; GARBAGE and BAD_TYPE replace
 * *state (which may be NULL) with the wrong answer and return 0. */
int testprov_misbehave(infra_provider *p, infra_call *call, testprov_fault fault, const char *op,
                       infra_json **state);

/* --- testprov_store.c ----------------------------------------------- */

/* printf into a new string (malloc); caller frees. NULL when out of memory:
 * unlike pu_printf it does not abort, and every caller answers NULL with
 * INFRA_EINTERNAL. */
char *testprov_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* FNV-1a of text: stable across runs, for ids and derived addresses. */
uint64_t testprov_hash(const char *text);

/* Creates path and its parents (mode 0755). 0 or INFRA_EINTERNAL. */
int testprov_mkdirs(const char *path);

/* 1 when id is safe as a file name: [A-Za-z0-9._-], not starting with '.'. */
int testprov_id_valid(const char *id);

/* Writes the object id for a create into out (at least 20 bytes): derived
 * from token so a retried create finds the first one's file, random when
 * token is NULL. 0 or INFRA_EINTERNAL. */
int testprov_id_for_token(const char *token, char *out, size_t len);

/* Loads DIR/type/id.json into *record (new value). INFRA_ENOTFOUND when the
 * file is missing, INFRA_EINTERNAL (with a diagnostic) when it is not JSON. */
int testprov_object_load(infra_provider *p, infra_call *call, const char *type,
                         const char *id, infra_json **record);

/* Atomically replaces DIR/type/id.json with record (temp file + rename).
 * 0 or INFRA_EINTERNAL with a diagnostic. */
int testprov_object_save(infra_provider *p, infra_call *call, const char *type,
                         const char *id, const infra_json *record);

/* Removes DIR/type/id.json. 0, INFRA_ENOTFOUND, or INFRA_EINTERNAL. */
int testprov_object_remove(infra_provider *p, infra_call *call, const char *type,
                           const char *id);

/* Appends "read_many TYPE COUNT" to DIR/reads.log in one write: the
 * counter of batched refreshes tests read (calls.log keeps mutations). */
void testprov_reads_log(infra_provider *p, const char *type, const char *count);

/* Appends "op address id[ note]" to DIR/calls.log in one write. */
void testprov_calls_log(infra_provider *p, const char *op, const char *address, const char *id,
                        const char *note);

/* The newest catalog image (DIR/catalog/images/ *.json) whose name matches
 * the fnmatch pattern, or whose id is id when pattern is NULL; *image is a
 * new {"id","name","created"} object. INFRA_ENOTFOUND when none matches. */
int testprov_image_lookup(infra_provider *p, infra_call *call, const char *pattern,
                          const char *id, infra_json **image);

/* --- testprov_ops.c ------------------------------------------------- */

/* The provider ops; their contracts are those of infra_provider_ops in
 * plugin.h. Results are new JSON values the host releases. */

int testprov_plan(infra_provider *self, infra_call *call, const char *type,
                  const infra_json *prior, const infra_json *desired, infra_json **planned,
                  infra_json **requires_replace);
int testprov_apply(infra_provider *self, infra_call *call, const char *type,
                   const infra_json *prior, const infra_json *planned, const void *private_in,
                   size_t private_in_len, infra_json **new_state, void **private_out,
                   size_t *private_out_len);
int testprov_read(infra_provider *self, infra_call *call, const char *type,
                  const infra_json *state, const void *private_in, size_t private_in_len,
                  infra_json **out);
int testprov_import(infra_provider *self, infra_call *call, const char *type, const char *id,
                    infra_json **out);
int testprov_read_many(infra_provider *self, infra_call *call, const char *type,
                       infra_read_item *items, size_t count);
int testprov_upgrade_state(infra_provider *self, infra_call *call, const char *type,
                           int from_version, const infra_json *state, infra_json **out);

#endif
