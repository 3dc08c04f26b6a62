/* Load balancers of the local provider: a namespace host of their own on
 * the network (no sshd) running haproxy in TCP mode, one frontend per
 * listen port, with health checks against the targets. A changed
 * configuration is reloaded with -sf, so established connections finish
 * on the old process. */
#include "local.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LB_CONFIG "/etc/haproxy-local/haproxy.cfg"
#define LB_LOG "/var/log/haproxy.log"
#define LB_PID "/run/haproxy.pid" /* inside the host */
#define LB_WAIT_MS 30000

char *local_lb_dns_name(const char *id)
{
    return pu_printf("lb-%s.local", id);
}

/* The parsed configuration of a load balancer. */
typedef struct lb_config {
    long *listen;
    size_t nlisten;
    long backend_port;   /* 0 = the listen port */
    char health_kind[8]; /* "", "http" or "tcp" */
    long health_port;
    char *health_path;
    char **targets; /* addresses */
    size_t ntargets;
} lb_config;

static void lb_config_free(lb_config *c)
{
    free(c->listen);
    free(c->health_path);
    for (size_t i = 0; i < c->ntargets; i++)
        free(c->targets[i]);
    free(c->targets);
    memset(c, 0, sizeof(*c));
}

static int path_valid(const char *s)
{
    if (*s != '/')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("/._~%?=&-", *s)))
            return 0;
    return 1;
}

static int health_parse(infra_call *call, const char *h, lb_config *c)
{
    if (h == NULL || *h == '\0')
        return 0;
    const char *colon = strchr(h, ':');
    if (colon != NULL && (size_t)(colon - h) < sizeof(c->health_kind)) {
        memcpy(c->health_kind, h, (size_t)(colon - h));
        c->health_kind[colon - h] = '\0';
        char *end = NULL;
        c->health_port = strtol(colon + 1, &end, 10);
        int port_ok = end != colon + 1 && c->health_port >= 1 && c->health_port <= 65535;
        if (strcmp(c->health_kind, "tcp") == 0 && port_ok && *end == '\0')
            return 0;
        if (strcmp(c->health_kind, "http") == 0 && port_ok && (*end == '\0' || path_valid(end))) {
            c->health_path = pu_strdup(*end ? end : "/");
            return 0;
        }
    }
    pu_diagf(call, "health",
             "health must be \"http:PORT/PATH\" or \"tcp:PORT\" (a port from 1 to 65535, a path "
             "of letters, digits and /._~%%?=&-)");
    return INFRA_EINVALID;
}

int local_lb_validate(infra_call *call, const infra_json *config)
{
    int error = 0;
    const char *h = pu_json_str(config, "health");
    if (h != NULL) {
        lb_config c;
        memset(&c, 0, sizeof(c));
        error = health_parse(call, h, &c);
        lb_config_free(&c);
    }
    const infra_json *bp = LJ->get(config, "backend_port");
    long port = 0;
    if (bp != NULL && LJ->type(bp) != INFRA_JSON_NULL && !pu_json_has_unknown(bp) &&
        (pu_json_to_int(bp, &port) < 0 || port < 1 || port > 65535)) {
        pu_diagf(call, "backend_port", "backend_port must be a number from 1 to 65535");
        error = INFRA_EINVALID;
    }
    return error;
}

static int ports_parse(infra_call *call, const infra_json *listen, lb_config *c)
{
    if (listen == NULL || LJ->type(listen) != INFRA_JSON_ARRAY || LJ->length(listen) == 0) {
        pu_diagf(call, "listen", "listen must be a non-empty list of ports");
        return INFRA_EINVALID;
    }
    c->nlisten = LJ->length(listen);
    c->listen = pu_malloc(c->nlisten * sizeof(long));
    for (size_t i = 0; i < c->nlisten; i++) {
        if (pu_json_to_int(LJ->at(listen, i), &c->listen[i]) < 0 || c->listen[i] < 1 ||
            c->listen[i] > 65535) {
            char attr[32];
            snprintf(attr, sizeof(attr), "listen[%zu]", i);
            pu_diagf(call, attr, "a port must be a number from 1 to 65535");
            return INFRA_EINVALID;
        }
    }
    return 0;
}

/* Targets as addresses inside net: an address, or the id of a host on it.
 * Traffic never leaves the provider's bridges, so other addresses are
 * refused. */
static int targets_parse(infra_provider *p, infra_call *call, const infra_json *targets,
                         const local_net *net, lb_config *c)
{
    if (targets == NULL)
        return 0;
    if (LJ->type(targets) != INFRA_JSON_ARRAY) {
        pu_diagf(call, "targets", "targets must be a list of addresses");
        return INFRA_EINVALID;
    }
    c->targets = pu_malloc((LJ->length(targets) + 1) * sizeof(char *));
    for (size_t i = 0; i < LJ->length(targets); i++) {
        const char *t = LJ->string(LJ->at(targets, i));
        char attr[32], addr[16] = "";
        uint32_t ip;
        snprintf(attr, sizeof(attr), "targets[%zu]", i);
        if (t != NULL && local_id_valid(t, 0)) {
            local_host h;
            if (local_host_load(p, call, t, &h) == 0)
                snprintf(addr, sizeof(addr), "%s", h.address);
            local_host_free(&h);
        } else if (t != NULL && local_ip_parse(t, &ip) == 0 &&
                   (ip & local_mask(net->prefixlen)) == net->network) {
            local_ip_format(ip, addr);
        }
        if (addr[0] == '\0') {
            pu_diagf(call, attr,
                     "target \"%s\" is not an address on network %s (%s) nor a "
                     "host id",
                     t ? t : "(not a string)", net->id, net->cidr);
            return INFRA_EINVALID;
        }
        c->targets[c->ntargets++] = pu_strdup(addr);
    }
    return 0;
}

