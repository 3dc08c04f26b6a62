/* Networks and subnets (Neutron). A network is the layer-2 segment; its
 * addresses, gateway, DNS servers and allocation pools are a subnet's. */
#include "os_res.h"

#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 255

static const char *name_of(os_act *a, char **derived)
{
    const char *name = os_json_known_str(a->planned, "name");
    *derived = NULL;
    if (name == NULL)
        name = *derived = os_call_name(a->call, NAME_MAX_LEN);
    return name;
}

/* ------------------------------------------------------------------ */
/* network                                                            */

static int network_from_object(os_act *a, const infra_json *obj)
{
    infra_json *st = os_state_new(a->state ? a->state : a->planned);
    int error;
    if ((error = pu_json_set_str(st, "id", pu_json_str(obj, "id"))) == 0 &&
        (error = pu_json_set_str(st, "name", pu_json_str(obj, "name"))) == 0 &&
        (error = pu_json_set_str(st, "status", pu_json_str(obj, "status"))) == 0 &&
        (OJ->get(st, "mtu") == NULL || OJ->get(obj, "mtu") == NULL ||
         (error = pu_json_set_copy(st, "mtu", OJ->get(obj, "mtu"))) == 0))
        error = os_state_tags(st, obj);
    return os_state_finish(a, st, error);
}

static int network_fields(os_act *a, infra_json *f)
{
    char *derived = NULL;
    long mtu = 0;
    int error = pu_json_set_str(f, "name", name_of(a, &derived));
    free(derived);
    if (error == 0 && pu_json_to_int(OJ->get(a->planned, "mtu"), &mtu) == 0)
        error = pu_json_set_int(f, "mtu", mtu);
    return error;
}

static int network_apply(os_act *a)
{
    infra_json *f = OJ->new_object(), *obj = NULL;
    int error;
    if ((error = network_fields(a, f)) < 0) {
        OJ->release(f);
        return error;
    }
    if (a->prior == NULL) {
        pu_json_set_bool(f, "admin_state_up", 1);
        error = os_net_create(a, &os_kind_network, f, "", &obj);
    } else {
        error = os_net_update(a, &os_kind_network, os_state_id(a->prior), f, "", &obj);
        if (error == 0 && obj != NULL)
            error = os_net_sync_tags(a, &os_kind_network, obj);
        OJ->release(obj);
        obj = NULL;
        if (error == 0)
            error = os_net_get(a->p, a->call, &os_kind_network, os_state_id(a->prior), &obj);
    }
    if (error == 0) {
        os_act r = *a;
        r.state = a->planned;
        error = network_from_object(&r, obj);
    }
    OJ->release(obj);
    return error;
}

static int network_remove(os_act *a)
{
    return os_net_delete(a, &os_kind_network, os_state_id(a->prior));
}

static int network_read(os_act *a)
{
    infra_json *obj = NULL;
    int error = os_net_read_obj(a, &os_kind_network, &obj);
    if (error == 0)
        error = network_from_object(a, obj);
    OJ->release(obj);
    return error;
}

const os_handler os_network_handler = {"network",    network_apply,    network_remove,
                                       network_read, &os_kind_network, network_from_object,
                                       NULL};

/* ------------------------------------------------------------------ */
/* subnet                                                             */

/* allocation_pools as Neutron wants them: [{start, end}], from "A-B"
 * strings or {start, end} maps. NULL when absent. */
static int pools_json(os_act *a, const infra_json *cfg, infra_json **out)
{
    *out = NULL;
    if (cfg == NULL || OJ->type(cfg) == INFRA_JSON_NULL)
        return 0;
    infra_json *list = OJ->new_array();
    for (size_t i = 0; i < OJ->length(cfg); i++) {
        const infra_json *e = OJ->at(cfg, i);
        const char *s = OJ->string(e);
        infra_json *pool = OJ->new_object();
        if (s != NULL && strchr(s, '-') != NULL) {
            const char *dash = strchr(s, '-');
            char *start = pu_strndup(s, (size_t)(dash - s));
            pu_json_set_str(pool, "start", start);
            pu_json_set_str(pool, "end", dash + 1);
            free(start);
        } else if (pu_json_str(e, "start") && pu_json_str(e, "end")) {
            pu_json_set_str(pool, "start", pu_json_str(e, "start"));
            pu_json_set_str(pool, "end", pu_json_str(e, "end"));
        } else {
            OJ->release(pool);
            OJ->release(list);
            pu_diagf(a->call, "allocation_pools",
                     "an allocation pool is \"FIRST-LAST\" or {start, end}");
            return INFRA_EINVALID;
        }
        OJ->append(list, pool);
    }
    *out = list;
    return 0;
}

/* The fields an update may change; a create adds the others. */
static int subnet_fields(os_act *a, infra_json *f)
{
    char *derived = NULL;
    int error = pu_json_set_str(f, "name", name_of(a, &derived));
    free(derived);
    const char *gw = os_json_known_str(a->planned, "gateway");
    if (error == 0 && gw != NULL)
        error = strcmp(gw, "none") == 0 ? pu_json_set(f, "gateway_ip", OJ->new_null())
                                        : pu_json_set_str(f, "gateway_ip", gw);
    const infra_json *dns = OJ->get(a->planned, "dns_servers");
    if (error == 0 && dns != NULL)
        error = pu_json_set_copy(f, "dns_nameservers", dns);
    infra_json *pools = NULL;
    if (error == 0 &&
        (error = pools_json(a, OJ->get(a->planned, "allocation_pools"), &pools)) == 0 &&
        pools != NULL)
        error = pu_json_set(f, "allocation_pools", pools);
    int dhcp = 1;
    const infra_json *d = OJ->get(a->planned, "dhcp");
    if (error == 0 && d != NULL && pu_json_to_bool(d, &dhcp) == 0)
        error = pu_json_set_bool(f, "enable_dhcp", dhcp);
    return error;
}

