/* The nomad plugin end to end: nomad.so loaded through the core loader,
 * driven like the engine drives it, against real namespace hosts (sshd,
 * SSH bootstrap, supervised agents) running the stand-in Nomad and Consul
 * agents of tests/standins/. Needs root; skipped (77) otherwise or when the
 * stand-ins are missing.
 *
 * The scenarios build on each other, in order: one region comes up and
 * runs a raw_exec job; a second bootstrap restarts nothing; a second region
 * is federated and gets the job; failure cases; a client is drained away. */
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
#include "services/secrets.h"
#include "base/util.h"
#include "test_nomad_world.h"

#define CLUSTER "nt"
#define NHOSTS 7
#define TOKEN_SECRET "nomad." CLUSTER ".nomad_management_token"

static nw_world w;
static infra_scheduler *ctx;
static json_t *cluster;

static const char web_job[] =
    "{\"Job\": {\"ID\": \"web\", \"Name\": \"web\", \"Type\": \"service\", \"Datacenters\": "
    "[\"dc1\"],"
    " \"Update\": {\"MaxParallel\": 2, \"HealthCheck\": \"checks\", \"MinHealthyTime\": 2000000000,"
    "  \"HealthyDeadline\": 60000000000, \"ProgressDeadline\": 120000000000, \"AutoRevert\": "
    "false},"
    " \"TaskGroups\": [{\"Name\": \"web\", \"Count\": 1,"
    "  \"Networks\": [{\"DynamicPorts\": [{\"Label\": \"http\"}]}],"
    "  \"Services\": [{\"Name\": \"web\", \"PortLabel\": \"http\", \"Checks\": [{\"Name\": "
    "\"index\","
    "   \"Type\": \"http\", \"Path\": \"/\", \"Interval\": 1000000000, \"Timeout\": 1000000000}]}],"
    "  \"Tasks\": [{\"Name\": \"httpd\", \"Driver\": \"raw_exec\", \"Config\": {\"command\": "
    "\"/bin/sh\","
    "   \"args\": [\"-c\", \"echo served-by-$NOMAD_ALLOC_ID >$NOMAD_TASK_DIR/index.html && exec"
    " busybox httpd -f -p $NOMAD_ADDR_http -h $NOMAD_TASK_DIR\"]},"
    "   \"Resources\": {\"CPU\": 50, \"MemoryMB\": 32}}]}]}}";

static const char crash_job[] =
    "{\"ID\": \"crash\", \"Name\": \"crash\", \"Type\": \"service\","
    " \"Update\": {\"MaxParallel\": 1, \"HealthCheck\": \"task_states\", \"MinHealthyTime\": "
    "1000000000,"
    "  \"HealthyDeadline\": 20000000000, \"ProgressDeadline\": 40000000000, \"AutoRevert\": false},"
    " \"TaskGroups\": [{\"Name\": \"crash\", \"Count\": 1,"
    "  \"RestartPolicy\": {\"Attempts\": 0, \"Interval\": 60000000000, \"Delay\": 1000000000,"
    "   \"Mode\": \"fail\"},"
    "  \"ReschedulePolicy\": {\"Attempts\": 0, \"Unlimited\": false},"
    "  \"Tasks\": [{\"Name\": \"boom\", \"Driver\": \"raw_exec\", \"Config\": {\"command\": "
    "\"/bin/sh\","
    "   \"args\": [\"-c\", \"echo going down >&2; exit 1\"]}}]}]}";

static const char hello_hcl[] =
    "variable \"message\" {\n"
    "  type = string\n"
    "}\n"
    "\n"
    "job \"hello\" {\n"
    "  type = \"batch\"\n"
    "  group \"hello\" {\n"
    "    task \"say\" {\n"
    "      driver = \"raw_exec\"\n"
    "      config {\n"
    "        command = \"/bin/sh\"\n"
    "        args    = [\"-c\", \"echo ${var.message} >$NOMAD_ALLOC_DIR/said\"]\n"
    "      }\n"
    "    }\n"
    "  }\n"
    "}\n";

/* ------------------------------------------------------------------ */
/* helpers                                                            */

static json_t *job_doc(const char *id, const char *format, const char *content, json_t *set,
                       json_t *regions)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:o}", "name", id, "kind", "job", "id",
                     id, "regions", regions, "file", "/jobs/x", "format", format, "content",
                     content, "set", set ? set : json_object());
}

