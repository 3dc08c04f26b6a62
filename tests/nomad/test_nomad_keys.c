/* The cluster's secrets through the host's secrets service: names, formats,
 * made once and kept (also across a save and reload of the secrets file),
 * node certificates stable for the same names. */
#include "nomad_test.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <unistd.h>

#include "services/secrets.h"

static const infra_plugin *plugin;

static infra_scheduler *configure(const char *settings)
{
    infra_call call;
    test_diags d;
    infra_scheduler *ctx = NULL;
    test_call(&call, &d);
    infra_json *s = test_json(settings);
    assert_int_equal(plugin->scheduler->configure(&call, s, &ctx), 0);
    NJ->release(s);
    host_call_clear(&call);
    return ctx;
}

static char *stored(const char *name)
{
    infra_secret *s = NULL;
    if (secrets_lookup(name, &s) < 0)
        return NULL;
    char *copy = strdup(secrets_value(s));
    secrets_free(s);
    return copy;
}

static int is_uuid4(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) {
            return 0;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

static int base64_bytes(const char *s)
{
    unsigned char out[128];
    int n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)strlen(s));
    if (n < 0)
        return -1;
    size_t len = strlen(s);
    return n - (len > 0 && s[len - 1] == '=') - (len > 1 && s[len - 2] == '=');
}

static int setup(void **state)
{
    secrets_clear();
    return 0;
}

static void test_keys_are_made_once_under_nomad_cluster_names(void **state)
{
    infra_scheduler *ctx = configure("{\"name\": \"main\", \"environment\": \"test\"}");
    infra_call call;
    test_diags d;
    nomad_keys k;
    test_call(&call, &d);
    assert_int_equal(nomad_keys_load(ctx, &call, 1, &k), 0);

    char *ng = stored("nomad.main.nomad_gossip_key"), *cg = stored("nomad.main.consul_gossip_key");
    char *nt = stored("nomad.main.nomad_management_token");
    char *ct = stored("nomad.main.consul_management_token");
    char *cak = stored("nomad.main.ca.key"), *cac = stored("nomad.main.ca.cert");
    assert_non_null(ng);
    assert_non_null(cg);
    assert_non_null(nt);
    assert_non_null(ct);
    assert_non_null(cak);
    assert_non_null(cac);
    assert_int_equal(base64_bytes(ng), 32);
    assert_int_equal(base64_bytes(cg), 32);
    assert_true(is_uuid4(nt));
    assert_true(is_uuid4(ct));
    assert_string_not_equal(ng, cg);
    assert_string_not_equal(nt, ct);
    assert_non_null(strstr(cak, "BEGIN PRIVATE KEY"));
    assert_non_null(strstr(cac, "BEGIN CERTIFICATE"));
    assert_string_equal(nomad_keys_token(&k, NOMAD_AGENT_NOMAD), nt);
    assert_string_equal(pu_host->secrets->value(k.ca_cert), cac);
    nomad_keys_free(&k);

    /* a second load (a second run) finds the same values */
    assert_int_equal(nomad_keys_load(ctx, &call, 1, &k), 0);
    assert_string_equal(pu_host->secrets->value(k.gossip[NOMAD_AGENT_NOMAD]), ng);
    assert_string_equal(pu_host->secrets->value(k.gossip[NOMAD_AGENT_CONSUL]), cg);
    assert_string_equal(nomad_keys_token(&k, NOMAD_AGENT_CONSUL), ct);
    assert_string_equal(pu_host->secrets->value(k.ca_cert), cac);
    nomad_keys_free(&k);
    assert_int_equal(d.errors, 0);

    char *name = nomad_secret_name("main", "ca.key");
    assert_string_equal(name, "nomad.main.ca.key");
    free(name);
    free(ng);
    free(cg);
    free(nt);
    free(ct);
    free(cak);
    free(cac);
    host_call_clear(&call);
    plugin->scheduler->close(ctx);
}

