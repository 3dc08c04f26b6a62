/* Instances are Nova servers. The create carries the infra tags (Nova
 * microversion 2.52 and later take tags in the create), so a create that
 * may be resuming an interrupted one first lists the servers tagged with
 * its token and adopts the one it finds; a server that went to ERROR is
 * deleted rather than kept. The wait for ACTIVE goes through the
 * provider's shared waiter; the SSH host key fingerprint comes from the
 * console log, as cloud-init prints it. The addresses, ports and user
 * name are what the scheduler bridge reads to reach the node. */
#include "os_res.h"

#include <stdlib.h>
#include <string.h>

#define WAIT_ACTIVE_MS 900000
#define WAIT_GONE_MS 600000
#define FINGERPRINT_WAIT_MS 30000
#define USER_DATA_MAX 65535

static const char *const size_keys[] = {"size", "machine", "flavor", NULL};
static const char *const cluster_keys[] = {"role", "cluster", "region", "datacenter", NULL};

static const char *size_of(const infra_json *cfg)
{
    for (size_t i = 0; size_keys[i] != NULL; i++)
        if (pu_json_str(cfg, size_keys[i]) != NULL)
            return pu_json_str(cfg, size_keys[i]);
    return NULL;
}

static const char *size_key(const infra_json *cfg)
{
    for (size_t i = 0; size_keys[i] != NULL; i++)
        if (OJ->get(cfg, size_keys[i]) != NULL)
            return size_keys[i];
    return NULL;
}

/* The flavor named or identified by ref: 0 with *flavor (caller releases). */
static int flavor_find(os_act *a, const char *ref, infra_json **flavor)
{
    infra_provider *p = a->p;
    int error = 0;
    *flavor = NULL;
    pthread_mutex_lock(&p->lock);
    infra_json *all = p->flavors ? OJ->copy(p->flavors) : NULL;
    pthread_mutex_unlock(&p->lock);
    if (all == NULL) {
        if ((error = os_list(p, a->call, OS_COMPUTE, "/flavors/detail", "flavors", &all)) < 0)
            return error;
        pthread_mutex_lock(&p->lock);
        if (p->flavors == NULL)
            p->flavors = OJ->copy(all);
        pthread_mutex_unlock(&p->lock);
    }
    pu_buf names = {0};
    for (size_t i = 0; i < OJ->length(all) && *flavor == NULL; i++) {
        const infra_json *f = OJ->at(all, i);
        const char *id = pu_json_str(f, "id"), *name = pu_json_str(f, "name");
        if ((id && strcmp(id, ref) == 0) || (name && strcmp(name, ref) == 0))
            *flavor = OJ->copy(f);
        pu_buf_printf(&names, "%s%s", names.len ? ", " : "", name ? name : "?");
    }
    if (*flavor == NULL) {
        pu_diagf(a->call, size_key(a->planned) ? size_key(a->planned) : "size",
                 "openstack: no flavor \"%s\" in %s (there are: %s)", ref, p->region,
                 names.data ? names.data : "none");
        error = INFRA_EINVALID;
    }
    free(names.data);
    OJ->release(all);
    return error;
}

/* The network of a subnet. */
static int subnet_network(os_act *a, const char *subnet, char **net)
{
    infra_json *obj = NULL;
    int error = os_net_get(a->p, a->call, &os_kind_subnet, subnet, &obj);
    if (error == INFRA_ENOTFOUND)
        pu_diagf(a->call, "subnet", "openstack: no subnet %s in %s", subnet, a->p->region);
    *net = error == 0 ? pu_strdup(pu_json_str(obj, "network_id")) : NULL;
    OJ->release(obj);
    return error == INFRA_ENOTFOUND ? INFRA_EINVALID : error;
}

