/* Networks of the local provider: a bridge in infra's namespace holding the
 * first address of the cidr (the hosts' gateway), the address leases of
 * the hosts on it, and the veth pair that plugs a host into it. */
#include "local.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fixed MAC address for ip: locally administered, the address in the
 * last four bytes. A re-created host with a reused address, or a bridge
 * whose ports change, keeps its MAC, so no neighbour cache on the bridge
 * ever holds a stale entry (which would stall traffic until it expires). */
static void mac_for(uint32_t ip, char out[18])
{
    snprintf(out, 18, "02:1d:%02x:%02x:%02x:%02x", (unsigned)(ip >> 24) & 255,
             (unsigned)(ip >> 16) & 255, (unsigned)(ip >> 8) & 255, (unsigned)ip & 255);
}

/* Writes value to the /proc/sys file path (a sysctl of this namespace). */
static int sysctl_write(infra_call *call, const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : write(fd, value, strlen(value));
    int saved = errno;
    if (fd >= 0)
        close(fd);
    if (n != (ssize_t)strlen(value)) {
        pu_diagf(call, "", "cannot write %s: %s", path, strerror(saved));
        return INFRA_EINTERNAL;
    }
    return 0;
}

static int link_exists(const char *name)
{
    char path[64];
    snprintf(path, sizeof(path), "/sys/class/net/%s", name);
    return local_exists(path);
}

void local_net_free(local_net *net)
{
    free(net->dir);
    net->dir = NULL;
}

static char *net_dir(infra_provider *p, const char *id)
{
    return pu_printf("%s/networks/%s", p->base, id);
}

int local_net_load(infra_provider *p, infra_call *call, const char *attr, const char *id,
                   local_net *net)
{
    int error = 0;
    infra_json *rec = NULL;
    char *path = NULL;

    memset(net, 0, sizeof(*net));
    if (!local_id_valid(id, LOCAL_KIND_NETWORK)) {
        pu_diagf(call, attr,
                 "\"%s\" is not the id of a local network (expected n + 10 hex "
                 "digits, e.g. \"${network.main.id}\")",
                 id ? id : "");
        return INFRA_EINVALID;
    }
    net->dir = net_dir(p, id);
    path = pu_printf("%s/network.json", net->dir);
    if ((error = local_json_load(call, path, &rec)) == INFRA_ENOTFOUND) {
        pu_diagf(call, attr, "network %s does not exist", id);
        goto done;
    }
    if (error < 0)
        goto done;
    const char *cidr = pu_json_str(rec, "cidr");
    const char *bridge = pu_json_str(rec, "bridge");
    if (cidr == NULL || bridge == NULL || strlen(bridge) >= LOCAL_IFNAME_SIZE ||
        local_cidr_parse(cidr, &net->network, &net->prefixlen) < 0) {
        pu_diagf(call, attr, "the record of network %s (%s) is damaged", id, path);
        error = INFRA_EINTERNAL;
        goto done;
    }
    snprintf(net->id, sizeof(net->id), "%s", id);
    snprintf(net->bridge, sizeof(net->bridge), "%s", bridge);
    snprintf(net->cidr, sizeof(net->cidr), "%s", cidr);
    net->gateway = net->network + 1;
    net->private_net = LJ->boolean(LJ->get(rec, "private"));
done:
    if (error < 0)
        local_net_free(net);
    LJ->release(rec);
    free(path);
    return error;
}

/* ------------------------------------------------------------------ */
/* Leases: networks/ID/leases holds "ADDRESS HOST_ID" lines.          */

typedef struct lease {
    uint32_t ip;
    char host[LOCAL_ID_SIZE];
} lease;

static int leases_read(const local_net *net, lease **out, size_t *n)
{
    char *path = pu_printf("%s/leases", net->dir);
    char *text = NULL;
    int error = pu_read_file(path, 0, &text, NULL);
    free(path);
    *out = NULL;
    *n = 0;
    if (error == INFRA_ENOTFOUND)
        return 0;
    if (error < 0)
        return error;
    size_t cap = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char addr[16], host[LOCAL_ID_SIZE + 1];
        uint32_t ip;
        if (sscanf(line, "%15s %12s", addr, host) != 2 || local_ip_parse(addr, &ip) < 0 ||
            !local_id_valid(host, 0))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            lease *grown = pu_realloc(*out, cap * sizeof(**out));
            *out = grown;
        }
        (*out)[*n].ip = ip;
        memcpy((*out)[*n].host, host, LOCAL_ID_SIZE);
        (*n)++;
    }
    free(text);
    return 0;
}