static void test_secrets_survive_a_save_and_reload_of_the_secrets_file(void **state)
{
    infra_scheduler *ctx = configure("{\"name\": \"keep\", \"environment\": \"test\"}");
    infra_call call;
    test_diags d;
    nomad_keys k;
    char path[] = "/tmp/nomad-secrets-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    test_call(&call, &d);
    assert_int_equal(nomad_keys_load(ctx, &call, 1, &k), 0);
    char *ca = strdup(pu_host->secrets->value(k.ca_cert));
    char *tok = strdup(nomad_keys_token(&k, NOMAD_AGENT_NOMAD));
    nomad_keys_free(&k);
    char *err = NULL;
    assert_int_equal(secrets_file_save(path, &err), 0);
    secrets_clear();
    assert_int_equal(secrets_file_load(path, &err), 0);
    unlink(path);
    assert_int_equal(nomad_keys_load(ctx, &call, 0, &k), 0);
    assert_string_equal(pu_host->secrets->value(k.ca_cert), ca);
    assert_string_equal(nomad_keys_token(&k, NOMAD_AGENT_NOMAD), tok);
    nomad_keys_free(&k);
    free(ca);
    free(tok);
    host_call_clear(&call);
    plugin->scheduler->close(ctx);
}

static void test_a_missing_secret_without_create_is_named_never_shown(void **state)
{
    infra_scheduler *ctx = configure("{\"name\": \"fresh\", \"environment\": \"test\"}");
    infra_call call;
    test_diags d;
    nomad_keys k;
    test_call(&call, &d);
    assert_int_equal(nomad_keys_load(ctx, &call, 0, &k), INFRA_ENOTFOUND);
    assert_non_null(strstr(d.text, "cluster fresh: the secret nomad.fresh.consul_gossip_key is "
                                   "missing from the secrets file"));
    host_call_clear(&call);
    plugin->scheduler->close(ctx);
}

static void test_switched_off_features_make_no_secrets(void **state)
{
    infra_scheduler *ctx =
        configure("{\"name\": \"open\", \"environment\": \"test\", \"acl\": false,"
                  " \"tls\": false, \"gossip_encryption\": false}");
    infra_call call;
    test_diags d;
    nomad_keys k;
    test_call(&call, &d);
    assert_int_equal(nomad_keys_load(ctx, &call, 1, &k), 0);
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++) {
        assert_null(k.gossip[a]);
        assert_null(k.token[a]);
    }
    assert_null(k.ca_cert);
    assert_null(stored("nomad.open.nomad_gossip_key"));
    assert_null(stored("nomad.open.ca.key"));
    nomad_keys_free(&k);
    host_call_clear(&call);
    plugin->scheduler->close(ctx);
}

static void test_node_certificate_is_kept_for_the_same_names_and_reissued_for_new_ones(void **state)
{
    infra_scheduler *ctx = configure("{\"name\": \"main\", \"environment\": \"test\"}");
    infra_call call;
    test_diags d;
    nomad_keys k;
    nomad_node n;
    memset(&n, 0, sizeof(n));
    n.name = "main-europe-dc-a-server-0";
    n.role = "server";
    n.server = 1;
    n.region = "europe";
    n.datacenter = "dc-a";
    n.private_ip = "10.213.64.2";
    test_call(&call, &d);
    assert_int_equal(nomad_keys_load(ctx, &call, 1, &k), 0);

    nomad_node_cert a, b, c;
    assert_int_equal(nomad_node_cert_load(ctx, &call, &k, &n, &a), 0);
    assert_int_equal(nomad_node_cert_load(ctx, &call, &k, &n, &b), 0);
    const infra_secret_api *s = pu_host->secrets;
    assert_string_equal(s->value(a.cert), s->value(b.cert));
    assert_string_equal(s->value(a.key), s->value(b.key));
    char *kept = stored("nomad.main.node.main-europe-dc-a-server-0.cert");
    assert_non_null(kept);
    assert_string_equal(kept, s->value(a.cert));
    free(kept);

    n.private_ip = "10.213.64.20";
    assert_int_equal(nomad_node_cert_load(ctx, &call, &k, &n, &c), 0);
    assert_string_not_equal(s->value(c.cert), s->value(a.cert));
    assert_string_equal(s->value(c.key), s->value(a.key)); /* the key stays */
    nomad_cert_names names;
    nomad_node_cert_names(&n, &names);
    assert_int_equal(
        nomad_tls_cert_fits(s->value(k.ca_cert), s->value(c.key), s->value(c.cert), &names), 1);
    nomad_node_cert_free(&a);
    nomad_node_cert_free(&b);
    nomad_node_cert_free(&c);
    nomad_keys_free(&k);
    host_call_clear(&call);
    plugin->scheduler->close(ctx);
}

