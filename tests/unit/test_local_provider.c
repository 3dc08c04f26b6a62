/* The local provider plugin (local_world.h) with a world of one network
 * and two hosts: what a host is (its sshd, files, hostname, fingerprint,
 * login with the reported key), adoption by token, the firewall, a dead
 * sshd read and restarted, plans, concurrent creates, the load balancer
 * and DNS record, and deletion leaving nothing behind. Skipped when not
 * root or when sshd is not installed. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "local_world.h"
#include "plugin/host.h"
#include "services/ssh.h"

static int world_setup(void **state)
{
    return local_world_setup(2);
}

static void test_instances_answer_with_an_ssh_banner_on_port_22(void **state)
{
    (void)state;
    SKIP_UNLESS_ROOT();
    for (int i = 0; i < 2; i++) {
        char banner[256];
        assert_true(talk(str(w.host[i], "private_ip"), 22, NULL, banner, 9) >= 8);
        assert_memory_equal(banner, "SSH-2.0-", 8);
        assert_string_equal(str(w.host[i], "ssh_user"), "root");
        assert_string_equal(str(w.host[i], "sshd"), "running");
        assert_int_equal(json_integer_value(json_object_get(w.host[i], "ssh_port")), 22);
    }
    assert_string_not_equal(str(w.host[0], "private_ip"), str(w.host[1], "private_ip"));
}

static void test_file_in_opt_of_one_host_is_not_seen_on_the_other(void **state)
{
    (void)state;
    SKIP_UNLESS_ROOT();
    assert_int_equal(sh(NULL, 0, "nsenter --mount=%s touch /opt/only-on-a", w.mnt_path[0]), 0);
    assert_int_equal(sh(NULL, 0, "nsenter --mount=%s test -e /opt/only-on-a", w.mnt_path[0]), 0);
    assert_int_not_equal(sh(NULL, 0, "nsenter --mount=%s test -e /opt/only-on-a", w.mnt_path[1]),
                         0);
    assert_int_not_equal(access("/opt/only-on-a", F_OK), 0);
}

static void test_hostnames_differ_and_match_the_attribute(void **state)
{
    (void)state;
    SKIP_UNLESS_ROOT();
    char name[2][256];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sh(name[i], sizeof(name[i]), "nsenter --uts=%s hostname", w.uts_path[i]),
                         0);
        assert_string_equal(name[i], str(w.host[i], "hostname"));
    }
    assert_string_equal(name[0], "web-0");
    assert_string_not_equal(name[0], name[1]);
}

static void test_fingerprint_attribute_is_ssh_keygen_of_the_host_key(void **state)
{
    (void)state;
    SKIP_UNLESS_ROOT();
    char fp[256];
    assert_int_equal(sh(fp, sizeof(fp),
                        "ssh-keygen -lf %s/%s/hosts/%s/root/etc/ssh/host/ssh_host_ecdsa_key.pub "
                        "| cut -d' ' -f2",
                        w.run_dir, w.prefix, str(w.host[0], "id")),
                     0);
    assert_string_equal(fp, str(w.host[0], "ssh_host_key_fingerprint"));
    assert_memory_equal(fp, "SHA256:", 7);
}

static void test_ssh_login_with_the_reported_key_and_fingerprint(void **state)
{
    (void)state;
    SKIP_UNLESS_ROOT();
    const infra_host *host = host_table();
    const infra_ssh_api *api = ssh_api(); /* the client the engine bootstraps hosts with */
    infra_ssh_target t = {
        sizeof(t), str(w.host[0], "private_ip"),      22,
        "root",    str(w.host[0], "ssh_private_key"), str(w.host[0], "ssh_host_key_fingerprint"),
        20000};
    infra_call call;
    diags d;
    infra_ssh *ssh = NULL;
    call_setup(&call, "", NULL, &d);
    int error = api->connect(&call, &t, &ssh);
    if (error != 0)
        fail_msg("ssh connect: %d %s", error, d.text);
    int status = -1;
    char *out = NULL, *err = NULL;
    assert_int_equal(api->exec(ssh, "hostname; cat /etc/hostname", &status, &out, &err), 0);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "web-0"));
    host->free(out);
    host->free(err);
    api->close(ssh);
    host_call_clear(&call);
}

/* The host's sshd, seen through the SSH service: a wrong pinned key is
 * refused before login, a failing command reports its status and the end
 * of its stderr, and an address nothing answers on ends at the deadline
 * with a message naming it. */
