/* Cloud Routers with Cloud NAT (so that instances without public
 * addresses reach out), and regional static addresses. A router's NAT is
 * changed in place (routers.patch); its network, region and name replace
 * it. Neither takes labels: infra's marks go in the description. */
#include "gcp_res.h"

#include <stdlib.h>
#include <string.h>

static const gcp_kind router_kind = {"routers", GCP_REGIONAL, 0};
static const gcp_kind address_kind = {"addresses", GCP_REGIONAL, 0};

static const char *region_of(gcp_act *a, const infra_json *cfg)
{
    const char *r = pu_json_str(cfg, "region");
    return r != NULL && *r ? r : a->p->region;
}

/* ------------------------------------------------------------------ */
/* router                                                             */

static int want_nat(const infra_json *cfg)
{
    int b = 0;
    const infra_json *v = GJ->get(cfg, "nat");
    if (v != NULL && pu_json_to_bool(v, &b) == 0)
        return b;
    return GJ->get(cfg, "nat_subnetworks") != NULL || GJ->get(cfg, "nat_addresses") != NULL;
}

/* The nats list cfg asks for (a new array, empty without NAT). */
static int nats_build(gcp_act *a, const infra_json *cfg, const char *router_name,
                      const char *region, infra_json **out)
{
    infra_json *nats = GJ->new_array();
    char **subnets = NULL, **addresses = NULL;
    int error = 0;

    *out = NULL;
    if (gcp_json_strv(GJ->get(cfg, "nat_subnetworks"), &subnets) < 0 ||
        gcp_json_strv(GJ->get(cfg, "nat_addresses"), &addresses) < 0) {
        pu_diagf(a->call, "nat_subnetworks", "nat_subnetworks and nat_addresses are lists");
        error = INFRA_EINVALID;
        goto done;
    }
    if (want_nat(cfg)) {
        char *scope = pu_printf("regions/%s", region);
        infra_json *nat = GJ->new_object();
        char *name = pu_printf("%.50s-nat", router_name);
        GJ->append(nats, nat);
        if ((error = pu_json_set_str(nat, "name", name)) == 0)
            error = pu_json_set_str(nat, "natIpAllocateOption",
                                    gcp_strv_len(addresses) ? "MANUAL_ONLY" : "AUTO_ONLY");
        if (error == 0 && gcp_strv_len(addresses)) {
            infra_json *ips = GJ->new_array();
            for (size_t i = 0; addresses[i] != NULL; i++) {
                char *ref = gcp_ref(a->p, addresses[i], "addresses", scope);
                GJ->append(ips, GJ->new_string(ref));
                free(ref);
            }
            error = pu_json_set(nat, "natIps", ips);
        }
        if (error == 0)
            error = pu_json_set_str(nat, "sourceSubnetworkIpRangesToNat",
                                    gcp_strv_len(subnets) ? "LIST_OF_SUBNETWORKS"
                                                          : "ALL_SUBNETWORKS_ALL_IP_RANGES");
        if (error == 0 && gcp_strv_len(subnets)) {
            infra_json *list = GJ->new_array();
            for (size_t i = 0; subnets[i] != NULL; i++) {
                infra_json *s = GJ->new_object();
                char *ref = gcp_ref(a->p, subnets[i], "subnetworks", scope);
                pu_json_set_str(s, "name", ref);
                infra_json *ranges = GJ->new_array();
                GJ->append(ranges, GJ->new_string("ALL_IP_RANGES"));
                pu_json_set(s, "sourceIpRangesToNat", ranges);
                GJ->append(list, s);
                free(ref);
            }
            error = pu_json_set(nat, "subnetworks", list);
        }
        free(name);
        free(scope);
    }
done:
    gcp_strv_free(subnets);
    gcp_strv_free(addresses);
    if (error < 0) {
        GJ->release(nats);
        return error;
    }
    *out = nats;
    return 0;
}

static int router_from_object(gcp_act *a, const infra_json *obj)
{
    infra_json *st = gcp_state_new(a->state);
    int error = gcp_state_ids(st, obj);
    const infra_json *nats = GJ->get(obj, "nats");
    const infra_json *nat = nats ? GJ->at(nats, 0) : NULL;
    if (error == 0)
        error = gcp_state_ref(st, "network", pu_json_str(obj, "network"));
    if (error == 0)
        error = pu_json_set_str(st, "region", gcp_last_segment(pu_json_str(obj, "region")));
    if (error == 0 && (GJ->get(st, "nat") != NULL || nat != NULL))
        error = pu_json_set_bool(st, "nat", nat != NULL);
    if (error == 0 && GJ->get(st, "nat_subnetworks") != NULL) {
        char **want = NULL, **have = gcp_strv_new();
        const infra_json *subs = GJ->get(nat, "subnetworks");
        for (size_t i = 0; subs != NULL && i < GJ->length(subs); i++) {
            char *r = gcp_relative_name(pu_json_str(GJ->at(subs, i), "name"));
            if (r != NULL)
                gcp_strv_push(&have, r);
            free(r);
        }
        gcp_json_strv(GJ->get(st, "nat_subnetworks"), &want);
        int same = gcp_strv_len(want) == gcp_strv_len(have);
        for (size_t i = 0; same && want[i] != NULL; i++) {
            int found = 0;
            for (size_t k = 0; have[k] != NULL && !found; k++)
                found = gcp_ref_same(want[i], have[k]);
            same = found;
        }
        if (!same)
            error = gcp_json_set_strv(st, "nat_subnetworks", have);
        gcp_strv_free(want);
        gcp_strv_free(have);
    }
    if (error == 0 && nat != NULL)
        error = pu_json_set_str(st, "nat_name", pu_json_str(nat, "name"));
    return gcp_state_finish(a, st, error);
}

