/* read_many: the refresh of many resources of one type in as few calls as
 * Compute allows. Instances are found with one paged aggregatedList
 * filtered on infra's labels (topology and environment); the types that
 * take no labels with one paged list per scope filtered on the names the
 * states record. Each object found goes through its type's from_object,
 * exactly as a read would after a get. Types made of several objects
 * (load balancers, groups, DNS records) and reads by token (no state) are
 * read one by one. */
#include "gcp_res.h"

#include <stdlib.h>
#include <string.h>

#define NAMES_PER_LIST 40

static void one_by_one(infra_provider *p, const gcp_handler *h, infra_read_item *it)
{
    gcp_act a = {p,        it->call, NULL, NULL, it->state, it->private_in, it->private_in_len,
                 &it->out, NULL,     NULL};
    it->out = NULL;
    if (it->state == NULL && pu_host->call_token(it->call) == NULL)
        it->result = INFRA_ENOTFOUND;
    else
        it->result = h->read(&a);
}

/* Every page of a list (or an aggregatedList: items is then a map of
 * scopes, each holding the collection) appended to *found. */
static int list_all(infra_provider *p, infra_call *call, const char *path, const char *filter,
                    const char *collection, const char *what, infra_json *found)
{
    char *enc = filter ? gcp_url_encode(filter) : NULL;
    char *page = NULL;
    int error = 0;
    do {
        char *query = pu_printf("maxResults=500%s%s%s%s", enc ? "&filter=" : "", enc ? enc : "",
                                page ? "&pageToken=" : "", page ? page : "");
        infra_json *doc = NULL;
        error = gcp_get(p, call, GCP_COMPUTE, path, query, what, "", NULL, &doc);
        free(query);
        free(page);
        page = NULL;
        const infra_json *items = GJ->get(doc, "items");
        if (error == 0 && items != NULL && GJ->type(items) == INFRA_JSON_ARRAY) {
            for (size_t i = 0; i < GJ->length(items); i++)
                GJ->append(found, GJ->copy(GJ->at(items, i)));
        } else if (error == 0 && items != NULL && GJ->type(items) == INFRA_JSON_OBJECT) {
            void *iter = NULL;
            const char *scope;
            const infra_json *holder;
            while (GJ->next(items, &iter, &scope, &holder)) {
                const infra_json *list = GJ->get(holder, collection);
                for (size_t i = 0; list != NULL && i < GJ->length(list); i++)
                    GJ->append(found, GJ->copy(GJ->at(list, i)));
            }
        }
        const char *next = pu_json_str(doc, "nextPageToken");
        if (error == 0 && next != NULL && *next)
            page = gcp_url_encode(next);
        GJ->release(doc);
    } while (error == 0 && page != NULL);
    free(page);
    free(enc);
    return error;
}

/* The object of found whose selfLink names id, or NULL. */
static const infra_json *match(const infra_json *found, const char *id)
{
    for (size_t i = 0; found != NULL && i < GJ->length(found); i++) {
        const infra_json *obj = GJ->at(found, i);
        if (gcp_ref_same(pu_json_str(obj, "selfLink"), id))
            return obj;
    }
    return NULL;
}

static void settle(infra_provider *p, const gcp_handler *h, infra_read_item *it,
                   const infra_json *obj)
{
    if (obj == NULL) {
        it->result = INFRA_ENOTFOUND;
        return;
    }
    gcp_act a = {p,        it->call, NULL, NULL, it->state, it->private_in, it->private_in_len,
                 &it->out, NULL,     NULL};
    it->out = NULL;
    it->result = h->from_object(&a, obj);
}

