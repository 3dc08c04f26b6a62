/* The install settings of the marathon scheduler: refused at the key that
 * is wrong (an unknown item, ZooKeeper as a program, one program for both
 * Mesos programs, a wrong hash, a .zip without mesos-agent, a *_binary
 * beside an installed program), which node takes which item, and a
 * missing program named with every way out. The upload and install
 * themselves are plugin_install's (tests/install). */
#include "marathon_test.h"

#include <openssl/evp.h>
#include <unistd.h>
#include <zip.h>

static const infra_plugin *plugin;
static char dir[] = "/tmp/infra-marathon-install.XXXXXX";

/* 64 hex digits nobody's file has. */
#define NOBODY "0000000000000000000000000000000000000000000000000000000000000000"

static void sha256_of(const char *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
    for (unsigned int i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

/* Writes dir/name with text; its path into path. */
static void write_file(const char *name, const char *text, char path[512])
{
    snprintf(path, 512, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    fclose(f);
}

/* A zip at dir/name holding the members named (NULL-terminated). */
static void write_zip(const char *name, const char *const *members, char path[512])
{
    int err = 0;
    snprintf(path, 512, "%s/%s", dir, name);
    unlink(path);
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    assert_non_null(z);
    for (size_t i = 0; members[i]; i++) {
        zip_source_t *src = zip_source_buffer(z, "#!/bin/sh\n", 10, 0);
        assert_true(zip_file_add(z, members[i], src, ZIP_FL_OVERWRITE) >= 0);
    }
    assert_int_equal(zip_close(z), 0);
}

static char *file_sha256(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    char *out = malloc(65);
    sha256_of(buf, n, out);
    return out;
}

static void test_install_settings_refused_at_their_key(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"{\"name\": \"m\", \"install\": {\"consul\": {\"file\": \"/srv/c\", \"sha256\": \"" NOBODY
         "\"}}}",
         "[install.consul] install: unknown key \"consul\": install takes zookeeper, mesos, "
         "marathon and bin_dir\n"},
        {"{\"name\": \"m\", \"install\": {\"mesos\": {\"file\": \"/srv/mesos\", \"sha256\": "
         "\"" NOBODY "\"}}}",
         "[install.mesos.file] install.mesos: one program cannot be both mesos-master and "
         "mesos-agent: give a .zip holding both, or mesos's Debian packages\n"},
        {"{\"name\": \"m\", \"install\": {\"zookeeper\": {\"file\": \"/srv/zookeeper.zip\", "
         "\"sha256\": \"" NOBODY "\"}}}",
         "[install.zookeeper.file] install.zookeeper: zookeeper is installed from Debian "
         "packages: give a .deb or a directory of .deb files, not /srv/zookeeper.zip\n"},
        {"{\"name\": \"m\", \"install\": {\"marathon\": {\"file\": \"/srv/marathon\", \"sha256\": "
         "\"abc\"}}}",
         "[install.marathon.sha256] install.marathon.sha256 must be 64 hexadecimal digits (a "
         "SHA-256), not \"abc\"\n"},
        {"{\"name\": \"m\", \"install\": {\"marathon\": {\"file\": \"/srv/marathon\"}}}",
         "[install.marathon.sha256] install.marathon needs sha256: the SHA-256 of /srv/marathon "
         "as published with it (sha256sum prints it); nothing is installed unchecked\n"},
        {"{\"name\": \"m\", \"install\": {\"bin_dir\": \"opt/bin\"}}",
         "[install.bin_dir] install.bin_dir must be an absolute directory on the nodes (letters, "
         "digits and . _ - + /)\n"},
        {"{\"name\": \"m\", \"install\": [\"mesos\"]}",
         "[install] install must be a map of zookeeper, mesos, marathon and bin_dir (each item "
         "{file, sha256})\n"},
    };
    test_configure_refuses(plugin, cases, sizeof(cases) / sizeof(cases[0]));
    test_diags d;
    assert_int_equal(
        test_configure(
            plugin,
            "{\"name\": \"m\", \"install\": {\"bin_dir\": \"/opt/bin\", \"mesos\": {\"file\": "
            "\"/srv/mesos.zip\", \"sha256\": \"" NOBODY "\"}, \"zookeeper\": {\"file\": "
            "\"/srv/zk\", \"sha256\": {\"zookeeper_3.8.0-11_all.deb\": \"" NOBODY "\"}}}}",
            &d),
        0);
}

/* The settings (JSON text) and the prod datacenter's node_settings.install
 * (NULL: none) to validate the fixture with. */
typedef struct install_edit {
    const char *settings;
    const char *dc_install;
} install_edit;

static void set_install(json_t *j, const void *arg)
{
    const install_edit *e = arg;
    json_error_t err;
    json_object_set_new(j, "settings", json_loads(e->settings, 0, &err));
    if (e->dc_install)
        json_object_set_new(json_object_get(test_dc(j, "prod"), "node_settings"), "install",
                            json_loads(e->dc_install, 0, &err));
}

static int validate_with(const char *settings, const char *dc_install, test_diags *d)
{
    install_edit e = {settings, dc_install};
    return test_validate_edited(plugin, set_install, &e, d);
}

static void test_install_files_checked_at_validate(void **state)
{
    (void)state;
    char marathon[512], both[512], master_only[512], text[4096], settings[2048], dc[1024];
    test_diags d;
    write_file("marathon", "#!/bin/sh\nexec java -jar marathon.jar \"$@\"\n", marathon);
    write_zip("mesos.zip", (const char *const[]){"mesos/mesos-master", "mesos/mesos-agent", NULL},
              both);
    write_zip("master-only.zip", (const char *const[]){"mesos-master", NULL}, master_only);
    char *sm = file_sha256(marathon), *sb = file_sha256(both), *so = file_sha256(master_only);

    /* the right files: nothing to say */
    snprintf(settings, sizeof(settings),
             "{\"install\": {\"marathon\": {\"file\": \"%s\", \"sha256\": \"%s\"}, \"mesos\": "
             "{\"file\": \"%s\", \"sha256\": \"%s\"}}}",
             marathon, sm, both, sb);
    assert_int_equal(validate_with(settings, NULL, &d), 0);
    assert_string_equal(d.text, "");

    /* a wrong hash, before anything is sent anywhere */
    snprintf(settings, sizeof(settings),
             "{\"install\": {\"marathon\": {\"file\": \"%s\", \"sha256\": \"" NOBODY "\"}}}",
             marathon);
    assert_int_equal(validate_with(settings, NULL, &d), INFRA_EINVALID);
    snprintf(text, sizeof(text),
             "[install.marathon.sha256] install.marathon: %s has SHA-256 %s, not " NOBODY
             " as the topology says: refusing to install it (a new version needs its own "
             "sha256)\n",
             marathon, sm);
    assert_string_equal(d.text, text);

    /* a .zip without mesos-agent: the agents could not have it */
    snprintf(settings, sizeof(settings),
             "{\"install\": {\"mesos\": {\"file\": \"%s\", \"sha256\": \"%s\"}}}", master_only, so);
    assert_int_equal(validate_with(settings, NULL, &d), INFRA_EINVALID);
    snprintf(text, sizeof(text),
             "[install.mesos] install.mesos: %s holds no file called mesos-agent: it should hold "
             "the program\n",
             master_only);
    assert_string_equal(d.text, text);

    /* a file not there yet is only a warning: down does not need it */
    assert_int_equal(validate_with("{\"install\": {\"marathon\": {\"file\": "
                                   "\"/nonexistent/marathon\", \"sha256\": \"" NOBODY "\"}}}",
                                   NULL, &d),
                     0);
    assert_int_equal(d.errors, 0);
    assert_non_null(strstr(d.text, "[install.marathon] install.marathon: cannot read "
                                   "/nonexistent/marathon now (No such file or directory)"));

    /* a datacenter's own install, checked at its own key */
    assert_int_equal(
        validate_with("{}", "{\"java\": {\"file\": \"/srv/java\", \"sha256\": \"" NOBODY "\"}}",
                      &d),
        INFRA_EINVALID);
    assert_string_equal(d.text, "[regions.eu.datacenters.prod.node_settings.install.java] "
                                "regions.eu.datacenters.prod.node_settings.install: unknown key "
                                "\"java\": install takes zookeeper, mesos, marathon and bin_dir\n");
    snprintf(dc, sizeof(dc), "{\"mesos\": {\"file\": \"%s\", \"sha256\": \"" NOBODY "\"}}", both);
    assert_int_equal(validate_with("{}", dc, &d), INFRA_EINVALID);
    assert_non_null(strstr(d.text, "[regions.eu.datacenters.prod.node_settings.install.mesos."
                                   "sha256] regions.eu.datacenters.prod.node_settings.install."
                                   "mesos: "));

    /* mesos_agent_binary beside an installed mesos-agent names a second program */
    snprintf(settings, sizeof(settings),
             "{\"mesos_agent_binary\": \"/usr/sbin/mesos-agent\", \"install\": {\"bin_dir\": "
             "\"/opt/bin\", \"mesos\": {\"file\": \"%s\", \"sha256\": \"%s\"}}}",
             both, sb);
    assert_int_equal(validate_with(settings, NULL, &d), INFRA_EINVALID);
    assert_string_equal(d.text, "[mesos_agent_binary] mesos_agent_binary and "
                                "clusters.mesos.install.mesos both say which mesos-agent to run: "
                                "the installed program runs from /opt/bin/mesos-agent; leave "
                                "mesos_agent_binary out\n");
    free(sm);
    free(sb);
    free(so);
}

/* "zookeeper,mesos-master,marathon" for node name of fixture (rendered). */
static void expect_wants(const marathon_cluster *c, const char *name, const char *want)
{
    const marathon_node *n = marathon_cluster_node(c, name);
    assert_non_null(n);
    const char *program[MARATHON_ITEM_COUNT];
    marathon_install_wants(marathon_cluster_region(c, n->region), n, program);
    char *got = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&got, &len);
    assert_non_null(f);
    const char *sep = "";
    for (int i = 0; i < MARATHON_ITEM_COUNT; i++) {
        if (program[i]) {
            fprintf(f, "%s%s=%s", sep, marathon_item_name((marathon_item)i), program[i]);
            sep = ",";
        }
    }
    fclose(f);
    assert_string_equal(got, want);
    free(got);
}

