/* The nomad plugin's client pool functions on the command line, for the
 * aws/asg-pools scenario, which launches pool instances without infra:
 *
 *   pool_tool user-data REGION DATACENTER JOIN CONSUL_BINARY NOMAD_BINARY
 *       prints the pool's user data (nomad_pool_user_data)
 *   pool_tool wait SERVER_IP REGION DATACENTER N SECONDS [ADDRESS...]
 *       nomad_pool_wait through the server at SERVER_IP
 *   pool_tool drain SERVER_IP REGION DATACENTER ADDRESS
 *       nomad_pool_drain of the client at ADDRESS
 *
 * Plain settings (no ACL, TLS or gossip encryption), raw_exec on. Exit 0,
 * or 1 with the plugin's diagnostics on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/host.h"
#include "nomad.h"

static void print_diag(void *ud, infra_call *call, int severity, const char *attr,
                       const char *message)
{
    (void)ud;
    (void)call;
    (void)attr;
    fprintf(stderr, "%s: %s\n", severity >= INFRA_DIAG_ERROR ? "error" : "note", message);
}

static const infra_plugin *plugin;

static int configure(infra_call *call, const char *consul, const char *nomad, infra_scheduler **out)
{
    if (plugin == NULL && infra_plugin_entry(host_table(), &plugin) != 0)
        return INFRA_EINTERNAL;
    infra_json *s = NJ->new_object();
    pu_json_set_str(s, "name", "main");
    pu_json_set_str(s, "environment", "test");
    pu_json_set_bool(s, "acl", 0);
    pu_json_set_bool(s, "tls", 0);
    pu_json_set_bool(s, "gossip_encryption", 0);
    if (consul)
        pu_json_set_str(s, "consul_binary", consul);
    if (nomad)
        pu_json_set_str(s, "nomad_binary", nomad);
    int error = plugin->scheduler->configure(call, s, out);
    NJ->release(s);
    return error;
}

static int user_data(infra_call *call, char **argv)
{
    infra_scheduler *ctx = NULL;
    int error = configure(call, argv[4], argv[5], &ctx);
    if (error < 0)
        return error;
    nomad_pool_in in = {.s = &ctx->s,
                        .cluster = ctx->cluster,
                        .region = argv[1],
                        .datacenter = argv[2],
                        .authority = argv[1],
                        .join = argv[3]};
    char *script = NULL;
    if ((error = nomad_pool_user_data(&in, &script)) == 0)
        fputs(script, stdout);
    free(script);
    plugin->scheduler->close(ctx);
    return error;
}

/* A region of one server at ip, for the API helpers. */
static int with_server(infra_call *call, const char *ip, const char *region,
                       int (*fn)(const nomad_api_ctx *, const nomad_region *, char **), char **args)
{
    infra_scheduler *ctx = NULL;
    int error = configure(call, NULL, NULL, &ctx);
    if (error < 0)
        return error;
    nomad_node server;
    memset(&server, 0, sizeof(server));
    server.name = "server";
    server.role = "server";
    server.server = 1;
    server.region = region;
    server.private_ip = ip;
    nomad_node *servers[] = {&server};
    nomad_region r;
    memset(&r, 0, sizeof(r));
    r.name = region;
    r.servers = servers;
    r.nservers = 1;
    nomad_keys keys;
    memset(&keys, 0, sizeof(keys));
    nomad_api_ctx a = {.ctx = ctx, .call = call, .keys = &keys};
    error = fn(&a, &r, args);
    plugin->scheduler->close(ctx);
    return error;
}

static int do_wait(const nomad_api_ctx *a, const nomad_region *r, char **args)
{
    size_t n = 0;
    while (args[6 + n] != NULL)
        n++;
    return nomad_pool_wait(a, r, args[3], (size_t)atoi(args[4]), (const char *const *)&args[6], n,
                           pu_host->now_ms() + 1000 * (int64_t)atoi(args[5]));
}

static int do_drain(const nomad_api_ctx *a, const nomad_region *r, char **args)
{
    return nomad_pool_drain(a, r, args[3], args[4], 60000);
}

int main(int argc, char **argv)
{
    pu_init(host_table(), "nomad plugin");
    infra_call call;
    host_call_init(&call, "", "nomad");
    call.diag = print_diag;
    int error = INFRA_EINVALID;
    if (argc == 7 && strcmp(argv[1], "user-data") == 0)
        error = user_data(&call, argv + 1);
    else if (argc >= 7 && strcmp(argv[1], "wait") == 0)
        error = with_server(&call, argv[2], argv[3], do_wait, argv + 1);
    else if (argc == 6 && strcmp(argv[1], "drain") == 0)
        error = with_server(&call, argv[2], argv[3], do_drain, argv + 1);
    else
        fprintf(stderr, "usage: pool_tool user-data REGION DATACENTER JOIN CONSUL NOMAD\n"
                        "       pool_tool wait SERVER_IP REGION DATACENTER N SECONDS [ADDRESS...]\n"
                        "       pool_tool drain SERVER_IP REGION DATACENTER ADDRESS\n");
    host_call_clear(&call);
    return error < 0 ? 1 : 0;
}
