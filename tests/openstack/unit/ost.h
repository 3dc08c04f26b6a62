/* Support of the openstack provider's unit tests: the plugin's sources run
 * on infra's real host table, except that HTTP goes to a scripted fake
 * server that records every request and answers from queues of canned
 * responses per route. */
#ifndef OST_H
#define OST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "os_config.h"
#include "os_res.h"
#include "os_schema.h"
#include "plugin/host.h"

#ifndef OST_CONFORMANCE_DIR
#define OST_CONFORMANCE_DIR "."
#endif

/* One request the fake server saw. */
typedef struct ost_request {
    char *method;
    char *url;
    char *body;
    char **headers;
} ost_request;

/* Installs the fake host (once) and forgets routes and requests. */
void ost_reset(void);
/* Queues an answer for requests of method whose URL contains part. Answers
 * are used in order; the last one repeats. status 0: no answer (the
 * transfer fails as a dropped connection would). headers: "Name: value"
 * lines separated by '\n', or NULL. */
void ost_route(const char *method, const char *part, long status, const char *headers,
               const char *body);
/* The requests seen so far, oldest first. */
size_t ost_nrequests(void);
const ost_request *ost_requests(size_t i);
/* How many requests of method had part in their URL. */
size_t ost_count(const char *method, const char *part);
/* The last such request, or NULL. */
const ost_request *ost_last(const char *method, const char *part);
/* The same for requests whose URL (up to its query) ends with path. */
size_t ost_count_path(const char *method, const char *path);
const ost_request *ost_last_path(const char *method, const char *path);
/* The value of header name in a request, or NULL (borrowed). */
const char *ost_header(const ost_request *r, const char *name);
/* The request body parsed (caller releases). */
infra_json *ost_body(const ost_request *r);

/* A provider for region GRA7 whose every endpoint is the fake server
 * (keystone.test, nova.test, ...), a password identity and a retry policy
 * measured in milliseconds. No token yet. */
infra_provider *ost_provider(void);
/* Answers POST /auth/tokens with a token valid for life seconds (issued
 * issued_ago seconds ago) and a GRA7 catalog. */
void ost_route_token(const char *token, long life, long issued_ago);
/* Makes host->call_resuming answer value (-1: the slot absent, as on an
 * older host). */
void ost_set_resuming(int value);

/* A call as the engine would make it; diagnostics are collected. */
typedef struct ost_call {
    infra_call call;
    char diags[8192];
    int ndiags;
    char last_attr[128];
} ost_call;
void ost_call_init(ost_call *c, const char *address, const char *token);
void ost_call_clear(ost_call *c);

/* JSON through the host's service. */
infra_json *ost_json(const char *text);
char *ost_dump(const infra_json *v);
/* A conformance sample (tests/conformance/openstack/PATH), parsed. */
infra_json *ost_sample(const char *path);
/* Reads a whole file (caller frees); fails the test when missing. */
char *ost_read_file(const char *path);

#endif
