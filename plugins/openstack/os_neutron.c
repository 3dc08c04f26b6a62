/* The flow every Neutron type shares. Neutron's API takes no idempotency
 * token and (but for ports, with an optional extension) no tags in a
 * create: an object is POSTed with the marker description naming the
 * token, then tagged. A create that may be resuming an interrupted one
 * first looks for an object tagged with the token, then for an untagged
 * one with the marker, and adopts it; so no object is ever made twice. */
#include "os_res.h"

#include <stdlib.h>
#include <string.h>

const os_nkind os_kind_network = {"network", "networks", "/networks", "network"};
const os_nkind os_kind_subnet = {"subnet", "subnets", "/subnets", "subnet"};
const os_nkind os_kind_router = {"router", "routers", "/routers", "router"};
const os_nkind os_kind_secgroup = {"security_group", "security_groups", "/security-groups",
                                   "security group"};
const os_nkind os_kind_port = {"port", "ports", "/ports", "port"};
const os_nkind os_kind_floatingip = {"floatingip", "floatingips", "/floatingips", "floating IP"};

const char *os_state_id(const infra_json *state)
{
    const char *id = pu_json_str(state, "id");
    return id != NULL && *id ? id : NULL;
}

infra_json *os_state_new(const infra_json *base)
{
    if (base != NULL && OJ->type(base) == INFRA_JSON_OBJECT)
        return OJ->copy(base);
    return OJ->new_object();
}

int os_state_finish(os_act *a, infra_json *st, int error)
{
    if (error < 0 || st == NULL) {
        OJ->release(st);
        return error < 0 ? error : INFRA_EINTERNAL;
    }
    *a->out = st;
    return 0;
}

int os_state_tags(infra_json *st, const infra_json *obj)
{
    infra_json *user = NULL;
    int error = os_tags_user_json(OJ->get(obj, "tags"), OJ->get(st, "tags"), &user);
    if (error < 0 || user == NULL)
        return error;
    return pu_json_set(st, "tags", user);
}

int os_net_get(infra_provider *p, infra_call *call, const os_nkind *k, const char *id,
               infra_json **obj)
{
    char *eid = os_url_encode(id);
    char *path = pu_printf("%s/%s", k->path, eid);
    infra_json *body = NULL;
    int error = os_get(p, call, OS_NETWORK, path, OS_QUIET_404, &body);
    free(path);
    free(eid);
    *obj = NULL;
    if (error == 0) {
        const infra_json *o = OJ->get(body, k->singular);
        if (o == NULL || OJ->type(o) != INFRA_JSON_OBJECT)
            error = INFRA_EINTERNAL;
        else
            *obj = OJ->copy(o);
    }
    OJ->release(body);
    return error;
}

int os_net_list(infra_provider *p, infra_call *call, const os_nkind *k, const char *query,
                infra_json **out)
{
    char *path = query && *query ? pu_printf("%s?%s", k->path, query) : pu_strdup(k->path);
    int error = os_list(p, call, OS_NETWORK, path, k->plural, out);
    free(path);
    return error;
}

/* The first object of a list query, or INFRA_ENOTFOUND. With untagged,
 * only objects without an infra:token tag count. */
static int first_of(os_act *a, const os_nkind *k, const char *query, int untagged, infra_json **obj)
{
    infra_json *list = NULL;
    int error = os_net_list(a->p, a->call, k, query, &list);
    *obj = NULL;
    for (size_t i = 0; error == 0 && i < OJ->length(list) && *obj == NULL; i++) {
        const infra_json *o = OJ->at(list, i);
        int tagged = 0;
        const infra_json *tags = OJ->get(o, "tags");
        for (size_t t = 0; t < OJ->length(tags); t++) {
            const char *s = OJ->string(OJ->at(tags, t));
            if (s != NULL && strncmp(s, "infra:token=", 12) == 0)
                tagged = 1;
        }
        if (!untagged || !tagged)
            *obj = OJ->copy(o);
    }
    OJ->release(list);
    if (error == 0 && *obj == NULL)
        error = INFRA_ENOTFOUND;
    return error;
}