static int lb_config_parse(infra_provider *p, infra_call *call, const infra_json *planned,
                           const local_net *net, lb_config *c)
{
    int error;
    memset(c, 0, sizeof(*c));
    if ((error = ports_parse(call, LJ->get(planned, "listen"), c)) < 0 ||
        (error = health_parse(call, pu_json_str(planned, "health"), c)) < 0 ||
        (error = targets_parse(p, call, LJ->get(planned, "targets"), net, c)) < 0)
        return error;
    const infra_json *bp = LJ->get(planned, "backend_port");
    if (bp != NULL && LJ->type(bp) != INFRA_JSON_NULL &&
        (pu_json_to_int(bp, &c->backend_port) < 0 || c->backend_port < 1 ||
         c->backend_port > 65535)) {
        pu_diagf(call, "backend_port", "backend_port must be a number from 1 to 65535");
        return INFRA_EINVALID;
    }
    return 0;
}

static char *haproxy_config(const local_host *h, const lb_config *c)
{
    pu_buf b = {0};
    pu_buf_printf(&b,
                  "# Written by infra's local provider for load balancer %s.\n"
                  "global\n\tmaxconn 4096\n"
                  "defaults\n\tmode tcp\n\ttimeout connect 5s\n\ttimeout client 60s\n"
                  "\ttimeout server 60s\n\ttimeout check 5s\n"
                  "\tdefault-server inter 2s fall 2 rise 1\n",
                  h->id);
    for (size_t i = 0; i < c->nlisten; i++) {
        long port = c->listen[i], backend = c->backend_port ? c->backend_port : port;
        pu_buf_printf(&b, "frontend port_%ld\n\tbind %s:%ld\n\tdefault_backend port_%ld\n", port,
                      h->address, port, port);
        pu_buf_printf(&b, "backend port_%ld\n\tbalance roundrobin\n", port);
        if (strcmp(c->health_kind, "http") == 0)
            pu_buf_printf(&b, "\toption httpchk GET %s\n", c->health_path);
        for (size_t t = 0; t < c->ntargets; t++) {
            pu_buf_printf(&b, "\tserver target%zu %s:%ld check", t, c->targets[t], backend);
            if (c->health_kind[0] != '\0')
                pu_buf_printf(&b, " port %ld", c->health_port);
            pu_buf_printf(&b, "\n");
        }
    }
    return b.data;
}

static int haproxy_ensure(infra_provider *p, infra_call *call, const local_host *h,
                          const char *config)
{
    const char *haproxy = NULL;
    local_ns ns;
    char *cfg = pu_printf("%s" LB_CONFIG, h->root);
    char *applied = pu_printf("%s/haproxy.applied", h->dir);
    char *pidfile = pu_printf("%s" LB_PID, h->root);
    char *old = NULL;
    int error;

    local_host_ns(h, &ns);
    if ((error = local_tool_path(p, call, LOCAL_TOOL_HAPROXY, &haproxy)) < 0 ||
        (error = local_write_file(call, cfg, config, strlen(config), 0644)) < 0)
        goto done;
    char *check[] = {(char *)haproxy, "-c", "-q", "-f", LB_CONFIG, NULL};
    if ((error = local_run(call, "", check, &ns, NULL)) < 0)
        goto done;
    pid_t pid = local_pidfile_alive(pidfile, local_ns_inode(h->netns_path));
    int same = pu_read_file(applied, 0, &old, NULL) == 0 && strcmp(old, config) == 0;
    if (pid > 0 && same)
        goto done;
    char spid[32];
    snprintf(spid, sizeof(spid), "%ld", (long)pid);
    char *start[] = {(char *)haproxy, "-D", "-p", LB_PID, "-f", LB_CONFIG, NULL, NULL, NULL};
    if (pid > 0) { /* reload: the new process takes over, the old one finishes */
        start[6] = "-sf";
        start[7] = spid;
    }
    if ((error = local_start_daemon(call, "", start, &ns, LB_LOG)) < 0 ||
        (error = local_write_file(call, applied, config, strlen(config), 0644)) < 0)
        goto done;
done:
    free(cfg);
    free(applied);
    free(pidfile);
    free(old);
    return error;
}

static int lb_running(local_scan *scan, const local_host *h)
{
    char *pidfile = pu_printf("%s" LB_PID, h->root);
    int alive = local_pidfile_alive(pidfile, local_scan_ns_inode(scan, h->netns_path)) > 0;
    free(pidfile);
    return alive;
}