static int submit(json_t *job, json_t **status, nw_diags *d)
{
    infra_call call;
    infra_json *st = NULL;
    memset(d, 0, sizeof(*d));
    nw_call(&call, d, "job.x");
    int error = w.ops->job_submit(ctx, &call, host_json(cluster), host_json(job), &st);
    host_call_clear(&call);
    *status = host_jansson(st);
    return error;
}

static int job_status(infra_scheduler *c, const char *id, json_t **status, nw_diags *d)
{
    infra_call call;
    infra_json *st = NULL;
    memset(d, 0, sizeof(*d));
    nw_call(&call, d, "job.status");
    int error = w.ops->job_status(c, &call, host_json(cluster), id, &st);
    host_call_clear(&call);
    *status = host_jansson(st);
    return error;
}

static int wait_ready(infra_scheduler *c, json_t *cl, const char *region, int64_t ms, nw_diags *d)
{
    return nw_wait_ready(&w, c, cl, region, ms, d);
}

static const char *node_name(int host)
{
    static const char *const names[NHOSTS] = {
        CLUSTER "-europe-dc-a-server-0", CLUSTER "-europe-dc-a-server-1",
        CLUSTER "-europe-dc-b-server-0", CLUSTER "-europe-dc-a-client-0",
        CLUSTER "-europe-dc-b-client-0", CLUSTER "-us-dc-c-server-0",
        CLUSTER "-us-dc-c-client-0"};
    return names[host];
}

/* "consulpid nomadpid" of host i, as the node's pidfiles say. */
static char *agent_pids(int i)
{
    char *out = NULL;
    int st =
        nw_ssh(&w.hosts[i], "echo $(cat /run/infra-consul.pid) $(cat /run/infra-nomad.pid)", &out);
    if (st != 0)
        fail_msg("cannot read the agents' pids on %s", w.hosts[i].address);
    out[strcspn(out, "\n")] = '\0';
    return out;
}

static const char *region_str(json_t *status, const char *region, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(status, "regions"), region), key));
}

static void no_secret_in(const char *text)
{
    infra_secret *s = NULL;
    static const char *const names[] = {TOKEN_SECRET, "nomad." CLUSTER ".consul_management_token",
                                        "nomad." CLUSTER ".nomad_gossip_key",
                                        "nomad." CLUSTER ".consul_gossip_key"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (secrets_lookup(names[i], &s) < 0)
            continue;
        if (strstr(text, secrets_value(s)) != NULL)
            fail_msg("the value of %s leaked into: %s", names[i], text);
        secrets_free(s);
    }
}

/* ------------------------------------------------------------------ */
/* scenarios                                                          */

static void test_one_region_of_three_servers_and_two_clients_becomes_ready(void **state)
{
    nw_diags d = {0};
    int error = nw_bootstrap_region(&w, ctx, cluster, "europe", &d);
    if (error != 0)
        fail_msg("bootstrap of europe: %d:\n%s", error, d.text);
    /* polls while agents start are not errors: the host would keep the
     * first one as the message of a later failure */
    if (d.errors != 0)
        fail_msg("a successful bootstrap reported errors:\n%s", d.text);
    error = wait_ready(ctx, cluster, "europe", 120000, &d);
    if (error != 0 || d.errors != 0)
        fail_msg("wait_ready europe: %d:\n%s", error, d.text);

    json_t *eu = nw_region_status(&w, ctx, cluster, "europe");
    assert_non_null(json_string_value(json_object_get(eu, "leader")));
    json_t *servers = json_object_get(eu, "servers"), *clients = json_object_get(eu, "clients");
    assert_int_equal(json_array_size(servers), 3);
    size_t i;
    json_t *e;
    json_array_foreach(servers, i, e)
        assert_string_equal(json_string_value(json_object_get(e, "status")), "alive");
    assert_int_equal(json_array_size(clients), 2);
    json_array_foreach(clients, i, e)
        assert_string_equal(json_string_value(json_object_get(e, "status")), "ready");
    json_decref(eu);
}

