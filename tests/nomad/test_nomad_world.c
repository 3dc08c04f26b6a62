/* The integration test's world: see test_nomad_world.h. */
#define _GNU_SOURCE
#include "test_nomad_world.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plugin/host.h"
#include "services/http.h"
#include "services/secrets.h"
#include "services/ssh.h"
#include "base/util.h"

static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *str_of(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? util_strdup(s) : NULL;
}

/* An address of the pool's /24 that no host has: the last one. */
static void pick_unused(nw_world *w)
{
    struct in_addr a;
    inet_pton(AF_INET, w->hosts[0].address, &a);
    uint32_t ip = ntohl(a.s_addr);
    for (uint32_t last = 250; last > 200; last--) {
        char cand[64];
        struct in_addr c = {htonl((ip & 0xffffff00u) | last)};
        inet_ntop(AF_INET, &c, cand, sizeof(cand));
        if (nw_host_by_ip(w, cand) == NULL) {
            snprintf(w->unused_ip, sizeof(w->unused_ip), "%s", cand);
            return;
        }
    }
}

int nw_world_create(nw_world *w, size_t n, int need_standins)
{
    memset(w, 0, sizeof(*w));
    if (geteuid() != 0) {
        printf("SKIP: the nomad cluster test needs root (namespace hosts)\n");
        return 77;
    }
    char path[600];
    snprintf(path, sizeof(path), "%s/README.md", STANDINS_DIR);
    if (need_standins && access(path, R_OK) != 0) {
        printf("SKIP: the stand-in agents are not there (%s)\n", path);
        return 77;
    }
    if (need_standins) {
        /* A checkout under /tmp or /root is invisible inside the hosts. */
        FILE *p = popen(STANDINS_DIR "/stage.sh", "r");
        if (!p || !fgets(w->standins, sizeof(w->standins), p) || pclose(p) != 0) {
            printf("FAIL: cannot stage the stand-in agents\n");
            return -1;
        }
        w->standins[strcspn(w->standins, "\n")] = '\0';
    }
    if (run("command -v sshd >/dev/null 2>&1 || test -x /usr/sbin/sshd") != 0 ||
        run("command -v jq >/dev/null 2>&1") != 0 ||
        run("command -v busybox >/dev/null 2>&1") != 0) {
        printf("SKIP: sshd, jq and busybox are needed\n");
        return 77;
    }
    snprintf(w->dir, sizeof(w->dir), "%s/pool-%ld", TEST_BINARY_DIR, (long)getpid());
    char *cmd = util_printf("INFRA='%s' '%s' create %zu '%s' >'%s.log' 2>&1", INFRA_BINARY,
                            HOSTPOOL_SCRIPT, n, w->dir, w->dir);
    int st = run(cmd);
    free(cmd);
    if (st != 0) {
        printf("FAIL: hostpool create failed; see %s.log\n", w->dir);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/hosts.json", w->dir);
    json_t *hosts = json_load_file(path, 0, NULL);
    if (!json_is_array(hosts) || json_array_size(hosts) != n) {
        printf("FAIL: %s does not list %zu hosts\n", path, n);
        json_decref(hosts);
        return -1;
    }
    w->hosts = util_calloc(n, sizeof(*w->hosts));
    w->nhosts = n;
    for (size_t i = 0; i < n; i++) {
        json_t *h = json_array_get(hosts, i);
        w->hosts[i].address = str_of(h, "address");
        w->hosts[i].fingerprint = str_of(h, "ssh_host_key_fingerprint");
        w->hosts[i].key = str_of(h, "ssh_private_key");
    }
    json_decref(hosts);
    pick_unused(w);
    char *err = NULL;
    if (loader_load_file(NOMAD_PLUGIN_FILE, INFRA_PLUGIN_SCHEDULER, &w->plugin, &err) < 0) {
        printf("FAIL: %s\n", err);
        free(err);
        return -1;
    }
    w->ops = w->plugin.desc->scheduler;
    return 0;
}

void nw_world_destroy(nw_world *w)
{
    if (w->standins[0]) {
        char *cmd = util_printf("rm -rf \"$(dirname '%s')\"", w->standins);
        run(cmd);
        free(cmd);
        w->standins[0] = '\0';
    }
    if (w->plugin.handle)
        loader_plugin_unload(&w->plugin);
    if (w->dir[0]) {
        char *cmd = util_printf("INFRA='%s' '%s' destroy '%s' >>'%s.log' 2>&1 && rm -f '%s.log'",
                                INFRA_BINARY, HOSTPOOL_SCRIPT, w->dir, w->dir, w->dir);
        if (run(cmd) != 0)
            printf("warning: hostpool destroy failed; see %s.log\n", w->dir);
        else
            rmdir(w->dir);
        free(cmd);
    }
    for (size_t i = 0; i < w->nhosts; i++) {
        free(w->hosts[i].address);
        free(w->hosts[i].fingerprint);
        free(w->hosts[i].key);
    }
    free(w->hosts);
    memset(w, 0, sizeof(*w));
}

static pthread_mutex_t diag_lock = PTHREAD_MUTEX_INITIALIZER;

static void collect(void *ud, infra_call *call, int severity, const char *attr, const char *message)
{
    nw_diags *d = ud;
    pthread_mutex_lock(&diag_lock);
    if (severity >= INFRA_DIAG_ERROR)
        d->errors++;
    size_t len = strlen(d->text);
    snprintf(d->text + len, sizeof(d->text) - len, "%s%s[%s] %s\n",
             call->address && *call->address ? call->address : "",
             call->address && *call->address ? ": " : "", attr, message);
    pthread_mutex_unlock(&diag_lock);
}

void nw_call(infra_call *call, nw_diags *d, const char *address)
{
    host_call_init(call, address, "nomad");
    call->topology = "nomadtest";
    call->environment = "test";
    call->diag = collect;
    call->diag_ud = d;
}

json_t *nw_cluster_new(const char *name)
{
    return json_pack("{s:s, s:s, s:s, s:{}, s:{}, s:[]}", "name", name, "scheduler", "nomad",
                     "environment", "test", "settings", "regions", "federate");
}

json_t *nw_cluster_add(json_t *cluster, const char *region, const char *dc, const char *role,
                       int index, const char *ip, const nw_host *h)
{
    json_t *regions = json_object_get(cluster, "regions");
    json_t *r = json_object_get(regions, region);
    if (r == NULL) {
        r = json_pack("{s:{}}", "datacenters");
        json_object_set_new(regions, region, r);
    }
    json_t *dcs = json_object_get(r, "datacenters");
    json_t *d = json_object_get(dcs, dc);
    if (d == NULL) {
        d = json_pack("{s:s, s:{}, s:[], s:[]}", "provider", "local", "settings", "servers",
                      "clients");
        json_object_set_new(dcs, dc, d);
    }
    const char *name_c = json_string_value(json_object_get(cluster, "name"));
    char *name = util_printf("%s-%s-%s-%s-%d", name_c, region, dc, role, index);
    char *address = util_printf("cluster.%s.%s.%s.%s[%d]", name_c, region, dc, role, index);
    json_t *node = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:n, s:n,"
                             " s:{s:s, s:i, s:s, s:s, s:s}}",
                             "address", address, "name", name, "role", role, "region", region,
                             "datacenter", dc, "index", index, "id", name, "private_ip", ip,
                             "public_ip", "hostname", "ssh", "host", ip, "port", 22, "user", "root",
                             "private_key", h->key, "host_key_sha256", h->fingerprint);
    json_array_append_new(json_object_get(d, strcmp(role, "server") == 0 ? "servers" : "clients"),
                          node);
    free(name);
    free(address);
    return node;
}