static void test_ssh_to_a_host_refuses_a_wrong_key_and_reports_failures(void **state)
{
    (void)state;
    SKIP_UNLESS_ROOT();
    const infra_host *host = host_table();
    const infra_ssh_api *api = ssh_api();
    const char *ip = str(w.host[0], "private_ip");
    const char *key = str(w.host[0], "ssh_private_key");
    infra_call call;
    diags d;
    infra_ssh *ssh = NULL;

    /* Another host's key pinned for this one: refused, no session. */
    infra_ssh_target wrong = {
        sizeof(wrong), ip, 22, "root", key, str(w.host[1], "ssh_host_key_fingerprint"), 10000};
    call_setup(&call, "", NULL, &d);
    assert_int_equal(api->connect(&call, &wrong, &ssh), INFRA_EAUTH);
    assert_null(ssh);
    assert_non_null(strstr(d.text, ip));
    host_call_clear(&call);

    infra_ssh_target right = {
        sizeof(right), ip, 22, "root", key, str(w.host[0], "ssh_host_key_fingerprint"), 10000};
    call_setup(&call, "", NULL, &d);
    assert_int_equal(api->connect(&call, &right, &ssh), 0);
    int status = -1;
    char *out = NULL, *err = NULL;
    assert_int_equal(api->exec(ssh, "echo one >&2; echo two >&2; exit 3", &status, &out, &err), 0);
    assert_int_equal(status, 3);
    assert_string_equal(err, "one\ntwo\n");
    host->free(out);
    host->free(err);
    char *text = NULL;
    assert_int_not_equal(ssh_run(&call, ssh, "echo failing-step >&2; exit 5", &text), 0);
    assert_non_null(strstr(d.text, "5"));
    assert_non_null(strstr(d.text, "failing-step"));
    free(text);
    api->close(ssh);
    host_call_clear(&call);

    /* An address of the network that no host holds. */
    char silent[32];
    snprintf(silent, sizeof(silent), "%s", ip);
    char *dot = strrchr(silent, '.');
    snprintf(dot + 1, sizeof(silent) - (size_t)(dot + 1 - silent), "%d", 250);
    infra_ssh_target none = {sizeof(none), silent, 22, "root", key, NULL, 1500};
    call_setup(&call, "", NULL, &d);
    int64_t t0 = host->now_ms();
    assert_int_equal(api->connect(&call, &none, &ssh), INFRA_ETRANSIENT);
    assert_true(host->now_ms() - t0 < 15000);
    assert_non_null(strstr(d.text, silent));
    host_call_clear(&call);
}

static void test_create_again_with_the_same_token_adopts_the_host(void **state)
{
    (void)state;
    SKIP_UNLESS_ROOT();
    int before = count_netns();
    json_t *again = converge("instance", "instance.web[0]", TOKEN_A, NULL, w.config[0], NULL);
    assert_string_equal(str(again, "id"), str(w.host[0], "id"));
    assert_string_equal(str(again, "private_ip"), str(w.host[0], "private_ip"));
    assert_string_equal(str(again, "ssh_host_key_fingerprint"),
                        str(w.host[0], "ssh_host_key_fingerprint"));
    assert_int_equal(count_netns(), before);
    json_decref(again);

    int error;
    json_t *found = do_read("instance", TOKEN_A, NULL, &error);
    assert_int_equal(error, 0);
    assert_string_equal(str(found, "id"), str(w.host[0], "id"));
    assert_string_equal(str(found, "network"), str(w.net, "id"));
    json_decref(found);
    json_decref(do_read("instance", "1b000000000000000000000000000000", NULL, &error));
    assert_int_equal(error, INFRA_ENOTFOUND);
}