static int leases_write(infra_call *call, const local_net *net, const lease *l, size_t n)
{
    pu_buf b = {0};
    for (size_t i = 0; i < n; i++) {
        char ip[16];
        local_ip_format(l[i].ip, ip);
        pu_buf_printf(&b, "%s %s\n", ip, l[i].host);
    }
    char *path = pu_printf("%s/leases", net->dir);
    int error = local_write_file(call, path, b.data ? b.data : "", b.len, 0644);
    free(path);
    free(b.data);
    return error;
}

/* A lease is stale when its host's directory is gone (a create records the
 * directory before it leases, and a delete releases before it removes). */
static int lease_live(infra_provider *p, const lease *l)
{
    char *dir = pu_printf("%s/hosts/%s", p->base, l->host);
    int live = local_exists(dir);
    free(dir);
    return live;
}

int local_lease(infra_provider *p, infra_call *call, const local_net *net, const char *host_id,
                char out[16])
{
    int fd = -1, error = 0;
    lease *l = NULL;
    size_t n = 0;
    uint32_t last = net->network | ~local_mask(net->prefixlen);

    if ((error = local_lock_dir(call, net->dir, &fd)) < 0)
        return error;
    if ((error = leases_read(net, &l, &n)) < 0) {
        pu_diagf(call, "network", "cannot read the leases of network %s", net->id);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(l[i].host, host_id) == 0) {
            local_ip_format(l[i].ip, out);
            goto done;
        }
    }
    for (uint32_t ip = net->gateway + 1; ip < last; ip++) {
        int used = 0;
        for (size_t i = 0; i < n && !used; i++)
            used = l[i].ip == ip && lease_live(p, &l[i]);
        if (used)
            continue;
        size_t keep = 0; /* drop stale leases of this address while here */
        for (size_t i = 0; i < n; i++)
            if (l[i].ip != ip)
                l[keep++] = l[i];
        n = keep;
        lease *grown = pu_realloc(l, (n + 1) * sizeof(*l));
        l = grown;
        l[n].ip = ip;
        memcpy(l[n].host, host_id, LOCAL_ID_SIZE);
        if ((error = leases_write(call, net, l, n + 1)) == 0)
            local_ip_format(ip, out);
        goto done;
    }
    pu_diagf(call, "network", "network %s (%s) has no free address left", net->id, net->cidr);
    error = INFRA_ECONFLICT;
done:
    free(l);
    local_unlock(fd);
    return error;
}

int local_lease_release(infra_provider *p, infra_call *call, const char *net_id,
                        const char *host_id)
{
    int fd = -1, error = 0;
    lease *l = NULL;
    size_t n = 0, keep = 0;
    local_net net;

    memset(&net, 0, sizeof(net));
    net.dir = net_dir(p, net_id);
    if (!local_exists(net.dir))
        goto done;
    if ((error = local_lock_dir(call, net.dir, &fd)) < 0 || (error = leases_read(&net, &l, &n)) < 0)
        goto done;
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i].host, host_id) != 0)
            l[keep++] = l[i];
    if (keep != n)
        error = leases_write(call, &net, l, keep);
done:
    free(l);
    local_unlock(fd);
    local_net_free(&net);
    return error;
}

int local_lease_owner(infra_call *call, const local_net *net, const char *ip,
                      char out[LOCAL_ID_SIZE])
{
    lease *l = NULL;
    size_t n = 0;
    uint32_t want;
    int error = INFRA_ENOTFOUND;

    (void)call;
    if (local_ip_parse(ip, &want) < 0 || leases_read(net, &l, &n) < 0)
        return INFRA_ENOTFOUND;
    for (size_t i = 0; i < n; i++) {
        if (l[i].ip == want) {
            memcpy(out, l[i].host, LOCAL_ID_SIZE);
            error = 0;
        }
    }
    free(l);
    return error;
}

/* ------------------------------------------------------------------ */
/* Bridges                                                             */

/* Refuses a cidr that overlaps a route of this namespace on another
 * interface: the bridge would steal traffic that is not ours. */
