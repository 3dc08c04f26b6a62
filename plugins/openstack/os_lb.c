/* Load balancers are Octavia load balancers: a VIP on a subnet, one
 * listener per port, each with a pool of the targets (servers or
 * addresses) and a health monitor. The create makes the balancer alone
 * (tagged, with the marker description), so an interrupted create leaves
 * one findable balancer; its listeners, pools, members and monitors are
 * then made one by one, each only when missing, as an update does, waiting
 * for the balancer to leave its PENDING_* state between changes. */
#include "os_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WAIT_ACTIVE_MS 600000

typedef struct lb_listener {
    char protocol[8]; /* HTTP, HTTPS, TCP, UDP */
    long port;
    long backend_port;
} lb_listener;

typedef struct lb_spec {
    lb_listener *l;
    size_t n;
    char hm_type[8]; /* HTTP, HTTPS, TCP */
    char hm_path[200];
    long hm_port; /* -1: the backend port */
    long delay, timeout, up, down;
    char **members; /* addresses */
    const char *algorithm;
    const char *subnet; /* VIP subnet */
    const char *member_subnet;
} lb_spec;

static void spec_free(lb_spec *s)
{
    free(s->l);
    os_strv_free(s->members);
    memset(s, 0, sizeof(*s));
}

static const char *subnet_of(const infra_json *cfg)
{
    const char *s = os_json_known_str(cfg, "subnet");
    if (s == NULL) {
        const infra_json *list = OJ->get(cfg, "subnets");
        s = OJ->string(OJ->at(list, 0));
    }
    return s;
}

static int protocol_ok(const char *in, char out[8])
{
    static const char *const names[] = {"HTTP", "HTTPS", "TCP", "UDP", NULL};
    for (size_t i = 0; names[i] != NULL; i++)
        if (in != NULL && strcasecmp(in, names[i]) == 0) {
            snprintf(out, 8, "%s", names[i]);
            return 1;
        }
    return 0;
}

/* The listeners of a configuration (listen + backend_port, or listeners). */
static int parse_listeners(infra_call *call, const infra_json *cfg, lb_spec *s)
{
    const infra_json *listen = OJ->get(cfg, "listen");
    const infra_json *listeners = OJ->get(cfg, "listeners");
    long backend = -1;
    pu_json_to_int(OJ->get(cfg, "backend_port"), &backend);
    for (size_t i = 0; i < OJ->length(listen); i++) {
        lb_listener l = {"TCP", 0, 0};
        if (pu_json_to_int(OJ->at(listen, i), &l.port) < 0 || l.port < 1 || l.port > 65535) {
            pu_diagf(call, "listen", "listen is a list of ports");
            return INFRA_EINVALID;
        }
        if (l.port == 80)
            snprintf(l.protocol, sizeof(l.protocol), "HTTP");
        l.backend_port = backend > 0 ? backend : l.port;
        s->l = pu_realloc(s->l, (s->n + 1) * sizeof(*s->l));
        s->l[s->n++] = l;
    }
    for (size_t i = 0; i < OJ->length(listeners); i++) {
        const infra_json *e = OJ->at(listeners, i);
        lb_listener l = {"TCP", 0, 0};
        char attr[32];
        snprintf(attr, sizeof(attr), "listeners[%zu]", i);
        const char *proto = pu_json_str(e, "protocol");
        long bp = -1;
        if (pu_json_to_int(OJ->get(e, "port"), &l.port) < 0 || l.port < 1 || l.port > 65535 ||
            (proto != NULL && !protocol_ok(proto, l.protocol))) {
            pu_diagf(call, attr,
                     "a listener is {port, protocol: HTTP|HTTPS|TCP|UDP, backend_port}");
            return INFRA_EINVALID;
        }
        if (pu_json_to_int(OJ->get(e, "backend_port"), &bp) < 0)
            pu_json_to_int(OJ->get(e, "instance_port"), &bp);
        l.backend_port = bp > 0 ? bp : l.port;
        s->l = pu_realloc(s->l, (s->n + 1) * sizeof(*s->l));
        s->l[s->n++] = l;
    }
    if (s->n == 0) {
        pu_diagf(call, "listen", "a load balancer needs listen (ports) or listeners");
        return INFRA_EINVALID;
    }
    return 0;
}

