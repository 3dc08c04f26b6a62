/* The user data of an autoscaling client pool: a valid POSIX sh script
 * whose files are the expected agent documents (tests/nomad/expected/
 * pool-*.json), with Consul's cloud auto-join, Nomad joining through
 * Consul, the pool token and never a management token, small enough for
 * EC2's 16 KB. */
#include "nomad_test.h"

#include <sys/wait.h>
#include <unistd.h>

#define NOMAD_KEY "bm9tYWQtZ29zc2lwLWtleS1mb3ItdGhlLXRlc3RzMzI="
#define CONSUL_KEY "Y29uc3VsLWdvc3NpcC1rZXktZm9yLXRoZS10ZXN0MzI="
#define POOL_TOKEN "99999999-8888-4777-8666-555555555555"
#define CA_PEM "-----BEGIN CERTIFICATE-----\nQ0EtZm9yLXRlc3Rz\n-----END CERTIFICATE-----\n"
#define CERT_PEM "-----BEGIN CERTIFICATE-----\ncG9vbC1jZXJ0\n-----END CERTIFICATE-----\n"
#define KEY_PEM                                                                                    \
    "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXBvb2wta2V5LWJ5dGVz\n-----END PRIVATE KEY-----\n"
#define JOIN "provider=aws region=us-east-1 tag_key=infra:join tag_value=web.prod.main.europe"

static nomad_settings settings(int secure)
{
    nomad_settings s;
    memset(&s, 0, sizeof(s));
    s.acl = s.tls = s.gossip = secure;
    s.raw_exec = 1;
    s.api_public = 1;
    return s;
}

static nomad_pool_in input(const nomad_settings *s, const char *authority)
{
    nomad_pool_in in = {.s = s,
                        .cluster = "main",
                        .region = "europe",
                        .datacenter = "dc-asg",
                        .authority = authority,
                        .join = JOIN};
    if (s->gossip) {
        in.gossip[NOMAD_AGENT_NOMAD] = NOMAD_KEY;
        in.gossip[NOMAD_AGENT_CONSUL] = CONSUL_KEY;
    }
    if (s->acl)
        in.consul_token = POOL_TOKEN;
    if (s->tls) {
        in.ca_pem = CA_PEM;
        in.cert_pem = CERT_PEM;
        in.key_pem = KEY_PEM;
    }
    return in;
}

/* The text of `put PATH MODE '...'` in script (one line: JSON has no
 * quote), or NULL; *mode gets MODE. Caller frees. */
static char *put_text(const char *script, const char *path, int *mode)
{
    char head[256];
    snprintf(head, sizeof(head), "\nput %s ", path);
    const char *p = strstr(script, head);
    if (p == NULL)
        return NULL;
    p += strlen(head);
    *mode = (int)strtol(p, NULL, 8);
    p = strchr(p, '\'');
    assert_non_null(p);
    const char *end = strchr(p + 1, '\'');
    assert_non_null(end);
    return strndup(p + 1, (size_t)(end - p - 1));
}

static void sh_syntax_ok(const char *script)
{
    char path[] = "/tmp/nomad-pool-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, script, strlen(script)), (ssize_t)strlen(script));
    close(fd);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "sh -n %s", path);
    int st = system(cmd);
    unlink(path);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void compare_with_expected(const nomad_pool_in *in, const char *expected_file)
{
    char *script = NULL;
    assert_int_equal(nomad_pool_user_data(in, &script), 0);
    sh_syntax_ok(script);
    char path[256];
    snprintf(path, sizeof(path), "expected/%s", expected_file);
    infra_json *expected = test_json_file(path);
    static const char *const files[4][2] = {{"/etc/consul.d/agent.json", "consul"},
                                            {"/etc/consul.d/secrets.json", "consul_secrets"},
                                            {"/etc/nomad.d/agent.json", "nomad"},
                                            {"/etc/nomad.d/secrets.json", "nomad_secrets"}};
    for (int i = 0; i < 4; i++) {
        int mode = 0;
        char *text = put_text(script, files[i][0], &mode);
        assert_non_null(text);
        assert_int_equal(mode, i % 2 ? 0600 : 0644);
        infra_json *got = test_json(text);
        char what[300];
        snprintf(what, sizeof(what), "%s: %s", expected_file, files[i][1]);
        test_json_equal(got, NJ->get(expected, files[i][1]), what);
        NJ->release(got);
        free(text);
    }
    NJ->release(expected);
    free(script);
}