static int check_routes(infra_provider *p, infra_call *call, const local_net *net)
{
    const char *bridge = net->bridge;
    uint32_t network = net->network;
    int prefixlen = net->prefixlen;
    const char *ip = NULL;
    char *out = NULL;
    int error;
    char *argv[] = {NULL, "-4", "-o", "route", "show", "table", "main", NULL};

    if ((error = local_tool_path(p, call, LOCAL_TOOL_IP, &ip)) < 0)
        return error;
    argv[0] = (char *)ip;
    if ((error = local_run(call, "cidr", argv, NULL, &out)) < 0)
        return error;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line && error == 0;
         line = strtok_r(NULL, "\n", &save)) {
        char dest[64] = "", dev[64] = "";
        uint32_t rnet;
        int rlen;
        if (sscanf(line, "%63s", dest) != 1 || strcmp(dest, "default") == 0)
            continue;
        /* A route of a type (a private network's "unreachable CIDR", a
         * blackhole) names its range second. */
        int typed = strcmp(dest, "unreachable") == 0 || strcmp(dest, "blackhole") == 0 ||
                    strcmp(dest, "prohibit") == 0 || strcmp(dest, "throw") == 0;
        if (typed && sscanf(line, "%*s %63s", dest) != 1)
            continue;
        if (typed && net->private_net && strcmp(dest, net->cidr) == 0)
            continue; /* this network's own */
        char *d = strstr(line, " dev ");
        if (d != NULL)
            sscanf(d + 5, "%63s", dev);
        if (strcmp(dev, bridge) == 0)
            continue;
        if (strchr(dest, '/') == NULL)
            strncat(dest, "/32", sizeof(dest) - strlen(dest) - 1);
        if (local_cidr_parse(dest, &rnet, &rlen) < 0)
            continue;
        int common = rlen < prefixlen ? rlen : prefixlen;
        if ((rnet & local_mask(common)) == (network & local_mask(common))) {
            pu_diagf(call, "cidr",
                     "the cidr overlaps the route %s on %s of this machine: choose another "
                     "private range (for example 10.213.N.0/24)",
                     dest, dev[0] ? dev : "another interface");
            error = INFRA_ECONFLICT;
        }
    }
    free(out);
    return error;
}

int local_bridge_ensure(infra_provider *p, infra_call *call, const local_net *net, int quick)
{
    const char *ip = NULL;
    char gw[16], addr[32]; /* a.b.c.d/N, sized for any int N */
    int error;

    if (quick && link_exists(net->bridge))
        return 0;
    if ((error = local_tool_path(p, call, LOCAL_TOOL_IP, &ip)) < 0)
        return error;
    local_ip_format(net->gateway, gw);
    snprintf(addr, sizeof(addr), "%s/%d", gw, net->prefixlen);
    char *br = (char *)net->bridge;
    char mac[18];
    mac_for(net->gateway, mac);
    if (!link_exists(br)) {
        char *add[] = {(char *)ip, "link", "add", br, "address", mac, "type", "bridge", NULL};
        if (local_run_quiet(call, add, NULL) < 0 && !link_exists(br) &&
            (error = local_run(call, "", add, NULL, NULL)) < 0)
            return error;
    }
    char *addr_cmd[] = {(char *)ip, "addr", "replace", addr, "dev", br, NULL};
    char *up[] = {(char *)ip, "link", "set", br, "up", NULL};
    /* A private network: the bridge has no address of this machine (no
     * IPv6 link-local one either), and its range is unreachable from
     * here, so that a connection fails at once instead of leaving by the
     * default route. */
    char *unreach[] = {(char *)ip, "route", "replace", "unreachable", (char *)net->cidr, NULL};
    if (net->private_net) {
        char *v6 = pu_printf("/proc/sys/net/ipv6/conf/%s/disable_ipv6", br);
        if (local_exists(v6))
            error = sysctl_write(call, v6, "1");
        free(v6);
        if (error < 0 || (error = local_run(call, "", unreach, NULL, NULL)) < 0 ||
            (error = local_run(call, "", up, NULL, NULL)) < 0)
            return error;
        return 0;
    }
    if ((error = local_run(call, "", addr_cmd, NULL, NULL)) < 0 ||
        (error = local_run(call, "", up, NULL, NULL)) < 0)
        return error;
    return 0;
}

