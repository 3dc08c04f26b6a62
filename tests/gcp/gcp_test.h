/* Support of the gcp provider's unit tests: the plugin's sources run on
 * infra's real host table, except that HTTP goes to a scripted fake
 * server that records every request and answers from queues of canned
 * responses per route, and that call_resuming can be set. */
#ifndef GCP_TEST_H
#define GCP_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "gcp_api.h"
#include "gcp_res.h"
#include "plugin/host.h"

/* One request the fake server saw. */
typedef struct gct_request {
    char *method;
    char *url;
    char *body;
    char **headers;
} gct_request;

/* Installs the fake host (once) and forgets routes and requests. The
 * token endpoint answers a token living 3600 s unless routed otherwise. */
void gct_reset(void);
/* Queues an answer for requests whose "METHOD URL" contains match (the
 * most specific, i.e. longest, matching route wins). Answers are used in
 * order; the last one repeats. status 0 means "no answer": the transfer
 * fails as a dropped connection would. */
void gct_route(const char *match, long status, const char *body);
void gct_routef(const char *match, long status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The requests seen so far, oldest first. */
size_t gct_nrequests(void);
const gct_request *gct_requests(size_t i);
/* How many requests' "METHOD URL" contain match. */
size_t gct_count(const char *match);
/* The last request whose "METHOD URL" contains match, or NULL. */
const gct_request *gct_last(const char *match);
/* The JSON body of a request (caller releases), or NULL. */
infra_json *gct_body(const gct_request *r);
/* The value of a header of r (borrowed), or NULL. */
const char *gct_header(const gct_request *r, const char *name);
/* What call_resuming answers: 1, 0, or -1 for a host without the slot. */
void gct_set_resuming(int resuming);

/* A provider for project infra-test, region europe-west1 (zones b, c),
 * whose every endpoint is the fake server, with service account
 * credentials of a fresh key and a retry policy measured in milliseconds. */
infra_provider *gct_provider(void);
void gct_provider_free(infra_provider *p);
/* The PEM private key of gct_provider's credentials. */
const char *gct_private_pem(void);

/* A call as the engine would make it; diagnostics are collected. */
typedef struct gct_call {
    infra_call call;
    char diags[8192];
    int ndiags;
    char last_attr[128];
} gct_call;
void gct_call_init(gct_call *c, const char *address, const char *token);
void gct_call_clear(gct_call *c);

/* JSON through the host's service. */
infra_json *gct_json(const char *text);
char *gct_dump(const infra_json *v);

/* An operation answer of scope ("zones/europe-west1-b", "global") with status. */
char *gct_op(const char *scope, const char *name, const char *status);

/* Calls the handler of resource type on p: read when read_state is given,
 * remove when planned is NULL, else apply. The handler's private output is
 * freed; its return value is returned. */
int gct_act(infra_provider *p, const char *type, gct_call *c, const infra_json *prior,
            const infra_json *planned, const infra_json *read_state, infra_json **out);

#endif
