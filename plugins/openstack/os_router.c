/* Routers (Neutron): an external gateway (OVH's Ext-Net) and an interface
 * on each subnet the router serves. Interfaces are reconciled in place:
 * only the subnets added or removed are touched. */
#include "os_res.h"

#include <stdlib.h>
#include <string.h>

#define INTERFACE_OWNER "network%%3Arouter_interface"

/* The subnet ids the router has an interface on. */
static int router_subnets(os_act *a, const char *id, char ***out)
{
    char *eid = os_url_encode(id);
    char *query = pu_printf("device_id=%s&device_owner=" INTERFACE_OWNER, eid);
    infra_json *ports = NULL;
    int error = os_net_list(a->p, a->call, &os_kind_port, query, &ports);
    *out = os_strv_new();
    for (size_t i = 0; error == 0 && i < OJ->length(ports); i++) {
        const infra_json *ips = OJ->get(OJ->at(ports, i), "fixed_ips");
        for (size_t k = 0; k < OJ->length(ips); k++) {
            const char *s = pu_json_str(OJ->at(ips, k), "subnet_id");
            if (s != NULL && !os_strv_has(*out, s))
                os_strv_push(out, s);
        }
    }
    OJ->release(ports);
    free(query);
    free(eid);
    return error;
}

static int interface(os_act *a, const char *id, const char *action, const char *subnet)
{
    char *eid = os_url_encode(id);
    char *path = pu_printf("/routers/%s/%s", eid, action);
    infra_json *body = OJ->new_object();
    pu_json_set_str(body, "subnet_id", subnet);
    int remove = strcmp(action, "remove_router_interface") == 0;
    os_req r = {OS_NETWORK, "PUT",     path,
                body,       "subnets", OS_SAFE | (remove ? OS_QUIET_404 | OS_DEPENDENT : 0)};
    os_resp *resp = NULL;
    int error = os_call(a->p, a->call, &r, &resp);
    if (remove && error == INFRA_ENOTFOUND)
        error = 0;
    os_resp_free(resp);
    OJ->release(body);
    free(path);
    free(eid);
    return error;
}

/* Brings the router's interfaces to the subnets of want. */
static int reconcile(os_act *a, const char *id, char *const *want)
{
    char **have = NULL;
    int error = router_subnets(a, id, &have);
    for (size_t i = 0; error == 0 && want[i] != NULL; i++)
        if (!os_strv_has(have, want[i]))
            error = interface(a, id, "add_router_interface", want[i]);
    for (size_t i = 0; error == 0 && have[i] != NULL; i++)
        if (!os_strv_has(want, have[i]))
            error = interface(a, id, "remove_router_interface", have[i]);
    os_strv_free(have);
    return error;
}

static const char *gateway_network(const infra_json *obj)
{
    return pu_json_str(OJ->get(obj, "external_gateway_info"), "network_id");
}

static int router_from_object(os_act *a, const infra_json *obj)
{
    infra_json *st = os_state_new(a->state ? a->state : a->planned);
    const char *id = pu_json_str(obj, "id");
    const infra_json *gw = OJ->get(obj, "external_gateway_info");
    const char *ext = gateway_network(obj);
    char **have = NULL, **want = NULL;
    int error;

    if ((error = pu_json_set_str(st, "id", id)) < 0 ||
        (error = pu_json_set_str(st, "name", pu_json_str(obj, "name"))) < 0 ||
        (error = pu_json_set_str(st, "status", pu_json_str(obj, "status"))) < 0)
        goto done;
    const char *ip = NULL;
    const infra_json *ips = OJ->get(gw, "external_fixed_ips");
    for (size_t i = 0; i < OJ->length(ips) && ip == NULL; i++)
        if (os_is_ipv4(pu_json_str(OJ->at(ips, i), "ip_address")))
            ip = pu_json_str(OJ->at(ips, i), "ip_address");
    if ((error = pu_json_set_str(st, "external_ip", ip)) < 0)
        goto done;
    const char *cfg_ext = pu_json_str(st, "external_network");
    if (cfg_ext != NULL) {
        char *cfg_id = NULL;
        if (ext == NULL)
            error = pu_json_set_str(st, "external_network", NULL);
        else if (os_external_network(a, cfg_ext, "external_network", &cfg_id) < 0 ||
                 strcmp(cfg_id, ext) != 0)
            error = pu_json_set_str(st, "external_network", ext);
        free(cfg_id);
        if (error < 0)
            goto done;
    }
    if (OJ->get(st, "subnets") != NULL) {
        if ((error = router_subnets(a, id, &have)) < 0)
            goto done;
        os_json_strv(OJ->get(st, "subnets"), &want);
        if (!os_strv_same_set(have, want) && (error = os_json_set_strv(st, "subnets", have)) < 0)
            goto done;
    }
    error = os_state_tags(st, obj);
done:
    os_strv_free(have);
    os_strv_free(want);
    return os_state_finish(a, st, error);
}