/* "networks" of the create: ports, else networks / network / subnet. */
static int networks_json(os_act *a, infra_json **out)
{
    char **ports = NULL, **nets = NULL;
    const char *fixed = os_json_known_str(a->planned, "fixed_ip");
    int error = 0;
    infra_json *list = OJ->new_array();

    *out = NULL;
    if (os_json_strv(OJ->get(a->planned, "ports"), &ports) < 0 ||
        os_json_strv(OJ->get(a->planned, "networks"), &nets) < 0) {
        pu_diagf(a->call, "networks", "ports and networks are lists of ids");
        error = INFRA_EINVALID;
        goto done;
    }
    for (size_t i = 0; ports[i] != NULL; i++) {
        infra_json *e = OJ->new_object();
        pu_json_set_str(e, "port", ports[i]);
        OJ->append(list, e);
    }
    const char *one = os_json_known_str(a->planned, "network");
    if (one != NULL && !os_strv_has(nets, one))
        os_strv_push(&nets, one);
    const char *subnet = os_json_known_str(a->planned, "subnet");
    if (subnet != NULL) {
        char *net = NULL;
        if ((error = subnet_network(a, subnet, &net)) < 0)
            goto done;
        if (!os_strv_has(nets, net))
            os_strv_push(&nets, net);
        free(net);
    }
    for (size_t i = 0; nets[i] != NULL; i++) {
        infra_json *e = OJ->new_object();
        pu_json_set_str(e, "uuid", nets[i]);
        if (i == 0 && fixed != NULL)
            pu_json_set_str(e, "fixed_ip", fixed);
        OJ->append(list, e);
    }
    if (OJ->length(list) == 0) {
        pu_diagf(a->call, "subnet",
                 "an openstack instance needs subnet, network, networks or ports (OVH: the "
                 "Ext-Net network for a public address)");
        error = INFRA_EINVALID;
    }
done:
    os_strv_free(ports);
    os_strv_free(nets);
    if (error < 0)
        OJ->release(list);
    else
        *out = list;
    return error;
}

/* metadata: the user's, plus the cluster keys. */
static infra_json *metadata_json(const infra_json *cfg)
{
    const infra_json *user = OJ->get(cfg, "metadata");
    infra_json *m = user && OJ->type(user) == INFRA_JSON_OBJECT ? OJ->copy(user) : OJ->new_object();
    for (size_t i = 0; cluster_keys[i] != NULL; i++) {
        char *v = os_json_text(OJ->get(cfg, cluster_keys[i]));
        if (v != NULL && OJ->get(m, cluster_keys[i]) == NULL)
            pu_json_set_str(m, cluster_keys[i], v);
        free(v);
    }
    /* Nova wants every value a string. */
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    infra_json *text = OJ->new_object();
    while (OJ->next(m, &iter, &key, &value)) {
        char *v = os_json_text(value);
        if (v == NULL && OJ->type(value) == INFRA_JSON_BOOL)
            v = pu_strdup(OJ->boolean(value) ? "true" : "false");
        pu_json_set_str(text, key, v ? v : "");
        free(v);
    }
    OJ->release(m);
    return text;
}