/* The health monitor: "http:PORT/PATH", "https:PORT/PATH" or "tcp:PORT". */
static int parse_health(infra_call *call, const infra_json *cfg, lb_spec *s)
{
    const char *h = pu_json_str(cfg, "health");
    s->hm_port = -1;
    snprintf(s->hm_type, sizeof(s->hm_type), "TCP");
    s->hm_path[0] = '\0';
    if (h != NULL) {
        static const char *const types[] = {"HTTP", "HTTPS", "TCP", NULL};
        const char *colon = strchr(h, ':'), *type = NULL;
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        size_t n = colon ? (size_t)(colon - h) : 0;
        for (size_t i = 0; colon != NULL && types[i] != NULL; i++)
            if (strlen(types[i]) == n && strncasecmp(h, types[i], n) == 0)
                type = types[i];
        if (type == NULL || end == colon + 1 || port < 1 || port > 65535 ||
            (*end != '\0' && *end != '/') || (strcmp(type, "TCP") == 0 && *end != '\0')) {
            pu_diagf(call, "health",
                     "health must be \"http:PORT/PATH\", \"https:PORT/PATH\" or "
                     "\"tcp:PORT\"");
            return INFRA_EINVALID;
        }
        snprintf(s->hm_type, sizeof(s->hm_type), "%s", type);
        s->hm_port = port;
        snprintf(s->hm_path, sizeof(s->hm_path), "%s", *end ? end : "/");
    }
    s->delay = 10, s->timeout = 5, s->up = 2, s->down = 2;
    pu_json_to_int(OJ->get(cfg, "health_interval"), &s->delay);
    pu_json_to_int(OJ->get(cfg, "health_timeout"), &s->timeout);
    pu_json_to_int(OJ->get(cfg, "healthy_threshold"), &s->up);
    pu_json_to_int(OJ->get(cfg, "unhealthy_threshold"), &s->down);
    if (s->timeout >= s->delay)
        s->timeout = s->delay > 1 ? s->delay - 1 : 1;
    return 0;
}

/* The whole spec; targets resolved to addresses (servers by id). */
static int spec_of(os_act *a, lb_spec *s)
{
    const infra_json *cfg = a->planned;
    char **targets = NULL;
    int error;
    memset(s, 0, sizeof(*s));
    s->members = os_strv_new();
    s->subnet = subnet_of(cfg);
    s->member_subnet = os_json_known_str(cfg, "members_subnet");
    if (s->member_subnet == NULL)
        s->member_subnet = s->subnet;
    s->algorithm = os_json_known_str(cfg, "algorithm");
    if (s->algorithm == NULL)
        s->algorithm = "ROUND_ROBIN";
    if ((error = parse_listeners(a->call, cfg, s)) < 0 ||
        (error = parse_health(a->call, cfg, s)) < 0)
        return error;
    if (os_json_strv(OJ->get(cfg, "targets"), &targets) < 0) {
        pu_diagf(a->call, "targets", "targets must be a list of server ids or addresses");
        return INFRA_EINVALID;
    }
    for (size_t i = 0; error == 0 && targets[i] != NULL; i++) {
        char *ip = NULL;
        if (os_is_ipv4(targets[i]) || os_is_ipv6(targets[i]))
            ip = pu_strdup(targets[i]);
        else
            error = os_server_address(a, targets[i], &ip);
        if (ip != NULL && !os_strv_has(s->members, ip))
            os_strv_push(&s->members, ip);
        free(ip);
    }
    os_strv_free(targets);
    return error;
}

static infra_json *members_json(const lb_spec *s, const lb_listener *l)
{
    infra_json *list = OJ->new_array();
    for (size_t i = 0; s->members[i] != NULL; i++) {
        infra_json *m = OJ->new_object();
        pu_json_set_str(m, "address", s->members[i]);
        pu_json_set_int(m, "protocol_port", l->backend_port);
        if (s->member_subnet != NULL)
            pu_json_set_str(m, "subnet_id", s->member_subnet);
        if (s->hm_port > 0 && s->hm_port != l->backend_port)
            pu_json_set_int(m, "monitor_port", s->hm_port);
        OJ->append(list, m);
    }
    return list;
}