static void test_firewall_allows_listed_ports_and_drops_the_rest(void **state)
{
    (void)state;
    SKIP_UNLESS_ROOT();
    if (access("/usr/sbin/nft", X_OK) != 0)
        skip();
    const char *a_ip = str(w.host[0], "private_ip"), *b_ip = str(w.host[1], "private_ip");
    pid_t open_port = listen_in(w.netns_path[1], 9001);
    pid_t closed_port = listen_in(w.netns_path[1], 9002);
    assert_true(can_connect(w.netns_path[0], b_ip, 9002, 3000)); /* no firewall yet */

    char from[32];
    snprintf(from, sizeof(from), "%s/32", a_ip);
    json_t *config =
        json_pack("{s:s, s:[s], s:[{s:i}, {s:i, s:s, s:s}]}", "network", str(w.net, "id"),
                  "targets", b_ip, "allow", "port", 22, "port", 9001, "proto", "tcp", "from", from);
    json_t *fw = converge("firewall", "firewall.web", TOKEN_FW, NULL, config, NULL);
    assert_string_equal(str(fw, "status"), "ready");

    assert_true(can_connect(w.netns_path[0], b_ip, 22, 3000));
    assert_true(can_connect(w.netns_path[0], b_ip, 9001, 3000));
    assert_false(can_connect(w.netns_path[0], b_ip, 9002, 1500));
    assert_false(can_connect(NULL, b_ip, 9001, 1500)); /* only from host A */

    int error;
    json_t *read = do_read("firewall", NULL, fw, &error);
    assert_int_equal(error, 0);
    assert_string_equal(str(read, "status"), "ready");
    json_decref(read);

    assert_int_equal(destroy("firewall", fw), 0);
    assert_true(can_connect(w.netns_path[0], b_ip, 9002, 3000));
    assert_int_not_equal(sh(NULL, 0, "ip netns exec %s nft list table inet infra 2>/dev/null",
                            str(w.host[1], "netns")),
                         0);
    kill(open_port, SIGKILL);
    kill(closed_port, SIGKILL);
    waitpid(open_port, NULL, 0);
    waitpid(closed_port, NULL, 0);
    json_decref(fw);
    json_decref(config);
}

static void test_read_reports_a_dead_sshd_and_update_restarts_it(void **state)
{
    (void)state;
    SKIP_UNLESS_ROOT();
    char pid[32];
    assert_int_equal(sh(pid, sizeof(pid), "cat %s/%s/hosts/%s/root/run/sshd.pid", w.run_dir,
                        w.prefix, str(w.host[1], "id")),
                     0);
    assert_int_equal(kill((pid_t)atoi(pid), SIGKILL), 0);
    for (int i = 0; i < 100 && kill((pid_t)atoi(pid), 0) == 0; i++)
        usleep(50000); /* reaped by init */

    int error;
    json_t *read = do_read("instance", NULL, w.host[1], &error);
    assert_int_equal(error, 0);
    assert_string_equal(str(read, "sshd"), "stopped");

    json_t *fixed = converge("instance", "instance.web[1]", NULL, read, w.config[1], NULL);
    assert_string_equal(str(fixed, "sshd"), "running");
    assert_string_equal(str(fixed, "id"), str(w.host[1], "id"));
    char banner[16];
    assert_true(talk(str(fixed, "private_ip"), 22, NULL, banner, 9) >= 8);
    assert_memory_equal(banner, "SSH-2.0-", 8);
    json_decref(read);
    json_decref(fixed);
}

static void test_plan_asks_replacement_only_for_force_new_changes(void **state)
{
    (void)state;
    SKIP_UNLESS_ROOT();
    infra_call call;
    diags d;
    infra_json *planned = NULL, *replace = NULL;
    json_t *desired = json_pack("{s:s, s:s}", "cidr", "10.213.9.0/24", "name", "test");
    call_setup(&call, "", NULL, &d);
    assert_int_equal(ops->plan(w.prov, &call, "network", host_json(w.net), host_json(desired),
                               &planned, &replace),
                     0);
    assert_int_equal(json_array_size(host_jansson(replace)), 1);
    assert_string_equal(json_string_value(json_array_get(host_jansson(replace), 0)), "cidr");
    json_decref(host_jansson(planned));
    json_decref(host_jansson(replace));

    /* Unchanged config: the planned state is the prior state exactly. */
    assert_int_equal(ops->plan(w.prov, &call, "instance", host_json(w.host[0]),
                               host_json(w.config[0]), &planned, &replace),
                     0);
    assert_int_equal(json_array_size(host_jansson(replace)), 0);
    assert_true(json_equal(host_jansson(planned), w.host[0]));
    json_decref(host_jansson(planned));
    json_decref(host_jansson(replace));
    host_call_clear(&call);
    json_decref(desired);
}

/* Arguments of one concurrent create. */
typedef struct create_job {
    char token[40];
    char address[32];
    json_t *state;
} create_job;

static void *create_thread(void *arg)
{
    create_job *job = arg;
    json_t *config = host_config(str(w.net, "id"), NULL);
    int error;
    job->state = converge("instance", job->address, job->token, NULL, config, &error);
    json_decref(config);
    return NULL;
}