int os_server_post(os_act *a, char **id)
{
    const infra_json *cfg = a->planned;
    const char *name = os_json_known_str(cfg, "name");
    char *derived = name ? NULL : os_call_name(a->call, 63);
    char *image = NULL;
    char **tags = NULL, **groups = NULL;
    infra_json *flavor = NULL, *networks = NULL, *body = NULL, *answer = NULL;
    int error;

    *id = NULL;
    if ((error = flavor_find(a, size_of(cfg) ? size_of(cfg) : "", &flavor)) < 0 ||
        (error = os_image_resolve(a, pu_json_str(cfg, "image"), "image", &image)) < 0 ||
        (error = networks_json(a, &networks)) < 0 ||
        (error = os_tags_for(a->call, OJ->get(cfg, "tags"), &tags)) < 0)
        goto done;
    if (os_json_strv(OJ->get(cfg, "firewalls"), &groups) < 0) {
        pu_diagf(a->call, "firewalls", "firewalls must be a list of security group ids");
        error = INFRA_EINVALID;
        goto done;
    }
    infra_json *s = OJ->new_object();
    pu_json_set_str(s, "name", name ? name : derived);
    pu_json_set_str(s, "imageRef", image);
    pu_json_set_str(s, "flavorRef", pu_json_str(flavor, "id"));
    pu_json_set(s, "networks", networks);
    networks = NULL;
    if (os_strv_len(groups) > 0 && OJ->get(cfg, "ports") == NULL) {
        infra_json *sg = OJ->new_array();
        for (size_t i = 0; groups[i] != NULL; i++) {
            infra_json *g = OJ->new_object();
            pu_json_set_str(g, "name", groups[i]);
            OJ->append(sg, g);
        }
        pu_json_set(s, "security_groups", sg);
    }
    const char *key = os_json_known_str(cfg, "key_pair");
    if (key != NULL)
        pu_json_set_str(s, "key_name", key);
    const char *user_data = pu_json_str(cfg, "user_data");
    if (user_data != NULL && *user_data) {
        char *b64 = os_base64_encode(user_data, strlen(user_data));
        pu_json_set_str(s, "user_data", b64);
        free(b64);
    }
    infra_json *md = metadata_json(cfg);
    if (OJ->length(md) > 0)
        pu_json_set(s, "metadata", md);
    else
        OJ->release(md);
    const char *zone = os_json_known_str(cfg, "availability_zone");
    if (zone != NULL)
        pu_json_set_str(s, "availability_zone", zone);
    int drive = 0;
    if (pu_json_to_bool(OJ->get(cfg, "config_drive"), &drive) == 0 && drive)
        pu_json_set_bool(s, "config_drive", 1);
    pu_json_set(s, "tags", os_json_from_strv(tags));
    body = OJ->new_object();
    pu_json_set(body, "server", s);
    if ((error = os_send(a->p, a->call, OS_COMPUTE, "POST", "/servers", body, "", 0, &answer)) < 0)
        goto done;
    const char *new_id = pu_json_str(OJ->get(answer, "server"), "id");
    if (new_id == NULL) {
        pu_diagf(a->call, "", "openstack: nova answered the create of a server without its id");
        error = INFRA_EINTERNAL;
        goto done;
    }
    *id = pu_strdup(new_id);
done:
    OJ->release(flavor);
    OJ->release(networks);
    OJ->release(body);
    OJ->release(answer);
    os_strv_free(tags);
    os_strv_free(groups);
    free(image);
    free(derived);
    return error;
}

/* The servers tagged with the call's token (not deleted). */
static int servers_of_token(os_act *a, const char *token, infra_json **list)
{
    char *tag = os_tag_token(token);
    *list = NULL;
    if (tag == NULL)
        return INFRA_ENOTFOUND;
    char *tags[] = {tag, NULL};
    char *filter = os_tags_filter("tags", tags);
    char *path = pu_printf("/servers/detail?%s", filter);
    int error = os_list(a->p, a->call, OS_COMPUTE, path, "servers", list);
    free(path);
    free(filter);
    free(tag);
    return error;
}

int os_server_delete(os_act *a, const char *id, const char *token)
{
    char *e = os_url_encode(id);
    char *path = pu_printf("/servers/%s", e);
    int error = os_send(a->p, a->call, OS_COMPUTE, "DELETE", path, NULL, "", OS_QUIET_404, NULL);
    free(path);
    free(e);
    if (error == INFRA_ENOTFOUND)
        return 0;
    /* Its ports, then its subnet and network, can only go once it is gone. */
    if (error == 0)
        error = os_waiter_wait(a->p, a->call, id, token, "DELETED", WAIT_GONE_MS, NULL);
    return error;
}

int os_server_console_fingerprint(os_act *a, const char *id, int64_t wait_ms, char **out)
{
    int64_t deadline = pu_host->now_ms() + wait_ms;
    int64_t delay = 1000;
    char *e = os_url_encode(id);
    char *path = pu_printf("/servers/%s/action", e);
    infra_json *body = OJ->new_object(), *req = OJ->new_object();
    pu_json_set_int(req, "length", 400);
    pu_json_set(body, "os-getConsoleOutput", req);
    int error;
    for (;;) {
        infra_json *answer = NULL;
        /* Reading the console changes nothing: safe to repeat. */
        error = os_send(a->p, a->call, OS_COMPUTE, "POST", path, body, "",
                        OS_SAFE | OS_QUIET_404 | OS_QUIET_409, &answer);
        const char *text = pu_json_str(answer, "output");
        if (error == 0 && text != NULL && os_console_fingerprint(text, out) == 0) {
            OJ->release(answer);
            break;
        }
        OJ->release(answer);
        if (error == INFRA_ECANCELLED)
            break;
        if (pu_host->now_ms() + delay > deadline) {
            error = INFRA_ENOTFOUND;
            break;
        }
        if ((error = os_sleep(a->p, a->call, delay)) < 0)
            break;
        delay = delay * 2 > 5000 ? 5000 : delay * 2;
    }
    OJ->release(body);
    free(path);
    free(e);
    return error;
}

