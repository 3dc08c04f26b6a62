/* SigV4 against every case of the official test suite
 * (tests/conformance/aws-sigv4-test-suite.json), and the headers the
 * plugin puts on its own requests. */
#include "aws_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_sigv4.h"

#define SUITE AWS_CONFORMANCE_DIR "/aws-sigv4-test-suite.json"

/* The two cases whose canonical request does not match their string to
 * sign (tests/conformance/SOURCES.md): checked from string to sign on. */
static int creq_unreliable(const char *name)
{
    return strcmp(name, "post-x-www-form-urlencoded") == 0 ||
           strcmp(name, "post-x-www-form-urlencoded-parameters") == 0;
}

typedef struct suite_case {
    const char *name;
    aws_sigv4_request r;
    aws_kv headers[16];
    aws_kv query[16];
    char *query_copy;
} suite_case;

/* The request of one case; query pairs split on '&' and '='. */
static void load_case(json_t *c, json_t *config, suite_case *sc)
{
    json_t *req = json_object_get(c, "request");
    memset(sc, 0, sizeof(*sc));
    sc->name = json_string_value(json_object_get(c, "name"));
    sc->r.method = json_string_value(json_object_get(req, "method"));
    sc->r.path = json_string_value(json_object_get(req, "path"));
    sc->r.body = json_string_value(json_object_get(req, "body"));
    sc->r.body_len = sc->r.body ? strlen(sc->r.body) : 0;
    sc->r.region = json_string_value(json_object_get(config, "region"));
    sc->r.service = json_string_value(json_object_get(config, "service"));
    sc->r.access_key_id = json_string_value(json_object_get(config, "accessKeyId"));
    sc->r.secret_key = json_string_value(json_object_get(config, "secretAccessKey"));
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(req, "headers"), i, h)
    {
        assert_true(i < 16);
        sc->headers[i].key = json_string_value(json_array_get(h, 0));
        sc->headers[i].value = json_string_value(json_array_get(h, 1));
        if (strcasecmp(sc->headers[i].key, "X-Amz-Date") == 0)
            sc->r.amz_date = sc->headers[i].value;
        sc->r.nheaders = i + 1;
    }
    sc->r.headers = sc->headers;
    const char *q = json_string_value(json_object_get(req, "query"));
    if (q != NULL && *q) {
        sc->query_copy = strdup(q);
        char *save = NULL;
        for (char *pair = strtok_r(sc->query_copy, "&", &save); pair != NULL;
             pair = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(pair, '=');
            if (eq != NULL)
                *eq = '\0';
            sc->query[sc->r.nquery].key = pair;
            sc->query[sc->r.nquery].value = eq ? eq + 1 : "";
            sc->r.nquery++;
        }
    }
    sc->r.query = sc->query;
    assert_non_null(sc->r.amz_date);
}

static void test_sigv4_signs_every_case_of_the_official_suite(void **state)
{
    (void)state;
    json_error_t err;
    json_t *suite = json_load_file(SUITE, 0, &err);
    assert_non_null(suite);
    json_t *config = json_object_get(suite, "config");
    json_t *all = json_object_get(json_object_get(suite, "tests"), "all");
    assert_int_equal(json_array_size(all), 28);
    size_t i;
    json_t *c;
    int checked = 0;
    json_array_foreach(all, i, c)
    {
        suite_case sc;
        load_case(c, config, &sc);
        const char *creq = json_string_value(json_object_get(c, "creq"));
        const char *sts = json_string_value(json_object_get(c, "sts"));
        const char *authz = json_string_value(json_object_get(c, "authz"));
        if (creq_unreliable(sc.name)) {
            /* String to sign -> signature, as the authorization header says. */
            char *sig = aws_sigv4_signature(&sc.r, sts);
            const char *want = strstr(authz, "Signature=");
            assert_non_null(want);
            if (strcmp(sig, want + 10) != 0)
                fail_msg("%s: signature %s, suite says %s", sc.name, sig, want + 10);
            free(sig);
        } else {
            char *got_creq = aws_sigv4_canonical_request(&sc.r);
            if (strcmp(got_creq, creq) != 0)
                fail_msg("%s: canonical request\n%s\n--- suite:\n%s", sc.name, got_creq, creq);
            char *got_sts = aws_sigv4_string_to_sign(&sc.r, got_creq);
            if (strcmp(got_sts, sts) != 0)
                fail_msg("%s: string to sign\n%s\n--- suite:\n%s", sc.name, got_sts, sts);
            char *got = aws_sigv4_authorization(&sc.r);
            if (strcmp(got, authz) != 0)
                fail_msg("%s: authorization\n%s\n--- suite:\n%s", sc.name, got, authz);
            free(got_creq);
            free(got_sts);
            free(got);
        }
        free(sc.query_copy);
        checked++;
    }
    assert_int_equal(checked, 28);
    json_decref(suite);
}

