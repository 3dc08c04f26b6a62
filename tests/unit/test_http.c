/* The HTTP client against a scripted server on 127.0.0.1 running in a
 * thread of the test (http_scripted.h): retries, Retry-After, idempotency,
 * cancellation and redaction. What goes over the wire, invalid requests,
 * TLS and the policy pieces are in test_http_wire.c. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "http_scripted.h"
#include "plugin/host.h"
#include "services/http.h"
#include "services/log.h"

static int64_t now_ms(void)
{
    return host_table()->now_ms();
}

/* stderr redirected into a temporary file. */
typedef struct capture {
    int saved;
    FILE *file;
} capture;

static void capture_begin(capture *c)
{
    fflush(stderr);
    c->file = tmpfile();
    assert_non_null(c->file);
    c->saved = dup(2);
    dup2(fileno(c->file), 2);
}

static char *capture_end(capture *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    util_buf b = {0};
    char chunk[1024];
    size_t n;
    rewind(c->file);
    while ((n = fread(chunk, 1, sizeof(chunk), c->file)) > 0)
        util_buf_put(&b, chunk, n);
    fclose(c->file);
    return util_buf_take(&b);
}

/* ------------------------------------------------------------------ */
/* Retries                                                            */

static void test_http_retries_503_twice_then_succeeds_on_third_attempt(void **state)
{
    static const scripted_step steps[] = {
        {503, NULL, "busy"}, {503, NULL, "busy"}, {200, NULL, "ok"}};
    scripted_server s;
    scripted_start(&s, steps, 3, NULL);
    char *url = scripted_url(&s, "http", "/thing");
    infra_call call;
    scripted_diags diags;
    scripted_call_begin(&call, &diags);
    infra_http_request req = scripted_request("GET", url);
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(&call, &req, &resp), 0);
    assert_non_null(resp);
    assert_int_equal(resp->status, 200);
    assert_int_equal(resp->attempts, 3);
    assert_string_equal(resp->body, "ok");
    assert_int_equal(scripted_served(&s), 3);
    assert_int_equal(diags.count, 0);

    http_response_free(resp);
    host_call_clear(&call);
    util_buf_free(&diags.text);
    free(url);
    scripted_stop(&s);
}

static void test_http_honours_retry_after_seconds_on_429(void **state)
{
    static const scripted_step steps[] = {{429, "Retry-After: 1\r\n", "slow down"},
                                          {200, NULL, "ok"}};
    scripted_server s;
    scripted_start(&s, steps, 2, NULL);
    char *url = scripted_url(&s, "http", "/throttled");
    infra_http_request req = scripted_request("GET", url);
    infra_http_response *resp = NULL;

    int64_t start = now_ms();
    assert_int_equal(http_request(NULL, &req, &resp), 0);
    int64_t elapsed = now_ms() - start;
    assert_int_equal(resp->status, 200);
    assert_int_equal(resp->attempts, 2);
    assert_true(elapsed >= 900);

    http_response_free(resp);
    free(url);
    scripted_stop(&s);
}

static void test_http_post_on_500_is_not_retried_by_default(void **state)
{
    static const scripted_step steps[] = {{500, NULL, "oops"}, {200, NULL, "ok"}};
    scripted_server s;
    scripted_start(&s, steps, 2, NULL);
    char *url = scripted_url(&s, "http", "/create");
    infra_http_request req = scripted_request("POST", url);
    req.body = "{}";
    req.body_len = 2;
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(NULL, &req, &resp), 0);
    assert_int_equal(resp->status, 500);
    assert_int_equal(resp->attempts, 1);
    assert_int_equal(scripted_served(&s), 1);

    http_response_free(resp);
    free(url);
    scripted_stop(&s);
}

static void test_http_post_on_500_is_retried_with_retry_non_idempotent(void **state)
{
    static const scripted_step steps[] = {{500, NULL, "oops"}, {200, NULL, "ok"}};
    scripted_server s;
    scripted_start(&s, steps, 2, NULL);
    char *url = scripted_url(&s, "http", "/create");
    infra_http_request req = scripted_request("POST", url);
    req.body = "{}";
    req.body_len = 2;
    req.retry_non_idempotent = 1;
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(NULL, &req, &resp), 0);
    assert_int_equal(resp->status, 200);
    assert_int_equal(resp->attempts, 2);
    assert_int_equal(scripted_served(&s), 2);

    http_response_free(resp);
    free(url);
    scripted_stop(&s);
}