static void test_which_node_takes_which_item(void **state)
{
    (void)state;
    static const char *const fixtures[] = {"fixtures/cluster.json", "fixtures/dedicated.json"};
    static const char *const cases[][2] = {
        {"mesos-eu-masters-server-1", "zookeeper=zookeeper,mesos=mesos-master,marathon=marathon"},
        {"mesos-eu-staging-client-0", "mesos=mesos-agent"},
        {"mesos-eu-prod-client-0", "mesos=mesos-agent"},
        {"mesos-eu-edge-client-0", ""},
        /* a region with ZooKeeper nodes of its own: the masters take no ZooKeeper */
        {"mesos-us-zk-server-2", "zookeeper=zookeeper"},
        {"mesos-us-masters-server-0", "mesos=mesos-master,marathon=marathon"},
    };
    for (size_t f = 0; f < 2; f++) {
        infra_call call;
        test_diags d;
        marathon_cluster c;
        test_call(&call, &d);
        infra_json *json = test_json_file(fixtures[f]);
        assert_int_equal(marathon_cluster_parse(&call, json, 1, &c), 0);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
            if (marathon_cluster_node(&c, cases[i][0]))
                expect_wants(&c, cases[i][0], cases[i][1]);
        marathon_cluster_free(&c);
        MJ->release(json);
        host_call_clear(&call);
    }
}