/* One filtered aggregatedList of the labelled kind for every item. */
static int by_labels(infra_provider *p, infra_call *call, const gcp_handler *h,
                     infra_read_item *items, size_t count)
{
    const char *topo = INFRA_HAS_SLOT(pu_host, call_topology) ? pu_host->call_topology(call) : NULL;
    const char *env =
        INFRA_HAS_SLOT(pu_host, call_environment) ? pu_host->call_environment(call) : NULL;
    char *t = gcp_label_value(topo ? topo : ""), *e = gcp_label_value(env ? env : "");
    char *filter = pu_printf("(labels." GCP_LABEL_TOPOLOGY
                             " = \"%s\") AND (labels." GCP_LABEL_ENVIRONMENT " = \"%s\")",
                             t, e);
    char *path = pu_printf("projects/%s/aggregated/%s", p->project, h->kind->collection);
    char *what = pu_printf("%s.aggregatedList", h->kind->collection);
    infra_json *found = GJ->new_array();
    int error = list_all(p, call, path, filter, h->kind->collection, what, found);
    for (size_t i = 0; error == 0 && i < count; i++) {
        const char *id = gcp_state_id(items[i].state);
        if (id != NULL)
            settle(p, h, &items[i], match(found, id));
    }
    GJ->release(found);
    free(what);
    free(path);
    free(filter);
    free(t);
    free(e);
    return error;
}

/* One list per scope, filtered on the names of its items. */
static int by_names(infra_provider *p, infra_call *call, const gcp_handler *h,
                    infra_read_item *items, size_t count)
{
    char *done = pu_calloc(count + 1, 1);
    int error = 0;
    for (size_t i = 0; i < count && error == 0; i++) {
        const char *id = gcp_state_id(items[i].state);
        if (done[i] || id == NULL)
            continue;
        char *scope = gcp_scope_of(id);
        char **names = gcp_strv_new();
        size_t *mine = pu_calloc(count, sizeof(size_t));
        size_t nmine = 0;
        for (size_t k = i; k < count && gcp_strv_len(names) < NAMES_PER_LIST; k++) {
            const char *kid = gcp_state_id(items[k].state);
            char *ks = kid ? gcp_scope_of(kid) : NULL;
            if (!done[k] && ks != NULL && scope != NULL && strcmp(ks, scope) == 0) {
                gcp_strv_push(&names, gcp_last_segment(kid));
                mine[nmine++] = k;
                done[k] = 1;
            }
            free(ks);
        }
        if (scope != NULL) {
            pu_buf f = {0};
            for (size_t k = 0; names[k] != NULL; k++)
                pu_buf_printf(&f, "%s(name = \"%s\")", k ? " OR " : "", names[k]);
            char *path = pu_printf("projects/%s/%s/%s", p->project, scope, h->kind->collection);
            char *what = pu_printf("%s.list", h->kind->collection);
            infra_json *found = GJ->new_array();
            error = list_all(p, call, path, f.data, h->kind->collection, what, found);
            for (size_t k = 0; error == 0 && k < nmine; k++)
                settle(p, h, &items[mine[k]], match(found, gcp_state_id(items[mine[k]].state)));
            GJ->release(found);
            free(path);
            free(what);
            free(f.data);
        } else {
            for (size_t k = 0; k < nmine; k++)
                one_by_one(p, h, &items[mine[k]]);
        }
        free(mine);
        gcp_strv_free(names);
        free(scope);
    }
    free(done);
    return error;
}

int gcp_read_many(infra_provider *self, infra_call *call, const char *type, infra_read_item *items,
                  size_t count)
{
    const gcp_handler *h = gcp_handler_find(type);
    int error;
    if (h == NULL) {
        pu_diagf(call, "", "the gcp provider has no resource type \"%s\"", type ? type : "");
        return INFRA_ENOTSUP;
    }
    if ((error = gcp_check_cancel(self, call)) < 0)
        return error;
    for (size_t i = 0; i < count; i++) {
        items[i].out = NULL;
        items[i].result = INFRA_ENOTFOUND;
    }
    if (h->kind == NULL || h->from_object == NULL) {
        for (size_t i = 0; i < count; i++)
            one_by_one(self, h, &items[i]);
        return 0;
    }
    error = h->kind->labelled ? by_labels(self, call, h, items, count)
                              : by_names(self, call, h, items, count);
    if (error < 0) {
        for (size_t i = 0; i < count; i++) {
            GJ->release(items[i].out);
            items[i].out = NULL;
            items[i].result = error;
        }
        return error;
    }
    /* Reads by token (after a crash) go one by one. */
    for (size_t i = 0; i < count; i++)
        if (gcp_state_id(items[i].state) == NULL)
            one_by_one(self, h, &items[i]);
    return 0;
}
