/* Support of the aws provider's unit tests: the plugin's sources run on
 * infra's real host table, except that HTTP goes to a scripted fake
 * server that records every request and answers from queues of canned
 * responses per action. */
#ifndef AWS_TEST_H
#define AWS_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "aws_api.h"
#include "aws_res.h"
#include "plugin/host.h"

#ifndef AWS_TEST_DATA
#define AWS_TEST_DATA "."
#endif
#ifndef AWS_CONFORMANCE_DIR
#define AWS_CONFORMANCE_DIR "."
#endif

/* One request the fake server saw. */
typedef struct awt_request {
    char *method;
    char *url;
    char *action; /* Query Action, or the Route 53 path */
    char *body;
    char **headers;
} awt_request;

/* Installs the fake host (once) and forgets routes and requests. Its
 * call_resuming slot is absent until awt_set_resuming. */
void awt_reset(void);
/* What host->call_resuming answers from now on (0 or 1); -1 removes the
 * slot, as on a host of ABI 1.1. */
void awt_set_resuming(int answer);
/* Queues an answer for action (a Query Action, or a substring of a Route 53
 * path). Answers are used in order; the last one repeats. status 0 means
 * "no answer": the transfer fails as a dropped connection would. */
void awt_route(const char *action, long status, const char *body);
/* Like awt_route with printf-style body. */
void awt_routef(const char *action, long status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The requests seen so far, oldest first. */
size_t awt_nrequests(void);
const awt_request *awt_requests(size_t i);
/* How many requests had this action. */
size_t awt_count(const char *action);
/* The last request with this action, or NULL. */
const awt_request *awt_last(const char *action);
/* The value of key in a request's form body (decoded; caller frees), or NULL. */
char *awt_param(const awt_request *r, const char *key);

/* A provider for us-east-1 whose every endpoint is the fake server, with
 * credentials AKIDEXAMPLE and a retry policy measured in milliseconds. */
infra_provider *awt_provider(void);
void awt_provider_free(infra_provider *p);

/* A call as the engine would make it; diagnostics are collected. */
typedef struct awt_call {
    infra_call call;
    char diags[8192];
    int ndiags;
    char last_attr[128];
} awt_call;
void awt_call_init(awt_call *c, const char *address, const char *token);
void awt_call_clear(awt_call *c);

/* JSON through the host's service. */
infra_json *awt_json(const char *text);
char *awt_dump(const infra_json *v);

/* Reads a whole file (caller frees); fails the test when missing. */
char *awt_read_file(const char *path);

#endif
