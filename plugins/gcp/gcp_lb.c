/* Load balancers: Compute's network load balancer, the closest match to a
 * Classic ELB. One resource is three objects named alike: a legacy HTTP
 * health check (global), a target pool holding the instances (regional)
 * and a forwarding rule sending the listen ports of an external address
 * to the pool (regional). Members and the health check's settings change
 * in place; the rest replaces the balancer. None of the three takes
 * labels: infra's marks go in their descriptions, and a read after a
 * crash finds whichever of them the interrupted create made. */
#include "gcp_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const gcp_kind hc_kind = {"httpHealthChecks", GCP_GLOBAL, 0};
static const gcp_kind pool_kind = {"targetPools", GCP_REGIONAL, 0};
static const gcp_kind rule_kind = {"forwardingRules", GCP_REGIONAL, 0};

int gcp_health_parse(const char *text, gcp_health *out)
{
    memset(out, 0, sizeof(*out));
    if (text == NULL || strncmp(text, "http:", 5) != 0)
        return INFRA_EINVALID;
    const char *s = text + 5;
    char *end = NULL;
    long port = strtol(s, &end, 10);
    if (end == s || port < 1 || port > 65535 || (*end != '\0' && *end != '/'))
        return INFRA_EINVALID;
    out->port = port;
    snprintf(out->path, sizeof(out->path), "%s", *end ? end : "/");
    return 0;
}

char *gcp_port_range(infra_call *call, const infra_json *listen)
{
    char **ports = NULL;
    long lo = -1, hi = -1;
    int ok = gcp_json_strv(listen, &ports) == 0 && gcp_strv_len(ports) > 0;
    long *v = ok ? pu_calloc(gcp_strv_len(ports), sizeof(long)) : NULL;
    size_t n = ok ? gcp_strv_len(ports) : 0;
    for (size_t i = 0; ok && i < n; i++) {
        char *end = NULL;
        v[i] = strtol(ports[i], &end, 10);
        ok = end != ports[i] && *end == '\0' && v[i] >= 1 && v[i] <= 65535;
    }
    /* One port, or a contiguous run: the rule forwards one range. */
    for (size_t i = 0; ok && i < n; i++) {
        if (lo < 0 || v[i] < lo)
            lo = v[i];
        if (hi < 0 || v[i] > hi)
            hi = v[i];
    }
    if (ok && (size_t)(hi - lo + 1) > n)
        ok = 0;
    for (size_t i = 0; ok && i < n; i++)
        for (size_t k = i + 1; k < n; k++)
            if (v[i] == v[k])
                ok = 0;
    free(v);
    gcp_strv_free(ports);
    if (!ok) {
        pu_diagf(call, "listen",
                 "listen takes one port or consecutive ports (a network load "
                 "balancer forwards one port range); use a load balancer per range");
        return NULL;
    }
    return lo == hi ? pu_printf("%ld", lo) : pu_printf("%ld-%ld", lo, hi);
}

static const char *region_of(gcp_act *a, const infra_json *cfg)
{
    const char *r = pu_json_str(cfg, "region");
    return r != NULL && *r ? r : a->p->region;
}

/* The health check body cfg asks for (port, path, timings). */
static int hc_body(gcp_act *a, const infra_json *cfg, const char *name, const char *token,
                   infra_json **out)
{
    gcp_health h;
    if (gcp_health_parse(pu_json_str(cfg, "health"), &h) < 0) {
        pu_diagf(a->call, "health",
                 "health must be \"http:PORT/PATH\" (a legacy HTTP health "
                 "check)");
        return INFRA_EINVALID;
    }
    long interval = gcp_json_long(cfg, "health_interval", 5);
    long timeout = gcp_json_long(cfg, "health_timeout", interval < 5 ? interval : 5);
    infra_json *b = GJ->new_object();
    int error = 0;
    if (name != NULL) {
        char *desc = gcp_description(a->call, token);
        if ((error = pu_json_set_str(b, "name", name)) == 0)
            error = pu_json_set_str(b, "description", desc);
        free(desc);
    }
    if (error == 0 && (error = pu_json_set_int(b, "port", h.port)) == 0 &&
        (error = pu_json_set_str(b, "requestPath", h.path)) == 0 &&
        (error = pu_json_set_int(b, "checkIntervalSec", interval)) == 0 &&
        (error = pu_json_set_int(b, "timeoutSec", timeout > interval ? interval : timeout)) == 0 &&
        (error = pu_json_set_int(b, "healthyThreshold",
                                 gcp_json_long(cfg, "healthy_threshold", 2))) == 0)
        error =
            pu_json_set_int(b, "unhealthyThreshold", gcp_json_long(cfg, "unhealthy_threshold", 2));
    if (error < 0) {
        GJ->release(b);
        return error;
    }
    *out = b;
    return 0;
}

