/* Client pools that join by themselves: the user data of an autoscaling
 * group's instances (a shell script cloud-init runs once as root; on gcp
 * the startup-script of a managed group's template, which the guest agent
 * runs as root at boot), and the
 * Consul token those instances carry.
 *
 * infra never logs in to a pool instance, so everything a client needs is
 * in the script: both agents' configuration, the TLS material and the
 * secrets, and the start of the agents. Consul finds its servers with its
 * cloud auto-join (`retry_join = ["provider=aws tag_key=... ..."]`, the
 * servers carry the tag); Nomad finds its servers through the local Consul
 * agent (consul.client_auto_join), so no address is written anywhere and
 * one script serves every instance the group ever launches.
 *
 * User data is readable by anyone allowed ec2:DescribeInstanceAttribute on
 * the instance and by every process on it (the metadata service), so it
 * holds only what a client agent must have: Consul's gossip key, a pool
 * certificate (client.REGION.nomad / .consul, no server names), and a
 * Consul token whose policy writes nodes and services and reads agents —
 * never a management token. */
#include "nomad.h"
#include "plugin_remote.h"

#include <stdlib.h>
#include <string.h>

#define POOL_POLICY "infra-pool-client"
/* A Consul client agent registers its node (node write); the Nomad client
 * beside it registers its tasks' services (service write) and reads the
 * agent and the catalog (Nomad's documented client token). */
#define POOL_RULES                                                                                 \
    "node_prefix \\\"\\\" {\\n  policy = \\\"write\\\"\\n}\\n"                                     \
    "agent_prefix \\\"\\\" {\\n  policy = \\\"read\\\"\\n}\\n"                                     \
    "service_prefix \\\"\\\" {\\n  policy = \\\"write\\\"\\n}\\n"

/* go-sockaddr template both agents resolve at start: the instance's
 * private address, unknown when the script is made. */
#define POOL_BIND "{{ GetPrivateIP }}"

char *nomad_pool_join_tag(const char *topology, const char *environment, const char *cluster,
                          const char *region)
{
    return pu_printf("%s.%s.%s.%s", topology && *topology ? topology : "-",
                     environment && *environment ? environment : "default", cluster, region);
}

char *nomad_pool_join_aws(const char *aws_region, const char *tag_value)
{
    /* go-discover reads key=value words; values are URL-encoded, and tag
     * values hold only [A-Za-z0-9._-] here (nomad_pool_join_tag). */
    return aws_region && *aws_region
               ? pu_printf("provider=aws region=%s tag_key=" NOMAD_POOL_TAG " tag_value=%s",
                           aws_region, tag_value)
               : pu_printf("provider=aws tag_key=" NOMAD_POOL_TAG " tag_value=%s", tag_value);
}

char *nomad_pool_join_gce_tag(const char *tag_value)
{
    char hex[65];
    nomad_sha256_hex(tag_value, strlen(tag_value), hex);
    hex[20] = '\0';
    return pu_printf("infra-join-%s", hex);
}

char *nomad_pool_join_gce(const char *project, const char *gcp_region, const char *network_tag)
{
    /* Project ids, region names and network tags hold only [a-z0-9-]: no
     * word needs URL-encoding. zone_pattern is RE2, matched whole by
     * zones.list's filter. */
    pu_buf b = {0};
    pu_buf_printf(&b, "provider=gce");
    if (project != NULL && *project)
        pu_buf_printf(&b, " project_name=%s", project);
    if (gcp_region != NULL && *gcp_region)
        pu_buf_printf(&b, " zone_pattern=%s-.*", gcp_region);
    pu_buf_printf(&b, " tag_value=%s", network_tag);
    return pu_buf_take(&b);
}

int nomad_pool_cert_load(infra_scheduler *ctx, infra_call *call, const nomad_keys *keys,
                         const char *region, const char *datacenter, nomad_node_cert *out)
{
    char *name = pu_printf("%s-%s-%s-pool", ctx->cluster, region, datacenter);
    nomad_node pool;
    memset(&pool, 0, sizeof(pool));
    pool.name = name;
    pool.role = "client";
    pool.region = region;
    pool.datacenter = datacenter;
    int error = nomad_node_cert_load(ctx, call, keys, &pool, out);
    free(name);
    return error;
}

