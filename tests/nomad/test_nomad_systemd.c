/* The nomad plugin on nodes that run systemd, reached as a login user that
 * is not root and becomes root with sudo, like a cloud image's "admin" or
 * "ubuntu" user. Real namespace hosts, real sshd, real sudo; the agents are
 * the stand-ins of tests/standins/ and systemd is the stand-in systemctl
 * and journalctl there (each host's /run is private, so each host has its
 * own). Needs root; skipped (77) otherwise.
 *
 * Each host gets, in its own mount namespace only: /run/systemd/system (so
 * the node "runs systemd"), the stand-in systemctl first on PATH, a private
 * /etc/systemd/system, and a user "deploy" (bind-mounted copies of
 * /etc/passwd, group and shadow) who may run anything with sudo -n, every
 * sudo logged to /run/infra-test/sudo.log. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "plugin/host.h"
#include "base/util.h"
#include "test_nomad_world.h"

#define CLUSTER "sd"
#define NHOSTS 3
#define SYSTEMCTL "/usr/local/sbin/systemctl"

static nw_world w;
static infra_scheduler *ctx;
static json_t *cluster;

/* Run as root on a host: systemd, the stand-ins and the deploy user. With
 * sudo_rule 0 the user exists but sudo grants nothing. */
static int prepare_host(const nw_host *h, int sudo_rule)
{
    char *script = util_printf(
        "set -eu\n"
        "S='%s'\n"
        "mkdir -p /run/systemd/system /run/infra-test\n"
        "mount -t tmpfs -o mode=0755 tmpfs /usr/local/sbin\n"
        "ln -s \"$S/systemctl\" /usr/local/sbin/systemctl\n"
        "ln -s \"$S/journalctl\" /usr/local/sbin/journalctl\n"
        "mkdir -p /etc/systemd/system\n"
        "mount -t tmpfs -o mode=0755 tmpfs /etc/systemd/system\n"
        "for f in passwd group shadow; do cp -p /etc/$f /run/infra-test/$f; done\n"
        "echo 'deploy:x:1500:1500:deploy:/run/infra-test/deploy:/bin/sh' "
        ">>/run/infra-test/passwd\n"
        "echo 'deploy:x:1500:' >>/run/infra-test/group\n"
        "echo 'deploy:*:20000:0:99999:7:::' >>/run/infra-test/shadow\n"
        "for f in passwd group shadow; do mount --bind /run/infra-test/$f /etc/$f; done\n"
        "mkdir -m 0700 /run/infra-test/deploy\n"
        "chown 1500:1500 /run/infra-test/deploy\n"
        "mount -t tmpfs -o mode=0755 tmpfs /etc/sudoers.d\n"
        "printf 'Defaults logfile=/run/infra-test/sudo.log, loglinelen=0\\n' >/etc/sudoers.d/log\n"
        "%s"
        "chmod 0440 /etc/sudoers.d/*\n"
        /* sshd reads the authorized keys as the login user */
        "chmod 0644 /etc/ssh/host/authorized_keys\n",
        w.standins,
        sudo_rule ? "printf 'deploy ALL=(ALL) NOPASSWD: ALL\\n' >/etc/sudoers.d/deploy\n" : "");
    char *out = NULL;
    int st = nw_ssh(h, script, &out);
    if (st != 0)
        printf("preparing %s: status %d: %s\n", h->address, st, out ? out : "");
    free(out);
    free(script);
    return st;
}

static json_t *add_node(json_t *cl, const char *region, const char *role, int index, int host)
{
    json_t *node = nw_cluster_add(cl, region, "dc1", role, index, w.hosts[host].address,
                                  &w.hosts[host]);
    json_object_set_new(json_object_get(node, "ssh"), "user", json_string("deploy"));
    return node;
}

static infra_scheduler *configure(const char *name, const char *nomad_binary)
{
    return nw_configure_standins(&w, name, nomad_binary, 120, 120);
}

/* "consulpid nomadpid" of host i, as systemd says. */
static char *main_pids(int i)
{
    char *out = NULL;
    if (nw_ssh(&w.hosts[i],
               "echo $(" SYSTEMCTL " show -p MainPID --value consul.service) $(" SYSTEMCTL
               " show -p MainPID --value nomad.service)",
               &out) != 0)
        fail_msg("cannot ask systemd on %s", w.hosts[i].address);
    out[strcspn(out, "\n")] = '\0';
    return out;
}

static void host_check(int i, const char *cmd, const char *what)
{
    char *out = NULL;
    int st = nw_ssh(&w.hosts[i], cmd, &out);
    if (st != 0)
        fail_msg("host %s: %s (status %d): %s", w.hosts[i].address, what, st, out ? out : "");
    free(out);
}