static int lb_state(const local_host *h, const infra_json *base, int running, infra_json **out)
{
    infra_json *st = base ? LJ->copy(base) : LJ->new_object();
    char *dns = local_lb_dns_name(h->id);
    int error = st ? 0 : INFRA_EINTERNAL;
    if (error == 0 &&
        ((error = pu_json_set_str(st, "id", h->id)) < 0 ||
         (error = pu_json_set_str(st, "dns_name", dns)) < 0 ||
         (error = pu_json_set_str(st, "netns", h->netns)) < 0 ||
         (error = pu_json_set_str(st, "haproxy", running ? "running" : "stopped")) < 0))
        goto done;
    if (h->address[0] != '\0' && ((error = pu_json_set_str(st, "address", h->address)) < 0 ||
                                  (error = pu_json_set_str(st, "private_ip", h->address)) < 0))
        goto done;
done:
    free(dns);
    if (error < 0)
        LJ->release(st);
    else
        *out = st;
    return error;
}

int local_lb_apply(infra_provider *p, infra_call *call, const infra_json *prior,
                   const infra_json *planned, infra_json **new_state)
{
    char id[LOCAL_ID_SIZE];
    const char *net_id = pu_json_str(planned, "network");
    const char *tool = NULL;
    local_host h;
    local_net net;
    lb_config cfg;
    infra_json *initial = NULL, *state = NULL;
    char *config = NULL;
    int error;

    memset(&h, 0, sizeof(h));
    memset(&net, 0, sizeof(net));
    memset(&cfg, 0, sizeof(cfg));
    if ((error = local_apply_id(call, prior, LOCAL_KIND_LB, id)) < 0 ||
        (error = local_tool_path(p, call, LOCAL_TOOL_IP, &tool)) < 0 ||
        (error = local_tool_path(p, call, LOCAL_TOOL_HAPROXY, &tool)) < 0 ||
        (error = local_net_load(p, call, "network", net_id, &net)) < 0 ||
        (error = lb_config_parse(p, call, planned, &net, &cfg)) < 0)
        goto done;
    if ((error = local_host_adopt(p, call, id, "load_balancer", "a load balancer",
                                  pu_printf("lb-%s", id), 0, &h)) < 0 ||
        (error = lb_state(&h, planned, 0, &initial)) < 0 ||
        (error = local_host_ensure(p, call, &h, net_id, initial)) < 0)
        goto done;
    config = haproxy_config(&h, &cfg);
    if ((error = haproxy_ensure(p, call, &h, config)) < 0)
        goto done;
    for (size_t i = 0; i < cfg.nlisten; i++) {
        if ((error = local_wait_port(p, call, h.address, (int)cfg.listen[i], NULL, LB_WAIT_MS)) ==
            INFRA_ETRANSIENT)
            pu_diagf(call, "listen",
                     "haproxy of %s did not listen on %s:%ld within %d s "
                     "(its log: %s" LB_LOG ")",
                     h.id, h.address, cfg.listen[i], LB_WAIT_MS / 1000, h.root);
        if (error < 0)
            goto done;
    }
    h.complete = 1;
    if ((error = local_host_save(call, &h)) < 0 || (error = lb_state(&h, planned, 1, &state)) < 0 ||
        (error = local_state_save(call, h.dir, state)) < 0)
        goto done;
    *new_state = state;
    state = NULL;
done:
    LJ->release(initial);
    LJ->release(state);
    free(config);
    lb_config_free(&cfg);
    local_net_free(&net);
    local_host_free(&h);
    return error;
}

int local_lb_read(infra_provider *p, infra_call *call, local_scan *scan, const infra_json *state,
                  infra_json **out)
{
    char id[LOCAL_ID_SIZE];
    local_host h;
    infra_json *saved = NULL;
    int error;

    if ((error = local_read_id(call, state, LOCAL_KIND_LB, id)) < 0)
        return error;
    int alive = local_host_alive_scan(p, scan, id);
    if (alive < 0)
        return alive;
    if (alive == 0 && state != NULL) {
        error = local_host_destroy(p, call, id);
        return error == 0 || error == INFRA_ENOTFOUND ? INFRA_ENOTFOUND : error;
    }
    error = local_host_load(p, call, id, &h);
    if (error == INFRA_ENOTFOUND && state == NULL) /* killed before its record */
        error = local_partial_state(id, "haproxy", "stopped", out);
    else if (error == 0) {
        if (state == NULL && local_state_load(call, h.dir, &saved) == INFRA_EINTERNAL)
            error = INFRA_EINTERNAL;
        else
            error = lb_state(&h, state ? state : saved,
                             alive == 1 && h.complete && lb_running(scan, &h), out);
    }
    LJ->release(saved);
    local_host_free(&h);
    return error;
}

int local_lb_delete(infra_provider *p, infra_call *call, const infra_json *prior)
{
    const char *id = local_state_id(prior, LOCAL_KIND_LB);
    if (id == NULL)
        return INFRA_ENOTFOUND;
    return local_host_destroy(p, call, id);
}