/* The instance references of targets ("projects/..." paths), or NULL when
 * the balancer leaves its members to others (no targets). */
static int targets_of(gcp_act *a, const infra_json *cfg, char ***out)
{
    const infra_json *t = GJ->get(cfg, "targets");
    *out = NULL;
    if (t == NULL || GJ->type(t) == INFRA_JSON_NULL)
        return 0;
    char **v = NULL;
    if (gcp_json_strv(t, &v) < 0) {
        pu_diagf(a->call, "targets", "targets must be a list of instance ids");
        return INFRA_EINVALID;
    }
    char **refs = gcp_strv_new();
    for (size_t i = 0; v[i] != NULL; i++) {
        if (strstr(v[i], "/instances/") == NULL) {
            pu_diagf(a->call, "targets",
                     "target \"%s\" is not an instance id "
                     "(\"${instance.NAME.id}\")",
                     v[i]);
            gcp_strv_free(v);
            gcp_strv_free(refs);
            return INFRA_EINVALID;
        }
        char *r = gcp_relative_name(v[i]);
        gcp_strv_push(&refs, r);
        free(r);
    }
    gcp_strv_free(v);
    *out = refs;
    return 0;
}

/* The pool's members as "projects/..." paths. */
static char **members_of(const infra_json *pool)
{
    char **out = gcp_strv_new();
    const infra_json *list = GJ->get(pool, "instances");
    for (size_t i = 0; list != NULL && i < GJ->length(list); i++) {
        char *r = gcp_relative_name(GJ->string(GJ->at(list, i)));
        if (r != NULL)
            gcp_strv_push(&out, r);
        free(r);
    }
    return out;
}

typedef struct lb_objects {
    infra_json *hc, *pool, *rule;
} lb_objects;

static void objects_clear(lb_objects *o)
{
    GJ->release(o->hc);
    GJ->release(o->pool);
    GJ->release(o->rule);
    memset(o, 0, sizeof(*o));
}

