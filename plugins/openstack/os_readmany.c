/* read_many: the refresh of many resources of one type in as few calls as
 * the cloud allows. For a Neutron type, one list filtered by the tags of
 * the topology and environment (tags=infra:topology=T,infra:environment=E)
 * answers every resource it holds; servers and key pairs have their own
 * (one tag-filtered server list and one port list; one key pair list).
 * What a list does not hold (an object whose tags someone removed, or
 * that is gone) is read one at a time, which tells gone from untagged. */
#include "os_res.h"
#include "os_schema.h"

#include <stdlib.h>
#include <string.h>

/* The tags filter of the batch: its topology and environment. */
static char *scope_filter(infra_call *call)
{
    char **tags = os_tags_infra(call);
    while (os_strv_len(tags) > 2) {
        size_t last = os_strv_len(tags) - 1;
        free(tags[last]);
        tags[last] = NULL;
    }
    char *filter = os_tags_filter("tags", tags);
    os_strv_free(tags);
    return filter;
}

static const infra_json *find_by_id(const infra_json *list, const char *id)
{
    for (size_t i = 0; id != NULL && i < OJ->length(list); i++) {
        const char *have = pu_json_str(OJ->at(list, i), "id");
        if (have != NULL && strcmp(have, id) == 0)
            return OJ->at(list, i);
    }
    return NULL;
}

static const infra_json *find_by_tag(const infra_json *list, const char *tag)
{
    for (size_t i = 0; tag != NULL && i < OJ->length(list); i++)
        if (os_tags_has(OJ->get(OJ->at(list, i), "tags"), tag))
            return OJ->at(list, i);
    return NULL;
}

static void read_one(infra_provider *p, const os_handler *h, infra_read_item *it)
{
    os_act a = {p, it->call, NULL, NULL, it->state, &it->out};
    it->out = NULL;
    if (it->state == NULL && pu_host->call_token(it->call) == NULL)
        it->result = INFRA_ENOTFOUND;
    else
        it->result = h->read(&a);
}

int os_read_many(infra_provider *self, infra_call *call, const char *type, infra_read_item *items,
                 size_t count)
{
    const os_handler *h = os_handler_find(type);
    if (h == NULL) {
        pu_diagf(call, "", "the openstack provider has no resource type \"%s\"", type ? type : "");
        return INFRA_ENOTSUP;
    }
    if (h->read_many != NULL)
        return h->read_many(self, call, items, count);
    if (h->kind == NULL || h->from_object == NULL) {
        for (size_t i = 0; i < count; i++)
            read_one(self, h, &items[i]);
        return 0;
    }
    char *filter = scope_filter(call);
    infra_json *list = NULL;
    int error = os_net_list(self, call, h->kind, filter, &list);
    free(filter);
    if (error < 0)
        return error;
    for (size_t i = 0; i < count; i++) {
        infra_read_item *it = &items[i];
        char *tag = it->state ? NULL : os_tag_token(pu_host->call_token(it->call));
        const infra_json *obj =
            it->state ? find_by_id(list, os_state_id(it->state)) : find_by_tag(list, tag);
        free(tag);
        if (obj == NULL) {
            read_one(self, h, it);
            continue;
        }
        os_act a = {self, it->call, NULL, NULL, it->state, &it->out};
        it->out = NULL;
        it->result = h->from_object(&a, obj);
    }
    OJ->release(list);
    return 0;
}