static void test_secure_pool_matches_expected(void **state)
{
    (void)state;
    nomad_settings s = settings(1);
    nomad_pool_in in = input(&s, "europe");
    compare_with_expected(&in, "pool-europe-dc-asg.secure.json");
}

static void test_plain_pool_of_a_secondary_matches_expected(void **state)
{
    (void)state;
    nomad_settings s = settings(0);
    nomad_pool_in in = input(&s, "us");
    compare_with_expected(&in, "pool-europe-dc-asg.plain-secondary.json");
}

static void test_user_data_holds_the_pool_secrets_only_and_fits_ec2(void **state)
{
    (void)state;
    nomad_settings s = settings(1);
    nomad_pool_in in = input(&s, "europe");
    char *script = NULL;
    assert_int_equal(nomad_pool_user_data(&in, &script), 0);
    assert_true(strncmp(script, "#!/bin/sh\n", 10) == 0);
    /* EC2 takes 16 KB of user data before base64. */
    assert_true(strlen(script) < 12 * 1024);
    /* The token is the agent's and Nomad's Consul token, nothing else. */
    assert_null(strstr(script, "initial_management"));
    assert_null(strstr(script, "replication"));
    /* Nomad clients take no part in gossip: only Consul's key. */
    assert_null(strstr(script, NOMAD_KEY));
    assert_non_null(strstr(script, CONSUL_KEY));
    int mode = 0;
    char *key = put_text(script, "/etc/consul.d/tls/node-key.pem", &mode);
    assert_non_null(key);
    assert_string_equal(key, KEY_PEM);
    assert_int_equal(mode, 0600);
    free(key);
    /* Both init systems, one of them at boot. */
    assert_non_null(strstr(script, "if [ -d /run/systemd/system ]; then\n"));
    assert_non_null(strstr(script, "\nput /etc/systemd/system/nomad.service 0644 "));
    assert_non_null(strstr(script, "\nput /opt/infra/supervise 0755 "));
    assert_non_null(strstr(script, "/opt/infra/supervise start consul\n"));
    /* Nomad's TLS files are copies of Consul's, not a second copy in the text. */
    assert_null(strstr(script, "\nput /etc/nomad.d/tls/"));
    free(script);
}

static void test_join_entry_and_tag(void **state)
{
    (void)state;
    char *tag = nomad_pool_join_tag("web", "prod", "main", "europe");
    assert_string_equal(tag, "web.prod.main.europe");
    char *join = nomad_pool_join_aws("us-east-1", tag);
    assert_string_equal(join, JOIN);
    free(join);
    join = nomad_pool_join_aws(NULL, tag);
    assert_string_equal(join, "provider=aws tag_key=infra:join tag_value=web.prod.main.europe");
    free(join);
    free(tag);
    tag = nomad_pool_join_tag("", "", "main", "us");
    assert_string_equal(tag, "-.default.main.us");
    free(tag);
}

/* The gcp form: go-discover's gce entry on the servers' network tag, a
 * Compute name derived from the aws tag's value (the gcp plugin makes the
 * same tag, tests/gcp/test_gcp_pure.c), in a startup script that is still
 * the same agents' files. */
