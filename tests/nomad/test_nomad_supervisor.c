/* Bootstrap over SSH on a real namespace host, with stand-in-free agents: the
 * "agents" are tiny sh scripts this test writes (one that stays up without
 * serving anything, one that refuses its configuration), so what is checked
 * is the plugin's side only: files and modes on the node, the supervisor
 * (detached start, restart with backoff, stop), idempotent re-bootstrap,
 * restarts limited to the agent whose files changed, the agent's own error
 * quoted, and node_remove stopping everything. Needs root (77 otherwise). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "plugin/host.h"
#include "test_nomad_world.h"

#define CLUSTER "sup"
/* The fake agents live where the hosts see them: a build tree under /tmp
 * or /root is hidden by their private mounts. */
static char fake_dir[64];
#define FAKE_DIR fake_dir

static nw_world w;
static json_t *cluster;
static json_t *node;

static const char *node_name(void)
{
    return json_string_value(json_object_get(node, "name"));
}

static void write_script(const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", FAKE_DIR, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, 0755);
}

static infra_scheduler *context(const char *consul, const char *nomad)
{
    char c[600], n[600];
    snprintf(c, sizeof(c), "%s/%s", FAKE_DIR, consul);
    snprintf(n, sizeof(n), "%s/%s", FAKE_DIR, nomad);
    json_t *s =
        json_pack("{s:s, s:s, s:i}", "consul_binary", c, "nomad_binary", n, "node_deadline", 5);
    infra_scheduler *ctx = nw_configure(&w, CLUSTER, s);
    json_decref(s);
    assert_non_null(ctx);
    return ctx;
}

static int bootstrap(infra_scheduler *ctx, nw_diags *d)
{
    return nw_node_bootstrap(&w, ctx, cluster, node, d);
}

/* The pid the supervisor reports for agent, 0 when none. */
static long agent_pid(const char *agent)
{
    char cmd[128], *out = NULL;
    snprintf(cmd, sizeof(cmd), "/opt/infra/supervise pid %s", agent);
    int st = nw_ssh(&w.hosts[0], cmd, &out);
    long pid = st == 0 && out ? strtol(out, NULL, 10) : 0;
    free(out);
    return pid;
}

static char *remote(const char *cmd)
{
    char *out = NULL;
    if (nw_ssh(&w.hosts[0], cmd, &out) < 0)
        fail_msg("ssh failed: %s", cmd);
    return out ? out : strdup("");
}

/* Bootstrap against agents that never answer HTTP: the files are there and
 * both agents run; the wait then ends with a message naming the node. */
static void test_bootstrap_writes_the_files_and_supervises_both_agents(void **state)
{
    infra_scheduler *ctx = context("agent-ok", "agent-ok");
    nw_diags d;
    assert_int_equal(bootstrap(ctx, &d), INFRA_ETRANSIENT);
    char want[256];
    snprintf(want, sizeof(want), "node %s (%s): the consul server is not ready after", node_name(),
             w.hosts[0].address);
    if (strstr(d.text, want) == NULL || strstr(d.text, "its HTTP API does not answer") == NULL)
        fail_msg("unexpected diagnostics:\n%s", d.text);
    w.ops->close(ctx);

    char *out = remote("stat -c '%a %n' /etc/consul.d/agent.json /etc/consul.d/secrets.json"
                       " /etc/consul.d/tls/ca.pem /etc/consul.d/tls/node.pem"
                       " /etc/consul.d/tls/node-key.pem /etc/nomad.d/agent.json"
                       " /etc/nomad.d/secrets.json /etc/nomad.d/tls/node-key.pem"
                       " /opt/infra/supervise /opt/infra/nomad.run /var/lib/consul");
    static const char *const modes[] = {"644 /etc/consul.d/agent.json",
                                        "600 /etc/consul.d/secrets.json",
                                        "644 /etc/consul.d/tls/ca.pem",
                                        "644 /etc/consul.d/tls/node.pem",
                                        "600 /etc/consul.d/tls/node-key.pem",
                                        "644 /etc/nomad.d/agent.json",
                                        "600 /etc/nomad.d/secrets.json",
                                        "600 /etc/nomad.d/tls/node-key.pem",
                                        "755 /opt/infra/supervise",
                                        "755 /opt/infra/nomad.run",
                                        "700 /var/lib/consul"};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (strstr(out, modes[i]) == NULL)
            fail_msg("expected \"%s\" in:\n%s", modes[i], out);
    free(out);

    long c = agent_pid("consul"), n = agent_pid("nomad");
    assert_true(c > 0 && n > 0);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "ps -o args= -p %ld; ps -o args= -p %ld", c, n);
    out = remote(cmd);
    assert_non_null(strstr(out, "agent -config-dir=/etc/consul.d"));
    assert_non_null(strstr(out, "agent -config=/etc/nomad.d"));
    free(out);
    /* the supervisors run in sessions of their own, not the SSH session's */
    out = remote("for p in $(cat /run/infra-consul.supervisor.pid /run/infra-nomad.supervisor.pid);"
                 " do [ \"$(ps -o sid= -p $p | tr -d ' ')\" = \"$p\" ] && echo leader; done");
    assert_string_equal(out, "leader\nleader\n");
    free(out);
}