static void test_concurrent_creates_get_distinct_addresses(void **state)
{
    (void)state;
    SKIP_UNLESS_ROOT();
    create_job jobs[3];
    pthread_t threads[3];
    for (int i = 0; i < 3; i++) {
        memset(&jobs[i], 0, sizeof(jobs[i]));
        snprintf(jobs[i].token, sizeof(jobs[i].token), "c%d%030d", i, 0);
        snprintf(jobs[i].address, sizeof(jobs[i].address), "instance.extra[%d]", i);
        assert_int_equal(pthread_create(&threads[i], NULL, create_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < 3; i++) {
        assert_non_null(jobs[i].state);
        for (int j = 0; j < 2; j++)
            assert_string_not_equal(str(jobs[i].state, "private_ip"), str(w.host[j], "private_ip"));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(str(jobs[i].state, "private_ip"),
                                    str(jobs[j].state, "private_ip"));
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(destroy("instance", jobs[i].state), 0);
        json_decref(jobs[i].state);
    }
}

static void test_load_balancer_and_dns_record_serve_the_hosts(void **state)
{
    (void)state;
    SKIP_UNLESS_ROOT();
    if (access("/usr/sbin/haproxy", X_OK) != 0 || access("/usr/bin/busybox", X_OK) != 0)
        skip();
    for (int i = 0; i < 2; i++)
        assert_int_equal(sh(NULL, 0,
                            "nsenter --net=%s --mount=%s --uts=%s sh -c 'mkdir -p /opt/www && "
                            "hostname > /opt/www/index.html && busybox httpd -p 8080 -h /opt/www' "
                            ">/dev/null 2>&1",
                            w.netns_path[i], w.mnt_path[i], w.uts_path[i]),
                         0);
    json_t *config =
        json_pack("{s:s, s:[s,s], s:[i], s:i, s:s}", "network", str(w.net, "id"), "targets",
                  str(w.host[0], "private_ip"), str(w.host[1], "private_ip"), "listen", 80,
                  "backend_port", 8080, "health", "http:8080/");
    json_t *lb = converge("load_balancer", "load_balancer.web", TOKEN_LB, NULL, config, NULL);
    assert_string_equal(str(lb, "haproxy"), "running");
    char expected[64];
    snprintf(expected, sizeof(expected), "lb-%s.local", str(lb, "id"));
    assert_string_equal(str(lb, "dns_name"), expected);

    char reply[4096] = "";
    int answered = 0;
    for (int i = 0; i < 60 && !answered; i++) { /* health checks need a moment */
        if (talk(str(lb, "address"), 80, "GET / HTTP/1.0\r\n\r\n", reply, sizeof(reply)) > 0 &&
            strstr(reply, "200 OK") != NULL)
            answered = 1;
        else
            usleep(250000);
    }
    assert_true(answered);
    assert_true(strstr(reply, "web-0") != NULL || strstr(reply, "web-1") != NULL);

    /* An update rewrites the configuration and reloads haproxy in place. */
    json_t *only_a = json_pack("{s:s, s:[s], s:[i], s:i, s:s}", "network", str(w.net, "id"),
                               "targets", str(w.host[0], "private_ip"), "listen", 80,
                               "backend_port", 8080, "health", "http:8080/");
    json_t *lb2 = converge("load_balancer", "load_balancer.web", NULL, lb, only_a, NULL);
    assert_string_equal(str(lb2, "id"), str(lb, "id"));
    assert_string_equal(str(lb2, "haproxy"), "running");
    int in_a_row = 0;
    for (int i = 0; i < 80 && in_a_row < 6; i++) {
        reply[0] = '\0';
        talk(str(lb, "address"), 80, "GET / HTTP/1.0\r\n\r\n", reply, sizeof(reply));
        in_a_row = strstr(reply, "web-0") != NULL ? in_a_row + 1 : 0;
        if (in_a_row == 0)
            usleep(250000); /* the old process finishes its connections */
    }
    assert_int_equal(in_a_row, 6);
    json_decref(lb2);
    json_decref(only_a);

    json_t *rec_config = json_pack("{s:s, s:s, s:s}", "zone", "example.test", "name", "www",
                                   "target", str(lb, "dns_name"));
    struct stat before, after;
    char hosts[PATH_MAX];
    snprintf(hosts, sizeof(hosts), "%s/hosts.%s", w.run_dir, w.prefix);
    assert_int_equal(stat(hosts, &before), 0);
    json_t *rec = converge("dns_record", "dns_record.www", TOKEN_DNS, NULL, rec_config, NULL);
    assert_string_equal(str(rec, "fqdn"), "www.example.test");
    assert_string_equal(str(rec, "address"), str(lb, "address"));
    assert_int_equal(stat(hosts, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    char line[256];
    assert_int_equal(sh(line, sizeof(line),
                        "nsenter --mount=%s getent hosts www.example.test | cut -d' ' -f1",
                        w.mnt_path[1]),
                     0);
    assert_string_equal(line, str(lb, "address"));

    assert_int_equal(destroy("dns_record", rec), 0);
    assert_int_not_equal(
        sh(NULL, 0, "nsenter --mount=%s getent hosts www.example.test", w.mnt_path[1]), 0);
    assert_int_equal(destroy("load_balancer", lb), 0);
    json_decref(rec);
    json_decref(rec_config);
    json_decref(lb);
    json_decref(config);
}

static void test_delete_leaves_no_namespace_link_mount_process_or_file(void **state)
{
    (void)state;
    SKIP_UNLESS_ROOT();
    char ino[2][32];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sh(NULL, 0,
                            "nsenter --net=%s --mount=%s sh -c 'sleep 600 >/dev/null 2>&1 &'",
                            w.netns_path[i], w.mnt_path[i]),
                         0);
        sh(ino[i], sizeof(ino[i]), "stat -L -c %%i %s", w.netns_path[i]);
    }
    assert_int_equal(destroy("network", w.net), INFRA_ECONFLICT); /* hosts still on it */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(destroy("instance", w.host[i]), 0);
        assert_int_equal(destroy("instance", w.host[i]), INFRA_ENOTFOUND);
        int error;
        json_decref(do_read("instance", NULL, w.host[i], &error));
        assert_int_equal(error, INFRA_ENOTFOUND);
        json_decref(w.host[i]);
        w.host[i] = NULL;
    }
    assert_int_equal(destroy("network", w.net), 0);
    char out[256];
    assert_int_equal(count_netns(), 0);
    sh(out, sizeof(out), "ip -o link show | grep -c ': %s[bv]'", w.prefix);
    assert_string_equal(out, "0");
    sh(out, sizeof(out), "grep -c '%s' /proc/self/mountinfo", w.run_dir);
    assert_string_equal(out, "0");
    for (int i = 0; i < 2; i++) {
        sh(out, sizeof(out),
           "for p in /proc/[0-9]*; do readlink $p/ns/net; done 2>/dev/null | grep -c "
           "'net:\\[%s\\]'",
           ino[i]);
        assert_string_equal(out, "0");
    }
    char base[PATH_MAX], hosts[PATH_MAX];
    snprintf(base, sizeof(base), "%s/%s", w.run_dir, w.prefix);
    snprintf(hosts, sizeof(hosts), "%s/hosts.%s", w.run_dir, w.prefix);
    assert_int_not_equal(access(base, F_OK), 0);
    assert_int_not_equal(access(hosts, F_OK), 0);
    json_decref(w.net);
    w.net = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_instances_answer_with_an_ssh_banner_on_port_22),
        cmocka_unit_test(test_file_in_opt_of_one_host_is_not_seen_on_the_other),
        cmocka_unit_test(test_hostnames_differ_and_match_the_attribute),
        cmocka_unit_test(test_fingerprint_attribute_is_ssh_keygen_of_the_host_key),
        cmocka_unit_test(test_ssh_login_with_the_reported_key_and_fingerprint),
        cmocka_unit_test(test_ssh_to_a_host_refuses_a_wrong_key_and_reports_failures),
        cmocka_unit_test(test_create_again_with_the_same_token_adopts_the_host),
        cmocka_unit_test(test_firewall_allows_listed_ports_and_drops_the_rest),
        cmocka_unit_test(test_read_reports_a_dead_sshd_and_update_restarts_it),
        cmocka_unit_test(test_plan_asks_replacement_only_for_force_new_changes),
        cmocka_unit_test(test_concurrent_creates_get_distinct_addresses),
        cmocka_unit_test(test_load_balancer_and_dns_record_serve_the_hosts),
        cmocka_unit_test(test_delete_leaves_no_namespace_link_mount_process_or_file),
    };
    return cmocka_run_group_tests(tests, world_setup, local_world_teardown);
}