json_t *nw_cluster_node(json_t *cluster, const char *name)
{
    const char *rk, *dk;
    json_t *r, *d;
    json_object_foreach(json_object_get(cluster, "regions"), rk, r)
    {
        json_object_foreach(json_object_get(r, "datacenters"), dk, d)
        {
            static const char *const lists[] = {"servers", "clients"};
            for (int k = 0; k < 2; k++) {
                size_t i;
                json_t *n;
                json_array_foreach(json_object_get(d, lists[k]), i, n)
                {
                    if (strcmp(json_string_value(json_object_get(n, "name")), name) == 0)
                        return n;
                }
            }
        }
    }
    return NULL;
}

void nw_cluster_remove(json_t *cluster, const char *name)
{
    const char *rk, *dk;
    json_t *r, *d;
    json_object_foreach(json_object_get(cluster, "regions"), rk, r)
    {
        json_object_foreach(json_object_get(r, "datacenters"), dk, d)
        {
            static const char *const lists[] = {"servers", "clients"};
            for (int k = 0; k < 2; k++) {
                json_t *list = json_object_get(d, lists[k]);
                for (size_t i = 0; i < json_array_size(list); i++)
                    if (strcmp(json_string_value(json_object_get(json_array_get(list, i), "name")),
                               name) == 0) {
                        json_array_remove(list, i);
                        return;
                    }
            }
        }
    }
}

