/* Ports and floating IPs (Neutron). A port is an address on a network that
 * a server can be booted with; a floating IP is an address of an external
 * network (OVH's Ext-Net) forwarded to a port's fixed address. */
#include "os_res.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* port                                                               */

static int port_from_object(os_act *a, const infra_json *obj)
{
    infra_json *st = os_state_new(a->state ? a->state : a->planned);
    const infra_json *ips = OJ->get(obj, "fixed_ips");
    const char *ip = NULL, *subnet = NULL;
    int error;

    for (size_t i = 0; i < OJ->length(ips) && ip == NULL; i++) {
        const char *addr = pu_json_str(OJ->at(ips, i), "ip_address");
        if (os_is_ipv4(addr) || i + 1 == OJ->length(ips)) {
            ip = addr;
            subnet = pu_json_str(OJ->at(ips, i), "subnet_id");
        }
    }
    if ((error = pu_json_set_str(st, "id", pu_json_str(obj, "id"))) < 0 ||
        (error = pu_json_set_str(st, "name", pu_json_str(obj, "name"))) < 0 ||
        (error = pu_json_set_str(st, "network", pu_json_str(obj, "network_id"))) < 0 ||
        (error = pu_json_set_str(st, "private_ip", ip)) < 0 ||
        (error = pu_json_set_str(st, "mac_address", pu_json_str(obj, "mac_address"))) < 0 ||
        (error = pu_json_set_str(st, "status", pu_json_str(obj, "status"))) < 0 ||
        (error = pu_json_set_str(st, "device_id", pu_json_str(obj, "device_id"))) < 0)
        goto done;
    if (OJ->get(st, "subnet") != NULL && (error = pu_json_set_str(st, "subnet", subnet)) < 0)
        goto done;
    if (OJ->get(st, "fixed_ip") != NULL && (error = pu_json_set_str(st, "fixed_ip", ip)) < 0)
        goto done;
    if (OJ->get(st, "firewalls") != NULL) {
        char **want = NULL, **got = NULL;
        os_json_strv(OJ->get(st, "firewalls"), &want);
        os_json_strv(OJ->get(obj, "security_groups"), &got);
        if (!os_strv_same_set(want, got))
            error = os_json_set_strv(st, "firewalls", got);
        os_strv_free(want);
        os_strv_free(got);
        if (error < 0)
            goto done;
    }
    error = os_state_tags(st, obj);
done:
    return os_state_finish(a, st, error);
}

static int port_apply(os_act *a)
{
    infra_json *f = OJ->new_object(), *obj = NULL;
    const char *name = os_json_known_str(a->planned, "name");
    char *derived = name ? NULL : os_call_name(a->call, 255);
    int error = 0;

    pu_json_set_str(f, "name", name ? name : derived);
    free(derived);
    const infra_json *fw = OJ->get(a->planned, "firewalls");
    if (fw != NULL)
        pu_json_set_copy(f, "security_groups", fw);
    if (a->prior == NULL) {
        const char *subnet = os_json_known_str(a->planned, "subnet");
        const char *ip = os_json_known_str(a->planned, "fixed_ip");
        pu_json_set_str(f, "network_id", pu_json_str(a->planned, "network"));
        if (subnet != NULL || ip != NULL) {
            infra_json *fixed = OJ->new_array(), *one = OJ->new_object();
            if (subnet != NULL)
                pu_json_set_str(one, "subnet_id", subnet);
            if (ip != NULL)
                pu_json_set_str(one, "ip_address", ip);
            OJ->append(fixed, one);
            pu_json_set(f, "fixed_ips", fixed);
        }
        pu_json_set_bool(f, "admin_state_up", 1);
        error = os_net_create(a, &os_kind_port, f, "network", &obj);
    } else {
        error = os_net_update(a, &os_kind_port, os_state_id(a->prior), f, "firewalls", &obj);
        if (error == 0 && obj != NULL)
            error = os_net_sync_tags(a, &os_kind_port, obj);
        OJ->release(obj);
        obj = NULL;
        if (error == 0)
            error = os_net_get(a->p, a->call, &os_kind_port, os_state_id(a->prior), &obj);
    }
    if (error == 0) {
        os_act r = *a;
        r.state = a->planned;
        error = port_from_object(&r, obj);
    }
    OJ->release(obj);
    return error;
}

static int port_remove(os_act *a)
{
    return os_net_delete(a, &os_kind_port, os_state_id(a->prior));
}

static int port_read(os_act *a)
{
    infra_json *obj = NULL;
    int error = os_net_read_obj(a, &os_kind_port, &obj);
    if (error == 0)
        error = port_from_object(a, obj);
    OJ->release(obj);
    return error;
}

const os_handler os_port_handler = {"port",        port_apply,       port_remove, port_read,
                                    &os_kind_port, port_from_object, NULL};

/* ------------------------------------------------------------------ */
/* floating_ip                                                        */

/* The port a floating IP goes to: `port`, or the first port of `instance`
 * (a server id). *id NULL when neither is set. */