static void test_sigv4_session_token_is_signed_when_sent_before_signing(void **state)
{
    (void)state;
    json_error_t err;
    json_t *suite = json_load_file(SUITE, 0, &err);
    assert_non_null(suite);
    json_t *all = json_object_get(json_object_get(suite, "tests"), "all");
    size_t i;
    json_t *c;
    int seen = 0;
    json_array_foreach(all, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        if (strcmp(name, "post-sts-header-before") != 0)
            continue;
        suite_case sc;
        load_case(c, json_object_get(suite, "config"), &sc);
        char *signed_headers = aws_sigv4_signed_headers(&sc.r);
        assert_string_equal(signed_headers, "host;x-amz-date;x-amz-security-token");
        char *got = aws_sigv4_authorization(&sc.r);
        assert_string_equal(got, json_string_value(json_object_get(c, "authz")));
        free(got);
        free(signed_headers);
        seen = 1;
    }
    assert_true(seen);
    json_decref(suite);
}

static void test_sigv4_signing_key_matches_the_published_vector(void **state)
{
    (void)state;
    /* get-vanilla's signature from the suite's credentials, computed by hand. */
    aws_kv headers[] = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
    aws_sigv4_request r = {
        .method = "GET",
        .path = "/",
        .headers = headers,
        .nheaders = 2,
        .amz_date = "20150830T123600Z",
        .region = "us-east-1",
        .service = "service",
        .access_key_id = "AKIDEXAMPLE",
        .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    };
    char *creq = aws_sigv4_canonical_request(&r);
    char *sts = aws_sigv4_string_to_sign(&r, creq);
    char *sig = aws_sigv4_signature(&r, sts);
    assert_string_equal(sig, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    free(creq);
    free(sts);
    free(sig);
}

static void test_uri_encode_keeps_unreserved_and_uppercases_hex(void **state)
{
    (void)state;
    char *a = aws_uri_encode("a b/c~d*e+f=", 0);
    assert_string_equal(a, "a%20b%2Fc~d%2Ae%2Bf%3D");
    char *b = aws_uri_encode("/2013-04-01/hostedzone/Z1/rrset/", 1);
    assert_string_equal(b, "/2013-04-01/hostedzone/Z1/rrset/");
    char *c = aws_uri_encode("\xe1\x88\xb4", 0);
    assert_string_equal(c, "%E1%88%B4");
    free(a);
    free(b);
    free(c);
    char date[17];
    aws_sigv4_date(1440938160LL, date);
    assert_string_equal(date, "20150830T123600Z");
}

/* The headers of the plugin's own requests: what is signed is what is sent. */
static void test_plugin_requests_sign_host_date_type_and_token(void **state)
{
    (void)state;
    awt_reset();
    infra_provider *p = awt_provider();
    p->endpoint[AWS_EC2] = (free(p->endpoint[AWS_EC2]), strdup("http://127.0.0.1:8123"));
    p->session_token = pu_host->secrets->wrap("FwoGZXIvYXdzEXAMPLETOKEN");
    char **lines = NULL;
    const char *body = "Action=DescribeVpcs&Version=2016-11-15";
    aws_sign_headers(p, AWS_EC2, "POST", "http://127.0.0.1:8123/", NULL, 0, body, strlen(body),
                     "application/x-www-form-urlencoded; charset=utf-8", 1440938160LL, &lines);
    assert_string_equal(lines[0], "Host: 127.0.0.1:8123");
    assert_string_equal(lines[1], "X-Amz-Date: 20150830T123600Z");
    assert_string_equal(lines[2], "Content-Type: application/x-www-form-urlencoded; charset=utf-8");
    assert_string_equal(lines[3], "X-Amz-Security-Token: FwoGZXIvYXdzEXAMPLETOKEN");
    assert_non_null(strstr(lines[4], "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"
                                     "20150830/us-east-1/ec2/aws4_request, SignedHeaders=content-"
                                     "type;host;x-amz-date;x-amz-security-token, Signature="));
    assert_null(lines[5]);
    /* The secret never appears in what is sent. */
    for (size_t i = 0; lines[i]; i++)
        assert_null(strstr(lines[i], "wJalrXUtnFEMI"));
    aws_strv_free(lines);

    /* Route 53 is signed for us-east-1 whatever the region. */
    free(p->region);
    p->region = strdup("eu-west-3");
    aws_sign_headers(p, AWS_R53, "GET", "http://aws.test/2013-04-01/change/C1", NULL, 0, NULL, 0,
                     NULL, 1440938160LL, &lines);
    assert_non_null(strstr(lines[3], "/20150830/us-east-1/route53/aws4_request, SignedHeaders=host;"
                                     "x-amz-date;x-amz-security-token,"));
    aws_strv_free(lines);
    awt_provider_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigv4_signs_every_case_of_the_official_suite),
        cmocka_unit_test(test_sigv4_session_token_is_signed_when_sent_before_signing),
        cmocka_unit_test(test_sigv4_signing_key_matches_the_published_vector),
        cmocka_unit_test(test_uri_encode_keeps_unreserved_and_uppercases_hex),
        cmocka_unit_test(test_plugin_requests_sign_host_date_type_and_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