static void test_secrets_live_only_in_the_nodes_secret_files(void **state)
{
    infra_secret *tok = NULL;
    assert_int_equal(secrets_lookup("nomad." CLUSTER ".consul_management_token", &tok), 0);
    for (int i = 0; i < 5; i++) {
        char *out = NULL;
        char *cmd = NULL;
        if (asprintf(&cmd,
                     "stat -c '%%a %%n' /etc/nomad.d/secrets.json /etc/consul.d/secrets.json"
                     " /etc/nomad.d/tls/node-key.pem; grep -l -F -e '%s' /etc/nomad.d/*.json"
                     " /etc/consul.d/*.json",
                     secrets_value(tok)) < 0)
            fail();
        nw_ssh(&w.hosts[i], cmd, &out);
        free(cmd);
        assert_non_null(strstr(out, "600 /etc/nomad.d/secrets.json"));
        assert_non_null(strstr(out, "600 /etc/consul.d/secrets.json"));
        assert_non_null(strstr(out, "600 /etc/nomad.d/tls/node-key.pem"));
        /* the token is in the secret files only */
        assert_null(strstr(out, "agent.json"));
        assert_non_null(strstr(out, "/etc/consul.d/secrets.json"));
        free(out);
    }
    secrets_free(tok);
}

static void test_raw_exec_job_deploys_and_its_httpd_answers(void **state)
{
    nw_diags d;
    json_t *status = NULL;
    json_t *job =
        job_doc("web", "json", web_job, json_pack("{s:i, s:s}", "count", 2, "owner", "tests"),
                json_pack("[s]", "europe"));
    int error = submit(job, &status, &d);
    json_decref(job);
    if (error != 0 || d.errors != 0)
        fail_msg("job_submit web: %d:\n%s", error, d.text);
    json_t *eu = json_object_get(json_object_get(status, "regions"), "europe");
    assert_string_equal(json_string_value(json_object_get(eu, "id")), "web");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(eu, "deployment"), "status")),
        "successful");
    json_t *allocs = json_object_get(eu, "allocations");
    assert_int_equal(json_array_size(allocs), 2);
    size_t i;
    json_t *al;
    json_array_foreach(allocs, i, al)
    {
        assert_string_equal(json_string_value(json_object_get(al, "client_status")), "running");
        assert_true(json_is_true(json_object_get(al, "healthy")));
    }
    json_decref(status);

    /* Consul knows where the httpds are, and they answer. */
    long code = 0;
    char *body = NULL, url[256];
    snprintf(url, sizeof(url), "https://%s:8501/v1/health/service/web?passing=true",
             w.hosts[0].address);
    assert_int_equal(nw_http("GET", url, "nomad." CLUSTER ".ca.cert", "X-Consul-Token",
                             "nomad." CLUSTER ".consul_management_token", &code, &body),
                     0);
    assert_int_equal(code, 200);
    json_t *entries = json_loads(body, 0, NULL);
    free(body);
    assert_int_equal(json_array_size(entries), 2);
    json_array_foreach(entries, i, al)
    {
        json_t *svc = json_object_get(al, "Service");
        const char *addr = json_string_value(json_object_get(svc, "Address"));
        json_int_t port = json_integer_value(json_object_get(svc, "Port"));
        assert_non_null(addr);
        snprintf(url, sizeof(url), "http://%s:%lld/", addr, (long long)port);
        assert_int_equal(nw_http("GET", url, NULL, NULL, NULL, &code, &body), 0);
        assert_int_equal(code, 200);
        assert_non_null(strstr(body, "served-by-"));
        free(body);
    }
    json_decref(entries);
}

/* The agents' pids of the europe nodes once the region runs. */
static char *europe_pids[5];

static void test_second_bootstrap_of_every_node_restarts_no_agent(void **state)
{
    char *before[5];
    for (int i = 0; i < 5; i++) {
        before[i] = agent_pids(i);
        europe_pids[i] = strdup(before[i]);
    }
    nw_diags d = {0};
    int error = nw_bootstrap_region(&w, ctx, cluster, "europe", &d);
    if (error != 0)
        fail_msg("second bootstrap: %d:\n%s", error, d.text);
    for (int i = 0; i < 5; i++) {
        char *after = agent_pids(i);
        if (strcmp(before[i], after) != 0)
            fail_msg("%s: agent pids changed from %s to %s", node_name(i), before[i], after);
        free(after);
        free(before[i]);
    }
}

