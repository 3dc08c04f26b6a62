/* The HTTP client against a scripted server on 127.0.0.1 running in a
 * thread of the test (http_scripted.h): what goes over the wire, invalid
 * requests, TLS verification against a throwaway certificate, and the
 * policy pieces (backoff, Retry-After, which statuses are retried).
 * Retries as a whole are in test_http.c. */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/util.h"
#include "http_scripted.h"
#include "plugin/host.h"
#include "services/http.h"

/* ------------------------------------------------------------------ */
/* What goes over the wire                                            */

static void test_http_request_body_and_headers_reach_server_intact(void **state)
{
    static const scripted_step steps[] = {
        {201, "X-Reply-Header: Yes\r\nX-Multi:  a b \r\n", "created"}};
    static const char body[] = "{\"name\":\"web\"}\0\x01\xff tail";
    scripted_server s;
    scripted_start(&s, steps, 1, NULL);
    char *url = scripted_url(&s, "http", "/upload?x=1");
    const char *headers[] = {"X-Infra-Test: hello world", "Content-Type: application/json", NULL};
    infra_http_request req = scripted_request("POST", url);
    req.headers = headers;
    req.body = body;
    req.body_len = sizeof(body) - 1;
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(NULL, &req, &resp), 0);
    assert_int_equal(resp->status, 201);
    assert_string_equal(resp->body, "created");
    assert_int_equal(resp->body_len, 7);
    assert_string_equal(http_header(resp, "X-REPLY-HEADER"), "Yes");
    assert_string_equal(http_header(resp, "x-multi"), "a b");
    assert_string_equal(http_header(resp, "content-length"), "7");
    assert_null(http_header(resp, "x-absent"));
    int found = 0;
    for (size_t i = 0; resp->headers[i]; i++)
        found += strcmp(resp->headers[i], "x-reply-header: Yes") == 0;
    assert_int_equal(found, 1);

    assert_int_equal(scripted_served(&s), 1);
    const char *raw = s.requests[0];
    size_t raw_len = s.request_lens[0];
    assert_memory_equal(raw, "POST /upload?x=1 HTTP/1.1\r\n", 27);
    assert_non_null(strstr(raw, "\r\nX-Infra-Test: hello world\r\n"));
    assert_non_null(strstr(raw, "\r\nContent-Type: application/json\r\n"));
    assert_null(strcasestr(raw, "Expect:"));
    char *cl = util_printf("\r\nContent-Length: %zu\r\n", sizeof(body) - 1);
    assert_non_null(strstr(raw, cl));
    free(cl);
    assert_true(raw_len > sizeof(body) - 1);
    assert_memory_equal(raw + raw_len - (sizeof(body) - 1), body, sizeof(body) - 1);

    http_response_free(resp);
    free(url);
    scripted_stop(&s);
}

static void test_http_put_without_body_sends_empty_body(void **state)
{
    static const scripted_step steps[] = {{204, NULL, NULL}};
    scripted_server s;
    scripted_start(&s, steps, 1, NULL);
    char *url = scripted_url(&s, "http", "/empty");
    infra_http_request req = scripted_request("PUT", url);
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(NULL, &req, &resp), 0);
    assert_int_equal(resp->status, 204);
    assert_int_equal(resp->body_len, 0);
    assert_string_equal(resp->body, "");
    assert_memory_equal(s.requests[0], "PUT /empty HTTP/1.1\r\n", 21);
    assert_non_null(strstr(s.requests[0], "\r\nContent-Length: 0\r\n"));

    http_response_free(resp);
    free(url);
    scripted_stop(&s);
}

typedef struct worker {
    const char *url;
    int ok;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 5; i++) {
        infra_http_request req = scripted_request("GET", w->url);
        infra_http_response *resp = NULL;
        if (http_request(NULL, &req, &resp) == 0 && resp->status == 200 &&
            strcmp(resp->body, "ok") == 0)
            w->ok++;
        http_response_free(resp);
    }
    return NULL;
}

static void test_http_threads_can_request_at_the_same_time(void **state)
{
    static const scripted_step steps[] = {{200, NULL, "ok"}};
    scripted_server s;
    scripted_start(&s, steps, 1, NULL);
    char *url = scripted_url(&s, "http", "/shared");
    worker workers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        workers[i] = (worker){url, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(workers[i].ok, 5);
    }
    assert_int_equal(scripted_served(&s), 20);
    free(url);
    scripted_stop(&s);
}

/* ------------------------------------------------------------------ */
/* Invalid requests                                                   */