static int lb_state(gcp_act *a, const infra_json *base, const lb_objects *o, infra_json **out)
{
    infra_json *st = gcp_state_new(base);
    int error = 0;
    const infra_json *main = o->pool ? o->pool : o->rule ? o->rule : o->hc;
    char *pool = o->pool ? gcp_relative_name(pu_json_str(o->pool, "selfLink")) : NULL;
    char *rule = o->rule ? gcp_relative_name(pu_json_str(o->rule, "selfLink")) : NULL;
    char *hc = o->hc ? gcp_relative_name(pu_json_str(o->hc, "selfLink")) : NULL;
    if ((error = gcp_state_ids(st, main)) < 0 ||
        (error = pu_json_set_str(st, "target_pool", pool)) < 0 ||
        (error = pu_json_set_str(st, "forwarding_rule", rule)) < 0 ||
        (error = pu_json_set_str(st, "health_check", hc)) < 0 ||
        (error = pu_json_set_str(st, "address", pu_json_str(o->rule, "IPAddress"))) < 0 ||
        (error = pu_json_set_str(st, "region", gcp_last_segment(pu_json_str(main, "region")))) < 0)
        goto done;
    /* A balancer has an address, not a DNS name of its own. */
    if ((error = pu_json_set_str(st, "dns_name", NULL)) < 0)
        goto done;
    char **members = o->pool ? members_of(o->pool) : gcp_strv_new();
    error = gcp_json_set_strv(st, "instances", members);
    char **want = NULL;
    if (error == 0 && base != NULL && targets_of(a, base, &want) == 0 && want != NULL &&
        !gcp_strv_same_set(want, members))
        error = gcp_json_set_strv(st, "targets", members);
    gcp_strv_free(want);
    gcp_strv_free(members);
    if (error == 0 && o->hc != NULL && base != NULL && pu_json_str(base, "health") != NULL) {
        infra_json *b = NULL;
        if (hc_body(a, base, NULL, NULL, &b) == 0) {
            char text[300];
            snprintf(text, sizeof(text), "http:%ld%s", gcp_json_long(o->hc, "port", 80),
                     pu_json_str(o->hc, "requestPath") ? pu_json_str(o->hc, "requestPath") : "/");
            gcp_health want_h, have_h;
            if (gcp_health_parse(pu_json_str(base, "health"), &want_h) == 0 &&
                gcp_health_parse(text, &have_h) == 0 &&
                (want_h.port != have_h.port || strcmp(want_h.path, have_h.path) != 0))
                error = pu_json_set_str(st, "health", text);
            static const char *const timings[][2] = {{"health_interval", "checkIntervalSec"},
                                                     {"health_timeout", "timeoutSec"},
                                                     {"healthy_threshold", "healthyThreshold"},
                                                     {"unhealthy_threshold", "unhealthyThreshold"}};
            for (size_t i = 0; error == 0 && i < 4; i++) {
                long want_v = gcp_json_long(b, timings[i][1], 0);
                long have_v = gcp_json_long(o->hc, timings[i][1], 0);
                if (want_v != have_v && GJ->get(base, timings[i][0]) != NULL)
                    error = pu_json_set_int(st, timings[i][0], have_v);
            }
        }
        GJ->release(b);
    }
done:
    free(pool);
    free(rule);
    free(hc);
    if (error < 0) {
        GJ->release(st);
        return error;
    }
    *out = st;
    return 0;
}

/* The three objects of the balancer named name in region, those that
 * exist; with check_token, only when they carry the call's token. */
static int lb_find(gcp_act *a, const char *name, const char *region, int check_token, lb_objects *o)
{
    const char *token = pu_host->call_token(a->call);
    char *scope = pu_printf("regions/%s", region);
    char *paths[3] = {gcp_object_path(a->p, &hc_kind, "global", name),
                      gcp_object_path(a->p, &pool_kind, scope, name),
                      gcp_object_path(a->p, &rule_kind, scope, name)};
    infra_json **slots[3] = {&o->hc, &o->pool, &o->rule};
    int error = 0;
    memset(o, 0, sizeof(*o));
    for (int i = 0; i < 3 && error == 0; i++) {
        error = gcp_get_object(a, paths[i], "get", slots[i]);
        if (error == 0 && check_token && !gcp_object_is_mine(*slots[i], token)) {
            GJ->release(*slots[i]);
            *slots[i] = NULL;
        }
        if (error == INFRA_ENOTFOUND)
            error = 0;
    }
    for (int i = 0; i < 3; i++)
        free(paths[i]);
    free(scope);
    if (error < 0)
        objects_clear(o);
    return error;
}