/* The ports of the servers with ids (one list call): server id -> [port]. */
static int ports_by_server(os_act *a, char *const *ids, infra_json **out)
{
    pu_buf q = {0};
    *out = OJ->new_object();
    for (size_t i = 0; ids[i] != NULL; i++) {
        char *e = os_url_encode(ids[i]);
        pu_buf_printf(&q, "%sdevice_id=%s", q.len ? "&" : "", e);
        free(e);
    }
    if (q.len == 0)
        return 0;
    infra_json *ports = NULL;
    int error = os_net_list(a->p, a->call, &os_kind_port, q.data, &ports);
    free(q.data);
    for (size_t i = 0; error == 0 && i < OJ->length(ports); i++) {
        const infra_json *port = OJ->at(ports, i);
        const char *dev = pu_json_str(port, "device_id");
        if (dev == NULL)
            continue;
        if (OJ->get(*out, dev) == NULL)
            OJ->set(*out, dev, OJ->new_array());
        infra_json *mine = OJ->copy(OJ->get(*out, dev));
        OJ->append(mine, OJ->copy(port));
        OJ->set(*out, dev, mine);
    }
    OJ->release(ports);
    return error;
}

/* The addresses of a server: private (fixed, not on an external
 * network), public (floating, else fixed on an external network). */
static void addresses(os_act *a, const infra_json *server, const char **private_ip,
                      const char **public_ip)
{
    const infra_json *addrs = OJ->get(server, "addresses");
    const char *fixed_ext = NULL, *floating = NULL, *fixed = NULL, *any = NULL;
    infra_json *ext = NULL;
    /* The external networks' names: OVH's Ext-Net gives public addresses. */
    if (os_external_networks(a->p, a->call, &ext) < 0)
        ext = NULL;
    void *iter = NULL;
    const char *net;
    const infra_json *list;
    while (OJ->next(addrs, &iter, &net, &list)) {
        int external = 0;
        for (size_t i = 0; i < OJ->length(ext); i++) {
            const char *n = pu_json_str(OJ->at(ext, i), "name");
            if (n != NULL && strcmp(n, net) == 0)
                external = 1;
        }
        for (size_t i = 0; i < OJ->length(list); i++) {
            const infra_json *ad = OJ->at(list, i);
            const char *ip = pu_json_str(ad, "addr");
            const char *type = pu_json_str(ad, "OS-EXT-IPS:type");
            if (!os_is_ipv4(ip))
                continue;
            if (type != NULL && strcmp(type, "floating") == 0) {
                if (floating == NULL)
                    floating = ip;
            } else if (external) {
                if (fixed_ext == NULL)
                    fixed_ext = ip;
            } else if (fixed == NULL) {
                fixed = ip;
            }
            if (any == NULL)
                any = ip;
        }
    }
    OJ->release(ext);
    *private_ip = fixed ? fixed : fixed_ext ? fixed_ext : any;
    *public_ip = floating ? floating : fixed_ext;
}