static void test_http_malformed_or_unsupported_urls_are_invalid(void **state)
{
    const char *urls[] = {"not a url", "ftp://127.0.0.1/file", "http://"};
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        infra_call call;
        scripted_diags diags;
        scripted_call_begin(&call, &diags);
        infra_http_request req = scripted_request("GET", urls[i]);
        infra_http_response *resp = NULL;
        assert_int_equal(http_request(&call, &req, &resp), INFRA_EINVALID);
        assert_null(resp);
        assert_int_equal(diags.count, 1);
        host_call_clear(&call);
        util_buf_free(&diags.text);
    }
}

static void test_http_header_with_line_break_is_refused_without_echoing_it(void **state)
{
    const char *headers[] = {"Authorization: Bearer abcd\r\nX-Evil: 1", NULL};
    infra_call call;
    scripted_diags diags;
    scripted_call_begin(&call, &diags);
    infra_http_request req = scripted_request("GET", "http://127.0.0.1:1/x");
    req.headers = headers;
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(&call, &req, &resp), INFRA_EINVALID);
    assert_int_equal(diags.count, 1);
    assert_null(strstr(diags.text.data, "Bearer"));

    host_call_clear(&call);
    util_buf_free(&diags.text);
}

static void test_http_request_smaller_than_url_field_is_invalid(void **state)
{
    infra_http_request req = scripted_request("GET", "http://127.0.0.1:1/x");
    req.size = offsetof(infra_http_request, url);
    infra_http_response *resp = NULL;
    infra_call call;
    scripted_diags diags;
    scripted_call_begin(&call, &diags);
    assert_int_equal(http_request(&call, &req, &resp), INFRA_EINVALID);
    assert_int_equal(diags.count, 1);
    host_call_clear(&call);
    util_buf_free(&diags.text);
}

/* ------------------------------------------------------------------ */
/* TLS                                                                */

static void test_http_https_to_plain_server_fails_without_retrying(void **state)
{
    static const scripted_step steps[] = {{200, NULL, "ok"}};
    scripted_server s;
    scripted_start(&s, steps, 1, NULL);
    char *url = scripted_url(&s, "https", "/secure");
    infra_call call;
    scripted_diags diags;
    scripted_call_begin(&call, &diags);
    infra_http_request req = scripted_request("GET", url);
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(&call, &req, &resp), INFRA_EINVALID);
    assert_null(resp);
    assert_int_equal(diags.count, 1);
    assert_non_null(strstr(diags.text.data, "TLS"));
    assert_non_null(strstr(diags.text.data, "127.0.0.1"));

    host_call_clear(&call);
    util_buf_free(&diags.text);
    free(url);
    scripted_stop(&s);
}