static int network_state(const local_net *net, const infra_json *base, int ready, infra_json **out)
{
    char gw[16];
    infra_json *st = base ? LJ->copy(base) : LJ->new_object();
    if (st == NULL)
        return INFRA_EINTERNAL;
    local_ip_format(net->gateway, gw);
    if (pu_json_set_str(st, "id", net->id) < 0 || pu_json_set_str(st, "bridge", net->bridge) < 0 ||
        pu_json_set_str(st, "gateway", gw) < 0 || pu_json_set_str(st, "cidr", net->cidr) < 0 ||
        pu_json_set_str(st, "status", ready ? "ready" : "incomplete") < 0) {
        LJ->release(st);
        return INFRA_EINTERNAL;
    }
    *out = st;
    return 0;
}

static int record_save(infra_call *call, const local_net *net, const char *token, int complete)
{
    infra_json *rec = LJ->new_object();
    char *path = pu_printf("%s/network.json", net->dir);
    int error = INFRA_EINTERNAL;
    if (rec != NULL && pu_json_set_str(rec, "id", net->id) == 0 &&
        pu_json_set_str(rec, "cidr", net->cidr) == 0 &&
        pu_json_set_str(rec, "bridge", net->bridge) == 0 &&
        LJ->set(rec, "private", LJ->new_bool(net->private_net)) == 0 &&
        LJ->set(rec, "token", token ? LJ->new_string(token) : LJ->new_null()) == 0 &&
        LJ->set(rec, "complete", LJ->new_bool(complete)) == 0)
        error = local_json_save(call, path, rec);
    LJ->release(rec);
    free(path);
    return error;
}

int local_network_apply(infra_provider *p, infra_call *call, const infra_json *prior,
                        const infra_json *planned, infra_json **new_state)
{
    int error = 0, fd = -1;
    char id[LOCAL_ID_SIZE];
    local_net net;
    infra_json *rec = NULL, *state = NULL;
    const char *cidr = pu_json_str(planned, "cidr");
    char *rec_path = NULL;

    memset(&net, 0, sizeof(net));
    if ((error = local_apply_id(call, prior, LOCAL_KIND_NETWORK, id)) < 0)
        return error;
    if (cidr == NULL || local_cidr_parse(cidr, &net.network, &net.prefixlen) < 0 ||
        net.prefixlen < 8 || net.prefixlen > 30) {
        pu_diagf(call, "cidr", "\"%s\" is not an IPv4 range a.b.c.d/n with n from 8 to 30",
                 cidr ? cidr : "");
        return INFRA_EINVALID;
    }
    snprintf(net.id, sizeof(net.id), "%s", id);
    snprintf(net.cidr, sizeof(net.cidr), "%s", cidr);
    net.gateway = net.network + 1;
    net.private_net = LJ->boolean(LJ->get(planned, "private"));
    local_ifname(p, 'b', id, net.bridge);
    net.dir = net_dir(p, id);
    rec_path = pu_printf("%s/network.json", net.dir);
    if ((error = local_lock_dir(call, net.dir, &fd)) < 0)
        goto done;
    error = local_json_load(call, rec_path, &rec);
    if (error == 0) {
        const char *was = pu_json_str(rec, "cidr");
        if (was == NULL || strcmp(was, cidr) != 0) {
            pu_diagf(call, "cidr", "network %s already exists with cidr %s", id, was ? was : "?");
            error = INFRA_ECONFLICT;
            goto done;
        }
        if (LJ->boolean(LJ->get(rec, "private")) != net.private_net) {
            pu_diagf(call, "private", "network %s already exists as a%s network", id,
                     net.private_net ? " public" : " private");
            error = INFRA_ECONFLICT;
            goto done;
        }
    } else if (error == INFRA_ENOTFOUND) {
        if (link_exists(net.bridge)) {
            pu_diagf(call, "",
                     "an interface named %s already exists and was not made by "
                     "this provider: use another provider prefix",
                     net.bridge);
            error = INFRA_ECONFLICT;
            goto done;
        }
        /* Nothing is recorded for a range that cannot be used: a failed
         * create leaves nothing behind. Then the configuration first, so
         * a lookup by token after a crash can report what this network
         * was meant to be. */
        if ((error = check_routes(p, call, &net)) < 0 ||
            (error = record_save(call, &net, pu_host->call_token(call), 0)) < 0 ||
            (error = network_state(&net, planned, 0, &state)) < 0 ||
            (error = local_state_save(call, net.dir, state)) < 0)
            goto done;
        LJ->release(state);
        state = NULL;
    } else {
        goto done;
    }
    if ((rec != NULL && (error = check_routes(p, call, &net)) < 0) ||
        (error = local_bridge_ensure(p, call, &net, 0)) < 0 ||
        (error = network_state(&net, planned, 1, &state)) < 0 ||
        (error = local_state_save(call, net.dir, state)) < 0 ||
        (error = record_save(call, &net, pu_host->call_token(call), 1)) < 0)
        goto done;
    *new_state = state;
    state = NULL;
done:
    local_unlock(fd);
    LJ->release(rec);
    LJ->release(state);
    free(rec_path);
    local_net_free(&net);
    return error;
}