/* base plus what Nova and Neutron say of the server. */
static int server_state(os_act *a, const infra_json *base, const infra_json *server,
                        const infra_json *ports, const char *fingerprint, int refresh)
{
    infra_json *st = os_state_new(base);
    const char *private_ip = NULL, *public_ip = NULL;
    const char *name = pu_json_str(server, "name");
    int error;

    addresses(a, server, &private_ip, &public_ip);
    if ((error = pu_json_set_str(st, "id", pu_json_str(server, "id"))) < 0 ||
        (error = pu_json_set_str(st, "status", pu_json_str(server, "status"))) < 0 ||
        (error = pu_json_set_str(st, "private_ip", private_ip)) < 0 ||
        (error = pu_json_set_str(st, "public_ip", public_ip)) < 0 ||
        (error = pu_json_set_str(st, "hostname", name)) < 0 ||
        (error = pu_json_set_str(st, "name", name)) < 0 ||
        (error = pu_json_set_int(st, "ssh_port", 22)) < 0 ||
        (error = pu_json_set_str(st, "flavor_id", pu_json_str(OJ->get(server, "flavor"), "id"))) <
            0 ||
        (error = pu_json_set_str(st, "image_id", pu_json_str(OJ->get(server, "image"), "id"))) < 0)
        goto done;
    const char *zone = pu_json_str(server, "OS-EXT-AZ:availability_zone");
    if (zone != NULL && (error = pu_json_set_str(st, "availability_zone", zone)) < 0)
        goto done;
    const infra_json *first = OJ->at(ports, 0);
    if ((error = pu_json_set_str(st, "network", pu_json_str(first, "network_id"))) < 0)
        goto done;
    if (pu_json_str(st, "ssh_user") == NULL &&
        (error = pu_json_set_str(st, "ssh_user", "root")) < 0)
        goto done;
    if ((fingerprint != NULL || OJ->get(st, "ssh_host_key_fingerprint") == NULL) &&
        (error = pu_json_set_str(st, "ssh_host_key_fingerprint", fingerprint)) < 0)
        goto done;
    if (!refresh)
        goto done;
    /* The configured attributes Nova can tell, under the state's own keys. */
    const char *sk = size_key(st);
    const infra_json *flavor = OJ->get(server, "flavor");
    const char *fname = pu_json_str(flavor, "original_name");
    const char *cfg_size = sk ? pu_json_str(st, sk) : NULL;
    if (cfg_size != NULL && fname != NULL && strcmp(cfg_size, fname) != 0 &&
        strcmp(cfg_size, pu_json_str(flavor, "id") ? pu_json_str(flavor, "id") : "") != 0 &&
        (error = pu_json_set_str(st, sk, fname)) < 0)
        goto done;
    const char *image = pu_json_str(st, "image");
    const char *image_id = pu_json_str(OJ->get(server, "image"), "id");
    if (image != NULL && os_is_uuid(image) && image_id != NULL && strcmp(image, image_id) != 0 &&
        (error = pu_json_set_str(st, "image", image_id)) < 0)
        goto done;
    if (OJ->get(st, "key_pair") != NULL &&
        (error = pu_json_set_str(st, "key_pair", pu_json_str(server, "key_name"))) < 0)
        goto done;
    if (OJ->get(st, "firewalls") != NULL) {
        char **want = NULL, **got = os_strv_new();
        os_json_strv(OJ->get(st, "firewalls"), &want);
        int by_id = 1;
        for (size_t i = 0; want != NULL && want[i] != NULL; i++)
            by_id = by_id && os_is_uuid(want[i]);
        for (size_t i = 0; i < OJ->length(ports); i++) {
            const infra_json *sgs = OJ->get(OJ->at(ports, i), "security_groups");
            for (size_t k = 0; k < OJ->length(sgs); k++)
                if (!os_strv_has(got, OJ->string(OJ->at(sgs, k))))
                    os_strv_push(&got, OJ->string(OJ->at(sgs, k)));
        }
        if (by_id && !os_strv_same_set(want, got))
            error = os_json_set_strv(st, "firewalls", got);
        os_strv_free(want);
        os_strv_free(got);
        if (error < 0)
            goto done;
    }
    const infra_json *md = OJ->get(server, "metadata");
    for (size_t i = 0; cluster_keys[i] != NULL; i++)
        if (OJ->get(st, cluster_keys[i]) != NULL &&
            (error = pu_json_set_str(st, cluster_keys[i], pu_json_str(md, cluster_keys[i]))) < 0)
            goto done;
    if (OJ->get(st, "metadata") != NULL) {
        infra_json *user = OJ->copy(md);
        for (size_t i = 0; cluster_keys[i] != NULL; i++)
            if (OJ->get(st, cluster_keys[i]) != NULL)
                OJ->remove(user, cluster_keys[i]);
        infra_json *want = metadata_json(st);
        for (size_t i = 0; cluster_keys[i] != NULL; i++)
            OJ->remove(want, cluster_keys[i]);
        if (!OJ->equal(user, want))
            error = pu_json_set(st, "metadata", user);
        else
            OJ->release(user);
        OJ->release(want);
        if (error < 0)
            goto done;
    }
    error = os_state_tags(st, server);
done:
    return os_state_finish(a, st, error);
}

