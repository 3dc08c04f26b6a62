/* The host table: slots and sizes, diagnostics, logging, cancellation and
 * the clocks plugins see. */
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

#include "plugin/host.h"
#include "services/ssh.h"
#include "services/http.h"
#include "services/log.h"
#include "services/secrets.h"
#include "base/util.h"

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

typedef struct received {
    int count;
    int severity;
    char attr[128];
    char message[256];
    infra_call *call;
} received;

static void receive_diag(void *ud, infra_call *call, int severity, const char *attr,
                         const char *message)
{
    received *r = ud;
    r->count++;
    r->severity = severity;
    r->call = call;
    snprintf(r->attr, sizeof(r->attr), "%s", attr);
    snprintf(r->message, sizeof(r->message), "%s", message);
}

static void test_host_table_has_every_slot_but_ssh(void **state)
{
    const infra_host *h = host_table();
    assert_ptr_equal(h, host_table());
    assert_int_equal(h->size, sizeof(infra_host));
    assert_int_equal(h->abi_major, INFRA_ABI_MAJOR);
    assert_int_equal(h->abi_minor, INFRA_ABI_MINOR);
    assert_non_null(h->host_version);
    assert_true(INFRA_HAS_SLOT(h, alloc));
    assert_true(INFRA_HAS_SLOT(h, free));
    assert_true(INFRA_HAS_SLOT(h, strdup));
    assert_true(INFRA_HAS_SLOT(h, log));
    assert_true(INFRA_HAS_SLOT(h, diag));
    assert_true(INFRA_HAS_SLOT(h, cancelled));
    assert_true(INFRA_HAS_SLOT(h, call_address));
    assert_true(INFRA_HAS_SLOT(h, call_token));
    assert_true(INFRA_HAS_SLOT(h, now_ms));
    assert_true(INFRA_HAS_SLOT(h, sleep_ms));
    assert_true(INFRA_HAS_SLOT(h, json));
    assert_true(INFRA_HAS_SLOT(h, http));
    assert_true(INFRA_HAS_SLOT(h, ssh));
    assert_true(INFRA_HAS_SLOT(h, secrets));

    assert_int_equal(h->json->size, sizeof(infra_json_api));
    assert_int_equal(h->http->size, sizeof(infra_http_api));
    assert_int_equal(h->secrets->size, sizeof(infra_secret_api));
    assert_ptr_equal(h->json, host_json_api());
    assert_ptr_equal(h->http, http_api());
    assert_ptr_equal(h->secrets, secrets_api());

    /* SSH: the libssh2 service, every slot present. */
    assert_int_equal(h->ssh->size, sizeof(infra_ssh_api));
    assert_ptr_equal(h->ssh, ssh_api());
    assert_true(INFRA_HAS_SLOT(h->ssh, connect));
    assert_true(INFRA_HAS_SLOT(h->ssh, exec));
    assert_true(INFRA_HAS_SLOT(h->ssh, upload));
    assert_true(INFRA_HAS_SLOT(h->ssh, close));
    assert_true(INFRA_HAS_SLOT(h->ssh, exec_sudo));
    assert_true(INFRA_HAS_SLOT(h, call_topology));
    assert_true(INFRA_HAS_SLOT(h, call_environment));
    assert_true(INFRA_HAS_SLOT(h->secrets, generate));
    assert_true(INFRA_HAS_SLOT(h->secrets, set));

    assert_true(INFRA_HAS_SLOT(h->secrets, get));
    assert_true(INFRA_HAS_SLOT(h->secrets, wrap));
    assert_true(INFRA_HAS_SLOT(h->secrets, value));
    assert_true(INFRA_HAS_SLOT(h->secrets, free));
}

static void test_host_alloc_strdup_and_free_pair_up(void **state)
{
    const infra_host *h = host_table();
    char *p = h->alloc(16);
    assert_non_null(p);
    memset(p, 'x', 16);
    h->free(p);
    char *s = h->strdup("copy me");
    assert_string_equal(s, "copy me");
    h->free(s);
    assert_null(h->strdup(NULL));
    h->free(NULL);
}