/* ------------------------------------------------------------------ */

static void test_a_region_on_systemd_nodes_reached_with_sudo_becomes_ready(void **state)
{
    nw_diags d = {0};
    int error = nw_bootstrap_region(&w, ctx, cluster, "europe", &d);
    if (error != 0)
        fail_msg("bootstrap: %d:\n%s", error, d.text);
    if ((error = nw_wait_ready(&w, ctx, cluster, "europe", 120000, &d)) != 0)
        fail_msg("wait_ready: %d:\n%s", error, d.text);

    json_t *eu = nw_region_status(&w, ctx, cluster, "europe");
    assert_non_null(json_string_value(json_object_get(eu, "leader")));
    json_t *clients = json_object_get(eu, "clients");
    assert_int_equal(json_array_size(clients), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(clients, 0), "status")), "ready");
    json_decref(eu);
}

static void test_the_agents_are_enabled_systemd_units_installed_through_sudo(void **state)
{
    for (int i = 0; i < 2; i++) {
        host_check(i, SYSTEMCTL " is-active --quiet consul.service nomad.service",
                   "both units active");
        host_check(i,
                   "test -L /etc/systemd/system/multi-user.target.wants/consul.service && "
                   "test -L /etc/systemd/system/multi-user.target.wants/nomad.service",
                   "both units enabled");
        host_check(i,
                   "grep -qx 'ExecStart=.*/nomad agent -config=/etc/nomad.d' "
                   "/etc/systemd/system/nomad.service && "
                   "grep -qx 'After=network-online.target consul.service' "
                   "/etc/systemd/system/nomad.service",
                   "the nomad unit runs the agent after consul");
        /* the agent systemd runs is the one the unit names */
        host_check(i,
                   "tr '\\0' ' ' </proc/$(" SYSTEMCTL
                   " show -p MainPID --value nomad.service)/cmdline "
                   "| grep -q 'nomad agent -config=/etc/nomad.d'",
                   "the main process is the nomad agent");
        host_check(i, "test ! -e /opt/infra/supervise", "no supervisor where systemd runs");
        /* installed as root from a staging directory the user removed */
        host_check(i,
                   "for f in /etc/nomad.d/*.json /etc/consul.d/*.json; do "
                   "[ \"$(stat -c %U:%a \"$f\")\" = root:640 ] || "
                   "[ \"$(stat -c %U:%a \"$f\")\" = root:644 ] || "
                   "[ \"$(stat -c %U:%a \"$f\")\" = root:600 ] || { echo \"$f\"; exit 1; }; done",
                   "configuration files owned by root");
        host_check(i, "! ls -d /tmp/tmp.* 2>/dev/null", "no staging directory left");
        host_check(i,
                   "grep -q 'deploy : .*USER=root ; COMMAND=[^ ]*sh -c .*systemctl' "
                   "/run/infra-test/sudo.log",
                   "systemctl ran through deploy's sudo");
    }
}

static void test_a_second_bootstrap_restarts_no_unit(void **state)
{
    char *before[2] = {main_pids(0), main_pids(1)};
    nw_diags d = {0};
    int error = nw_bootstrap_region(&w, ctx, cluster, "europe", &d);
    if (error != 0)
        fail_msg("second bootstrap: %d:\n%s", error, d.text);
    for (int i = 0; i < 2; i++) {
        char *after = main_pids(i);
        if (strcmp(before[i], after) != 0 || strstr(after, " 0") || after[0] == '0')
            fail_msg("host %d: agent pids went from %s to %s", i, before[i], after);
        free(after);
        free(before[i]);
    }
}

static void test_a_login_user_without_sudo_rights_is_refused_naming_sudo(void **state)
{
    infra_scheduler *other = configure(CLUSTER "2", NULL);
    assert_non_null(other);
    json_t *cl = nw_cluster_new(CLUSTER "2");
    json_t *node = add_node(cl, "solo", "server", 0, 2);
    nw_diags d;
    int error = nw_node_bootstrap(&w, other, cl, node, &d);
    assert_int_not_equal(error, 0);
    if (strstr(d.text, "node " CLUSTER "2-solo-dc1-server-0") == NULL ||
        strstr(d.text, "sudo: a password is required") == NULL)
        fail_msg("expected the node and sudo's refusal in:\n%s", d.text);
    print_message("without sudo: %s", d.text);
    host_check(2, "! ls /etc/nomad.d/*.json 2>/dev/null && ! test -e /etc/systemd/system/nomad.service",
               "nothing installed");
    w.ops->close(other);
    json_decref(cl);
}