static int tls_paths(infra_json *obj, const char *dir)
{
    char *ca = pu_printf("%s/tls/ca.pem", dir), *cert = pu_printf("%s/tls/node.pem", dir);
    char *key = pu_printf("%s/tls/node-key.pem", dir);
    int error = 0;
    if ((error = nomad_jset_str(obj, "ca_file", ca)) < 0 ||
        (error = nomad_jset_str(obj, "cert_file", cert)) < 0 ||
        (error = nomad_jset_str(obj, "key_file", key)) < 0) {
    }
    free(ca);
    free(cert);
    free(key);
    return error;
}

static int str_list(infra_json *obj, const char *key, const char *item)
{
    infra_json *arr = NJ->new_array();
    if (arr == NULL || nomad_jappend_str(arr, item) < 0) {
        NJ->release(arr);
        return INFRA_EINTERNAL;
    }
    return pu_json_set(obj, key, arr);
}

static int consul_config(const nomad_pool_in *in, infra_json *c, infra_json *sec)
{
    const nomad_settings *s = in->s;
    int secondary = strcmp(in->authority, in->region) != 0;
    infra_json *o;
    int error = 0;
    if ((error = nomad_jset_str(c, "datacenter", in->region)) < 0 ||
        (error = nomad_jset_str(c, "data_dir", CONSUL_DATA_DIR)) < 0 ||
        (error = pu_json_set_bool(c, "server", 0)) < 0 ||
        (error = nomad_jset_str(c, "bind_addr", POOL_BIND)) < 0 ||
        (error = nomad_jset_str(c, "advertise_addr", POOL_BIND)) < 0 ||
        (error = nomad_jset_str(c, "client_addr", "127.0.0.1")) < 0 ||
        (error = str_list(c, "retry_join", in->join)) < 0 ||
        (error = nomad_jset_str(c, "retry_interval", "5s")) < 0)
        return error;
    if ((s->acl || secondary) &&
        (error = nomad_jset_str(c, "primary_datacenter", in->authority)) < 0)
        return error;
    if (s->acl &&
        ((o = nomad_jobj(c, "acl")) == NULL || (error = pu_json_set_bool(o, "enabled", 1)) < 0 ||
         (error = nomad_jset_str(o, "default_policy", "deny")) < 0 ||
         (error = pu_json_set_bool(o, "enable_token_persistence", 1)) < 0))
        return error < 0 ? error : INFRA_EINTERNAL;
    if (s->tls) {
        infra_json *tls = nomad_jobj(c, "tls");
        infra_json *def = tls ? nomad_jobj(tls, "defaults") : NULL;
        infra_json *rpc = tls ? nomad_jobj(tls, "internal_rpc") : NULL;
        if (def == NULL || rpc == NULL || (error = tls_paths(def, CONSUL_CONFIG_DIR)) < 0 ||
            (error = pu_json_set_bool(def, "verify_incoming", 0)) < 0 ||
            (error = pu_json_set_bool(def, "verify_outgoing", 1)) < 0 ||
            (error = pu_json_set_bool(rpc, "verify_server_hostname", 1)) < 0 ||
            (o = nomad_jobj(c, "ports")) == NULL || (error = pu_json_set_int(o, "http", -1)) < 0 ||
            (error = pu_json_set_int(o, "https", CONSUL_PORT_HTTPS)) < 0)
            return error < 0 ? error : INFRA_EINTERNAL;
    }
    if (in->gossip[NOMAD_AGENT_CONSUL] &&
        (error = nomad_jset_str(sec, "encrypt", in->gossip[NOMAD_AGENT_CONSUL])) < 0)
        return error;
    if (s->acl && in->consul_token) {
        infra_json *tokens = nomad_jobj(sec, "acl");
        tokens = tokens ? nomad_jobj(tokens, "tokens") : NULL;
        if (tokens == NULL || (error = nomad_jset_str(tokens, "agent", in->consul_token)) < 0)
            return error < 0 ? error : INFRA_EINTERNAL;
    }
    return 0;
}