static int target_port(os_act *a, char **id)
{
    const char *port = os_json_known_str(a->planned, "port");
    const char *server = os_json_known_str(a->planned, "instance");
    *id = NULL;
    if (port != NULL) {
        *id = pu_strdup(port);
        return 0;
    }
    if (server == NULL)
        return 0;
    char *e = os_url_encode(server);
    char *query = pu_printf("device_id=%s", e);
    infra_json *ports = NULL;
    int error = os_net_list(a->p, a->call, &os_kind_port, query, &ports);
    if (error == 0 && OJ->length(ports) == 0) {
        pu_diagf(a->call, "instance", "openstack: server %s has no port to forward to", server);
        error = INFRA_EINVALID;
    }
    if (error == 0)
        *id = pu_strdup(pu_json_str(OJ->at(ports, 0), "id"));
    OJ->release(ports);
    free(query);
    free(e);
    return error;
}

static int fip_from_object(os_act *a, const infra_json *obj)
{
    infra_json *st = os_state_new(a->state ? a->state : a->planned);
    const char *port = pu_json_str(obj, "port_id");
    int error;
    if ((error = pu_json_set_str(st, "id", pu_json_str(obj, "id"))) < 0 ||
        (error = pu_json_set_str(st, "address", pu_json_str(obj, "floating_ip_address"))) < 0 ||
        (error = pu_json_set_str(st, "fixed_ip", pu_json_str(obj, "fixed_ip_address"))) < 0 ||
        (error = pu_json_set_str(st, "port_id", port)) < 0 ||
        (error = pu_json_set_str(st, "status", pu_json_str(obj, "status"))) < 0)
        goto done;
    /* A configured port that is no longer the one: drift. */
    const char *cfg_port = pu_json_str(st, "port");
    if (cfg_port != NULL && (port == NULL || strcmp(cfg_port, port) != 0))
        error = pu_json_set_str(st, "port", port);
    if (error == 0 && pu_json_str(st, "instance") != NULL && port == NULL)
        error = pu_json_set_str(st, "instance", NULL);
    if (error == 0)
        error = os_state_tags(st, obj);
done:
    return os_state_finish(a, st, error);
}

/* The external network: the setting, else the one there is. */
static int fip_network(os_act *a, char **id)
{
    const char *ref = os_json_known_str(a->planned, "network");
    if (ref != NULL)
        return os_external_network(a, ref, "network", id);
    infra_json *nets = NULL;
    int error = os_net_list(a->p, a->call, &os_kind_network, "router%3Aexternal=true", &nets);
    if (error == 0 && OJ->length(nets) != 1) {
        pu_diagf(a->call, "network",
                 "openstack: %zu external networks in %s: name one with network (OVH: Ext-Net)",
                 OJ->length(nets), a->p->region);
        error = INFRA_EINVALID;
    }
    if (error == 0)
        *id = pu_strdup(pu_json_str(OJ->at(nets, 0), "id"));
    OJ->release(nets);
    return error;
}

static int fip_apply(os_act *a)
{
    infra_json *f = OJ->new_object(), *obj = NULL;
    char *port = NULL, *net = NULL;
    int error;

    if ((error = target_port(a, &port)) < 0)
        goto done;
    if (a->prior == NULL) {
        if ((error = fip_network(a, &net)) < 0)
            goto done;
        pu_json_set_str(f, "floating_network_id", net);
        if (port != NULL)
            pu_json_set_str(f, "port_id", port);
        const char *fixed = os_json_known_str(a->planned, "fixed_ip");
        if (fixed != NULL && port != NULL)
            pu_json_set_str(f, "fixed_ip_address", fixed);
        error = os_net_create(a, &os_kind_floatingip, f, "port", &obj);
        f = NULL;
    } else {
        pu_json_set_str(f, "port_id", port);
        error = os_net_update(a, &os_kind_floatingip, os_state_id(a->prior), f, "port", &obj);
        f = NULL;
        if (error == 0 && obj != NULL)
            error = os_net_sync_tags(a, &os_kind_floatingip, obj);
        OJ->release(obj);
        obj = NULL;
        if (error == 0)
            error = os_net_get(a->p, a->call, &os_kind_floatingip, os_state_id(a->prior), &obj);
    }
    if (error == 0) {
        os_act r = *a;
        r.state = a->planned;
        error = fip_from_object(&r, obj);
    }
done:
    OJ->release(f);
    OJ->release(obj);
    free(port);
    free(net);
    return error;
}

static int fip_remove(os_act *a)
{
    return os_net_delete(a, &os_kind_floatingip, os_state_id(a->prior));
}

static int fip_read(os_act *a)
{
    infra_json *obj = NULL;
    int error = os_net_read_obj(a, &os_kind_floatingip, &obj);
    if (error == 0)
        error = fip_from_object(a, obj);
    OJ->release(obj);
    return error;
}

const os_handler os_floating_ip_handler = {
    "floating_ip", fip_apply, fip_remove, fip_read, &os_kind_floatingip, fip_from_object, NULL};