static void test_second_bootstrap_uploads_nothing_and_restarts_nothing(void **state)
{
    long c = agent_pid("consul"), n = agent_pid("nomad");
    char *before = remote("stat -c %Y.%i /etc/consul.d/agent.json /etc/nomad.d/secrets.json"
                          " /etc/nomad.d/tls/node.pem");
    infra_scheduler *ctx = context("agent-ok", "agent-ok");
    nw_diags d;
    assert_int_equal(bootstrap(ctx, &d), INFRA_ETRANSIENT); /* still nothing answers HTTP */
    w.ops->close(ctx);
    char *after = remote("stat -c %Y.%i /etc/consul.d/agent.json /etc/nomad.d/secrets.json"
                         " /etc/nomad.d/tls/node.pem");
    assert_string_equal(before, after); /* same inode, same time: not rewritten */
    assert_int_equal(agent_pid("consul"), c);
    assert_int_equal(agent_pid("nomad"), n);
    free(before);
    free(after);
}

static void test_supervisor_restarts_an_agent_that_dies(void **state)
{
    long n = agent_pid("nomad");
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "kill -KILL %ld", n);
    assert_int_equal(nw_ssh(&w.hosts[0], cmd, NULL), 0);
    long again = 0;
    for (int i = 0; i < 50 && (again == 0 || again == n); i++) {
        usleep(100000);
        again = agent_pid("nomad");
    }
    assert_true(again > 0 && again != n);
    char *log = remote("cat /var/log/nomad.log");
    assert_non_null(strstr(log, "supervise: nomad exited with status 137; restarting in 1s"));
    free(log);
}

static void test_a_changed_command_restarts_only_its_agent(void **state)
{
    long c = agent_pid("consul"), n = agent_pid("nomad");
    infra_scheduler *ctx = context("agent-ok", "agent-ok2");
    nw_diags d;
    assert_int_equal(bootstrap(ctx, &d), INFRA_ETRANSIENT);
    w.ops->close(ctx);
    assert_int_equal(agent_pid("consul"), c);
    long n2 = agent_pid("nomad");
    assert_true(n2 > 0 && n2 != n);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "ps -o args= -p %ld", n2);
    char *out = remote(cmd);
    assert_non_null(strstr(out, "agent-ok2"));
    free(out);
}

static void test_an_agent_refusing_its_configuration_is_quoted(void **state)
{
    infra_scheduler *ctx = context("agent-refuses", "agent-ok2");
    nw_diags d;
    assert_int_equal(bootstrap(ctx, &d), INFRA_EINVALID);
    char want[256];
    snprintf(want, sizeof(want), "node %s: the consul agent did not start:", node_name());
    if (strstr(d.text, want) == NULL || strstr(d.text, "unknown key \"frobnicate\"") == NULL)
        fail_msg("unexpected diagnostics:\n%s", d.text);
    w.ops->close(ctx);
}