static infra_json *monitor_json(const lb_spec *s)
{
    infra_json *hm = OJ->new_object();
    pu_json_set_str(hm, "type", s->hm_type);
    pu_json_set_int(hm, "delay", s->delay);
    pu_json_set_int(hm, "timeout", s->timeout);
    pu_json_set_int(hm, "max_retries", s->up);
    pu_json_set_int(hm, "max_retries_down", s->down);
    if (strncmp(s->hm_type, "HTTP", 4) == 0)
        pu_json_set_str(hm, "url_path", s->hm_path);
    return hm;
}

/* A listener, or the default pool of one: {"listener": ...} / {"pool": ...}. */
static infra_json *listener_body(const lb_listener *l, const char *lb_id, const char *base_name)
{
    infra_json *o = OJ->new_object(), *body = OJ->new_object();
    char *name = pu_printf("%s-%ld", base_name, l->port);
    pu_json_set_str(o, "name", name);
    pu_json_set_str(o, "loadbalancer_id", lb_id);
    pu_json_set_str(o, "protocol", l->protocol);
    pu_json_set_int(o, "protocol_port", l->port);
    pu_json_set(body, "listener", o);
    free(name);
    return body;
}

static infra_json *pool_body(const lb_spec *s, const lb_listener *l, const char *listener_id,
                             const char *base_name)
{
    infra_json *o = OJ->new_object(), *body = OJ->new_object();
    char *name = pu_printf("%s-%ld", base_name, l->port);
    pu_json_set_str(o, "name", name);
    pu_json_set_str(o, "listener_id", listener_id);
    pu_json_set_str(o, "protocol", l->protocol);
    pu_json_set_str(o, "lb_algorithm", s->algorithm);
    pu_json_set(body, "pool", o);
    free(name);
    return body;
}

static int lb_get(os_act *a, const char *id, infra_json **lb)
{
    char *path = pu_printf("/lbaas/loadbalancers/%s", id);
    infra_json *body = NULL;
    int error = os_get(a->p, a->call, OS_LB, path, OS_QUIET_404, &body);
    *lb = NULL;
    if (error == 0) {
        const infra_json *o = OJ->get(body, "loadbalancer");
        const char *st = pu_json_str(o, "provisioning_status");
        if (o == NULL)
            error = INFRA_EINTERNAL;
        else if (st != NULL && strcmp(st, "DELETED") == 0)
            error = INFRA_ENOTFOUND;
        else
            *lb = OJ->copy(o);
    }
    OJ->release(body);
    free(path);
    return error;
}

/* Waits until the balancer is ACTIVE (or gone, for "DELETED"). */
static int lb_wait(os_act *a, const char *id, const char *target)
{
    int64_t deadline = pu_host->now_ms() + WAIT_ACTIVE_MS, delay = 500;
    int error;
    for (;;) {
        infra_json *lb = NULL;
        error = lb_get(a, id, &lb);
        const char *st = pu_json_str(lb, "provisioning_status");
        if (error == INFRA_ENOTFOUND && strcmp(target, "DELETED") == 0)
            error = 0;
        else if (error == 0 && st != NULL && strcmp(st, target) == 0)
            error = 0;
        else if (error == 0 && st != NULL && strcmp(st, "ERROR") == 0) {
            pu_diagf(a->call, "", "openstack: load balancer %s went to ERROR", id);
            error = INFRA_ECONFLICT;
        } else if (error == 0) {
            error = 1;
        }
        OJ->release(lb);
        if (error <= 0)
            return error;
        if (pu_host->now_ms() + delay > deadline) {
            pu_diagf(a->call, "", "openstack: load balancer %s did not become %s within %d s", id,
                     strcmp(target, "DELETED") == 0 ? "gone" : target, WAIT_ACTIVE_MS / 1000);
            return INFRA_ETRANSIENT;
        }
        if ((error = os_sleep(a->p, a->call, delay)) < 0)
            return error;
        delay = delay * 3 / 2 > 5000 ? 5000 : delay * 3 / 2;
    }
}