static void test_two_regions_federate_and_run_the_job_in_both(void **state)
{
    nw_diags d = {0};
    int error = nw_bootstrap_region(&w, ctx, cluster, "us", &d);
    if (error != 0)
        fail_msg("bootstrap of us: %d:\n%s", error, d.text);
    if ((error = wait_ready(ctx, cluster, "us", 120000, &d)) != 0)
        fail_msg("wait_ready us: %d:\n%s", error, d.text);
    infra_call call;
    memset(&d, 0, sizeof(d));
    nw_call(&call, &d, "cluster." CLUSTER);
    error = w.ops->federate(ctx, &call, host_json(cluster), "europe", "us");
    host_call_clear(&call);
    if (error != 0)
        fail_msg("federate: %d:\n%s", error, d.text);

    long code = 0;
    char *body = NULL, url[256];
    snprintf(url, sizeof(url), "https://%s:4646/v1/regions", w.hosts[5].address);
    assert_int_equal(nw_http("GET", url, "nomad." CLUSTER ".ca.cert", "X-Nomad-Token", TOKEN_SECRET,
                             &code, &body),
                     0);
    assert_non_null(strstr(body, "\"europe\""));
    assert_non_null(strstr(body, "\"us\""));
    free(body);

    json_t *status = NULL;
    json_t *job = job_doc("web", "json", web_job, json_pack("{s:i}", "count", 2),
                          json_pack("[s, s]", "europe", "us"));
    error = submit(job, &status, &d);
    json_decref(job);
    if (error != 0)
        fail_msg("job_submit web to both regions: %d:\n%s", error, d.text);
    json_decref(status);
    assert_int_equal(job_status(ctx, "web", &status, &d), 0);
    assert_string_equal(region_str(status, "europe", "status"), "running");
    assert_string_equal(region_str(status, "us", "status"), "running");
    json_t *us_allocs =
        json_object_get(json_object_get(json_object_get(status, "regions"), "us"), "allocations");
    assert_int_equal(json_array_size(us_allocs), 2);
    json_decref(status);
}

static void test_adding_a_region_restarted_nothing_and_a_rerun_restarts_nothing(void **state)
{
    for (int i = 0; i < 5; i++) {
        char *now = agent_pids(i);
        if (strcmp(now, europe_pids[i]) != 0)
            fail_msg("%s: adding region us restarted agents (%s -> %s)", node_name(i),
                     europe_pids[i], now);
        free(now);
    }
    char *before[NHOSTS];
    for (int i = 0; i < NHOSTS; i++)
        before[i] = agent_pids(i);
    nw_diags d = {0};
    int error = nw_bootstrap_region(&w, ctx, cluster, NULL, &d);
    if (error != 0)
        fail_msg("bootstrap of every node: %d:\n%s", error, d.text);
    for (int i = 0; i < NHOSTS; i++) {
        char *after = agent_pids(i);
        if (strcmp(before[i], after) != 0)
            fail_msg("%s: agent pids changed from %s to %s", node_name(i), before[i], after);
        free(after);
        free(before[i]);
    }
}

static void test_hcl_batch_job_runs_with_set_values_as_variables(void **state)
{
    nw_diags d;
    json_t *status = NULL;
    json_t *job = job_doc("hello", "hcl", hello_hcl, json_pack("{s:s}", "message", "hi-from-set"),
                          json_pack("[s]", "europe"));
    int error = submit(job, &status, &d);
    json_decref(job);
    if (error != 0)
        fail_msg("job_submit hello (HCL): %d:\n%s", error, d.text);
    json_t *allocs = json_object_get(json_object_get(json_object_get(status, "regions"), "europe"),
                                     "allocations");
    assert_int_equal(json_array_size(allocs), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(allocs, 0), "client_status")), "complete");
    json_decref(status);
}

static void test_job_whose_task_exits_1_fails_naming_the_task(void **state)
{
    nw_diags d;
    json_t *status = NULL;
    json_t *job = job_doc("crash", "json", crash_job, NULL, json_pack("[s]", "europe"));
    int error = submit(job, &status, &d);
    json_decref(job);
    assert_int_equal(error, INFRA_EINVALID);
    assert_null(status);
    if (strstr(d.text, "region europe: job crash: deployment failed") == NULL ||
        strstr(d.text, "task group crash, task boom") == NULL)
        fail_msg("unexpected message:\n%s", d.text);
    no_secret_in(d.text);
    print_message("the crash job's message: %s", d.text);

    infra_call call;
    nw_call(&call, &d, "job.crash");
    assert_int_equal(w.ops->job_stop(ctx, &call, host_json(cluster), "crash"), 0);
    host_call_clear(&call);
}

