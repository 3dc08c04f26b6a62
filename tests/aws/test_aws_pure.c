/* The pure pieces: the console-output fingerprint parser, image choice by
 * glob and creation date, and names and tokens derived from a call. */
#include "aws_test.h"

#include <stdlib.h>
#include <string.h>

static void test_console_fingerprint_prefers_ecdsa_in_the_cloud_init_block(void **state)
{
    (void)state;
    char *fp = NULL;
    const char *console =
        "[   12.3] cloud-init[512]: Cloud-init v. 23.1 running 'modules:final'\r\n"
        "ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----\r\n"
        "ec2: 1024 SHA256:dsaDSAdsaDSA root@ip-10-0-0-5 (DSA)\r\n"
        "ec2: 256 SHA256:edEDedEDedEDedED root@ip-10-0-0-5 (ED25519)\r\n"
        "ec2: 256 SHA256:EcdsaKeyFingerprint+/abc root@ip-10-0-0-5 (ECDSA)\r\n"
        "ec2: 3072 SHA256:rsaRSArsaRSA root@ip-10-0-0-5 (RSA)\r\n"
        "ec2: -----END SSH HOST KEY FINGERPRINTS-----\r\n"
        "256 SHA256:NotInTheBlock root@x (ECDSA)\n";
    assert_int_equal(aws_console_fingerprint(console, &fp), 0);
    assert_string_equal(fp, "SHA256:EcdsaKeyFingerprint+/abc");
    free(fp);

    const char *plain = "-----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
                        "256 SHA256:OnlyEd25519 root@ip-10-213-64-2 (ED25519)\n"
                        "3072 SHA256:Rsa root@ip (RSA)\n"
                        "-----END SSH HOST KEY FINGERPRINTS-----\n";
    assert_int_equal(aws_console_fingerprint(plain, &fp), 0);
    assert_string_equal(fp, "SHA256:OnlyEd25519");
    free(fp);

    const char *emulator = "-----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
                           "256 SHA256:xxxx root@ip-10-213-64-2 (ECDSA)\n"
                           "-----END SSH HOST KEY FINGERPRINTS-----\n";
    assert_int_equal(aws_console_fingerprint(emulator, &fp), 0);
    assert_string_equal(fp, "SHA256:xxxx");
    free(fp);

    assert_int_equal(aws_console_fingerprint("booting...\n", &fp), INFRA_ENOTFOUND);
    assert_int_equal(aws_console_fingerprint("-----BEGIN SSH HOST KEY FINGERPRINTS-----\n256 "
                                             "SHA256:cut",
                                             &fp),
                     INFRA_ENOTFOUND); /* printed halfway */
    assert_int_equal(aws_console_fingerprint(NULL, &fp), INFRA_ENOTFOUND);
}

static void test_image_pick_takes_the_newest_available_match(void **state)
{
    (void)state;
    aws_image v[] = {
        {"ami-1", "nomad-host-2026-10-01", "2026-10-01T10:00:00.000Z", "x86_64", "available",
         "self"},
        {"ami-2", "nomad-host-2026-11-01", "2026-11-01T10:00:00.000Z", "x86_64", "available",
         "self"},
        {"ami-3", "nomad-host-2026-12-01", "2026-12-01T10:00:00.000Z", "x86_64", "pending", "self"},
        {"ami-4", "nomad-host-2026-11-15", "2026-11-15T10:00:00.000Z", "arm64", "available",
         "self"},
        {"ami-5", "other-2027-01-01", "2027-01-01T10:00:00.000Z", "x86_64", "available", "self"},
    };
    assert_int_equal(aws_image_pick(v, 5, "nomad-host-*", "x86_64"), 1);
    assert_int_equal(aws_image_pick(v, 5, "nomad-host-*", NULL), 3);
    assert_int_equal(aws_image_pick(v, 5, "nomad-host-2026-1?-01", "x86_64"), 1);
    assert_int_equal(aws_image_pick(v, 5, "*", "x86_64"), 4);
    assert_int_equal(aws_image_pick(v, 5, "web-*", NULL), -1);
    assert_int_equal(aws_image_pick(v, 0, "*", NULL), -1);
    /* Equal dates: the choice does not depend on the answer's order. */
    aws_image tie[] = {
        {"ami-b", "x", "2026-01-01T00:00:00.000Z", NULL, "available", NULL},
        {"ami-a", "x", "2026-01-01T00:00:00.000Z", NULL, "available", NULL},
    };
    assert_int_equal(aws_image_pick(tie, 2, "x", NULL), 0);
    aws_image tie2[] = {tie[1], tie[0]};
    assert_int_equal(aws_image_pick(tie2, 2, "x", NULL), 1);
    assert_true(aws_is_ami_id("ami-0123456789abcdef0"));
    assert_false(aws_is_ami_id("nomad-host-*"));
    assert_false(aws_is_ami_id("ami-XYZ"));
}

/* No match is an EINVALID diagnostic naming the pattern and the owners. */
static void test_image_lookup_without_match_names_pattern_and_owners(void **state)
{
    (void)state;
    awt_reset();
    infra_provider *p = awt_provider();
    awt_route("DescribeImages", 200,
              "<DescribeImagesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
              "<imagesSet><item><imageId>ami-09</imageId><name>web-1</name>"
              "<creationDate>2026-01-01T00:00:00.000Z</creationDate><imageState>available"
              "</imageState></item></imagesSet></DescribeImagesResponse>");
    awt_call c;
    awt_call_init(&c, "image.nomad", NULL);
    char *owners[] = {"self", "099720109477", NULL};
    aws_image im;
    assert_int_equal(aws_image_lookup(p, &c.call, "name", owners, "nomad-host-*", "x86_64", &im),
                     INFRA_EINVALID);
    assert_non_null(strstr(c.diags, "\"nomad-host-*\""));
    assert_non_null(strstr(c.diags, "self, 099720109477"));
    assert_string_equal(c.last_attr, "name");
    char *owner2 = awt_param(awt_last("DescribeImages"), "Owner.2");
    assert_string_equal(owner2, "099720109477");
    free(owner2);
    awt_call_clear(&c);
    awt_provider_free(p);
}

static void test_names_and_client_tokens_derived_from_a_call(void **state)
{
    (void)state;
    awt_reset();
    awt_call c;
    awt_call_init(&c, "instance.web[12]", "0123456789abcdef0123456789abcdef");
    char *name = aws_call_name(&c.call, 255);
    assert_string_equal(name, "web-test-instance-web-12");
    free(name);
    name = aws_call_name(&c.call, 10);
    assert_string_equal(name, "web-test-i");
    free(name);
    char tok[65];
    aws_client_token("0123456789abcdef0123456789abcdef", NULL, tok);
    assert_string_equal(tok, "0123456789abcdef0123456789abcdef");
    char long_token[100];
    memset(long_token, 'a', 99);
    long_token[99] = '\0';
    aws_client_token(long_token, NULL, tok);
    assert_int_equal(strlen(tok), 64);
    char salted[65];
    aws_client_token("0123456789abcdef0123456789abcdef", "i-1", salted);
    assert_int_equal(strlen(salted), 64);
    assert_string_not_equal(salted, tok);
    awt_call_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_console_fingerprint_prefers_ecdsa_in_the_cloud_init_block),
        cmocka_unit_test(test_image_pick_takes_the_newest_available_match),
        cmocka_unit_test(test_image_lookup_without_match_names_pattern_and_owners),
        cmocka_unit_test(test_names_and_client_tokens_derived_from_a_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