static void test_gce_join_entry_tag_and_startup_script(void **state)
{
    (void)state;
    char *tag = nomad_pool_join_tag("web", "prod", "main", "europe");
    char *network_tag = nomad_pool_join_gce_tag(tag);
    assert_string_equal(network_tag, "infra-join-0232776b31d55f01c8ac");
    char *join = nomad_pool_join_gce("infra-test", "europe-west1", network_tag);
    assert_string_equal(join, "provider=gce project_name=infra-test zone_pattern=europe-west1-.* "
                              "tag_value=infra-join-0232776b31d55f01c8ac");
    free(join);
    join = nomad_pool_join_gce(NULL, NULL, network_tag);
    assert_string_equal(join, "provider=gce tag_value=infra-join-0232776b31d55f01c8ac");
    free(join);
    free(network_tag);
    free(tag);
    tag = nomad_pool_join_tag("", "", "main", "us");
    network_tag = nomad_pool_join_gce_tag(tag);
    assert_string_equal(network_tag, "infra-join-a60ff92a327f05470b9d");
    free(network_tag);
    free(tag);

    nomad_settings s = settings(1);
    nomad_pool_in in = input(&s, "europe");
    in.join = "provider=gce project_name=p zone_pattern=europe-west1-.* tag_value=infra-join-x";
    char *script = NULL;
    assert_int_equal(nomad_pool_user_data(&in, &script), 0);
    int mode = 0;
    char *agent = put_text(script, "/etc/consul.d/agent.json", &mode);
    assert_non_null(agent);
    json_t *doc = json_loads(agent, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "retry_join"), 0)),
                        in.join);
    json_decref(doc);
    free(agent);
    assert_non_null(strstr(script, "#!/bin/sh\n"));
    free(script);
}

/* script with every absolute path of the agents' files under root. */
static char *rooted(const char *script, const char *root)
{
    static const char *const prefixes[] = {"/etc/", "/var/lib/", "/opt/infra", "/run/systemd/"};
    size_t cap = strlen(script) * 2 + 4096, n = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    for (const char *p = script; *p;) {
        size_t k = 0;
        while (k < 4 && strncmp(p, prefixes[k], strlen(prefixes[k])) != 0)
            k++;
        if (k < 4 && (p == script || (p[-1] != '.' && p[-1] != '/'))) {
            assert_true(n + strlen(root) + 1 < cap);
            memcpy(out + n, root, strlen(root));
            n += strlen(root);
        }
        assert_true(n + 2 < cap);
        out[n++] = *p++;
    }
    out[n] = '\0';
    return out;
}

static int run_sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run twice, as a GCE startup script runs at every boot: the first run
 * moves a package default aside, the second finds only its own files and
 * leaves no copy of them (of the secrets above all) behind. */
static void test_startup_script_runs_again_unchanged(void **state)
{
    (void)state;
    nomad_settings s = settings(1);
    nomad_pool_in in = input(&s, "europe");
    char *script = NULL;
    assert_int_equal(nomad_pool_user_data(&in, &script), 0);
    char root[] = "/tmp/nomad-pool-root-XXXXXX";
    assert_non_null(mkdtemp(root));
    char *text = rooted(script, root);
    char cmd[1024];
    /* systemd "runs", its systemctl answers; a package default is there */
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s/run/systemd/system %s/bin %s/etc/consul.d && "
             "printf '#!/bin/sh\\nexit 0\\n' > %s/bin/systemctl && chmod +x %s/bin/systemctl && "
             "echo 'data_dir = \"/opt/consul\"' > %s/etc/consul.d/consul.hcl",
             root, root, root, root, root, root);
    assert_int_equal(run_sh(cmd), 0);
    char path[300];
    snprintf(path, sizeof(path), "%s/user-data", root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    for (int run = 0; run < 2; run++) {
        snprintf(cmd, sizeof(cmd), "PATH=%s/bin:$PATH sh %s/user-data >/dev/null", root, root);
        assert_int_equal(run_sh(cmd), 0);
    }
    snprintf(cmd, sizeof(cmd),
             "test -f %s/etc/consul.d/consul.hcl" NOMAD_DISABLED_SUFFIX
             " && test ! -e %s/etc/consul.d/consul.hcl "
             "&& test -f %s/etc/consul.d/secrets.json && test -f %s/etc/nomad.d/agent.json && "
             "test -z \"$(find %s/etc -name '*.json" NOMAD_DISABLED_SUFFIX "')\"",
             root, root, root, root, root);
    assert_int_equal(run_sh(cmd), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    assert_int_equal(run_sh(cmd), 0);
    free(text);
    free(script);
}

int main(void)
{
    test_use_host();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secure_pool_matches_expected),
        cmocka_unit_test(test_plain_pool_of_a_secondary_matches_expected),
        cmocka_unit_test(test_user_data_holds_the_pool_secrets_only_and_fits_ec2),
        cmocka_unit_test(test_join_entry_and_tag),
        cmocka_unit_test(test_gce_join_entry_tag_and_startup_script),
        cmocka_unit_test(test_startup_script_runs_again_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