static void test_http_get_on_500_is_retried(void **state)
{
    static const scripted_step steps[] = {{500, NULL, "oops"}, {200, NULL, "ok"}};
    scripted_server s;
    scripted_start(&s, steps, 2, NULL);
    char *url = scripted_url(&s, "http", "/read");
    infra_http_request req = scripted_request("GET", url);
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(NULL, &req, &resp), 0);
    assert_int_equal(resp->status, 200);
    assert_int_equal(resp->attempts, 2);

    http_response_free(resp);
    free(url);
    scripted_stop(&s);
}

static void test_http_404_is_not_retried(void **state)
{
    static const scripted_step steps[] = {{404, NULL, "no such thing"}, {200, NULL, "ok"}};
    scripted_server s;
    scripted_start(&s, steps, 2, NULL);
    char *url = scripted_url(&s, "http", "/missing");
    infra_call call;
    scripted_diags diags;
    scripted_call_begin(&call, &diags);
    infra_http_request req = scripted_request("GET", url);
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(&call, &req, &resp), 0);
    assert_int_equal(resp->status, 404);
    assert_int_equal(resp->attempts, 1);
    assert_string_equal(resp->body, "no such thing");
    assert_int_equal(scripted_served(&s), 1);
    assert_int_equal(diags.count, 0); /* the caller judges a status, not the client */

    http_response_free(resp);
    host_call_clear(&call);
    util_buf_free(&diags.text);
    free(url);
    scripted_stop(&s);
}

static void test_http_connection_closed_without_answer_is_retried(void **state)
{
    static const scripted_step steps[] = {{0, NULL, NULL}, {200, NULL, "ok"}};
    scripted_server s;
    scripted_start(&s, steps, 2, NULL);
    char *url = scripted_url(&s, "http", "/flaky");
    infra_http_request req = scripted_request("GET", url);
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(NULL, &req, &resp), 0);
    assert_int_equal(resp->status, 200);
    assert_int_equal(resp->attempts, 2);
    assert_int_equal(scripted_served(&s), 2);

    http_response_free(resp);
    free(url);
    scripted_stop(&s);
}

static void test_http_every_attempt_failing_returns_transient_and_names_url(void **state)
{
    static const scripted_step steps[] = {{0, NULL, NULL}};
    scripted_server s;
    scripted_start(&s, steps, 1, NULL);
    char *url = scripted_url(&s, "http", "/always-closed");
    infra_call call;
    scripted_diags diags;
    scripted_call_begin(&call, &diags);
    infra_http_request req = scripted_request("GET", url);
    req.max_attempts = 3;
    infra_http_response *resp = (infra_http_response *)&req; /* must be reset to NULL */

    assert_int_equal(http_request(&call, &req, &resp), INFRA_ETRANSIENT);
    assert_null(resp);
    assert_int_equal(scripted_served(&s), 3);
    assert_int_equal(diags.count, 1);
    assert_non_null(strstr(diags.text.data, url));
    assert_non_null(strstr(diags.text.data, "3 attempts"));
    assert_int_equal(call.errors, 1);
    assert_non_null(call.first_error);

    host_call_clear(&call);
    util_buf_free(&diags.text);
    free(url);
    scripted_stop(&s);
}

static void test_http_connection_refused_returns_transient_after_retries(void **state)
{
    char *url = util_printf("http://127.0.0.1:%d/nobody-home", scripted_closed_port());
    infra_call call;
    scripted_diags diags;
    scripted_call_begin(&call, &diags);
    infra_http_request req = scripted_request("PUT", url);
    req.max_attempts = 2;
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(&call, &req, &resp), INFRA_ETRANSIENT);
    assert_null(resp);
    assert_int_equal(diags.count, 1);
    assert_non_null(strstr(diags.text.data, url));
    assert_non_null(strstr(diags.text.data, "2 attempts"));

    host_call_clear(&call);
    util_buf_free(&diags.text);
    free(url);
}