static int lb_create(gcp_act *a)
{
    const char *region = region_of(a, a->planned);
    char *scope = pu_printf("regions/%s", region);
    char *name = gcp_resource_name(a, a->planned);
    const char *token = pu_host->call_token(a->call);
    char *desc = gcp_description(a->call, token);
    char *range = gcp_port_range(a->call, GJ->get(a->planned, "listen"));
    char **targets = NULL;
    lb_objects o = {0};
    infra_json *body = NULL, *st = NULL;
    int error = 0;

    if (range == NULL || (error = targets_of(a, a->planned, &targets)) < 0) {
        error = error < 0 ? error : INFRA_EINVALID;
        goto done;
    }
    if (pu_json_str(a->planned, "health") != NULL) {
        if ((error = hc_body(a, a->planned, name, token, &body)) < 0 ||
            (error = gcp_insert(a, &hc_kind, "global", body, "health", &o.hc)) < 0)
            goto done;
        GJ->release(body);
        body = NULL;
    }
    body = GJ->new_object();
    if ((error = pu_json_set_str(body, "name", name)) < 0 ||
        (error = pu_json_set_str(body, "description", desc)) < 0)
        goto done;
    if (o.hc != NULL) {
        infra_json *checks = GJ->new_array();
        GJ->append(checks, GJ->new_string(pu_json_str(o.hc, "selfLink")));
        if ((error = pu_json_set(body, "healthChecks", checks)) < 0)
            goto done;
    }
    if (targets != NULL && gcp_strv_len(targets) > 0 &&
        (error = gcp_json_set_strv(body, "instances", targets)) < 0)
        goto done;
    if ((error = gcp_insert(a, &pool_kind, scope, body, "targets", &o.pool)) < 0)
        goto done;
    GJ->release(body);
    body = GJ->new_object();
    const char *address = pu_json_str(a->planned, "address");
    if ((error = pu_json_set_str(body, "name", name)) < 0 ||
        (error = pu_json_set_str(body, "description", desc)) < 0 ||
        (error = pu_json_set_str(
             body, "IPProtocol",
             pu_json_str(a->planned, "protocol") ? pu_json_str(a->planned, "protocol") : "TCP")) <
            0 ||
        (error = pu_json_set_str(body, "portRange", range)) < 0 ||
        (error = pu_json_set_str(body, "loadBalancingScheme", "EXTERNAL")) < 0 ||
        (error = pu_json_set_str(body, "target", pu_json_str(o.pool, "selfLink"))) < 0)
        goto done;
    if (address != NULL && *address) {
        char *ref =
            gcp_is_ipv4(address) ? pu_strdup(address) : gcp_ref(a->p, address, "addresses", scope);
        error = pu_json_set_str(body, "IPAddress", ref);
        free(ref);
        if (error < 0)
            goto done;
    }
    if ((error = gcp_insert(a, &rule_kind, scope, body, "listen", &o.rule)) < 0)
        goto done;
    error = lb_state(a, a->planned, &o, &st);
done:
    GJ->release(body);
    objects_clear(&o);
    gcp_strv_free(targets);
    free(range);
    free(desc);
    free(name);
    free(scope);
    return gcp_state_finish(a, st, error);
}

/* addInstance / removeInstance of the instances in list. */
static int members_change(gcp_act *a, const char *pool, const char *verb, char *const *list)
{
    if (gcp_strv_len(list) == 0)
        return 0;
    infra_json *body = GJ->new_object(), *items = GJ->new_array();
    for (size_t i = 0; list[i] != NULL; i++) {
        infra_json *ref = GJ->new_object();
        pu_json_set_str(ref, "instance", list[i]);
        GJ->append(items, ref);
    }
    pu_json_set(body, "instances", items);
    char *path = pu_printf("%s/%s", pool, verb);
    char *what = pu_printf("targetPools.%s", verb);
    int error = gcp_change(a, "POST", path, what, body, "targets", NULL);
    free(path);
    free(what);
    GJ->release(body);
    return error;
}