int os_net_find_mine(os_act *a, const os_nkind *k, const char *name, const char *description,
                     infra_json **obj)
{
    char *tag = os_tag_token(pu_host->call_token(a->call));
    int error;

    *obj = NULL;
    if (tag == NULL)
        return INFRA_ENOTFOUND;
    char *tags[] = {tag, NULL};
    char *query = os_tags_filter("tags", tags);
    error = first_of(a, k, query, 0, obj);
    free(query);
    free(tag);
    if (error != INFRA_ENOTFOUND || description == NULL)
        return error;
    /* Made, but its tags never set: the description names the token (or,
     * with a description of the user's, the name goes with it). */
    char *d = os_url_encode(description);
    char *n = name ? os_url_encode(name) : NULL;
    query = n ? pu_printf("description=%s&name=%s", d, n) : pu_printf("description=%s", d);
    error = first_of(a, k, query, 1, obj);
    free(query);
    free(d);
    free(n);
    return error;
}

static int put_tags(os_act *a, const os_nkind *k, const char *id, char *const *tags,
                    infra_json **actual)
{
    char *eid = os_url_encode(id);
    char *path = pu_printf("%s/%s/tags", k->path, eid);
    infra_json *body = OJ->new_object();
    infra_json *answer = NULL;
    pu_json_set(body, "tags", os_json_from_strv(tags));
    int error = os_send(a->p, a->call, OS_NETWORK, "PUT", path, body, "tags", OS_SAFE, &answer);
    OJ->release(body);
    free(path);
    free(eid);
    if (error == 0 && actual != NULL) {
        const infra_json *t = OJ->get(answer, "tags");
        *actual = t ? OJ->copy(t) : os_json_from_strv(tags);
    }
    OJ->release(answer);
    return error;
}

/* Sets the tags of obj to want (infra:* already in it) unless it has them; updates obj. */
static int ensure_tags(os_act *a, const os_nkind *k, infra_json *obj, char *const *want)
{
    char **have = NULL;
    if (os_json_strv(OJ->get(obj, "tags"), &have) < 0)
        have = os_strv_new();
    int same = os_strv_same_set(have, want);
    os_strv_free(have);
    if (same)
        return 0;
    infra_json *actual = NULL;
    int error = put_tags(a, k, pu_json_str(obj, "id"), want, &actual);
    if (error == 0)
        error = pu_json_set(obj, "tags", actual);
    return error;
}

int os_net_create(os_act *a, const os_nkind *k, infra_json *fields, const char *attr,
                  infra_json **obj)
{
    char **tags = NULL;
    char *marker = os_marker(a->call);
    infra_json *body = NULL, *answer = NULL;
    int error;

    *obj = NULL;
    if ((error = os_tags_for(a->call, OJ->get(a->planned, "tags"), &tags)) < 0)
        goto done;
    const char *description = pu_json_str(fields, "description");
    if (description == NULL) {
        pu_json_set_str(fields, "description", marker);
        description = marker;
    }
    if (os_call_resuming(a->call)) {
        const char *name = description == marker ? NULL : pu_json_str(fields, "name");
        error = os_net_find_mine(a, k, name, description, obj);
        if (error == 0) {
            pu_logf(a->call, INFRA_LOG_INFO, "%s %s made by an earlier run adopted",
                    k->what, pu_json_str(*obj, "id"));
            error = ensure_tags(a, k, *obj, tags);
            goto done;
        }
        if (error != INFRA_ENOTFOUND)
            goto done;
    }
    body = OJ->new_object();
    pu_json_set(body, k->singular, fields);
    fields = NULL;
    char *path = pu_strdup(k->path);
    error = os_send(a->p, a->call, OS_NETWORK, "POST", path, body, attr, 0, &answer);
    free(path);
    if (error < 0)
        goto done;
    const infra_json *o = OJ->get(answer, k->singular);
    if (o == NULL || pu_json_str(o, "id") == NULL) {
        pu_diagf(a->call, attr, "openstack: neutron answered the create of a %s without its id",
                 k->what);
        error = INFRA_EINTERNAL;
        goto done;
    }
    *obj = OJ->copy(o);
    error = ensure_tags(a, k, *obj, tags);
done:
    if (error < 0) {
        OJ->release(*obj);
        *obj = NULL;
    }
    OJ->release(fields);
    OJ->release(body);
    OJ->release(answer);
    os_strv_free(tags);
    free(marker);
    return error;
}