static void test_wrong_acl_token_is_refused_naming_the_secret(void **state)
{
    infra_secret *good = NULL;
    assert_int_equal(secrets_lookup(TOKEN_SECRET, &good), 0);
    char *kept = strdup(secrets_value(good));
    secrets_free(good);
    assert_int_equal(secrets_set(TOKEN_SECRET, "0badc0de-0000-4000-8000-00000000beef"), 0);

    nw_diags d;
    json_t *status = NULL;
    assert_int_equal(job_status(ctx, "web", &status, &d), INFRA_EAUTH);
    if (strstr(d.text, TOKEN_SECRET) == NULL)
        fail_msg("the message does not name the secret:\n%s", d.text);
    assert_null(strstr(d.text, "0badc0de-0000-4000-8000-00000000beef"));
    assert_null(strstr(d.text, kept));
    print_message("a wrong token's message: %s", d.text);

    assert_int_equal(wait_ready(ctx, cluster, "europe", 20000, &d), INFRA_EAUTH);
    if (strstr(d.text, "bootstrapped with another management token") == NULL)
        fail_msg("unexpected message:\n%s", d.text);
    assert_null(strstr(d.text, kept));

    assert_int_equal(secrets_set(TOKEN_SECRET, kept), 0);
    free(kept);
    assert_int_equal(job_status(ctx, "web", &status, &d), 0);
    json_decref(status);
}

static void test_node_remove_drains_a_client_and_its_allocations_move(void **state)
{
    json_t *node = json_deep_copy(nw_cluster_node(cluster, node_name(4)));
    nw_diags d;
    int error = nw_node_remove(&w, ctx, cluster, node, &d);
    if (error != 0)
        fail_msg("node_remove: %d:\n%s", error, d.text);
    nw_cluster_remove(cluster, node_name(4));
    json_decref(node);

    /* nothing runs on the removed node any more */
    assert_int_not_equal(nw_ssh(&w.hosts[4], "/opt/infra/supervise pid nomad", NULL), 0);
    assert_int_not_equal(nw_ssh(&w.hosts[4], "/opt/infra/supervise pid consul", NULL), 0);

    json_t *status = NULL;
    assert_int_equal(job_status(ctx, "web", &status, &d), 0);
    json_t *allocs = json_object_get(json_object_get(json_object_get(status, "regions"), "europe"),
                                     "allocations");
    size_t i, running = 0;
    json_t *al;
    json_array_foreach(allocs, i, al)
    {
        const char *cs = json_string_value(json_object_get(al, "client_status"));
        if (cs && strcmp(cs, "running") == 0) {
            running++;
            assert_string_equal(json_string_value(json_object_get(al, "node")), node_name(3));
        }
    }
    if (running != 2) {
        char *text = json_dumps(status, JSON_INDENT(2)), *body = NULL, url[256];
        long code = 0;
        snprintf(url, sizeof(url), "https://%s:4646/v1/job/web/allocations", w.hosts[0].address);
        nw_http("GET", url, "nomad." CLUSTER ".ca.cert", "X-Nomad-Token", TOKEN_SECRET, &code,
                &body);
        fail_msg("expected 2 running allocations on %s:\n%s\nallocations: %s", node_name(3), text,
                 body ? body : "?");
    }
    json_decref(status);
}

static void test_a_node_that_never_comes_up_is_named_with_its_address(void **state)
{
    infra_scheduler *quick = nw_configure_standins(&w, CLUSTER, NULL, 8, 0);
    assert_non_null(quick);
    json_t *cl = json_deep_copy(cluster);
    json_t *ghost = nw_cluster_add(cl, "europe", "dc-b", "client", 7, w.unused_ip, &w.hosts[0]);
    nw_diags d;
    assert_int_equal(nw_node_bootstrap(&w, quick, cl, ghost, &d), INFRA_ETRANSIENT);
    char want[256];
    snprintf(want, sizeof(want),
             "node " CLUSTER "-europe-dc-b-client-7 (%s): cannot connect over SSH", w.unused_ip);
    if (strstr(d.text, want) == NULL)
        fail_msg("expected \"%s\" in:\n%s", want, d.text);
    print_message("a silent node's messages: %s", d.text);

    assert_int_equal(wait_ready(quick, cl, "europe", 8000, &d), INFRA_ETRANSIENT);
    if (strstr(d.text, "region europe: Nomad clients not ready after") == NULL ||
        strstr(d.text, CLUSTER "-europe-dc-b-client-7 (not registered)") == NULL)
        fail_msg("unexpected message:\n%s", d.text);
    print_message("its region's message: %s", d.text);
    w.ops->close(quick);
    json_decref(cl);
}