infra_scheduler *nw_configure(nw_world *w, const char *cluster, json_t *settings)
{
    infra_call call;
    nw_diags d = {0};
    infra_scheduler *ctx = NULL;
    json_t *s = settings ? json_deep_copy(settings) : json_object();
    json_object_set_new(s, "name", json_string(cluster));
    json_object_set_new(s, "environment", json_string("test"));
    nw_call(&call, &d, "");
    int error = w->ops->configure(&call, host_json(s), &ctx);
    if (error != 0)
        printf("configure: %d: %s\n", error, d.text);
    host_call_clear(&call);
    json_decref(s);
    return ctx;
}

infra_scheduler *nw_configure_standins(nw_world *w, const char *cluster, const char *nomad_binary,
                                       int node_deadline, int job_deadline)
{
    char *nomad = nomad_binary ? util_strdup(nomad_binary) : util_printf("%s/nomad", w->standins);
    char *consul = util_printf("%s/consul", w->standins);
    json_t *settings = json_pack("{s:s, s:s}", "nomad_binary", nomad, "consul_binary", consul);
    if (node_deadline > 0)
        json_object_set_new(settings, "node_deadline", json_integer(node_deadline));
    if (job_deadline > 0)
        json_object_set_new(settings, "job_deadline", json_integer(job_deadline));
    infra_scheduler *ctx = nw_configure(w, cluster, settings);
    json_decref(settings);
    free(nomad);
    free(consul);
    return ctx;
}

int nw_node_bootstrap(nw_world *w, infra_scheduler *ctx, json_t *cluster, json_t *node,
                      nw_diags *d)
{
    infra_call call;
    memset(d, 0, sizeof(*d));
    nw_call(&call, d, json_string_value(json_object_get(node, "address")));
    int error = w->ops->node_bootstrap(ctx, &call, host_json(cluster), host_json(node));
    host_call_clear(&call);
    return error;
}

int nw_node_remove(nw_world *w, infra_scheduler *ctx, json_t *cluster, json_t *node, nw_diags *d)
{
    infra_call call;
    memset(d, 0, sizeof(*d));
    nw_call(&call, d, json_string_value(json_object_get(node, "address")));
    int error = w->ops->node_remove(ctx, &call, host_json(cluster), host_json(node));
    host_call_clear(&call);
    return error;
}

int nw_wait_ready(nw_world *w, infra_scheduler *ctx, json_t *cluster, const char *region,
                  int64_t ms, nw_diags *d)
{
    infra_call call;
    char *address = util_printf("cluster.%s", json_string_value(json_object_get(cluster, "name")));
    memset(d, 0, sizeof(*d));
    nw_call(&call, d, address);
    int error = w->ops->wait_ready(ctx, &call, host_json(cluster), region, ms);
    host_call_clear(&call);
    free(address);
    return error;
}

json_t *nw_region_status(nw_world *w, infra_scheduler *ctx, json_t *cluster, const char *region)
{
    infra_call call;
    nw_diags d = {0};
    infra_json *out = NULL;
    char *address = util_printf("cluster.%s", json_string_value(json_object_get(cluster, "name")));
    nw_call(&call, &d, address);
    int error = w->ops->cluster_status(ctx, &call, host_json(cluster), &out);
    host_call_clear(&call);
    free(address);
    if (error != 0)
        fail_msg("cluster_status: %d:\n%s", error, d.text);
    json_t *all = host_jansson(out);
    json_t *r = json_incref(json_object_get(json_object_get(all, "regions"), region));
    json_decref(all);
    if (r == NULL)
        fail_msg("cluster_status has no region %s", region);
    return r;
}