/* A throwaway self-signed certificate for 127.0.0.1, written to cert_path. */
static void make_certificate(const char *cert_path, X509 **cert, EVP_PKEY **key)
{
    *key = EVP_EC_gen("P-256");
    assert_non_null(*key);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
    X509_set_pubkey(x, *key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    const char *exts[][2] = {{"subjectAltName", "IP:127.0.0.1"},
                             {"basicConstraints", "critical,CA:TRUE"}};
    for (size_t i = 0; i < 2; i++) {
        X509_EXTENSION *ext = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
        assert_non_null(ext);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    assert_true(X509_sign(x, *key, EVP_sha256()) > 0);
    FILE *f = fopen(cert_path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
    *cert = x;
}

static void test_http_self_signed_server_is_refused_unless_its_cert_is_given(void **state)
{
    if (scripted_ssl_load() < 0) {
        print_message("libssl not loadable: TLS server test skipped\n");
        skip();
    }
    static const scripted_step steps[] = {{200, NULL, "secure"}};
    char dir[] = "/tmp/infra-test-http-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *cert_path = util_printf("%s/cert.pem", dir);
    X509 *cert;
    EVP_PKEY *key;
    make_certificate(cert_path, &cert, &key);
    SSL_CTX *ctx = scripted_ssl.ctx_new(scripted_ssl.server_method());
    assert_non_null(ctx);
    assert_int_equal(scripted_ssl.use_cert(ctx, cert), 1);
    assert_int_equal(scripted_ssl.use_key(ctx, key), 1);

    scripted_server s;
    scripted_start(&s, steps, 1, ctx);
    char *url = scripted_url(&s, "https", "/secure");
    infra_call call;
    scripted_diags diags;
    scripted_call_begin(&call, &diags);
    infra_http_request req = scripted_request("GET", url);
    infra_http_response *resp = NULL;

    assert_int_equal(http_request(&call, &req, &resp), INFRA_EINVALID);
    assert_null(resp);
    assert_int_equal(diags.count, 1);
    assert_non_null(strstr(diags.text.data, "TLS certificate verification failed for 127.0.0.1"));
    assert_int_equal(scripted_served(&s), 0);

    req.ca_file = cert_path;
    assert_int_equal(http_request(&call, &req, &resp), 0);
    assert_int_equal(resp->status, 200);
    assert_string_equal(resp->body, "secure");
    assert_int_equal(scripted_served(&s), 1);
    http_response_free(resp);

    host_call_clear(&call);
    util_buf_free(&diags.text);
    free(url);
    scripted_stop(&s);
    scripted_ssl.ctx_free(ctx);
    X509_free(cert);
    EVP_PKEY_free(key);
    unlink(cert_path);
    rmdir(dir);
    free(cert_path);
}

/* ------------------------------------------------------------------ */
/* Policy pieces                                                      */

static void test_http_backoff_cap_doubles_from_200ms_up_to_20s(void **state)
{
    assert_int_equal(http_backoff_cap_ms(1), 200);
    assert_int_equal(http_backoff_cap_ms(2), 400);
    assert_int_equal(http_backoff_cap_ms(3), 800);
    assert_int_equal(http_backoff_cap_ms(7), 12800);
    assert_int_equal(http_backoff_cap_ms(8), 20000);
    assert_int_equal(http_backoff_cap_ms(1000), 20000);
}

static void test_http_retry_after_reads_seconds_and_http_dates(void **state)
{
    time_t now = curl_getdate("Sun, 06 Nov 1994 08:49:37 GMT", NULL);
    assert_true(now > 0);
    assert_int_equal(http_retry_after_ms("1", now), 1000);
    assert_int_equal(http_retry_after_ms(" 5 ", now), 5000);
    assert_int_equal(http_retry_after_ms("0", now), 0);
    assert_int_equal(http_retry_after_ms("999", now), 120000);
    assert_int_equal(http_retry_after_ms("99999999999999999999999", now), 120000);
    assert_int_equal(http_retry_after_ms("Sun, 06 Nov 1994 08:49:47 GMT", now), 10000);
    assert_int_equal(http_retry_after_ms("Sun, 06 Nov 1994 08:00:00 GMT", now), 0);
    assert_int_equal(http_retry_after_ms("Mon, 07 Nov 1994 08:49:37 GMT", now), 120000);
    assert_int_equal(http_retry_after_ms("soon", now), -1);
    assert_int_equal(http_retry_after_ms("5s", now), -1);
    assert_int_equal(http_retry_after_ms("", now), -1);
    assert_int_equal(http_retry_after_ms(NULL, now), -1);
}

static void test_http_status_retry_depends_on_method(void **state)
{
    assert_true(http_status_retryable(429, "POST", 0));
    assert_true(http_status_retryable(503, "POST", 0));
    assert_true(http_status_retryable(502, "GET", 0));
    assert_true(http_status_retryable(504, "delete", 0));
    assert_true(http_status_retryable(500, "OPTIONS", 0));
    assert_false(http_status_retryable(500, "POST", 0));
    assert_false(http_status_retryable(502, "PATCH", 0));
    assert_true(http_status_retryable(502, "POST", 1));
    assert_false(http_status_retryable(404, "GET", 1));
    assert_false(http_status_retryable(400, "GET", 0));
    assert_false(http_status_retryable(501, "GET", 0));
    assert_false(http_status_retryable(200, "GET", 0));
}

static void test_http_api_table_is_complete(void **state)
{
    const infra_http_api *api = host_table()->http;
    assert_ptr_equal(api, http_api());
    assert_int_equal(api->size, sizeof(infra_http_api));
    assert_true(INFRA_HAS_SLOT(api, request));
    assert_true(INFRA_HAS_SLOT(api, response_free));
    assert_true(INFRA_HAS_SLOT(api, header));
    api->response_free(NULL);
    assert_null(api->header(NULL, "x"));
}

int main(void)
{
    scripted_no_proxy();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_request_body_and_headers_reach_server_intact),
        cmocka_unit_test(test_http_put_without_body_sends_empty_body),
        cmocka_unit_test(test_http_threads_can_request_at_the_same_time),
        cmocka_unit_test(test_http_malformed_or_unsupported_urls_are_invalid),
        cmocka_unit_test(test_http_header_with_line_break_is_refused_without_echoing_it),
        cmocka_unit_test(test_http_request_smaller_than_url_field_is_invalid),
        cmocka_unit_test(test_http_https_to_plain_server_fails_without_retrying),
        cmocka_unit_test(test_http_self_signed_server_is_refused_unless_its_cert_is_given),
        cmocka_unit_test(test_http_backoff_cap_doubles_from_200ms_up_to_20s),
        cmocka_unit_test(test_http_retry_after_reads_seconds_and_http_dates),
        cmocka_unit_test(test_http_status_retry_depends_on_method),
        cmocka_unit_test(test_http_api_table_is_complete),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    http_shutdown();
    return failed;
}