static void test_job_stop_purges_the_job_in_every_region(void **state)
{
    nw_diags d = {0};
    infra_call call;
    nw_call(&call, &d, "job.web");
    int error = w.ops->job_stop(ctx, &call, host_json(cluster), "web");
    host_call_clear(&call);
    if (error != 0)
        fail_msg("job_stop: %d:\n%s", error, d.text);
    json_t *status = NULL;
    assert_int_equal(job_status(ctx, "web", &status, &d), INFRA_ENOTFOUND);
    assert_null(status);
}

/* ------------------------------------------------------------------ */

static int world_up(void **state)
{
    int rc = nw_world_create(&w, NHOSTS, 1);
    if (rc != 0)
        exit(rc == 77 ? 77 : 1);
    cluster = nw_cluster_new(CLUSTER);
    nw_cluster_add(cluster, "europe", "dc-a", "server", 0, w.hosts[0].address, &w.hosts[0]);
    nw_cluster_add(cluster, "europe", "dc-a", "server", 1, w.hosts[1].address, &w.hosts[1]);
    nw_cluster_add(cluster, "europe", "dc-b", "server", 0, w.hosts[2].address, &w.hosts[2]);
    nw_cluster_add(cluster, "europe", "dc-a", "client", 0, w.hosts[3].address, &w.hosts[3]);
    nw_cluster_add(cluster, "europe", "dc-b", "client", 0, w.hosts[4].address, &w.hosts[4]);
    nw_cluster_add(cluster, "us", "dc-c", "server", 0, w.hosts[5].address, &w.hosts[5]);
    nw_cluster_add(cluster, "us", "dc-c", "client", 0, w.hosts[6].address, &w.hosts[6]);
    json_array_append_new(json_object_get(cluster, "federate"), json_string("europe"));
    json_array_append_new(json_object_get(cluster, "federate"), json_string("us"));
    ctx = nw_configure_standins(&w, CLUSTER, NULL, 120, 180);
    if (ctx == NULL) {
        nw_world_destroy(&w);
        exit(1);
    }
    /* us is bootstrapped later, as a region added to a running cluster */
    return 0;
}

static int world_down(void **state)
{
    for (size_t i = 0; i < w.nhosts; i++)
        nw_ssh(&w.hosts[i], "for a in nomad consul; do /opt/infra/supervise stop $a; done", NULL);
    for (int i = 0; i < 5; i++)
        free(europe_pids[i]);
    if (ctx)
        w.ops->close(ctx);
    json_decref(cluster);
    nw_world_destroy(&w);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_region_of_three_servers_and_two_clients_becomes_ready),
        cmocka_unit_test(test_secrets_live_only_in_the_nodes_secret_files),
        cmocka_unit_test(test_raw_exec_job_deploys_and_its_httpd_answers),
        cmocka_unit_test(test_second_bootstrap_of_every_node_restarts_no_agent),
        cmocka_unit_test(test_two_regions_federate_and_run_the_job_in_both),
        cmocka_unit_test(test_adding_a_region_restarted_nothing_and_a_rerun_restarts_nothing),
        cmocka_unit_test(test_hcl_batch_job_runs_with_set_values_as_variables),
        cmocka_unit_test(test_job_whose_task_exits_1_fails_naming_the_task),
        cmocka_unit_test(test_wrong_acl_token_is_refused_naming_the_secret),
        cmocka_unit_test(test_node_remove_drains_a_client_and_its_allocations_move),
        cmocka_unit_test(test_a_node_that_never_comes_up_is_named_with_its_address),
        cmocka_unit_test(test_job_stop_purges_the_job_in_every_region),
    };
    return cmocka_run_group_tests(tests, world_up, world_down);
}
