/* VPC networks in custom subnet mode, and their subnetworks. Neither takes
 * labels in the Compute v1 API: infra's marks go in their description.
 * A subnetwork's private Google access is changed in place; its range,
 * network and region replace it. */
#include "gcp_res.h"

#include <stdlib.h>
#include <string.h>

static const gcp_kind network_kind = {"networks", GCP_GLOBAL, 0};
static const gcp_kind subnetwork_kind = {"subnetworks", GCP_REGIONAL, 0};

/* ------------------------------------------------------------------ */
/* network                                                            */

static int network_from_object(gcp_act *a, const infra_json *obj)
{
    infra_json *st = gcp_state_new(a->state);
    int error = gcp_state_ids(st, obj);
    const char *mode = gcp_json_path_str(obj, "routingConfig.routingMode");
    if (error == 0 && (GJ->get(st, "routing_mode") != NULL || mode != NULL))
        error = pu_json_set_str(st, "routing_mode", mode ? mode : "REGIONAL");
    return gcp_state_finish(a, st, error);
}

static int network_apply(gcp_act *a)
{
    infra_json *obj = NULL;
    int error;

    if (a->prior != NULL) {
        /* Nothing of a network changes in place: its state is refreshed. */
        const char *id = gcp_state_id(a->prior);
        if (id == NULL || (error = gcp_get_object(a, id, "networks.get", &obj)) < 0)
            return id == NULL ? INFRA_ENOTFOUND : error;
    } else {
        char *name = gcp_resource_name(a, a->planned);
        char *desc = gcp_description(a->call, pu_host->call_token(a->call));
        const char *mode = pu_json_str(a->planned, "routing_mode");
        infra_json *body = GJ->new_object(), *routing = GJ->new_object();
        if ((error = pu_json_set_str(routing, "routingMode", mode ? mode : "REGIONAL")) == 0 &&
            (error = pu_json_set(body, "routingConfig", routing)) == 0 &&
            (error = pu_json_set_str(body, "name", name)) == 0 &&
            (error = pu_json_set_str(body, "description", desc)) == 0 &&
            (error = pu_json_set_bool(body, "autoCreateSubnetworks", 0)) == 0)
            error = gcp_insert(a, &network_kind, "global", body, "", &obj);
        GJ->release(body);
        free(name);
        free(desc);
        if (error < 0)
            return error;
    }
    const infra_json *keep = a->state;
    a->state = a->planned;
    error = network_from_object(a, obj);
    a->state = keep;
    GJ->release(obj);
    return error;
}

static int network_remove(gcp_act *a)
{
    const char *id = gcp_state_id(a->prior);
    return id == NULL ? 0 : gcp_delete_path(a, id, "networks.delete");
}

static int network_read(gcp_act *a)
{
    infra_json *obj = NULL;
    int error = gcp_read_object(a, &network_kind, "global", "networks.get", &obj);
    if (error == 0)
        error = network_from_object(a, obj);
    GJ->release(obj);
    return error;
}

const gcp_handler gcp_network_handler = {"network",    network_apply, network_remove,
                                         network_read, &network_kind, network_from_object};

/* ------------------------------------------------------------------ */
/* subnetwork                                                         */

static const char *subnet_region(gcp_act *a, const infra_json *cfg)
{
    const char *r = pu_json_str(cfg, "region");
    return r != NULL && *r ? r : a->p->region;
}

static int subnetwork_from_object(gcp_act *a, const infra_json *obj)
{
    infra_json *st = gcp_state_new(a->state);
    int error;
    if ((error = gcp_state_ids(st, obj)) == 0 &&
        (error = pu_json_set_str(st, "cidr", pu_json_str(obj, "ipCidrRange"))) == 0 &&
        (error = gcp_state_ref(st, "network", pu_json_str(obj, "network"))) == 0 &&
        (error = pu_json_set_str(st, "region", gcp_last_segment(pu_json_str(obj, "region")))) ==
            0 &&
        (error = pu_json_set_str(st, "gateway", pu_json_str(obj, "gatewayAddress"))) == 0) {
        const infra_json *pga = GJ->get(obj, "privateIpGoogleAccess");
        error = pu_json_set_bool(st, "private_google_access", pga ? GJ->boolean(pga) : 0);
    }
    return gcp_state_finish(a, st, error);
}