/* 1 when the "unreachable CIDR" route of private network net is there, 0
 * when not, INFRA_E* when `ip` could not tell. */
static int unreachable_route_present(infra_provider *p, infra_call *call, const local_net *net)
{
    const char *ip = NULL;
    char *out = NULL;
    int error;

    if ((error = local_tool_path(p, call, LOCAL_TOOL_IP, &ip)) < 0)
        return error;
    char *show[] = {(char *)ip, "-4",          "route",           "show",
                    "type",     "unreachable", (char *)net->cidr, NULL};
    if ((error = local_run(call, "", show, NULL, &out)) == 0)
        error = out != NULL && out[0] != '\0';
    free(out);
    return error;
}

/* Removes a private network's "unreachable CIDR" route when it is there. */
static int unreachable_route_del(infra_provider *p, infra_call *call, const local_net *net)
{
    const char *ip = NULL;
    int error;

    if ((error = local_tool_path(p, call, LOCAL_TOOL_IP, &ip)) < 0)
        return error;
    char *del[] = {(char *)ip, "route", "del", "unreachable", (char *)net->cidr, NULL};
    if ((error = unreachable_route_present(p, call, net)) > 0)
        error = local_run(call, "", del, NULL, NULL);
    return error;
}

int local_network_read(infra_provider *p, infra_call *call, local_scan *scan,
                       const infra_json *state, infra_json **out)
{
    char id[LOCAL_ID_SIZE];
    infra_json *saved = NULL, *rec = NULL;
    local_net net;
    int error;

    if ((error = local_read_id(call, state, LOCAL_KIND_NETWORK, id)) < 0)
        return error;
    char *dir = net_dir(p, id);
    char *path = pu_printf("%s/network.json", dir);
    error = local_json_load(call, path, &rec);
    free(path);
    if (error == INFRA_ENOTFOUND && state == NULL && local_exists(dir))
        error = local_partial_state(id, "status", "incomplete", out) == 0 ? 1 : INFRA_EINTERNAL;
    free(dir);
    if (error != 0)
        return error < 0 ? error : 0;
    int complete = LJ->boolean(LJ->get(rec, "complete"));
    LJ->release(rec);
    if ((error = local_net_load(p, call, "", id, &net)) < 0)
        return error;
    if (state == NULL && local_state_load(call, net.dir, &saved) == INFRA_EINTERNAL)
        error = INFRA_EINTERNAL;
    int ready = complete && local_scan_link(scan, net.bridge);
    /* A private network whose unreachable route is gone would let this
     * machine's connections to it leave by the default route. */
    if (error == 0 && ready && net.private_net &&
        (ready = unreachable_route_present(p, call, &net)) < 0)
        error = ready;
    if (error == 0)
        error = network_state(&net, state ? state : saved, ready, out);
    LJ->release(saved);
    local_net_free(&net);
    return error;
}