/* The balancer this call's token made: tagged (Octavia 2.5+) or with the marker. */
static int lb_find_mine(os_act *a, infra_json **lb)
{
    int minor = 0, error;
    char *tag = os_tag_token(pu_host->call_token(a->call));
    *lb = NULL;
    if (tag == NULL)
        return INFRA_ENOTFOUND;
    if ((error = os_octavia_minor(a->p, a->call, &minor)) < 0) {
        free(tag);
        return error;
    }
    char *marker = os_marker(a->call), *em = os_url_encode(marker);
    char *tags[] = {tag, NULL};
    char *filter = os_tags_filter("tags", tags);
    char *path = minor >= OS_OCTAVIA_TAGS_MINOR
                     ? pu_printf("/lbaas/loadbalancers?%s", filter)
                     : pu_printf("/lbaas/loadbalancers?description=%s", em);
    infra_json *list = NULL;
    error = os_list(a->p, a->call, OS_LB, path, "loadbalancers", &list);
    for (size_t i = 0; error == 0 && i < OJ->length(list) && *lb == NULL; i++) {
        const char *st = pu_json_str(OJ->at(list, i), "provisioning_status");
        if (st == NULL || (strcmp(st, "DELETED") != 0 && strcmp(st, "PENDING_DELETE") != 0))
            *lb = OJ->copy(OJ->at(list, i));
    }
    if (error == 0 && *lb == NULL)
        error = INFRA_ENOTFOUND;
    OJ->release(list);
    free(path);
    free(filter);
    free(em);
    free(marker);
    free(tag);
    return error;
}

/* What the balancer holds: listeners with backend ports, member addresses. */
typedef struct lb_actual {
    infra_json *listeners; /* Octavia listeners */
    infra_json *pools;     /* pool id -> {pool, members} */
} lb_actual;

static void actual_free(lb_actual *x)
{
    OJ->release(x->listeners);
    OJ->release(x->pools);
    memset(x, 0, sizeof(*x));
}

static int actual_of(os_act *a, const char *id, lb_actual *x)
{
    char *path = pu_printf("/lbaas/listeners?loadbalancer_id=%s", id);
    infra_json *pools = NULL;
    memset(x, 0, sizeof(*x));
    x->pools = OJ->new_object();
    int error = os_list(a->p, a->call, OS_LB, path, "listeners", &x->listeners);
    free(path);
    path = pu_printf("/lbaas/pools?loadbalancer_id=%s", id);
    if (error == 0)
        error = os_list(a->p, a->call, OS_LB, path, "pools", &pools);
    free(path);
    for (size_t i = 0; error == 0 && i < OJ->length(pools); i++) {
        const infra_json *pool = OJ->at(pools, i);
        const char *pid = pu_json_str(pool, "id");
        char *mpath = pu_printf("/lbaas/pools/%s/members", pid);
        infra_json *members = NULL, *entry = OJ->new_object();
        error = os_list(a->p, a->call, OS_LB, mpath, "members", &members);
        pu_json_set_copy(entry, "pool", pool);
        pu_json_set(entry, "members", members ? members : OJ->new_array());
        OJ->set(x->pools, pid, entry);
        free(mpath);
    }
    OJ->release(pools);
    if (error < 0)
        actual_free(x);
    return error;
}

/* The listener of x with protocol and port, or NULL. */
static const infra_json *listener_find(const lb_actual *x, const lb_listener *l)
{
    for (size_t i = 0; i < OJ->length(x->listeners); i++) {
        const infra_json *o = OJ->at(x->listeners, i);
        long port = -1;
        pu_json_to_int(OJ->get(o, "protocol_port"), &port);
        const char *proto = pu_json_str(o, "protocol");
        if (port == l->port && proto != NULL && strcmp(proto, l->protocol) == 0)
            return o;
    }
    return NULL;
}