static int router_fields(os_act *a, infra_json *f)
{
    const char *name = os_json_known_str(a->planned, "name");
    char *derived = name ? NULL : os_call_name(a->call, 255);
    const char *ext = os_json_known_str(a->planned, "external_network");
    int error = pu_json_set_str(f, "name", name ? name : derived);
    free(derived);
    if (error == 0 && ext != NULL) {
        char *ext_id = NULL;
        if ((error = os_external_network(a, ext, "external_network", &ext_id)) == 0) {
            infra_json *gw = OJ->new_object();
            pu_json_set_str(gw, "network_id", ext_id);
            error = pu_json_set(f, "external_gateway_info", gw);
        }
        free(ext_id);
    } else if (error == 0 && a->prior != NULL && pu_json_str(a->prior, "external_network")) {
        error = pu_json_set(f, "external_gateway_info", OJ->new_object());
    }
    return error;
}

static int router_apply(os_act *a)
{
    infra_json *f = OJ->new_object(), *obj = NULL;
    char **subnets = NULL;
    int error;

    if ((error = router_fields(a, f)) < 0 ||
        (error = os_json_strv(OJ->get(a->planned, "subnets"), &subnets)) < 0) {
        if (error == INFRA_EINVALID && subnets == NULL)
            pu_diagf(a->call, "subnets", "subnets must be a list of subnet ids");
        OJ->release(f);
        return error;
    }
    if (a->prior == NULL) {
        pu_json_set_bool(f, "admin_state_up", 1);
        error = os_net_create(a, &os_kind_router, f, "", &obj);
    } else {
        error =
            os_net_update(a, &os_kind_router, os_state_id(a->prior), f, "external_network", &obj);
        if (error == 0 && obj != NULL)
            error = os_net_sync_tags(a, &os_kind_router, obj);
    }
    const char *id = error == 0 ? (obj ? pu_json_str(obj, "id") : os_state_id(a->prior)) : NULL;
    char *rid = id ? pu_strdup(id) : NULL;
    if (error == 0)
        error = reconcile(a, rid, subnets);
    OJ->release(obj);
    obj = NULL;
    if (error == 0)
        error = os_net_get(a->p, a->call, &os_kind_router, rid, &obj);
    if (error == 0) {
        os_act r = *a;
        r.state = a->planned;
        error = router_from_object(&r, obj);
    }
    OJ->release(obj);
    os_strv_free(subnets);
    free(rid);
    return error;
}

static int router_remove(os_act *a)
{
    const char *id = os_state_id(a->prior);
    char **have = NULL;
    if (id == NULL)
        return 0;
    int error = router_subnets(a, id, &have);
    for (size_t i = 0; error == 0 && have[i] != NULL; i++)
        error = interface(a, id, "remove_router_interface", have[i]);
    os_strv_free(have);
    if (error == 0)
        error = os_net_delete(a, &os_kind_router, id);
    return error;
}

static int router_read(os_act *a)
{
    infra_json *obj = NULL;
    int error = os_net_read_obj(a, &os_kind_router, &obj);
    if (error == 0)
        error = router_from_object(a, obj);
    OJ->release(obj);
    return error;
}

const os_handler os_router_handler = {
    "router", router_apply, router_remove, router_read, &os_kind_router, router_from_object, NULL};