static int nomad_config(const nomad_pool_in *in, infra_json *c, infra_json *sec)
{
    const nomad_settings *s = in->s;
    infra_json *o;
    int error = 0;
    /* No name: each instance is its host name, as Consul's node is. */
    if ((error = nomad_jset_str(c, "region", in->region)) < 0 ||
        (error = nomad_jset_str(c, "datacenter", in->datacenter)) < 0 ||
        (error = nomad_jset_str(c, "data_dir", NOMAD_DATA_DIR)) < 0 ||
        (error = nomad_jset_str(c, "bind_addr", POOL_BIND)) < 0)
        return error;
    if ((o = nomad_jobj(c, "advertise")) == NULL ||
        (error = nomad_jset_str(o, "http", POOL_BIND)) < 0 ||
        (error = nomad_jset_str(o, "rpc", POOL_BIND)) < 0 ||
        (error = nomad_jset_str(o, "serf", POOL_BIND)) < 0)
        return error < 0 ? error : INFRA_EINTERNAL;
    if ((o = nomad_jobj(c, "client")) == NULL || (error = pu_json_set_bool(o, "enabled", 1)) < 0)
        return error < 0 ? error : INFRA_EINTERNAL;
    if (s->raw_exec) {
        infra_json *p = nomad_jobj(c, "plugin");
        p = p ? nomad_jobj(p, "raw_exec") : NULL;
        p = p ? nomad_jobj(p, "config") : NULL;
        if (p == NULL || (error = pu_json_set_bool(p, "enabled", 1)) < 0)
            return error < 0 ? error : INFRA_EINTERNAL;
    }
    if (s->acl &&
        ((o = nomad_jobj(c, "acl")) == NULL || (error = pu_json_set_bool(o, "enabled", 1)) < 0))
        return error < 0 ? error : INFRA_EINTERNAL;
    if (s->tls &&
        ((o = nomad_jobj(c, "tls")) == NULL || (error = pu_json_set_bool(o, "http", 1)) < 0 ||
         (error = pu_json_set_bool(o, "rpc", 1)) < 0 ||
         (error = tls_paths(o, NOMAD_CONFIG_DIR)) < 0 ||
         (error = pu_json_set_bool(o, "verify_server_hostname", 1)) < 0 ||
         (error = pu_json_set_bool(o, "verify_https_client", 0)) < 0))
        return error < 0 ? error : INFRA_EINTERNAL;
    if ((o = nomad_jobj(c, "consul")) == NULL ||
        (error = nomad_jset_str(o, "address", s->tls ? "127.0.0.1:8501" : "127.0.0.1:8500")) < 0 ||
        (error = pu_json_set_bool(o, "client_auto_join", 1)) < 0)
        return error < 0 ? error : INFRA_EINTERNAL;
    if (s->tls && ((error = pu_json_set_bool(o, "ssl", 1)) < 0 ||
                   (error = nomad_jset_str(o, "ca_file", NOMAD_CONFIG_DIR "/tls/ca.pem")) < 0))
        return error;
    if (in->consul_token && ((o = nomad_jobj(sec, "consul")) == NULL ||
                             (error = nomad_jset_str(o, "token", in->consul_token)) < 0))
        return error < 0 ? error : INFRA_EINTERNAL;
    return 0;
}

/* `put PATH MODE 'TEXT'` line of the script (TEXT shell-quoted). */
static void put(pu_buf *b, const char *path, int mode, const char *text)
{
    char *q = pu_shell_quote(text);
    pu_buf_printf(b, "put %s %04o %s\n", path, mode, q);
    memset(q, 0, strlen(q));
    free(q);
}

static void put_json(pu_buf *b, const char *path, int mode, const infra_json *v)
{
    char *text = nomad_jdump(v);
    char *line = pu_printf("%s\n", text);
    put(b, path, mode, line);
    memset(text, 0, strlen(text));
    memset(line, 0, strlen(line));
    free(text);
    free(line);
}

/* The agents' services: units on systemd, else the supervisor, as a
 * bootstrap over SSH makes them (nomad_remote_service_files). */