/* The backend port of a listener: its pool members' port, else -1. */
static long backend_of(const lb_actual *x, const infra_json *listener, char ***addresses)
{
    const char *pid = pu_json_str(listener, "default_pool_id");
    const infra_json *members = OJ->get(OJ->get(x->pools, pid ? pid : ""), "members");
    long port = -1;
    for (size_t i = 0; i < OJ->length(members); i++) {
        const infra_json *m = OJ->at(members, i);
        pu_json_to_int(OJ->get(m, "protocol_port"), &port);
        if (addresses != NULL && !os_strv_has(*addresses, pu_json_str(m, "address")))
            os_strv_push(addresses, pu_json_str(m, "address"));
    }
    return port;
}

static int lb_from_object(os_act *a, const infra_json *lb, const lb_actual *x)
{
    infra_json *st = os_state_new(a->state ? a->state : a->planned);
    const char *vip = pu_json_str(lb, "vip_address");
    char **have = os_strv_new(), **recorded = NULL;
    int error;

    if ((error = pu_json_set_str(st, "id", pu_json_str(lb, "id"))) < 0 ||
        (error = pu_json_set_str(st, "name", pu_json_str(lb, "name"))) < 0 ||
        (error = pu_json_set_str(st, "address", vip)) < 0 ||
        (error = pu_json_set_str(st, "dns_name", vip)) < 0 ||
        (error = pu_json_set_str(st, "vip_port_id", pu_json_str(lb, "vip_port_id"))) < 0 ||
        (error = pu_json_set_str(st, "status", pu_json_str(lb, "provisioning_status"))) < 0)
        goto done;
    /* Listeners as configured while the balancer holds the same. */
    lb_spec want;
    memset(&want, 0, sizeof(want));
    int same = parse_listeners(a->call, st, &want) == 0 && want.n == OJ->length(x->listeners);
    for (size_t i = 0; i < want.n; i++) {
        const infra_json *o = listener_find(x, &want.l[i]);
        long bp = o ? backend_of(x, o, NULL) : -2;
        if (o == NULL || (bp >= 0 && bp != want.l[i].backend_port))
            same = 0;
    }
    spec_free(&want);
    if (!same) {
        infra_json *ls = OJ->new_array();
        for (size_t i = 0; i < OJ->length(x->listeners); i++) {
            const infra_json *o = OJ->at(x->listeners, i);
            infra_json *e = OJ->new_object();
            pu_json_set_copy(e, "port", OJ->get(o, "protocol_port"));
            pu_json_set_str(e, "protocol", pu_json_str(o, "protocol"));
            long bp = backend_of(x, o, NULL);
            if (bp > 0)
                pu_json_set_int(e, "backend_port", bp);
            OJ->append(ls, e);
        }
        OJ->remove(st, "listen");
        pu_json_set(st, "listeners", ls);
    }
    for (size_t i = 0; i < OJ->length(x->listeners); i++)
        backend_of(x, OJ->at(x->listeners, i), &have);
    /* Members: the addresses the last apply registered, else drift. */
    os_json_strv(OJ->get(st, "members"), &recorded);
    if (a->state != NULL && OJ->get(st, "members") != NULL && !os_strv_same_set(have, recorded))
        error = os_json_set_strv(st, "targets", have);
    if (error == 0)
        error = os_json_set_strv(st, "members", have);
    if (error == 0)
        error = os_state_tags(st, lb);
done:
    os_strv_free(have);
    os_strv_free(recorded);
    return os_state_finish(a, st, error);
}

