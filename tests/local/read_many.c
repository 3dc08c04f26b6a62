/* The local provider's read_many slot, loaded from the build tree and
 * driven through its ops with the real host table, on real namespace
 * hosts: for every resource type a batch answers exactly what read()
 * answers for each resource, before and after a change of each kind made
 * behind infra's back (a bridge deleted, an sshd killed, a host's
 * nftables table deleted, haproxy killed, the hosts file rewritten, a
 * host's network namespace deleted). Needs root and the local provider's
 * tools; exits 77 (skipped) otherwise. Every object has a prefix and a
 * subnet of this run only. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "plugin/host.h"

#define PLUGIN_PATH INFRA_BUILD_DIR "/plugins/local.so"

static void *handle;
static const infra_provider_ops *ops;
static infra_provider *prov;
static char tmp[128], run_dir[256], prefix[16];

/* What the test makes: its type, address, token and state. */
typedef struct res {
    const char *type;
    const char *address;
    const char *token;
    json_t *state;
} res;

enum { NET, NET_SPARE, HOST0, HOST1, HOST2, FW, LB, DNS, NRES };
static res world[NRES] = {
    {"network", "network.main", "1a000000000000000000000000000000", NULL},
    {"network", "network.spare", "1b000000000000000000000000000000", NULL},
    {"instance", "instance.web[0]", "1c000000000000000000000000000000", NULL},
    {"instance", "instance.web[1]", "1d000000000000000000000000000000", NULL},
    {"instance", "instance.web[2]", "1e000000000000000000000000000000", NULL},
    {"firewall", "firewall.web", "1f000000000000000000000000000000", NULL},
    {"load_balancer", "load_balancer.web", "2a000000000000000000000000000000", NULL},
    {"dns_record", "dns_record.www", "2b000000000000000000000000000000", NULL},
};

static const char *str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

/* Runs a command line of the test's own strings; its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* plan + apply of a create, as the engine does; 0 or the error. */
static int create(res *r, json_t *config)
{
    infra_call call;
    infra_json *planned = NULL, *replace = NULL, *out = NULL;
    host_call_init(&call, r->address, "local");
    call.token = r->token;
    int error = ops->plan(prov, &call, r->type, NULL, host_json(config), &planned, &replace);
    if (error == 0)
        error = ops->apply(prov, &call, r->type, NULL, planned, NULL, 0, &out, NULL, NULL);
    if (error != 0)
        fprintf(stderr, "create %s: %d: %s\n", r->address, error,
                call.first_error ? call.first_error : "");
    json_decref(host_jansson(planned));
    json_decref(host_jansson(replace));
    json_decref(config);
    host_call_clear(&call);
    r->state = host_jansson(out);
    return error;
}

/* read_many of rs, each answer checked against read()'s; the results. */
static void check_batch(res *const *rs, size_t n, json_t **outs, int *results)
{
    infra_call whole, each[4];
    infra_read_item items[4];
    host_call_init(&whole, "", "local");
    for (size_t i = 0; i < n; i++) {
        host_call_init(&each[i], rs[i]->address, "local");
        items[i] = (infra_read_item){
            .size = sizeof(infra_read_item), .call = &each[i], .state = host_json(rs[i]->state)};
    }
    assert_int_equal(ops->read_many(prov, &whole, rs[0]->type, items, n), 0);
    for (size_t i = 0; i < n; i++) {
        infra_call call;
        infra_json *one = NULL;
        host_call_init(&call, rs[i]->address, "local");
        int rc = ops->read(prov, &call, rs[i]->type, host_json(rs[i]->state), NULL, 0, &one);
        if (rc != items[i].result)
            fail_msg("%s: read() %d, read_many %d", rs[i]->address, rc, items[i].result);
        if (rc == 0 && !json_equal(host_jansson(one), host_jansson(items[i].out))) {
            char *x = json_dumps(host_jansson(one), JSON_SORT_KEYS);
            char *y = json_dumps(host_jansson(items[i].out), JSON_SORT_KEYS);
            fail_msg("%s: read() %s\nread_many %s", rs[i]->address, x, y);
        }
        json_decref(host_jansson(one));
        host_call_clear(&call);
        outs[i] = host_jansson(items[i].out);
        results[i] = items[i].result;
        host_call_clear(&each[i]);
    }
    host_call_clear(&whole);
}