static int want_private_access(const infra_json *cfg)
{
    int b = 0;
    const infra_json *v = GJ->get(cfg, "private_google_access");
    return v != NULL && pu_json_to_bool(v, &b) == 0 ? b : 0;
}

static int subnetwork_apply(gcp_act *a)
{
    const char *region = subnet_region(a, a->planned);
    char *scope = pu_printf("regions/%s", region);
    infra_json *obj = NULL;
    int error = 0;

    if (a->prior != NULL) {
        const char *id = gcp_state_id(a->prior);
        if (id == NULL) {
            free(scope);
            return INFRA_ENOTFOUND;
        }
        if ((error = gcp_get_object(a, id, "subnetworks.get", &obj)) < 0)
            goto done;
        const infra_json *now = GJ->get(obj, "privateIpGoogleAccess");
        int want = want_private_access(a->planned);
        if ((now != NULL && GJ->boolean(now)) != want) {
            infra_json *body = GJ->new_object();
            char *path = pu_printf("%s/setPrivateIpGoogleAccess", id);
            if ((error = pu_json_set_bool(body, "privateIpGoogleAccess", want)) == 0)
                error = gcp_change(a, "POST", path, "subnetworks.setPrivateIpGoogleAccess", body,
                                   "private_google_access", NULL);
            GJ->release(body);
            free(path);
            GJ->release(obj);
            obj = NULL;
            if (error == 0)
                error = gcp_get_object(a, id, "subnetworks.get", &obj);
        }
    } else {
        char *name = gcp_resource_name(a, a->planned);
        char *desc = gcp_description(a->call, pu_host->call_token(a->call));
        char *net = gcp_ref(a->p, pu_json_str(a->planned, "network"), "networks", "global");
        infra_json *body = GJ->new_object();
        if ((error = pu_json_set_str(body, "name", name)) == 0 &&
            (error = pu_json_set_str(body, "description", desc)) == 0 &&
            (error = pu_json_set_str(body, "network", net)) == 0 &&
            (error = pu_json_set_str(body, "ipCidrRange", pu_json_str(a->planned, "cidr"))) == 0 &&
            (error = pu_json_set_bool(body, "privateIpGoogleAccess",
                                      want_private_access(a->planned))) == 0)
            error = gcp_insert(a, &subnetwork_kind, scope, body, "", &obj);
        GJ->release(body);
        free(name);
        free(desc);
        free(net);
    }
    if (error == 0) {
        const infra_json *keep = a->state;
        a->state = a->planned;
        error = subnetwork_from_object(a, obj);
        a->state = keep;
    }
done:
    GJ->release(obj);
    free(scope);
    return error;
}

static int subnetwork_remove(gcp_act *a)
{
    const char *id = gcp_state_id(a->prior);
    return id == NULL ? 0 : gcp_delete_path(a, id, "subnetworks.delete");
}

static int subnetwork_read(gcp_act *a)
{
    char *scope = pu_printf("regions/%s", subnet_region(a, a->state));
    infra_json *obj = NULL;
    int error = gcp_read_object(a, &subnetwork_kind, scope, "subnetworks.get", &obj);
    if (error == 0)
        error = subnetwork_from_object(a, obj);
    GJ->release(obj);
    free(scope);
    return error;
}

const gcp_handler gcp_subnetwork_handler = {"subnetwork",      subnetwork_apply,
                                            subnetwork_remove, subnetwork_read,
                                            &subnetwork_kind,  subnetwork_from_object};