static int server_get(os_act *a, const char *id, infra_json **server)
{
    char *e = os_url_encode(id);
    char *path = pu_printf("/servers/%s", e);
    infra_json *body = NULL;
    int error = os_get(a->p, a->call, OS_COMPUTE, path, OS_QUIET_404, &body);
    *server = NULL;
    if (error == 0) {
        const infra_json *s = OJ->get(body, "server");
        const char *status = pu_json_str(s, "status");
        if (s == NULL)
            error = INFRA_EINTERNAL;
        else if (status != NULL &&
                 (strcmp(status, "DELETED") == 0 || strcmp(status, "SOFT_DELETED") == 0))
            error = INFRA_ENOTFOUND;
        else
            *server = OJ->copy(s);
    }
    OJ->release(body);
    free(path);
    free(e);
    return error;
}

int os_server_address(os_act *a, const char *id, char **ip)
{
    infra_json *server = NULL;
    const char *private_ip = NULL, *public_ip = NULL;
    int error = server_get(a, id, &server);
    *ip = NULL;
    if (error == 0) {
        addresses(a, server, &private_ip, &public_ip);
        if (private_ip == NULL) {
            pu_diagf(a->call, "targets", "openstack: server %s has no IPv4 address yet", id);
            error = INFRA_EINVALID;
        } else {
            *ip = pu_strdup(private_ip);
        }
    } else if (error == INFRA_ENOTFOUND) {
        pu_diagf(a->call, "targets", "openstack: no server %s in %s", id, a->p->region);
        error = INFRA_EINVALID;
    }
    OJ->release(server);
    return error;
}

/* The state of a server, its ports read with one call. */
static int finish_state(os_act *a, const infra_json *base, const infra_json *server,
                        const char *fingerprint, int refresh)
{
    const char *id = pu_json_str(server, "id");
    char *ids[] = {(char *)id, NULL};
    infra_json *by_server = NULL;
    int error = ports_by_server(a, ids, &by_server);
    if (error == 0)
        error = server_state(a, base, server, OJ->get(by_server, id), fingerprint, refresh);
    OJ->release(by_server);
    return error;
}

static int instance_create(os_act *a)
{
    const char *token = pu_host->call_token(a->call);
    infra_json *found = NULL, *server = NULL;
    char *id = NULL, *fingerprint = NULL;
    int error = 0;

    if (token != NULL && os_call_resuming(a->call)) {
        if ((error = servers_of_token(a, token, &found)) < 0)
            goto done;
        for (size_t i = 0; i < OJ->length(found) && id == NULL; i++) {
            const infra_json *s = OJ->at(found, i);
            const char *status = pu_json_str(s, "status");
            if (status != NULL && strcmp(status, "ERROR") == 0) {
                /* A failed boot of an earlier run: gone before a new one. */
                if ((error = os_server_delete(a, pu_json_str(s, "id"), token)) < 0)
                    goto done;
                continue;
            }
            id = pu_strdup(pu_json_str(s, "id"));
            pu_logf(a->call, INFRA_LOG_INFO, "server %s made by an earlier run adopted", id);
        }
    }
    if (id == NULL && (error = os_server_post(a, &id)) < 0)
        goto done;
    error = os_waiter_wait(a->p, a->call, id, token, "ACTIVE", WAIT_ACTIVE_MS, &server);
    if (error == INFRA_ECONFLICT) {
        /* Nothing half-made stays behind: the next run boots anew. */
        os_server_delete(a, id, token);
        goto done;
    }
    if (error < 0)
        goto done;
    if (os_server_console_fingerprint(a, id, FINGERPRINT_WAIT_MS, &fingerprint) ==
        INFRA_ECANCELLED) {
        error = INFRA_ECANCELLED;
        goto done;
    }
    if (fingerprint == NULL)
        pu_logf(a->call, INFRA_LOG_INFO,
                "server %s: no SSH host key fingerprint in the console log yet", id);
    error = finish_state(a, a->planned, server, fingerprint, 0);
done:
    OJ->release(found);
    OJ->release(server);
    free(id);
    free(fingerprint);
    return error;
}