/* One batch per type of the world: outs[i], results[i] for world[i]. The
 * records come first: a host found without its namespace is released,
 * and that rewrites the hosts file from the records. */
static void batches(json_t **outs, int *results)
{
    static const int groups[][2] = {{DNS, 1}, {NET, 2}, {HOST0, 3}, {FW, 1}, {LB, 1}};
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        res *rs[4];
        for (int i = 0; i < groups[g][1]; i++)
            rs[i] = &world[groups[g][0] + i];
        check_batch(rs, (size_t)groups[g][1], outs + groups[g][0], results + groups[g][0]);
    }
}

/* ------------------------------------------------------------------ */
/* The world                                                          */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int skipped;

static int setup(void **state)
{
    (void)state;
    const char *tools[] = {"/usr/sbin/sshd", "/usr/sbin/nft", "/usr/sbin/haproxy",
                           "/usr/bin/nsenter"};
    for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
        if (access(tools[i], X_OK) != 0)
            skipped = 1;
    if (geteuid() != 0 || skipped) {
        skipped = 1;
        return 0;
    }
    if ((handle = dlopen(PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        fprintf(stderr, "cannot load %s: %s\n", PLUGIN_PATH, dlerror());
        return -1;
    }
    infra_plugin_entry_fn entry;
    const infra_plugin *plugin;
    *(void **)&entry = dlsym(handle, INFRA_PLUGIN_ENTRY_SYMBOL);
    if (entry == NULL || entry(host_table(), &plugin) != 0)
        return -1;
    ops = plugin->provider;
    snprintf(tmp, sizeof(tmp), "/tmp/infra-local-many.XXXXXX");
    if (mkdtemp(tmp) == NULL)
        return -1;
    snprintf(run_dir, sizeof(run_dir), "%s/run", tmp);
    snprintf(prefix, sizeof(prefix), "m%05d", (int)(getpid() % 100000));
    setenv("HOME", tmp, 1); /* no ~/.ssh key: the provider generates one */
    json_t *settings = json_pack("{s:s, s:s}", "prefix", prefix, "run_dir", run_dir);
    infra_call call;
    host_call_init(&call, "", "local");
    int error = ops->configure(&call, host_json(settings), &prov);
    json_decref(settings);
    host_call_clear(&call);
    if (error != 0)
        return -1;
    /* Subnets of our own: the provider refuses one that overlaps a route
     * (another test's network). A refused create has recorded its intent
     * under its token, so each try is another intent with its own token. */
    static char net_tokens[NET_SPARE + 1][40];
    for (int n = NET; n <= NET_SPARE; n++) {
        const char *base = world[n].token;
        for (int i = 0; i < 40 && world[n].state == NULL; i++) {
            char cidr[32];
            snprintf(cidr, sizeof(cidr), "10.213.%d.0/24",
                     150 + (int)((getpid() + i * 7 + n) % 50));
            snprintf(net_tokens[n], sizeof(net_tokens[n]), "%.2s%02x%.28s", base, i, base + 4);
            world[n].token = net_tokens[n];
            create(&world[n], json_pack("{s:s}", "cidr", cidr));
        }
    }
    if (world[NET].state == NULL || world[NET_SPARE].state == NULL)
        return -1;
    const char *net = str(world[NET].state, "id");
    for (int h = HOST0; h <= HOST2; h++)
        if (create(&world[h],
                   json_pack("{s:s, s:s, s:s, s:s}", "network", net, "image", "debian-12", "size",
                             "small", "user_data", "busybox httpd -p 8080 -h /etc\n")) != 0)
            return -1;
    if (create(&world[FW], json_pack("{s:s, s:[s,s], s:[i,i]}", "network", net, "targets",
                                     str(world[HOST0].state, "id"), str(world[HOST1].state, "id"),
                                     "allow", 22, 8080)) != 0 ||
        create(&world[LB], json_pack("{s:s, s:[s,s], s:[i], s:i}", "network", net, "targets",
                                     str(world[HOST0].state, "private_ip"),
                                     str(world[HOST1].state, "private_ip"), "listen", 80,
                                     "backend_port", 8080)) != 0 ||
        create(&world[DNS], json_pack("{s:s, s:s, s:s}", "zone", "example.test", "name", "www",
                                      "target", str(world[LB].state, "dns_name"))) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = NRES - 1; i >= 0 && prov != NULL; i--) {
        if (world[i].state == NULL)
            continue;
        infra_call call;
        host_call_init(&call, world[i].address, "local");
        ops->apply(prov, &call, world[i].type, host_json(world[i].state), NULL, NULL, 0, NULL, NULL,
                   NULL);
        host_call_clear(&call);
        json_decref(world[i].state);
    }
    if (prov != NULL)
        ops->close(prov);
    if (tmp[0] != '\0')
        nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (handle != NULL)
        dlclose(handle);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The test                                                           */

static void test_read_many_sees_what_read_sees_before_and_after_outside_changes(void **state)
{
    (void)state;
    if (skipped)
        skip();
    json_t *before[NRES] = {0}, *after[NRES] = {0};
    int rb[NRES], ra[NRES];
    batches(before, rb);
    for (int i = 0; i < NRES; i++)
        assert_int_equal(rb[i], 0);
    assert_string_equal(str(before[HOST0], "sshd"), "running");
    assert_string_equal(str(before[FW], "status"), "ready");
    assert_string_equal(str(before[LB], "haproxy"), "running");
    assert_string_equal(str(before[DNS], "status"), "ready");
    assert_string_equal(str(before[NET_SPARE], "status"), "ready");

    /* Behind infra's back. */
    char path[512];
    assert_int_equal(sh("ip link del %s", str(world[NET_SPARE].state, "bridge")), 0);
    snprintf(path, sizeof(path), "%s/%s/hosts/%s/root/run/sshd.pid", run_dir, prefix,
             str(world[HOST0].state, "id"));
    assert_int_equal(sh("kill -9 $(cat %s)", path), 0);
    assert_int_equal(
        sh("ip netns exec %s nft delete table inet infra", str(world[HOST1].state, "netns")), 0);
    assert_int_equal(sh("ip netns delete %s", str(world[HOST2].state, "netns")), 0);
    snprintf(path, sizeof(path), "%s/%s/hosts/%s/root/run/haproxy.pid", run_dir, prefix,
             str(world[LB].state, "id"));
    assert_int_equal(sh("kill -9 $(cat %s)", path), 0);
    /* In place, as the provider rewrites it: the hosts bind-mount it. */
    snprintf(path, sizeof(path), "%s/hosts.%s", run_dir, prefix);
    assert_int_equal(sh("grep -v www.example.test %s > %s.new; cat %s.new > %s; rm %s.new", path,
                        path, path, path, path),
                     0);
    for (int i = 0; i < 100 && sh("kill -0 $(cat %s/%s/hosts/%s/root/run/sshd.pid) 2>/dev/null",
                                  run_dir, prefix, str(world[HOST0].state, "id")) == 0;
         i++)
        usleep(50000); /* reaped by init */

    batches(after, ra);
    assert_string_equal(str(after[NET_SPARE], "status"), "incomplete");
    assert_string_equal(str(after[HOST0], "sshd"), "stopped");
    assert_string_equal(str(after[HOST1], "sshd"), "running");
    assert_int_equal(ra[HOST2], INFRA_ENOTFOUND);
    assert_string_equal(str(after[FW], "status"), "incomplete");
    assert_string_equal(str(after[LB], "haproxy"), "stopped");
    assert_string_equal(str(after[DNS], "status"), "incomplete");
    json_decref(world[HOST2].state); /* released by the read that found it gone */
    world[HOST2].state = NULL;
    for (int i = 0; i < NRES; i++) {
        json_decref(before[i]);
        json_decref(after[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_many_sees_what_read_sees_before_and_after_outside_changes),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    return skipped ? 77 : rc;
}