int os_net_update(os_act *a, const os_nkind *k, const char *id, infra_json *fields,
                  const char *attr, infra_json **obj)
{
    char *eid = os_url_encode(id);
    char *path = pu_printf("%s/%s", k->path, eid);
    infra_json *body = OJ->new_object(), *answer = NULL;
    pu_json_set(body, k->singular, fields);
    int error = os_send(a->p, a->call, OS_NETWORK, "PUT", path, body, attr, OS_SAFE, &answer);
    if (obj != NULL) {
        const infra_json *o = OJ->get(answer, k->singular);
        *obj = error == 0 && o ? OJ->copy(o) : NULL;
    }
    OJ->release(answer);
    OJ->release(body);
    free(path);
    free(eid);
    return error;
}

int os_net_sync_tags(os_act *a, const os_nkind *k, const infra_json *obj)
{
    char **want = os_strv_new();
    const infra_json *have = OJ->get(obj, "tags");
    for (size_t i = 0; i < OJ->length(have); i++) {
        const char *t = OJ->string(OJ->at(have, i));
        if (t != NULL && strncmp(t, "infra:", 6) == 0)
            os_strv_push(&want, t);
    }
    int error = os_tags_user(a->call, OJ->get(a->planned, "tags"), &want);
    if (error == 0) {
        infra_json *copy = OJ->copy(obj);
        error = ensure_tags(a, k, copy, want);
        OJ->release(copy);
    }
    os_strv_free(want);
    return error;
}

int os_net_delete(os_act *a, const os_nkind *k, const char *id)
{
    if (id == NULL)
        return 0;
    char *eid = os_url_encode(id);
    char *path = pu_printf("%s/%s", k->path, eid);
    int error = os_send(a->p, a->call, OS_NETWORK, "DELETE", path, NULL, "",
                        OS_SAFE | OS_DEPENDENT | OS_QUIET_404, NULL);
    free(path);
    free(eid);
    return error == INFRA_ENOTFOUND ? 0 : error;
}

int os_net_read_obj(os_act *a, const os_nkind *k, infra_json **obj)
{
    const char *id = os_state_id(a->state);
    *obj = NULL;
    if (a->state != NULL)
        return id != NULL ? os_net_get(a->p, a->call, k, id, obj) : INFRA_ENOTFOUND;
    /* No state: what this token's create made, tagged or not. */
    char *marker = os_marker(a->call);
    int error = os_net_find_mine(a, k, NULL, marker, obj);
    free(marker);
    return error;
}

int os_external_networks(infra_provider *p, infra_call *call, infra_json **out)
{
    int error = 0;
    pthread_mutex_lock(&p->lock);
    *out = p->external_networks ? OJ->copy(p->external_networks) : NULL;
    pthread_mutex_unlock(&p->lock);
    if (*out != NULL)
        return 0;
    if ((error = os_net_list(p, call, &os_kind_network, "router%3Aexternal=true", out)) < 0)
        return error;
    pthread_mutex_lock(&p->lock);
    if (p->external_networks == NULL)
        p->external_networks = OJ->copy(*out);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int os_external_network(os_act *a, const char *ref, const char *attr, char **id)
{
    infra_provider *p = a->p;
    infra_json *nets = NULL;
    int error;

    *id = NULL;
    if ((error = os_external_networks(p, a->call, &nets)) < 0)
        return error;
    pu_buf names = {0};
    for (size_t i = 0; i < OJ->length(nets) && *id == NULL; i++) {
        const infra_json *n = OJ->at(nets, i);
        const char *nid = pu_json_str(n, "id"), *name = pu_json_str(n, "name");
        if ((nid && strcmp(nid, ref) == 0) || (name && strcmp(name, ref) == 0))
            *id = pu_strdup(nid);
        pu_buf_printf(&names, "%s%s", names.len ? ", " : "", name ? name : nid);
    }
    if (*id == NULL) {
        pu_diagf(a->call, attr, "openstack: no external network \"%s\" in %s (there are: %s)", ref,
                 p->region, names.data ? names.data : "none");
        error = INFRA_EINVALID;
    }
    free(names.data);
    OJ->release(nets);
    return error;
}