static int lb_update(gcp_act *a)
{
    const char *pool_id = pu_json_str(a->prior, "target_pool");
    const char *hc_id = pu_json_str(a->prior, "health_check");
    char **want = NULL, **had = NULL;
    lb_objects o = {0};
    infra_json *st = NULL, *body = NULL;
    int error;

    if (pool_id == NULL)
        return INFRA_ENOTFOUND;
    if ((error = targets_of(a, a->planned, &want)) < 0 ||
        (error = gcp_get_object(a, pool_id, "targetPools.get", &o.pool)) < 0)
        goto done;
    had = members_of(o.pool);
    if (want != NULL) {
        char **add = gcp_strv_new(), **drop = gcp_strv_new();
        for (size_t i = 0; want[i] != NULL; i++)
            if (!gcp_strv_has(had, want[i]))
                gcp_strv_push(&add, want[i]);
        for (size_t i = 0; had[i] != NULL; i++)
            if (!gcp_strv_has(want, had[i]))
                gcp_strv_push(&drop, had[i]);
        error = members_change(a, pool_id, "addInstance", add);
        if (error == 0)
            error = members_change(a, pool_id, "removeInstance", drop);
        gcp_strv_free(add);
        gcp_strv_free(drop);
        if (error < 0)
            goto done;
    }
    if (hc_id != NULL && pu_json_str(a->planned, "health") != NULL) {
        if ((error = hc_body(a, a->planned, NULL, NULL, &body)) < 0 ||
            (error =
                 gcp_change(a, "PATCH", hc_id, "httpHealthChecks.patch", body, "health", NULL)) < 0)
            goto done;
    }
    GJ->release(o.pool);
    o.pool = NULL;
    if ((error = gcp_get_object(a, pool_id, "targetPools.get", &o.pool)) < 0 ||
        (hc_id != NULL && (error = gcp_get_object(a, hc_id, "httpHealthChecks.get", &o.hc)) < 0))
        goto done;
    const char *rule_id = pu_json_str(a->prior, "forwarding_rule");
    if (rule_id != NULL && (error = gcp_get_object(a, rule_id, "forwardingRules.get", &o.rule)) < 0)
        goto done;
    error = lb_state(a, a->planned, &o, &st);
done:
    GJ->release(body);
    objects_clear(&o);
    gcp_strv_free(want);
    gcp_strv_free(had);
    return gcp_state_finish(a, st, error);
}

static int lb_apply(gcp_act *a)
{
    return a->prior == NULL ? lb_create(a) : lb_update(a);
}

static int lb_remove(gcp_act *a)
{
    /* The rule first, then the pool it sends to, then the pool's check. */
    static const char *const keys[][2] = {{"forwarding_rule", "forwardingRules.delete"},
                                          {"target_pool", "targetPools.delete"},
                                          {"health_check", "httpHealthChecks.delete"}};
    int error = 0;
    for (int i = 0; i < 3 && error == 0; i++) {
        const char *id = pu_json_str(a->prior, keys[i][0]);
        if (id != NULL && *id)
            error = gcp_delete_path(a, id, keys[i][1]);
    }
    return error;
}

static int lb_read(gcp_act *a)
{
    lb_objects o = {0};
    infra_json *st = NULL;
    int error = 0;

    if (a->state == NULL) {
        /* After a crash: whichever of the three the create made. */
        char *name = gcp_call_name(a->call);
        error = lb_find(a, name, a->p->region, 1, &o);
        free(name);
    } else {
        static const char *const keys[] = {"health_check", "target_pool", "forwarding_rule"};
        infra_json **slots[3] = {&o.hc, &o.pool, &o.rule};
        for (int i = 0; i < 3 && error == 0; i++) {
            const char *id = pu_json_str(a->state, keys[i]);
            if (id != NULL && (error = gcp_get_object(a, id, "get", slots[i])) == INFRA_ENOTFOUND)
                error = 0;
        }
    }
    if (error == 0 && o.hc == NULL && o.pool == NULL && o.rule == NULL)
        error = INFRA_ENOTFOUND;
    if (error == 0)
        error = lb_state(a, a->state, &o, &st);
    if (error == 0 && a->state != NULL &&
        (o.pool == NULL || o.rule == NULL ||
         (o.hc == NULL && pu_json_str(a->state, "health") != NULL))) {
        /* A part deleted outside infra: the balancer is replaced (listen
         * forces it), which deletes what is left and makes all three again. */
        pu_logf(a->call, INFRA_LOG_INFO, "gcp: load balancer %s lacks its %s",
                pu_json_str(st, "name") ? pu_json_str(st, "name") : "?",
                o.pool == NULL   ? "target pool"
                : o.rule == NULL ? "forwarding rule"
                                 : "health check");
        error = pu_json_set_str(st, "listen", NULL);
    }
    objects_clear(&o);
    return gcp_state_finish(a, st, error);
}

const gcp_handler gcp_load_balancer_handler = {"load_balancer", lb_apply, lb_remove,
                                               lb_read,         NULL,     NULL};