static int instance_update(os_act *a)
{
    const char *id = os_state_id(a->prior);
    char *e = id ? os_url_encode(id) : NULL;
    infra_json *server = NULL, *body = NULL;
    char **want_tags = NULL, **groups = NULL;
    int error = 0;

    if (id == NULL)
        return INFRA_ENOTFOUND;
    if ((error = server_get(a, id, &server)) < 0)
        goto done;
    /* Name. */
    const char *name = os_json_known_str(a->planned, "name");
    if (name != NULL &&
        strcmp(name, pu_json_str(server, "name") ? pu_json_str(server, "name") : "")) {
        char *path = pu_printf("/servers/%s", e);
        infra_json *s = OJ->new_object();
        body = OJ->new_object();
        pu_json_set_str(s, "name", name);
        pu_json_set(body, "server", s);
        error = os_send(a->p, a->call, OS_COMPUTE, "PUT", path, body, "name", OS_SAFE, NULL);
        OJ->release(body);
        body = NULL;
        free(path);
        if (error < 0)
            goto done;
    }
    /* Metadata (with the cluster keys), replaced whole. */
    infra_json *md = metadata_json(a->planned);
    if (!OJ->equal(md, OJ->get(server, "metadata"))) {
        char *path = pu_printf("/servers/%s/metadata", e);
        body = OJ->new_object();
        pu_json_set(body, "metadata", md);
        md = NULL;
        error = os_send(a->p, a->call, OS_COMPUTE, "PUT", path, body, "metadata", OS_SAFE, NULL);
        OJ->release(body);
        body = NULL;
        free(path);
    }
    OJ->release(md);
    if (error < 0)
        goto done;
    /* Tags: infra's as they are, the user's as planned. */
    want_tags = os_strv_new();
    const infra_json *have = OJ->get(server, "tags");
    for (size_t i = 0; i < OJ->length(have); i++) {
        const char *t = OJ->string(OJ->at(have, i));
        if (t != NULL && strncmp(t, "infra:", 6) == 0)
            os_strv_push(&want_tags, t);
    }
    if ((error = os_tags_user(a->call, OJ->get(a->planned, "tags"), &want_tags)) < 0)
        goto done;
    char **had = NULL;
    os_json_strv(have, &had);
    if (!os_strv_same_set(had, want_tags)) {
        char *path = pu_printf("/servers/%s/tags", e);
        body = OJ->new_object();
        pu_json_set(body, "tags", os_json_from_strv(want_tags));
        error = os_send(a->p, a->call, OS_COMPUTE, "PUT", path, body, "tags", OS_SAFE, NULL);
        OJ->release(body);
        body = NULL;
        free(path);
    }
    os_strv_free(had);
    if (error < 0)
        goto done;
    /* Firewalls: the security groups of the server's ports. */
    if (OJ->get(a->planned, "firewalls") != NULL && OJ->get(a->planned, "ports") == NULL) {
        char *ids[] = {(char *)id, NULL};
        infra_json *by_server = NULL;
        os_json_strv(OJ->get(a->planned, "firewalls"), &groups);
        if ((error = ports_by_server(a, ids, &by_server)) < 0)
            goto done;
        const infra_json *ports = OJ->get(by_server, id);
        for (size_t i = 0; error == 0 && i < OJ->length(ports); i++) {
            const infra_json *port = OJ->at(ports, i);
            char **got = NULL;
            os_json_strv(OJ->get(port, "security_groups"), &got);
            if (!os_strv_same_set(got, groups)) {
                infra_json *f = OJ->new_object();
                pu_json_set(f, "security_groups", os_json_from_strv(groups));
                error =
                    os_net_update(a, &os_kind_port, pu_json_str(port, "id"), f, "firewalls", NULL);
            }
            os_strv_free(got);
        }
        OJ->release(by_server);
        if (error < 0)
            goto done;
    }
    OJ->release(server);
    server = NULL;
    if ((error = server_get(a, id, &server)) == 0)
        error = finish_state(a, a->planned, server,
                             pu_json_str(a->prior, "ssh_host_key_fingerprint"), 0);
done:
    OJ->release(server);
    os_strv_free(want_tags);
    os_strv_free(groups);
    free(e);
    return error;
}