static int lb_create(os_act *a, const lb_spec *s, char **id)
{
    const char *name = os_json_known_str(a->planned, "name");
    char *derived = name ? NULL : os_call_name(a->call, 200);
    char *marker = os_marker(a->call);
    char **tags = NULL;
    infra_json *found = NULL, *body = NULL, *answer = NULL;
    int minor = 0, error;

    *id = NULL;
    if ((error = os_tags_for(a->call, OJ->get(a->planned, "tags"), &tags)) < 0 ||
        (error = os_octavia_minor(a->p, a->call, &minor)) < 0)
        goto done;
    if (os_call_resuming(a->call)) {
        error = lb_find_mine(a, &found);
        if (error == 0) {
            *id = pu_strdup(pu_json_str(found, "id"));
            pu_logf(a->call, INFRA_LOG_INFO,
                    "load balancer %s made by an earlier run adopted", *id);
            goto done;
        }
        if (error != INFRA_ENOTFOUND)
            goto done;
    }
    /* The balancer alone: its listeners, pools, members and monitors follow
     * one by one (Octavia leaves the children of a fully populated create
     * PENDING with some drivers, and refuses a populated listener). */
    infra_json *lb = OJ->new_object();
    pu_json_set_str(lb, "name", name ? name : derived);
    pu_json_set_str(lb, "description", marker);
    pu_json_set_str(lb, "vip_subnet_id", s->subnet);
    if (minor >= OS_OCTAVIA_TAGS_MINOR)
        pu_json_set(lb, "tags", os_json_from_strv(tags));
    body = OJ->new_object();
    pu_json_set(body, "loadbalancer", lb);
    if ((error = os_send(a->p, a->call, OS_LB, "POST", "/lbaas/loadbalancers", body, "", 0,
                         &answer)) < 0)
        goto done;
    const char *new_id = pu_json_str(OJ->get(answer, "loadbalancer"), "id");
    if (new_id == NULL) {
        pu_diagf(a->call, "", "openstack: octavia answered the create without an id");
        error = INFRA_EINTERNAL;
        goto done;
    }
    *id = pu_strdup(new_id);
done:
    OJ->release(found);
    OJ->release(body);
    OJ->release(answer);
    os_strv_free(tags);
    free(marker);
    free(derived);
    return error;
}

/* One change, then the wait for the balancer to be ACTIVE again; the
 * answer's object under key (a "listener", a "pool") in *answer when asked. */
static int change(os_act *a, const char *lb_id, const char *method, const char *path,
                  infra_json *body, const char *attr)
{
    int error = os_send(a->p, a->call, OS_LB, method, path, body, attr,
                        OS_IMMUTABLE | (strcmp(method, "POST") ? OS_SAFE | OS_QUIET_404 : 0),
                        NULL);
    OJ->release(body);
    if (error == INFRA_ENOTFOUND && strcmp(method, "DELETE") == 0)
        error = 0;
    return error == 0 ? lb_wait(a, lb_id, "ACTIVE") : error;
}

/* POST of a child object (takes body): 0 with *id of what was made. */
static int make(os_act *a, const char *lb_id, const char *path, const char *key, infra_json *body,
                const char *attr, char **id)
{
    infra_json *answer = NULL;
    int error = os_send(a->p, a->call, OS_LB, "POST", path, body, attr, OS_IMMUTABLE, &answer);
    OJ->release(body);
    *id = error == 0 ? pu_strdup(pu_json_str(OJ->get(answer, key), "id")) : NULL;
    OJ->release(answer);
    if (error == 0 && (*id == NULL || **id == '\0')) {
        pu_diagf(a->call, attr, "openstack: octavia answered the create of a %s without an id", key);
        error = INFRA_EINTERNAL;
    }
    return error == 0 ? lb_wait(a, lb_id, "ACTIVE") : error;
}

/* The pool's health monitor made what s says: changed in place, or (another
 * type, or none yet) made anew. */
static int monitor_sync(os_act *a, const char *lb_id, const char *pool_id, const char *hm_id,
                        const lb_spec *s)
{
    infra_json *want = monitor_json(s), *body = NULL, *have = NULL;
    int error = 0;
    if (hm_id != NULL) {
        char *path = pu_printf("/lbaas/healthmonitors/%s", hm_id);
        error = os_get(a->p, a->call, OS_LB, path, OS_QUIET_404, &body);
        have = error == 0 ? OJ->copy(OJ->get(body, "healthmonitor")) : NULL;
        OJ->release(body);
        body = NULL;
        if (error == INFRA_ENOTFOUND)
            error = 0;
        free(path);
    }
    int same_type = have != NULL && pu_json_str(have, "type") != NULL &&
                    strcmp(pu_json_str(have, "type"), s->hm_type) == 0;
    int same = same_type;
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    while (same && OJ->next(want, &iter, &key, &value))
        same = OJ->get(have, key) != NULL && OJ->equal(OJ->get(have, key), value);
    if (error == 0 && !same) {
        body = OJ->new_object();
        char *path;
        if (same_type) {
            OJ->remove(want, "type");
            path = pu_printf("/lbaas/healthmonitors/%s", hm_id);
            pu_json_set(body, "healthmonitor", want);
            want = NULL;
            error = change(a, lb_id, "PUT", path, body, "health");
        } else {
            if (have != NULL) {
                path = pu_printf("/lbaas/healthmonitors/%s", hm_id);
                error = change(a, lb_id, "DELETE", path, NULL, "health");
                free(path);
            }
            pu_json_set_str(want, "pool_id", pool_id);
            pu_json_set(body, "healthmonitor", want);
            want = NULL;
            path = pu_strdup("/lbaas/healthmonitors");
            if (error == 0)
                error = change(a, lb_id, "POST", path, body, "health");
            else
                OJ->release(body);
        }
        body = NULL;
        free(path);
    }
    OJ->release(want);
    OJ->release(have);
    return error;
}