static int services(const nomad_pool_in *in, pu_buf *b)
{
    for (int systemd = 1; systemd >= 0; systemd--) {
        nomad_remote r;
        nomad_files files = {0};
        memset(&r, 0, sizeof(r));
        r.systemd = systemd;
        for (int a = 0; a < NOMAD_AGENT_COUNT; a++)
            r.bin[a] = in->s->binary[a] ? in->s->binary[a] : (char *)nomad_agent_name(a);
        int error = nomad_remote_service_files(NULL, &r, &files);
        if (error < 0)
            return error;
        pu_buf_printf(b, systemd ? "if [ -d /run/systemd/system ]; then\n" : "else\n");
        for (size_t i = 0; i < files.n; i++)
            put(b, files.v[i].path, files.v[i].mode, files.v[i].data);
        if (systemd)
            pu_buf_printf(b, "systemctl daemon-reload\n"
                             "systemctl enable --now consul.service\n"
                             "systemctl enable --now nomad.service\n");
        else
            pu_buf_printf(b, NOMAD_SUPERVISOR " start consul\n" NOMAD_SUPERVISOR " start nomad\n"
                                              "fi\n");
        nomad_files_free(&files);
    }
    return 0;
}

int nomad_pool_user_data(const nomad_pool_in *in, char **out)
{
    infra_json *cfg[NOMAD_AGENT_COUNT] = {NULL}, *sec[NOMAD_AGENT_COUNT] = {NULL};
    pu_buf b = {0};
    int error = 0;

    *out = NULL;
    if (in->s->tls && (!in->ca_pem || !in->cert_pem || !in->key_pem))
        return INFRA_EINTERNAL;
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++) {
        cfg[a] = NJ->new_object();
        sec[a] = NJ->new_object();
        if (cfg[a] == NULL || sec[a] == NULL) {
            error = INFRA_EINTERNAL;
            goto done;
        }
    }
    if ((error = consul_config(in, cfg[NOMAD_AGENT_CONSUL], sec[NOMAD_AGENT_CONSUL])) < 0 ||
        (error = nomad_config(in, cfg[NOMAD_AGENT_NOMAD], sec[NOMAD_AGENT_NOMAD])) < 0)
        goto done;

    pu_buf_printf(&b,
                  "#!/bin/sh\n"
                  "# A Nomad client of pool %s/%s/%s, made by infra, run as root: once at\n"
                  "# the instance's first boot by cloud-init, at every boot as a GCE startup\n"
                  "# script, so a second run changes nothing. It writes the agents' files and\n"
                  "# starts them; Consul joins its servers by their tag, Nomad through Consul.\n"
                  "set -eu\n"
                  "umask 077\n"
                  "put() { mkdir -p \"$(dirname \"$1\")\"; printf '%%s' \"$3\" > \"$1.tmp\";"
                  " chmod \"$2\" \"$1.tmp\"; mv -f \"$1.tmp\" \"$1\"; }\n"
                  "mkdir -p " CONSUL_DATA_DIR " " NOMAD_DATA_DIR "\n"
                  "chmod 0700 " CONSUL_DATA_DIR "\n"
                  "chmod 0755 " NOMAD_DATA_DIR "\n"
                  /* Package defaults would merge into ours (docs/nomad.md). */
                  "for f in " CONSUL_CONFIG_DIR "/*.hcl " CONSUL_CONFIG_DIR
                  "/*.json " NOMAD_CONFIG_DIR "/*.hcl " NOMAD_CONFIG_DIR "/*.json; do\n"
                  "  case \"$f\" in */agent.json | */secrets.json) continue ;; esac\n"
                  "  if [ -e \"$f\" ]; then mv -f \"$f\" \"$f" NOMAD_DISABLED_SUFFIX "\"; fi\n"
                  "done\n",
                  in->cluster, in->region, in->datacenter);
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++) {
        const char *dir = a == NOMAD_AGENT_CONSUL ? CONSUL_CONFIG_DIR : NOMAD_CONFIG_DIR;
        char *p1 = pu_printf("%s/agent.json", dir), *p2 = pu_printf("%s/secrets.json", dir);
        put_json(&b, p1, 0644, cfg[a]);
        put_json(&b, p2, 0600, sec[a]);
        free(p1);
        free(p2);
    }
    if (in->s->tls) {
        put(&b, CONSUL_CONFIG_DIR "/tls/ca.pem", 0644, in->ca_pem);
        put(&b, CONSUL_CONFIG_DIR "/tls/node.pem", 0644, in->cert_pem);
        put(&b, CONSUL_CONFIG_DIR "/tls/node-key.pem", 0600, in->key_pem);
        /* One copy in the user data: it is limited to 16 KB. */
        pu_buf_printf(&b, "mkdir -p " NOMAD_CONFIG_DIR "/tls\n"
                          "cp -p " CONSUL_CONFIG_DIR "/tls/ca.pem " CONSUL_CONFIG_DIR
                          "/tls/node.pem " CONSUL_CONFIG_DIR "/tls/node-key.pem " NOMAD_CONFIG_DIR
                          "/tls/\n");
    }
    if ((error = services(in, &b)) < 0)
        goto done;
    *out = pu_buf_take(&b);