static int router_apply(gcp_act *a)
{
    const char *region = region_of(a, a->planned);
    char *scope = pu_printf("regions/%s", region);
    infra_json *obj = NULL, *body = GJ->new_object(), *nats = NULL;
    char *name = NULL;
    int error = 0;

    if (a->prior != NULL) {
        const char *id = gcp_state_id(a->prior);
        if (id == NULL) {
            error = INFRA_ENOTFOUND;
            goto done;
        }
        if ((error = nats_build(a, a->planned, gcp_last_segment(id), region, &nats)) < 0 ||
            (error = pu_json_set(body, "nats", nats)) < 0 ||
            (error = gcp_change(a, "PATCH", id, "routers.patch", body, "nat", NULL)) < 0 ||
            (error = gcp_get_object(a, id, "routers.get", &obj)) < 0)
            goto done;
    } else {
        name = gcp_resource_name(a, a->planned);
        char *desc = gcp_description(a->call, pu_host->call_token(a->call));
        char *net = gcp_ref(a->p, pu_json_str(a->planned, "network"), "networks", "global");
        if ((error = pu_json_set_str(body, "name", name)) == 0 &&
            (error = pu_json_set_str(body, "description", desc)) == 0 &&
            (error = pu_json_set_str(body, "network", net)) == 0 &&
            (error = nats_build(a, a->planned, name, region, &nats)) == 0 &&
            (error = pu_json_set(body, "nats", nats)) == 0)
            error = gcp_insert(a, &router_kind, scope, body, "", &obj);
        free(desc);
        free(net);
        if (error < 0)
            goto done;
    }
    const infra_json *keep = a->state;
    a->state = a->planned;
    error = router_from_object(a, obj);
    a->state = keep;
done:
    GJ->release(body);
    GJ->release(obj);
    free(name);
    free(scope);
    return error;
}

static int router_remove(gcp_act *a)
{
    const char *id = gcp_state_id(a->prior);
    return id == NULL ? 0 : gcp_delete_path(a, id, "routers.delete");
}

static int router_read(gcp_act *a)
{
    char *scope = pu_printf("regions/%s", region_of(a, a->state));
    infra_json *obj = NULL;
    int error = gcp_read_object(a, &router_kind, scope, "routers.get", &obj);
    if (error == 0)
        error = router_from_object(a, obj);
    GJ->release(obj);
    free(scope);
    return error;
}

const gcp_handler gcp_router_handler = {"router",    router_apply, router_remove,
                                        router_read, &router_kind, router_from_object};

/* ------------------------------------------------------------------ */
/* address                                                            */

static int address_from_object(gcp_act *a, const infra_json *obj)
{
    infra_json *st = gcp_state_new(a->state);
    int error = gcp_state_ids(st, obj);
    if (error == 0)
        error = pu_json_set_str(st, "address", pu_json_str(obj, "address"));
    if (error == 0)
        error = pu_json_set_str(st, "region", gcp_last_segment(pu_json_str(obj, "region")));
    if (error == 0 && pu_json_str(obj, "subnetwork") != NULL)
        error = gcp_state_ref(st, "subnetwork", pu_json_str(obj, "subnetwork"));
    return gcp_state_finish(a, st, error);
}

static int address_apply(gcp_act *a)
{
    infra_json *obj = NULL;
    int error;
    if (a->prior != NULL) {
        const char *id = gcp_state_id(a->prior);
        if (id == NULL)
            return INFRA_ENOTFOUND;
        if ((error = gcp_get_object(a, id, "addresses.get", &obj)) < 0)
            return error;
    } else {
        char *scope = pu_printf("regions/%s", region_of(a, a->planned));
        char *name = gcp_resource_name(a, a->planned);
        char *desc = gcp_description(a->call, pu_host->call_token(a->call));
        const char *subnet = pu_json_str(a->planned, "subnetwork");
        infra_json *body = GJ->new_object();
        if ((error = pu_json_set_str(body, "name", name)) == 0 &&
            (error = pu_json_set_str(body, "description", desc)) == 0 &&
            (error = pu_json_set_str(body, "addressType", subnet ? "INTERNAL" : "EXTERNAL")) == 0 &&
            subnet != NULL) {
            char *ref = gcp_ref(a->p, subnet, "subnetworks", scope);
            error = pu_json_set_str(body, "subnetwork", ref);
            free(ref);
        }
        if (error == 0)
            error = gcp_insert(a, &address_kind, scope, body, "", &obj);
        GJ->release(body);
        free(scope);
        free(name);
        free(desc);
        if (error < 0)
            return error;
    }
    const infra_json *keep = a->state;
    a->state = a->planned;
    error = address_from_object(a, obj);
    a->state = keep;
    GJ->release(obj);
    return error;
}

static int address_remove(gcp_act *a)
{
    const char *id = gcp_state_id(a->prior);
    return id == NULL ? 0 : gcp_delete_path(a, id, "addresses.delete");
}

static int address_read(gcp_act *a)
{
    char *scope = pu_printf("regions/%s", region_of(a, a->state));
    infra_json *obj = NULL;
    int error = gcp_read_object(a, &address_kind, scope, "addresses.get", &obj);
    if (error == 0)
        error = address_from_object(a, obj);
    GJ->release(obj);
    free(scope);
    return error;
}

const gcp_handler gcp_address_handler = {"address",    address_apply, address_remove,
                                         address_read, &address_kind, address_from_object};