static void test_host_call_accessors_and_defaults(void **state)
{
    const infra_host *h = host_table();
    infra_call call;
    host_call_init(&call, NULL, "aws");
    assert_string_equal(h->call_address(&call), "");
    assert_null(h->call_token(&call));
    assert_false(h->cancelled(&call));

    host_call_init(&call, "instance.web[0]", "aws");
    call.token = "tok-123";
    volatile int flag = 0;
    call.cancel = &flag;
    assert_string_equal(h->call_address(&call), "instance.web[0]");
    assert_string_equal(h->call_token(&call), "tok-123");
    assert_false(h->cancelled(&call));
    flag = 1;
    assert_true(h->cancelled(&call));

    assert_string_equal(h->call_address(NULL), "");
    assert_null(h->call_token(NULL));
    assert_false(h->cancelled(NULL));
    host_call_clear(&call);
}

static void test_host_diag_forwards_counts_errors_and_keeps_the_first(void **state)
{
    const infra_host *h = host_table();
    received r = {0};
    infra_call call;
    host_call_init(&call, "network.main", "gcp");
    call.diag = receive_diag;
    call.diag_ud = &r;

    h->diag(&call, INFRA_DIAG_WARNING, "tags.Name", "looks odd");
    assert_int_equal(r.count, 1);
    assert_int_equal(r.severity, INFRA_DIAG_WARNING);
    assert_string_equal(r.attr, "tags.Name");
    assert_string_equal(r.message, "looks odd");
    assert_ptr_equal(r.call, &call);
    assert_int_equal(call.errors, 0);
    assert_null(call.first_error);

    h->diag(&call, INFRA_DIAG_ERROR, "cidr", "first failure");
    h->diag(&call, INFRA_DIAG_ERROR, NULL, "second failure");
    assert_int_equal(r.count, 3);
    assert_int_equal(r.severity, INFRA_DIAG_ERROR);
    assert_string_equal(r.attr, "");
    assert_string_equal(r.message, "second failure");
    assert_int_equal(call.errors, 2);
    assert_string_equal(call.first_error, "first failure");

    host_call_clear(&call);
    assert_null(call.first_error);
    assert_int_equal(call.errors, 0);
}

static void test_host_diag_redacts_registered_secrets_everywhere(void **state)
{
    const infra_host *h = host_table();
    log_add_secret("hunter2-diag-secret");
    received r = {0};
    infra_call call;
    host_call_init(&call, "instance.db", "aws");
    call.diag = receive_diag;
    call.diag_ud = &r;

    h->diag(&call, INFRA_DIAG_ERROR, "password", "login with hunter2-diag-secret refused");
    assert_null(strstr(r.message, "hunter2-diag-secret"));
    assert_string_equal(r.message, "login with [redacted] refused");
    assert_string_equal(call.first_error, "login with [redacted] refused");
    host_call_clear(&call);

    /* Without a receiver the diagnostic is logged, redacted as well. */
    infra_call logged;
    host_call_init(&logged, "instance.db", "aws");
    capture cap;
    capture_begin(&cap);
    h->diag(&logged, INFRA_DIAG_ERROR, "password", "bad hunter2-diag-secret");
    h->diag(&logged, INFRA_DIAG_WARNING, "", "just a warning");
    char *err = capture_end(&cap);
    assert_non_null(strstr(err, "error: aws: instance.db: password: bad [redacted]\n"));
    assert_non_null(strstr(err, "warning: aws: instance.db: just a warning\n"));
    assert_null(strstr(err, "hunter2-diag-secret"));
    assert_int_equal(logged.errors, 1);
    assert_string_equal(logged.first_error, "bad [redacted]");
    free(err);
    host_call_clear(&logged);
}