static void test_a_missing_program_names_both_ways_out(void **state)
{
    (void)state;
    char *t =
        marathon_missing_text("mesos", "mesos-eu-prod-client-0", "mesos-agent", MARATHON_BIN_AGENT);
    assert_string_equal(t, "node mesos-eu-prod-client-0: mesos-agent is not installed: give the "
                           "node an image that has it, or set clusters.mesos.install.mesos: "
                           "{file: ..., sha256: ...} to have infra install it (or "
                           "mesos_agent_binary to where it is; see docs/marathon.md, "
                           "\"Installing the programs\")");
    free(t);
    t = marathon_missing_text("mesos", "mesos-eu-masters-server-0", "marathon",
                              MARATHON_BIN_MARATHON);
    assert_non_null(strstr(t, "clusters.mesos.install.marathon: {file: ..., sha256: ...}"));
    free(t);
    /* no item gives haproxy: only the image or the setting */
    t = marathon_missing_text("mesos", "mesos-eu-edge-client-0", "haproxy", MARATHON_BIN_HAPROXY);
    assert_string_equal(t, "node mesos-eu-edge-client-0: haproxy is not installed: give the node "
                           "an image that has it, or set haproxy_binary to where it is");
    free(t);
}

static int setup(void **state)
{
    (void)state;
    test_use_host();
    if (mkdtemp(dir) == NULL)
        return -1;
    return infra_plugin_entry(host_table(), &plugin);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_install_settings_refused_at_their_key),
        cmocka_unit_test(test_install_files_checked_at_validate),
        cmocka_unit_test(test_which_node_takes_which_item),
        cmocka_unit_test(test_a_missing_program_names_both_ways_out),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