typedef struct boot_job {
    nw_world *w;
    infra_scheduler *ctx;
    json_t *cluster;
    json_t *node;
    nw_diags *d;
    int error;
} boot_job;

static void *boot_one(void *arg)
{
    boot_job *j = arg;
    infra_call call;
    const char *address = json_string_value(json_object_get(j->node, "address"));
    nw_call(&call, j->d, address);
    j->error = j->w->ops->node_bootstrap(j->ctx, &call, host_json(j->cluster), host_json(j->node));
    host_call_clear(&call);
    return NULL;
}

int nw_bootstrap_region(nw_world *w, infra_scheduler *ctx, json_t *cluster, const char *region,
                        nw_diags *d)
{
    boot_job jobs[32];
    pthread_t threads[32];
    size_t n = 0;
    const char *rk, *dk;
    json_t *r, *dc;
    json_object_foreach(json_object_get(cluster, "regions"), rk, r)
    {
        if (region && strcmp(rk, region) != 0)
            continue;
        json_object_foreach(json_object_get(r, "datacenters"), dk, dc)
        {
            static const char *const lists[] = {"servers", "clients"};
            for (int k = 0; k < 2; k++) {
                size_t i;
                json_t *node;
                json_array_foreach(json_object_get(dc, lists[k]), i, node)
                {
                    if (n < 32)
                        jobs[n++] = (boot_job){w, ctx, cluster, node, d, 0};
                }
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        pthread_create(&threads[i], NULL, boot_one, &jobs[i]);
    int error = 0;
    for (size_t i = 0; i < n; i++) {
        pthread_join(threads[i], NULL);
        if (jobs[i].error != 0 && error == 0)
            error = jobs[i].error;
    }
    return error;
}

int nw_ssh(const nw_host *h, const char *cmd, char **out)
{
    infra_ssh_target t = {sizeof(t), h->address, 22, "root", h->key, h->fingerprint, 20000};
    infra_ssh *ssh = NULL;
    int status = -1;
    char *sout = NULL;
    if (out)
        *out = NULL;
    if (ssh_connect(NULL, &t, &ssh) < 0)
        return -1;
    if (ssh_exec(ssh, cmd, &status, &sout, NULL) < 0)
        status = -1;
    ssh_close(ssh);
    if (out)
        *out = sout;
    else
        free(sout);
    return status;
}

const nw_host *nw_host_by_ip(const nw_world *w, const char *ip)
{
    for (size_t i = 0; i < w->nhosts; i++)
        if (ip && strcmp(w->hosts[i].address, ip) == 0)
            return &w->hosts[i];
    return NULL;
}

int nw_http(const char *method, const char *url, const char *ca_secret, const char *token_header,
            const char *token_secret, long *status, char **body)
{
    infra_secret *ca = NULL, *token = NULL;
    char *auth = NULL;
    const char *headers[2] = {NULL, NULL};
    if (ca_secret && secrets_lookup(ca_secret, &ca) < 0)
        return -1;
    if (token_secret && secrets_lookup(token_secret, &token) < 0) {
        secrets_free(ca);
        return -1;
    }
    if (token) {
        auth = util_printf("%s: %s", token_header, secrets_value(token));
        headers[0] = auth;
    }
    infra_http_request req = {0};
    req.size = sizeof(req);
    req.method = method;
    req.url = url;
    req.headers = headers;
    req.timeout_ms = 10000;
    req.max_attempts = 2;
    req.ca_pem = secrets_value(ca);
    req.redact = secrets_value(token);
    infra_http_response *resp = NULL;
    int error = http_request(NULL, &req, &resp);
    if (error == 0) {
        *status = resp->status;
        *body = util_strdup(resp->body ? resp->body : "");
    }
    http_response_free(resp);
    if (auth) {
        util_zero(auth, strlen(auth));
        free(auth);
    }
    secrets_free(ca);
    secrets_free(token);
    return error;
}