static void test_http_redacted_token_never_reaches_diagnostics_or_logs(void **state)
{
    static const char token[] = "tok-9f8e7d6c5b4a-SECRET";
    static const scripted_step steps[] = {{0, NULL, NULL}};
    scripted_server s;
    scripted_start(&s, steps, 1, NULL);
    char *url = util_printf("http://127.0.0.1:%d/v1/things?token=%s", s.port, token);
    char *auth = util_printf("Authorization: Bearer %s", token);
    const char *headers[] = {auth, NULL};
    infra_http_request req = scripted_request("GET", url);
    req.headers = headers;
    req.redact = token;
    req.max_attempts = 2;
    infra_http_response *resp = NULL;

    /* Once through a diagnostics receiver, once with diagnostics logged. */
    infra_call call;
    scripted_diags diags;
    scripted_call_begin(&call, &diags);
    log_level saved_level = log_get_level();
    log_set_level(LOG_DEBUG);
    capture cap;
    capture_begin(&cap);
    int rc1 = http_request(&call, &req, &resp);
    infra_call logged;
    host_call_init(&logged, "instance.web[0]", "test");
    int rc2 = http_request(&logged, &req, &resp);
    char *err = capture_end(&cap);
    log_set_level(saved_level);

    assert_int_equal(rc1, INFRA_ETRANSIENT);
    assert_int_equal(rc2, INFRA_ETRANSIENT);
    assert_int_equal(diags.count, 1);
    assert_null(strstr(diags.text.data, token));
    assert_non_null(strstr(diags.text.data, "token=[redacted]"));
    assert_null(strstr(logged.first_error, token));
    assert_non_null(strstr(err, "attempt 1/2")); /* the debug lines were printed */
    assert_non_null(strstr(err, "token=[redacted]"));
    assert_null(strstr(err, token));
    assert_null(strstr(err, "Bearer"));

    free(err);
    host_call_clear(&logged);
    host_call_clear(&call);
    util_buf_free(&diags.text);
    free(auth);
    free(url);
    scripted_stop(&s);
}

typedef struct canceller {
    volatile int *flag;
    int delay_ms;
} canceller;

static void *cancel_later(void *arg)
{
    canceller *c = arg;
    usleep((useconds_t)c->delay_ms * 1000);
    *c->flag = 1;
    return NULL;
}

static void test_http_cancellation_during_backoff_returns_promptly(void **state)
{
    static const scripted_step steps[] = {{503, "Retry-After: 60\r\n", "later"}, {200, NULL, "ok"}};
    scripted_server s;
    scripted_start(&s, steps, 2, NULL);
    char *url = scripted_url(&s, "http", "/wait");
    volatile int cancel = 0;
    infra_call call;
    host_call_init(&call, "instance.web[0]", "test");
    call.cancel = &cancel;
    canceller c = {&cancel, 300};
    pthread_t t;
    infra_http_request req = scripted_request("GET", url);
    infra_http_response *resp = NULL;

    int64_t start = now_ms();
    assert_int_equal(pthread_create(&t, NULL, cancel_later, &c), 0);
    assert_int_equal(http_request(&call, &req, &resp), INFRA_ECANCELLED);
    int64_t elapsed = now_ms() - start;
    pthread_join(t, NULL);
    assert_null(resp);
    assert_int_equal(scripted_served(&s), 1);
    assert_true(elapsed < 30000); /* far below the 60 s the server asked for */
    assert_int_equal(call.errors, 0);

    host_call_clear(&call);
    free(url);
    scripted_stop(&s);
}

static void test_http_cancelled_call_sends_nothing(void **state)
{
    static const scripted_step steps[] = {{200, NULL, "ok"}};
    scripted_server s;
    scripted_start(&s, steps, 1, NULL);
    char *url = scripted_url(&s, "http", "/never");
    volatile int cancel = 1;
    infra_call call;
    host_call_init(&call, "", "test");
    call.cancel = &cancel;
    infra_http_request req = scripted_request("GET", url);
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(&call, &req, &resp), INFRA_ECANCELLED);
    assert_null(resp);
    assert_int_equal(scripted_served(&s), 0);

    free(url);
    scripted_stop(&s);
}

int main(void)
{
    scripted_no_proxy();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_retries_503_twice_then_succeeds_on_third_attempt),
        cmocka_unit_test(test_http_honours_retry_after_seconds_on_429),
        cmocka_unit_test(test_http_post_on_500_is_not_retried_by_default),
        cmocka_unit_test(test_http_post_on_500_is_retried_with_retry_non_idempotent),
        cmocka_unit_test(test_http_get_on_500_is_retried),
        cmocka_unit_test(test_http_404_is_not_retried),
        cmocka_unit_test(test_http_connection_closed_without_answer_is_retried),
        cmocka_unit_test(test_http_every_attempt_failing_returns_transient_and_names_url),
        cmocka_unit_test(test_http_connection_refused_returns_transient_after_retries),
        cmocka_unit_test(test_http_redacted_token_never_reaches_diagnostics_or_logs),
        cmocka_unit_test(test_http_cancellation_during_backoff_returns_promptly),
        cmocka_unit_test(test_http_cancelled_call_sends_nothing),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    http_shutdown();
    return failed;
}