/* Name and tags of the balancer itself. */
static int lb_rename(os_act *a, const char *id)
{
    const char *name = os_json_known_str(a->planned, "name");
    char *derived = name ? NULL : os_call_name(a->call, 200);
    infra_json *body = OJ->new_object(), *o = OJ->new_object(), *lb = NULL;
    char **tags = os_strv_new();
    int minor = 0;
    int error = lb_get(a, id, &lb);
    if (error == 0)
        error = os_octavia_minor(a->p, a->call, &minor);
    const infra_json *have = OJ->get(lb, "tags");
    for (size_t i = 0; i < OJ->length(have); i++) {
        const char *t = OJ->string(OJ->at(have, i));
        if (t != NULL && strncmp(t, "infra:", 6) == 0)
            os_strv_push(&tags, t);
    }
    if (error == 0)
        error = os_tags_user(a->call, OJ->get(a->planned, "tags"), &tags);
    char **had = NULL;
    os_json_strv(have, &had);
    const char *want_name = name ? name : derived;
    int rename = error == 0 &&
                 strcmp(pu_json_str(lb, "name") ? pu_json_str(lb, "name") : "", want_name) != 0;
    int retag = error == 0 && minor >= OS_OCTAVIA_TAGS_MINOR && !os_strv_same_set(had, tags);
    if (rename)
        pu_json_set_str(o, "name", want_name);
    if (retag)
        pu_json_set(o, "tags", os_json_from_strv(tags));
    pu_json_set(body, "loadbalancer", o);
    char *path = pu_printf("/lbaas/loadbalancers/%s", id);
    if (rename || retag)
        error = change(a, id, "PUT", path, body, "name");
    else
        OJ->release(body);
    free(path);
    os_strv_free(had);
    os_strv_free(tags);
    OJ->release(lb);
    free(derived);
    return error;
}

