/* The pure pieces: the console-output fingerprint parser, image choice by
 * glob and creation date, and names and tokens derived from a call. */
#include "aws_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static void test_connection_draining_forms_and_refusals(void **state)
{
    (void)state;
    awt_reset();
    awt_call c;
    awt_call_init(&c, "load_balancer.web", NULL);
    aws_draining d;
    infra_json *none = awt_json("{\"listen\": [80]}");
    infra_json *on = awt_json("{\"connection_draining\": {\"timeout\": 30}}");
    infra_json *off = awt_json("{\"connection_draining\": {\"enabled\": false}}");
    infra_json *typo = awt_json("{\"connection_draining\": {\"timout\": 30}}");
    infra_json *zero = awt_json("{\"connection_draining\": {\"timeout\": 0}}");
    assert_int_equal(aws_lb_draining(&c.call, none, &d), 0);
    assert_int_equal(d.present, 0);
    assert_int_equal(aws_lb_draining(&c.call, on, &d), 0);
    assert_true(d.present && d.enabled && d.timeout == 30);
    assert_int_equal(aws_lb_draining(&c.call, off, &d), 0);
    assert_true(d.present && !d.enabled && d.timeout == 300);
    assert_int_equal(c.ndiags, 0);
    assert_int_equal(aws_lb_draining(&c.call, typo, &d), INFRA_EINVALID);
    assert_non_null(strstr(c.diags, "timout"));
    assert_int_equal(aws_lb_draining(&c.call, zero, &d), INFRA_EINVALID);
    assert_string_equal(c.last_attr, "connection_draining.timeout");
    pu_host->json->release(none);
    pu_host->json->release(on);
    pu_host->json->release(off);
    pu_host->json->release(typo);
    pu_host->json->release(zero);
    awt_call_clear(&c);
}

/* The first line of what cmd prints (caller frees), or NULL. */
static char *first_line_of(const char *cmd)
{
    FILE *f = popen(cmd, "r");
    char line[1024];
    char *out = NULL;
    if (f == NULL)
        return NULL;
    if (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        out = strdup(line);
    }
    pclose(f);
    return out;
}

static void test_host_key_is_one_openssh_loads_and_follows_seed_and_token(void **state)
{
    (void)state;
    awt_reset();
    aws_host_key a, b, c;
    const char *seed = "5e3d0c9f1a2b4c6d8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
    assert_int_equal(aws_host_key_derive(seed, strlen(seed), "token-1", &a), 0);
    assert_int_equal(aws_host_key_derive(seed, strlen(seed), "token-1", &b), 0);
    assert_int_equal(aws_host_key_derive(seed, strlen(seed), "token-2", &c), 0);
    /* The same token, the same key: a repeated create sends the same bytes. */
    assert_string_equal(a.private_pem, b.private_pem);
    assert_string_equal(a.fingerprint, b.fingerprint);
    assert_string_not_equal(a.fingerprint, c.fingerprint);
    assert_true(strncmp(a.private_pem, "-----BEGIN EC PRIVATE KEY-----\n", 31) == 0);
    assert_true(strncmp(a.fingerprint, "SHA256:", 7) == 0 && strlen(a.fingerprint) == 50);

    /* OpenSSH reads the private key, derives the same public key and
     * prints the same fingerprint. */
    if (system("command -v ssh-keygen >/dev/null 2>&1") != 0)
        skip();
    char dir[] = "/tmp/infra-hostkey.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64], cmd[256];
    snprintf(path, sizeof(path), "%s/key", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(a.private_pem, f);
    fclose(f);
    chmod(path, 0600);
    snprintf(cmd, sizeof(cmd), "ssh-keygen -y -f %s", path);
    char *pub = first_line_of(cmd);
    assert_non_null(pub);
    size_t typed = strlen(a.public_line) - strlen(" infra");
    assert_true(strncmp(pub, a.public_line, typed) == 0);
    snprintf(cmd, sizeof(cmd), "ssh-keygen -l -f %s | cut -d' ' -f2", path);
    char *fp = first_line_of(cmd);
    assert_non_null(fp);
    assert_string_equal(fp, a.fingerprint);
    free(pub);
    free(fp);
    unlink(path);
    rmdir(dir);
    aws_host_key_clear(&a);
    aws_host_key_clear(&b);
    aws_host_key_clear(&c);
}

static void test_user_data_with_key_keeps_the_users_data_as_cloud_init_reads_it(void **state)
{
    (void)state;
    awt_reset();
    aws_host_key k;
    assert_int_equal(aws_host_key_derive("seed", 4, "token", &k), 0);
    /* Without user data: the cloud-config alone. */
    char *alone = aws_user_data_with_key(NULL, &k);
    assert_true(
        strncmp(alone, "#cloud-config\nssh_keys:\n  ecdsa_private: |\n    -----BEGIN", 52) == 0);
    assert_non_null(strstr(alone, "\n  ecdsa_public: ecdsa-sha2-nistp256 "));
    /* A MIME document of the user's is a part as it stands; the boundary
     * is not in it, and the same data gives the same bytes. */
    const char *mime = "Content-Type: multipart/mixed; boundary=\"X\"\nMIME-Version: 1.0\n\n"
                       "--X\nContent-Type: text/x-shellscript\n\n#!/bin/sh\ntrue\n--X--\n";
    char *one = aws_user_data_with_key(mime, &k), *two = aws_user_data_with_key(mime, &k);
    assert_string_equal(one, two);
    const char *b = strstr(one, "boundary=\"==infra-");
    assert_non_null(b);
    char boundary[64];
    assert_int_equal(sscanf(b, "boundary=\"%63[^\"]\"", boundary), 1);
    assert_null(strstr(mime, boundary));
    char *part = strstr(one, mime);
    assert_non_null(part);
    assert_true(part > strstr(one, "Content-Type: text/cloud-config"));
    assert_null(strstr(one, "text/x-not-multipart"));
    aws_free_secret_copy(alone);
    aws_free_secret_copy(one);
    aws_free_secret_copy(two);
    aws_host_key_clear(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_console_fingerprint_prefers_ecdsa_in_the_cloud_init_block),
        cmocka_unit_test(test_image_pick_takes_the_newest_available_match),
        cmocka_unit_test(test_image_lookup_without_match_names_pattern_and_owners),
        cmocka_unit_test(test_names_and_client_tokens_derived_from_a_call),
        cmocka_unit_test(test_connection_draining_forms_and_refusals),
        cmocka_unit_test(test_host_key_is_one_openssh_loads_and_follows_seed_and_token),
        cmocka_unit_test(test_user_data_with_key_keeps_the_users_data_as_cloud_init_reads_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