static void test_host_log_prefixes_plugin_and_address_and_filters_levels(void **state)
{
    const infra_host *h = host_table();
    log_level saved = log_get_level();
    log_set_level(LOG_INFO);
    infra_call call;
    host_call_init(&call, "instance.web[1]", "openstack");
    infra_call bare;
    host_call_init(&bare, "", NULL);

    capture cap;
    capture_begin(&cap);
    h->log(&call, INFRA_LOG_INFO, "creating server");
    h->log(&call, INFRA_LOG_DEBUG, "hidden detail");
    h->log(&call, INFRA_LOG_WARN, "quota nearly reached");
    h->log(&bare, INFRA_LOG_INFO, "no prefix");
    h->log(NULL, INFRA_LOG_INFO, "null call");
    char *err = capture_end(&cap);
    log_set_level(saved);

    assert_non_null(strstr(err, "infra: openstack: instance.web[1]: creating server\n"));
    assert_non_null(
        strstr(err, "infra: warning: openstack: instance.web[1]: quota nearly reached\n"));
    assert_null(strstr(err, "hidden detail"));
    assert_non_null(strstr(err, "infra: no prefix\n"));
    assert_non_null(strstr(err, "infra: null call\n"));
    free(err);
}

static void test_host_log_masks_secrets_a_plugin_passes_by_mistake(void **state)
{
    const infra_host *h = host_table();
    log_add_secret("s3cr3t-log-value");
    infra_call call;
    host_call_init(&call, "instance.web[0]", "aws");
    capture cap;
    capture_begin(&cap);
    h->log(&call, INFRA_LOG_WARN, "token is s3cr3t-log-value");
    char *err = capture_end(&cap);
    assert_null(strstr(err, "s3cr3t-log-value"));
    assert_non_null(strstr(err, "token is [redacted]"));
    free(err);
}

static void test_host_now_ms_is_monotonic_and_sleep_waits(void **state)
{
    const infra_host *h = host_table();
    int64_t a = h->now_ms();
    assert_int_equal(h->sleep_ms(NULL, 120), 0);
    int64_t b = h->now_ms();
    assert_true(b - a >= 120);
    assert_int_equal(h->sleep_ms(NULL, 0), 0);
    assert_int_equal(h->sleep_ms(NULL, -5), 0);
    assert_true(h->now_ms() >= b);
}

typedef struct canceller {
    volatile int *flag;
} canceller;

static void *cancel_soon(void *arg)
{
    canceller *c = arg;
    usleep(200 * 1000);
    *c->flag = 1;
    return NULL;
}

static void test_host_sleep_returns_cancelled_soon_after_the_flag_is_set(void **state)
{
    const infra_host *h = host_table();
    volatile int flag = 0;
    infra_call call;
    host_call_init(&call, "", "test");
    call.cancel = &flag;
    canceller c = {&flag};
    pthread_t t;
    int64_t start = h->now_ms();
    assert_int_equal(pthread_create(&t, NULL, cancel_soon, &c), 0);
    assert_int_equal(h->sleep_ms(&call, 60000), INFRA_ECANCELLED);
    int64_t elapsed = h->now_ms() - start;
    pthread_join(t, NULL);
    assert_true(elapsed >= 150);
    assert_true(elapsed < 30000); /* a 60 s sleep cut short */

    /* An already-cancelled call does not sleep at all. */
    assert_int_equal(h->sleep_ms(&call, 60000), INFRA_ECANCELLED);
    host_call_clear(&call);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_table_has_every_slot_but_ssh),
        cmocka_unit_test(test_host_alloc_strdup_and_free_pair_up),
        cmocka_unit_test(test_host_call_accessors_and_defaults),
        cmocka_unit_test(test_host_diag_forwards_counts_errors_and_keeps_the_first),
        cmocka_unit_test(test_host_diag_redacts_registered_secrets_everywhere),
        cmocka_unit_test(test_host_log_prefixes_plugin_and_address_and_filters_levels),
        cmocka_unit_test(test_host_log_masks_secrets_a_plugin_passes_by_mistake),
        cmocka_unit_test(test_host_now_ms_is_monotonic_and_sleep_waits),
        cmocka_unit_test(test_host_sleep_returns_cancelled_soon_after_the_flag_is_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