static int lb_update(os_act *a, const char *id, const lb_spec *s)
{
    lb_actual x;
    const char *name = os_json_known_str(a->planned, "name");
    int error = lb_rename(a, id);
    if (error < 0 || (error = actual_of(a, id, &x)) < 0)
        return error;
    /* Listeners no longer wanted, or with another backend port. */
    for (size_t i = 0; error == 0 && i < OJ->length(x.listeners); i++) {
        const infra_json *o = OJ->at(x.listeners, i);
        lb_listener have = {"", 0, 0};
        pu_json_to_int(OJ->get(o, "protocol_port"), &have.port);
        snprintf(have.protocol, sizeof(have.protocol), "%s",
                 pu_json_str(o, "protocol") ? pu_json_str(o, "protocol") : "");
        long bp = backend_of(&x, o, NULL);
        int keep = 0;
        for (size_t k = 0; k < s->n; k++)
            if (s->l[k].port == have.port && strcmp(s->l[k].protocol, have.protocol) == 0 &&
                (bp < 0 || bp == s->l[k].backend_port))
                keep = 1;
        if (keep)
            continue;
        char *path = pu_printf("/lbaas/listeners/%s", pu_json_str(o, "id"));
        error = change(a, id, "DELETE", path, NULL, "listen");
        free(path);
        const char *pid = pu_json_str(o, "default_pool_id");
        if (error == 0 && pid != NULL) {
            path = pu_printf("/lbaas/pools/%s", pid);
            error = change(a, id, "DELETE", path, NULL, "listen");
            free(path);
        }
    }
    actual_free(&x);
    if (error == 0)
        error = actual_of(a, id, &x);
    for (size_t i = 0; error == 0 && i < s->n; i++) {
        const lb_listener *l = &s->l[i];
        const infra_json *o = listener_find(&x, l);
        const char *base = name ? name : id;
        char *lid = o ? pu_strdup(pu_json_str(o, "id")) : NULL;
        const char *have_pool = o ? pu_json_str(o, "default_pool_id") : NULL;
        char *pid = have_pool ? pu_strdup(have_pool) : NULL;
        char **have = os_strv_new();
        if (o == NULL)
            error = make(a, id, "/lbaas/listeners", "listener", listener_body(l, id, base), "listen",
                         &lid);
        if (error == 0 && pid == NULL)
            error = make(a, id, "/lbaas/pools", "pool", pool_body(s, l, lid, base), "listen", &pid);
        if (o != NULL)
            backend_of(&x, o, &have);
        if (error == 0 && !os_strv_same_set(have, s->members)) {
            char *path = pu_printf("/lbaas/pools/%s/members", pid);
            infra_json *body = OJ->new_object();
            pu_json_set(body, "members", members_json(s, l));
            error = change(a, id, "PUT", path, body, "targets");
            free(path);
        }
        const infra_json *entry = have_pool ? OJ->get(x.pools, have_pool) : NULL;
        const char *hm = pu_json_str(OJ->get(entry, "pool"), "healthmonitor_id");
        if (error == 0)
            error = monitor_sync(a, id, pid, hm, s);
        os_strv_free(have);
        free(lid);
        free(pid);
    }
    actual_free(&x);
    return error;
}

static int lb_apply(os_act *a)
{
    lb_spec s;
    char *id = NULL;
    infra_json *lb = NULL;
    lb_actual x = {NULL, NULL};
    int error;

    if ((error = spec_of(a, &s)) < 0)
        goto done;
    if (a->prior == NULL) {
        if ((error = lb_create(a, &s, &id)) < 0 || (error = lb_wait(a, id, "ACTIVE")) < 0)
            goto done;
        error = lb_update(a, id, &s);
    } else {
        id = pu_strdup(os_state_id(a->prior) ? os_state_id(a->prior) : "");
        error = lb_update(a, id, &s);
    }
    if (error == 0 && (error = lb_get(a, id, &lb)) == 0 && (error = actual_of(a, id, &x)) == 0) {
        os_act r = *a;
        r.state = NULL;
        error = lb_from_object(&r, lb, &x);
    }
done:
    spec_free(&s);
    actual_free(&x);
    OJ->release(lb);
    free(id);
    return error;
}

static int lb_remove(os_act *a)
{
    const char *id = os_state_id(a->prior);
    if (id == NULL)
        return 0;
    char *path = pu_printf("/lbaas/loadbalancers/%s?cascade=true", id);
    int error = os_send(a->p, a->call, OS_LB, "DELETE", path, NULL, "",
                        OS_SAFE | OS_QUIET_404 | OS_IMMUTABLE, NULL);
    free(path);
    if (error == INFRA_ENOTFOUND)
        return 0;
    return error == 0 ? lb_wait(a, id, "DELETED") : error;
}

static int lb_read(os_act *a)
{
    infra_json *lb = NULL;
    lb_actual x = {NULL, NULL};
    int error;
    if (a->state == NULL)
        error = lb_find_mine(a, &lb);
    else
        error = os_state_id(a->state) ? lb_get(a, os_state_id(a->state), &lb) : INFRA_ENOTFOUND;
    if (error == 0 && (error = actual_of(a, pu_json_str(lb, "id"), &x)) == 0)
        error = lb_from_object(a, lb, &x);
    actual_free(&x);
    OJ->release(lb);
    return error;
}

const os_handler os_load_balancer_handler = {
    "load_balancer", lb_apply, lb_remove, lb_read, NULL, NULL, NULL};