int local_network_delete(infra_provider *p, infra_call *call, const infra_json *prior)
{
    const char *id = local_state_id(prior, LOCAL_KIND_NETWORK);
    local_net net;
    lease *l = NULL;
    size_t n = 0;
    int fd = -1, error;

    if (id == NULL)
        return INFRA_ENOTFOUND;
    if ((error = local_net_load(p, call, "", id, &net)) < 0) {
        if (error == INFRA_ENOTFOUND) {
            char *dir = net_dir(p, id);
            if (local_exists(dir)) /* a record never written: remove the rest */
                local_rmtree(call, dir);
            free(dir);
        }
        return error;
    }
    if ((error = local_lock_dir(call, net.dir, &fd)) < 0 || (error = leases_read(&net, &l, &n)) < 0)
        goto done;
    pu_buf users = {0};
    for (size_t i = 0; i < n; i++)
        if (lease_live(p, &l[i]))
            pu_buf_printf(&users, "%s%s", users.len ? ", " : "", l[i].host);
    if (users.len > 0) {
        pu_diagf(call, "", "network %s is still used by %s: delete them first", id, users.data);
        free(users.data);
        error = INFRA_ECONFLICT;
        goto done;
    }
    if (link_exists(net.bridge)) {
        const char *ip = NULL;
        if ((error = local_tool_path(p, call, LOCAL_TOOL_IP, &ip)) < 0)
            goto done;
        char *del[] = {(char *)ip, "link", "del", net.bridge, NULL};
        if ((error = local_run(call, "", del, NULL, NULL)) < 0)
            goto done;
    }
    if (net.private_net && (error = unreachable_route_del(p, call, &net)) < 0)
        goto done;
    local_unlock(fd);
    fd = -1;
    error = local_rmtree(call, net.dir);
    local_gc(p, call);
done:
    local_unlock(fd);
    free(l);
    local_net_free(&net);
    return error;
}

int local_veth_ensure(infra_provider *p, infra_call *call, const local_host *h,
                      const local_net *net, const char *veth_name, const char *dev_name,
                      const char *host_addr)
{
    const char *ip = NULL;
    char gw[16], addr[32], mac[18]; /* addr: a.b.c.d/N, sized for any int N */
    uint32_t host_ip = 0;
    int error, status = 0;

    if ((error = local_tool_path(p, call, LOCAL_TOOL_IP, &ip)) < 0)
        return error;
    local_ip_parse(host_addr, &host_ip);
    mac_for(host_ip, mac);
    char *veth = (char *)veth_name, *ns = h->netns, *dev = (char *)dev_name;
    local_ip_format(net->gateway, gw);
    snprintf(addr, sizeof(addr), "%s/%d", host_addr, net->prefixlen);
    if (link_exists(veth)) {
        /* Half a pair cannot exist: if dev is missing, the pair is not ours. */
        char *show[] = {(char *)ip, "-n", ns, "link", "show", "dev", dev, NULL};
        if ((error = local_exec(call, show, NULL, 0, &status, NULL, NULL)) < 0)
            return error;
        if (status != 0) {
            char *del[] = {(char *)ip, "link", "del", veth, NULL};
            if ((error = local_run(call, "", del, NULL, NULL)) < 0)
                return error;
        }
    }
    if (!link_exists(veth)) {
        char *add[] = {(char *)ip, "link", "add",     veth, "type",  "veth", "peer",
                       "name",     dev,    "address", mac,  "netns", ns,     NULL};
        /* An interrupted run's `ip` may have finished it meanwhile. */
        if (local_run_quiet(call, add, NULL) < 0 && !link_exists(veth) &&
            (error = local_run(call, "", add, NULL, NULL)) < 0)
            return error;
    }
    char *master[] = {(char *)ip, "link", "set", veth, "master", (char *)net->bridge, "up", NULL};
    char *address[] = {(char *)ip, "-n", ns, "addr", "replace", addr, "dev", dev, NULL};
    char *lo[] = {(char *)ip, "-n", ns, "link", "set", "lo", "up", NULL};
    char *eth0[] = {(char *)ip, "-n", ns, "link", "set", dev, "up", NULL};
    char *route[] = {(char *)ip, "-n", ns, "route", "replace", "default", "via", gw, NULL};
    if ((error = local_run(call, "", master, NULL, NULL)) < 0 ||
        (error = local_run(call, "", address, NULL, NULL)) < 0 ||
        (error = local_run(call, "", lo, NULL, NULL)) < 0 ||
        (error = local_run(call, "", eth0, NULL, NULL)) < 0)
        return error;
    /* Only eth0 on a network with a gateway routes the rest. */
    if (strcmp(dev, "eth0") == 0 && !net->private_net &&
        (error = local_run(call, "", route, NULL, NULL)) < 0)
        return error;
    return 0;
}