/* The pools of obj in the form the configuration used, when they are the same. */
static int refresh_pools(infra_json *st, const infra_json *obj)
{
    const infra_json *cfg = OJ->get(st, "allocation_pools");
    const infra_json *have = OJ->get(obj, "allocation_pools");
    if (cfg == NULL)
        return 0;
    char **want = os_strv_new(), **got = os_strv_new();
    for (size_t i = 0; i < OJ->length(cfg); i++) {
        const infra_json *e = OJ->at(cfg, i);
        const char *s = OJ->string(e);
        char *t = s ? pu_strdup(s)
                    : pu_printf("%s-%s", pu_json_str(e, "start") ? pu_json_str(e, "start") : "",
                                pu_json_str(e, "end") ? pu_json_str(e, "end") : "");
        os_strv_push(&want, t);
        free(t);
    }
    for (size_t i = 0; i < OJ->length(have); i++) {
        const infra_json *e = OJ->at(have, i);
        char *t = pu_printf("%s-%s", pu_json_str(e, "start") ? pu_json_str(e, "start") : "",
                            pu_json_str(e, "end") ? pu_json_str(e, "end") : "");
        os_strv_push(&got, t);
        free(t);
    }
    int error = os_strv_same_set(want, got) ? 0 : os_json_set_strv(st, "allocation_pools", got);
    os_strv_free(want);
    os_strv_free(got);
    return error;
}

static int subnet_from_object(os_act *a, const infra_json *obj)
{
    infra_json *st = os_state_new(a->state ? a->state : a->planned);
    const char *gw = pu_json_str(obj, "gateway_ip");
    const char *cfg_gw = pu_json_str(st, "gateway");
    int error;
    if ((error = pu_json_set_str(st, "id", pu_json_str(obj, "id"))) < 0 ||
        (error = pu_json_set_str(st, "name", pu_json_str(obj, "name"))) < 0 ||
        (error = pu_json_set_str(st, "network", pu_json_str(obj, "network_id"))) < 0 ||
        (error = pu_json_set_str(st, "cidr", pu_json_str(obj, "cidr"))) < 0 ||
        (error = pu_json_set_copy(st, "ip_version", OJ->get(obj, "ip_version"))) < 0)
        goto done;
    if (!(cfg_gw != NULL && strcmp(cfg_gw, "none") == 0 && gw == NULL) &&
        (error = pu_json_set_str(st, "gateway", gw ? gw : "none")) < 0)
        goto done;
    if (OJ->get(st, "dns_servers") != NULL) {
        char **want = NULL, **got = NULL;
        os_json_strv(OJ->get(st, "dns_servers"), &want);
        os_json_strv(OJ->get(obj, "dns_nameservers"), &got);
        if (!os_strv_same_set(want, got))
            error = os_json_set_strv(st, "dns_servers", got);
        os_strv_free(want);
        os_strv_free(got);
        if (error < 0)
            goto done;
    }
    if (OJ->get(st, "dhcp") != NULL &&
        (error = pu_json_set_bool(st, "dhcp", OJ->boolean(OJ->get(obj, "enable_dhcp")))) < 0)
        goto done;
    if ((error = refresh_pools(st, obj)) == 0)
        error = os_state_tags(st, obj);
done:
    return os_state_finish(a, st, error);
}

static int subnet_apply(os_act *a)
{
    infra_json *f = OJ->new_object(), *obj = NULL;
    int error;
    if ((error = subnet_fields(a, f)) < 0) {
        OJ->release(f);
        return error;
    }
    if (a->prior == NULL) {
        const char *cidr = pu_json_str(a->planned, "cidr");
        long version = cidr && strchr(cidr, ':') ? 6 : 4;
        pu_json_to_int(OJ->get(a->planned, "ip_version"), &version);
        pu_json_set_str(f, "network_id", pu_json_str(a->planned, "network"));
        pu_json_set_str(f, "cidr", cidr);
        pu_json_set_int(f, "ip_version", version);
        error = os_net_create(a, &os_kind_subnet, f, "cidr", &obj);
    } else {
        error = os_net_update(a, &os_kind_subnet, os_state_id(a->prior), f, "", &obj);
        if (error == 0 && obj != NULL)
            error = os_net_sync_tags(a, &os_kind_subnet, obj);
        OJ->release(obj);
        obj = NULL;
        if (error == 0)
            error = os_net_get(a->p, a->call, &os_kind_subnet, os_state_id(a->prior), &obj);
    }
    if (error == 0) {
        os_act r = *a;
        r.state = a->planned;
        error = subnet_from_object(&r, obj);
    }
    OJ->release(obj);
    return error;
}

static int subnet_remove(os_act *a)
{
    return os_net_delete(a, &os_kind_subnet, os_state_id(a->prior));
}

static int subnet_read(os_act *a)
{
    infra_json *obj = NULL;
    int error = os_net_read_obj(a, &os_kind_subnet, &obj);
    if (error == 0)
        error = subnet_from_object(a, obj);
    OJ->release(obj);
    return error;
}

const os_handler os_subnet_handler = {
    "subnet", subnet_apply, subnet_remove, subnet_read, &os_kind_subnet, subnet_from_object, NULL};