static void test_pool_token_and_certificate_are_kept_and_name_no_server(void **state)
{
    (void)state;
    infra_scheduler *ctx = configure("{\"name\": \"main\", \"environment\": \"test\"}");
    infra_call call;
    test_diags d;
    nomad_keys k;
    test_call(&call, &d);
    assert_int_equal(nomad_keys_load(ctx, &call, 1, &k), 0);
    infra_secret *t1 = NULL, *t2 = NULL;
    assert_int_equal(nomad_keys_pool_token(ctx, &call, 1, &t1), 0);
    assert_int_equal(nomad_keys_pool_token(ctx, &call, 0, &t2), 0);
    const infra_secret_api *s = pu_host->secrets;
    assert_true(is_uuid4(s->value(t1)));
    assert_string_equal(s->value(t1), s->value(t2));
    assert_string_not_equal(s->value(t1), nomad_keys_token(&k, NOMAD_AGENT_CONSUL));
    char *kept = stored("nomad.main.consul_pool_token");
    assert_non_null(kept);
    assert_string_equal(kept, s->value(t1));
    free(kept);
    s->free(t1);
    s->free(t2);

    nomad_node_cert a, b;
    assert_int_equal(nomad_pool_cert_load(ctx, &call, &k, "europe", "dc-asg", &a), 0);
    assert_int_equal(nomad_pool_cert_load(ctx, &call, &k, "europe", "dc-asg", &b), 0);
    assert_string_equal(s->value(a.cert), s->value(b.cert));
    kept = stored("nomad.main.node.main-europe-dc-asg-pool.cert");
    assert_non_null(kept);
    free(kept);
    nomad_node pool;
    memset(&pool, 0, sizeof(pool));
    pool.name = "main-europe-dc-asg-pool";
    pool.role = "client";
    pool.region = "europe";
    nomad_cert_names names;
    nomad_node_cert_names(&pool, &names);
    assert_int_equal(names.nip, 1); /* 127.0.0.1 only */
    assert_string_equal(names.dns[0], "client.europe.nomad");
    assert_int_equal(
        nomad_tls_cert_fits(s->value(k.ca_cert), s->value(a.key), s->value(a.cert), &names), 1);
    nomad_node_cert_free(&a);
    nomad_node_cert_free(&b);
    nomad_keys_free(&k);
    assert_int_equal(d.errors, 0);
    host_call_clear(&call);
    plugin->scheduler->close(ctx);
}

int main(void)
{
    test_use_host();
    if (infra_plugin_entry(host_table(), &plugin) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_keys_are_made_once_under_nomad_cluster_names, setup),
        cmocka_unit_test_setup(test_secrets_survive_a_save_and_reload_of_the_secrets_file, setup),
        cmocka_unit_test_setup(test_a_missing_secret_without_create_is_named_never_shown, setup),
        cmocka_unit_test_setup(test_switched_off_features_make_no_secrets, setup),
        cmocka_unit_test_setup(
            test_node_certificate_is_kept_for_the_same_names_and_reissued_for_new_ones, setup),
        cmocka_unit_test_setup(test_pool_token_and_certificate_are_kept_and_name_no_server, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