done:
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++) {
        NJ->release(cfg[a]);
        NJ->release(sec[a]);
    }
    if (b.data) {
        memset(b.data, 0, b.len);
        free(b.data);
    }
    return error;
}

int nomad_pool_token_ensure(const nomad_api_ctx *a, const nomad_region *authority,
                            const char *secret)
{
    if (!a->ctx->s.acl || secret == NULL)
        return 0;
    const nomad_node *via = nomad_api_any_server(a, authority, NOMAD_AGENT_CONSUL, NULL);
    if (via == NULL) {
        pu_diagf(a->call, "", "region %s: no Consul server answers to make the pool token",
                 authority->name);
        return INFRA_ETRANSIENT;
    }
    infra_http_response *resp = NULL;
    int error = nomad_api_token(a, via, NOMAD_AGENT_CONSUL, "GET", "/v1/acl/token/self", NULL,
                                secret, NOMAD_API_RETRY, &resp);
    int have = error == 0 && resp->status == 200;
    pu_host->http->response_free(resp);
    resp = NULL;
    if (error < 0 || have)
        return error;
    const char *policy = "{\"Name\":\"" POOL_POLICY "\","
                         "\"Description\":\"Client agents of autoscaling pools (infra)\","
                         "\"Rules\":\"" POOL_RULES "\"}";
    if ((error = nomad_api(a, via, NOMAD_AGENT_CONSUL, "PUT", "/v1/acl/policy", policy,
                           NOMAD_API_RETRY, &resp)) < 0)
        return error;
    /* 400 "A Policy with name ... already exists": made by an earlier run */
    if (resp->status != 200 &&
        !(resp->status == 400 && resp->body && strstr(resp->body, "already exists") != NULL)) {
        char *ex = nomad_api_excerpt(resp->body);
        pu_diagf(a->call, "", "region %s: Consul refused the pool policy: %ld %s", authority->name,
                 resp->status, ex);
        free(ex);
        error = nomad_api_status_error(resp->status);
    }
    pu_host->http->response_free(resp);
    resp = NULL;
    if (error < 0)
        return error;
    char *body =
        pu_printf("{\"SecretID\":\"%s\",\"Description\":\"Autoscaling pool clients "
                  "(infra)\",\"Policies\":[{\"Name\":\"" POOL_POLICY "\"}],\"Local\":false}",
                  secret);
    error =
        nomad_api(a, via, NOMAD_AGENT_CONSUL, "PUT", "/v1/acl/token", body, NOMAD_API_RETRY, &resp);
    memset(body, 0, strlen(body));
    free(body);
    if (error == 0 && resp->status != 200) {
        char *ex = nomad_api_excerpt(resp->body);
        pu_diagf(a->call, "", "region %s: Consul refused the pool token: %ld %s", authority->name,
                 resp->status, ex);
        free(ex);
        error = nomad_api_status_error(resp->status);
    } else if (error == 0) {
        pu_logf(a->call, INFRA_LOG_INFO, "region %s: made the Consul token of pool clients",
                authority->name);
    }
    pu_host->http->response_free(resp);
    return error;
}