static void test_an_agent_that_fails_under_systemd_is_reported_with_its_journal(void **state)
{
    /* sudo allowed now; the nomad "binary" refuses its configuration */
    host_check(2,
               "printf 'deploy ALL=(ALL) NOPASSWD: ALL\\n' >/etc/sudoers.d/deploy && "
               "chmod 0440 /etc/sudoers.d/deploy && "
               "printf '#!/bin/sh\\necho \"==> Error loading configuration from /etc/nomad.d: "
               "unexpected keys bogus\" >&2\\nexit 1\\n' >/opt/bad-nomad && "
               "chmod 0755 /opt/bad-nomad",
               "set-up");
    infra_scheduler *bad = configure(CLUSTER "3", "/opt/bad-nomad");
    assert_non_null(bad);
    json_t *cl = nw_cluster_new(CLUSTER "3");
    json_t *node = add_node(cl, "solo", "server", 0, 2);
    nw_diags d;
    int error = nw_node_bootstrap(&w, bad, cl, node, &d);
    assert_int_not_equal(error, 0);
    if (strstr(d.text, "the nomad agent did not start") == NULL ||
        strstr(d.text, "its journal says") == NULL ||
        strstr(d.text, "unexpected keys bogus") == NULL)
        fail_msg("expected the agent's own words from its journal in:\n%s", d.text);
    print_message("a failing unit: %s", d.text);
    /* consul, started before it, runs under systemd */
    host_check(2, SYSTEMCTL " is-active --quiet consul.service", "consul active");

    /* removing the node stops and disables both units */
    if ((error = nw_node_remove(&w, bad, cl, node, &d)) != 0)
        fail_msg("node_remove: %d:\n%s", error, d.text);
    host_check(2,
               "! " SYSTEMCTL " is-active --quiet consul.service && ! " SYSTEMCTL
               " is-active --quiet nomad.service && "
               "! test -e /etc/systemd/system/multi-user.target.wants/consul.service",
               "both units stopped and disabled");
    w.ops->close(bad);
    json_decref(cl);
}

static void test_removing_a_client_stops_and_disables_its_units(void **state)
{
    json_t *node = json_deep_copy(nw_cluster_node(cluster, CLUSTER "-europe-dc1-client-0"));
    assert_non_null(node);
    nw_diags d;
    int error = nw_node_remove(&w, ctx, cluster, node, &d);
    if (error != 0)
        fail_msg("node_remove: %d:\n%s", error, d.text);
    host_check(1,
               "! " SYSTEMCTL " is-active --quiet nomad.service && ! " SYSTEMCTL
               " is-active --quiet consul.service && "
               "! test -e /etc/systemd/system/multi-user.target.wants/nomad.service",
               "the client's units stopped and disabled");
    host_check(0, SYSTEMCTL " is-active --quiet nomad.service consul.service",
               "the server untouched");
    json_decref(node);
}

/* ------------------------------------------------------------------ */

static int world_up(void **state)
{
    int rc = nw_world_create(&w, NHOSTS, 1);
    if (rc != 0)
        exit(rc == 77 ? 77 : 1);
    if (access("/usr/bin/sudo", X_OK) != 0) {
        nw_world_destroy(&w);
        printf("SKIP: sudo is needed (Debian package sudo)\n");
        exit(77);
    }
    for (int i = 0; i < NHOSTS; i++)
        if (prepare_host(&w.hosts[i], i < 2) != 0) {
            nw_world_destroy(&w);
            exit(1);
        }
    cluster = nw_cluster_new(CLUSTER);
    add_node(cluster, "europe", "server", 0, 0);
    add_node(cluster, "europe", "client", 0, 1);
    ctx = configure(CLUSTER, NULL);
    if (ctx == NULL) {
        nw_world_destroy(&w);
        exit(1);
    }
    return 0;
}

static int world_down(void **state)
{
    for (size_t i = 0; i < w.nhosts; i++)
        nw_ssh(&w.hosts[i], SYSTEMCTL " stop nomad.service consul.service", NULL);
    if (ctx)
        w.ops->close(ctx);
    json_decref(cluster);
    nw_world_destroy(&w);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_region_on_systemd_nodes_reached_with_sudo_becomes_ready),
        cmocka_unit_test(test_the_agents_are_enabled_systemd_units_installed_through_sudo),
        cmocka_unit_test(test_a_second_bootstrap_restarts_no_unit),
        cmocka_unit_test(test_a_login_user_without_sudo_rights_is_refused_naming_sudo),
        cmocka_unit_test(test_an_agent_that_fails_under_systemd_is_reported_with_its_journal),
        cmocka_unit_test(test_removing_a_client_stops_and_disables_its_units),
    };
    return cmocka_run_group_tests(tests, world_up, world_down);
}