/* Neither the program on the node nor install settings for it: both ways
 * out are named, before anything is written. */
static void test_a_missing_binary_names_the_image_and_install(void **state)
{
    infra_scheduler *ctx = context("agent-ok", "no-such-nomad");
    nw_diags d;
    assert_int_equal(bootstrap(ctx, &d), INFRA_EINVALID);
    char want[256];
    snprintf(want, sizeof(want), "node %s: nomad binary \"%s/no-such-nomad\" not found: install "
             "nomad on the node image", node_name(), FAKE_DIR);
    if (strstr(d.text, want) == NULL ||
        strstr(d.text, "or set clusters." CLUSTER ".install.nomad: {file: ..., sha256: ...}") == NULL)
        fail_msg("unexpected diagnostics:\n%s", d.text);
    w.ops->close(ctx);
}

static void test_node_remove_stops_both_agents_of_a_silent_node(void **state)
{
    infra_scheduler *ctx = context("agent-ok", "agent-ok2");
    nw_diags d;
    /* nothing answers HTTP: no drain, no leave; the agents are stopped */
    assert_int_equal(nw_node_remove(&w, ctx, cluster, node, &d), 0);
    w.ops->close(ctx);
    assert_int_equal(agent_pid("consul"), 0);
    assert_int_equal(agent_pid("nomad"), 0);
    char *out = remote("ps -eo args | grep -c '[f]ake-agents/agent' || true");
    assert_string_equal(out, "0\n");
    free(out);
}

static int world_up(void **state)
{
    int rc = nw_world_create(&w, 1, 0);
    if (rc != 0)
        exit(rc == 77 ? 77 : 1);
    snprintf(fake_dir, sizeof(fake_dir), "/var/tmp/infra-fake-agents.XXXXXX");
    if (!mkdtemp(fake_dir))
        exit(1);
    chmod(fake_dir, 0755);
    /* they stay the process the supervisor started, so ps shows their arguments */
    write_script("agent-ok", "#!/bin/sh\n# an agent that stays up and serves nothing\n"
                             "echo \"fake agent: $*\"\ntrap 'exit 0' TERM\n"
                             "while :; do sleep 1 & wait $!; done\n");
    write_script("agent-ok2", "#!/bin/sh\necho \"fake agent 2: $*\"\ntrap 'exit 0' TERM\n"
                              "while :; do sleep 1 & wait $!; done\n");
    write_script("agent-refuses",
                 "#!/bin/sh\n"
                 "echo '==> Error parsing config: unknown key \"frobnicate\"' >&2\n"
                 "exit 1\n");
    cluster = nw_cluster_new(CLUSTER);
    node = nw_cluster_add(cluster, "eu", "dc1", "server", 0, w.hosts[0].address, &w.hosts[0]);
    return 0;
}

static int world_down(void **state)
{
    nw_ssh(&w.hosts[0], "for a in nomad consul; do /opt/infra/supervise stop $a; done", NULL);
    json_decref(cluster);
    nw_world_destroy(&w);
    const char *names[] = {"agent-ok", "agent-ok2", "agent-refuses"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[600];
        snprintf(path, sizeof(path), "%s/%s", fake_dir, names[i]);
        unlink(path);
    }
    rmdir(fake_dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bootstrap_writes_the_files_and_supervises_both_agents),
        cmocka_unit_test(test_second_bootstrap_uploads_nothing_and_restarts_nothing),
        cmocka_unit_test(test_supervisor_restarts_an_agent_that_dies),
        cmocka_unit_test(test_a_changed_command_restarts_only_its_agent),
        cmocka_unit_test(test_an_agent_refusing_its_configuration_is_quoted),
        cmocka_unit_test(test_a_missing_binary_names_the_image_and_install),
        cmocka_unit_test(test_node_remove_stops_both_agents_of_a_silent_node),
    };
    return cmocka_run_group_tests(tests, world_up, world_down);
}