static int instance_apply(os_act *a)
{
    return a->prior == NULL ? instance_create(a) : instance_update(a);
}

static int instance_remove(os_act *a)
{
    const char *id = os_state_id(a->prior);
    return id == NULL ? 0 : os_server_delete(a, id, pu_host->call_token(a->call));
}

static int instance_read(os_act *a)
{
    infra_json *server = NULL, *found = NULL;
    char *fingerprint = NULL;
    int error;

    if (a->state == NULL) {
        if ((error = servers_of_token(a, pu_host->call_token(a->call), &found)) < 0)
            return error;
        if (OJ->length(found) == 0)
            error = INFRA_ENOTFOUND;
        else
            server = OJ->copy(OJ->at(found, 0));
        OJ->release(found);
    } else {
        const char *id = os_state_id(a->state);
        error = id ? server_get(a, id, &server) : INFRA_ENOTFOUND;
    }
    if (error < 0)
        return error;
    const char *fp = pu_json_str(a->state, "ssh_host_key_fingerprint");
    const char *status = pu_json_str(server, "status");
    if (fp == NULL && status != NULL && strcmp(status, "ACTIVE") == 0)
        os_server_console_fingerprint(a, pu_json_str(server, "id"), 0, &fingerprint);
    error = finish_state(a, a->state, server, fp ? fp : fingerprint, a->state != NULL);
    OJ->release(server);
    free(fingerprint);
    return error;
}

/* One list of the topology's servers (tags of its topology and
 * environment) and one list of their ports, for every instance. */
static int instance_read_many(infra_provider *p, infra_call *call, infra_read_item *items, size_t n)
{
    char **filter_tags = os_tags_infra(call);
    /* Only topology and environment: every address and token differ. */
    while (os_strv_len(filter_tags) > 2) {
        size_t last = os_strv_len(filter_tags) - 1;
        free(filter_tags[last]);
        filter_tags[last] = NULL;
    }
    char *filter = os_tags_filter("tags", filter_tags);
    char *path = pu_printf("/servers/detail?%s", filter);
    infra_json *list = NULL, *by_id = OJ->new_object(), *ports = NULL;
    char **ids = os_strv_new();
    os_act probe = {p, call, NULL, NULL, NULL, NULL};
    int error = os_list(p, call, OS_COMPUTE, path, "servers", &list);
    for (size_t i = 0; error == 0 && i < OJ->length(list); i++) {
        const char *id = pu_json_str(OJ->at(list, i), "id");
        if (id != NULL) {
            OJ->set(by_id, id, OJ->copy(OJ->at(list, i)));
            os_strv_push(&ids, id);
        }
    }
    if (error == 0)
        error = ports_by_server(&probe, ids, &ports);
    for (size_t i = 0; error == 0 && i < n; i++) {
        infra_read_item *it = &items[i];
        const char *id = os_state_id(it->state);
        const infra_json *server = id ? OJ->get(by_id, id) : NULL;
        os_act a = {p, it->call, NULL, NULL, it->state, &it->out};
        it->out = NULL;
        const char *fp = pu_json_str(it->state, "ssh_host_key_fingerprint");
        if (server == NULL || fp == NULL) {
            /* Not listed (untagged, another project's view, gone) or no
             * fingerprint yet: the one-at-a-time read decides. */
            it->result = instance_read(&a);
            continue;
        }
        it->result = server_state(&a, it->state, server, OJ->get(ports, id), fp, 1);
    }
    os_strv_free(filter_tags);
    os_strv_free(ids);
    free(filter);
    free(path);
    OJ->release(list);
    OJ->release(by_id);
    OJ->release(ports);
    return error;
}

const os_handler os_instance_handler = {
    "instance", instance_apply, instance_remove, instance_read, NULL, NULL, instance_read_many};
