/* Batched refresh: the read_many slot, and the one-call describe of many
 * EC2 objects it rests on.
 *
 * A refresh of N resources of one type costs as few API calls as the API
 * allows, not N: EC2 types are described with one call filtered by their
 * ids (or, past what one filter takes, by the topology's tags), following
 * NextToken. Each type turns what it is answered into a state with the
 * very code its read() uses, so a batch sees every drift read() sees.
 * Resources without a state (lookups by token after an interrupted
 * create) and types without a batched reader go through read() one by
 * one. */
#include "aws_res.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Many EC2 objects in one call                                       */

/* One wanted id and where it is in the caller's list. */
typedef struct wanted {
    const char *id;
    size_t index;
    int seen;
} wanted;

static int wanted_cmp(const void *x, const void *y)
{
    const wanted *a = x, *b = y;
    int c = strcmp(a->id, b->id);
    return c != 0 ? c : (a->index > b->index) - (a->index < b->index);
}

/* The first entry for id in the sorted table, or NULL. */
static wanted *wanted_find(wanted *v, size_t n, const char *id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(v[mid].id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && strcmp(v[lo].id, id) == 0 ? &v[lo] : NULL;
}

typedef struct batch {
    aws_many *m;
    const aws_ec2_kind *kind;
    wanted *want;
    size_t nwant;
    int (*each)(void *ud, size_t i, const xmlNode *item);
    void *ud;
} batch;

/* Hands every item of one answer that names a wanted id to each(). */
static int batch_items(batch *b, const xmlNode *result)
{
    const aws_ec2_kind *k = b->kind;
    int error = 0;
    for (xmlNode *it = aws_xml_child(aws_xml_child(result, k->set), "item");
         it != NULL && error == 0; it = aws_xml_next(it)) {
        /* DescribeInstances nests its instances in reservations. */
        xmlNode *inner = k->inner ? aws_xml_child(aws_xml_child(it, k->inner), "item") : it;
        for (; inner != NULL && error == 0; inner = k->inner ? aws_xml_next(inner) : NULL) {
            char *id = aws_xml_get(inner, k->id_elem);
            wanted *w = id != NULL ? wanted_find(b->want, b->nwant, id) : NULL;
            for (; error == 0 && w != NULL && w < b->want + b->nwant && strcmp(w->id, id) == 0;
                 w++) {
                if (w->seen)
                    continue; /* an answer repeated by a later page */
                w->seen = 1;
                error = b->each(b->ud, w->index, inner);
            }
            free(id);
        }
    }
    return error;
}

/* One Describe call with q's parameters, every page of it. */
static int batch_call(batch *b, const aws_params *q)
{
    char *next = NULL;
    int error = 0;
    do {
        aws_params page = {0};
        aws_resp *r = NULL;
        for (size_t i = 0; i < q->n; i++)
            aws_params_add(&page, q->keys[i], q->values[i]);
        if (b->kind->page_max > 0)
            aws_params_add_int(&page, "MaxResults", b->kind->page_max);
        if (next != NULL)
            aws_params_add(&page, "NextToken", next);
        free(next);
        next = NULL;
        error = aws_query(b->m->p, b->m->call, AWS_EC2, b->kind->describe, &page, "", AWS_SAFE,
                          NULL, &r);
        if (error == 0 && (error = batch_items(b, r->result)) == 0) {
            next = aws_xml_get(r->result, "nextToken");
            if (next != NULL && *next == '\0') {
                free(next);
                next = NULL;
            }
        }
        aws_resp_free(r);
        aws_params_free(&page);
    } while (error == 0 && next != NULL);
    free(next);
    return error;
}

/* The ids not seen yet, AWS_FILTER_MAX per call. */
static int batch_by_id(batch *b)
{
    int error = 0;
    size_t i = 0;
    while (error == 0 && i < b->nwant) {
        char **values = pu_calloc(1, sizeof(char *));
        size_t count = 0;
        for (; i < b->nwant && count < AWS_FILTER_MAX; i++) {
            /* Entries of one id are adjacent: it is asked once. */
            if (b->want[i].seen || (i > 0 && strcmp(b->want[i].id, b->want[i - 1].id) == 0))
                continue;
            aws_strv_push(&values, b->want[i].id);
            count++;
        }
        if (count > 0) {
            aws_params q = {0};
            aws_params_filter(&q, b->kind->filter, values);
            error = batch_call(b, &q);
            aws_params_free(&q);
        }
        aws_strv_free(values);
    }
    return error;
}

int aws_ec2_batch(aws_many *m, const aws_ec2_kind *kind, const char *const *ids, size_t n,
                  int (*each)(void *ud, size_t i, const xmlNode *item), void *ud)
{
    batch b = {m, kind, pu_calloc(n ? n : 1, sizeof(wanted)), 0, each, ud};
    int error = 0;

    for (size_t i = 0; i < n; i++)
        if (ids[i] != NULL)
            b.want[b.nwant++] = (wanted){ids[i], i, 0};
    qsort(b.want, b.nwant, sizeof(wanted), wanted_cmp);
    const char *topology =
        INFRA_HAS_SLOT(pu_host, call_topology) ? pu_host->call_topology(m->call) : NULL;
    const char *env =
        INFRA_HAS_SLOT(pu_host, call_environment) ? pu_host->call_environment(m->call) : NULL;
    if (b.nwant > AWS_FILTER_MAX && topology != NULL && *topology && env != NULL && *env) {
        /* Everything this topology made, in pages; what is not tagged so
         * (imported, or its tags removed) is asked by id afterwards. */
        aws_params q = {0};
        aws_params_filter1(&q, "tag:infra:topology", topology);
        aws_params_filter1(&q, "tag:infra:environment", env);
        error = batch_call(&b, &q);
        aws_params_free(&q);
    }
    if (error == 0)
        error = batch_by_id(&b);
    free(b.want);
    return error;
}

int aws_ec2_list(aws_many *m, const aws_ec2_kind *kind, const char *const *ids, size_t n,
                 int (*each)(void *ud, size_t i, const xmlNode *item), void *ud)
{
    batch b = {m, kind, pu_calloc(n ? n : 1, sizeof(wanted)), 0, each, ud};
    aws_params none = {0};
    for (size_t i = 0; i < n; i++)
        if (ids[i] != NULL)
            b.want[b.nwant++] = (wanted){ids[i], i, 0};
    qsort(b.want, b.nwant, sizeof(wanted), wanted_cmp);
    int error = batch_call(&b, &none);
    free(b.want);
    return error;
}

/* ------------------------------------------------------------------ */
/* The usual batched read of an EC2 type                              */

typedef struct simple_read {
    aws_many *m;
    const char **ids;
    int (*refresh)(aws_act *a, const char *id, const xmlNode *item);
} simple_read;

static int simple_each(void *ud, size_t i, const xmlNode *item)
{
    simple_read *s = ud;
    s->m->results[i] = s->refresh(&s->m->acts[i], s->ids[i], item);
    return s->m->results[i] == INFRA_ECANCELLED ? INFRA_ECANCELLED : 0;
}

int aws_ec2_read_many(aws_many *m, const aws_ec2_kind *kind, const char *key,
                      int (*refresh)(aws_act *a, const char *id, const xmlNode *item))
{
    simple_read s = {m, pu_calloc(m->n ? m->n : 1, sizeof(char *)), refresh};
    for (size_t i = 0; i < m->n; i++) {
        const char *id = key ? pu_json_str(m->acts[i].state, key) : aws_state_id(m->acts[i].state);
        s.ids[i] = id != NULL && *id ? id : NULL; /* read never sees an unknown */
        /* Not answered (or no id to ask about): gone. */
        m->results[i] = INFRA_ENOTFOUND;
    }
    int error = aws_ec2_batch(m, kind, s.ids, m->n, simple_each, &s);
    free(s.ids);
    return error;
}

/* ------------------------------------------------------------------ */
/* The slot                                                           */

/* Item i of a table whose elements are items->size bytes long (a host
 * of a later ABI may have appended fields). */
static infra_read_item *item_at(infra_read_item *items, size_t i)
{
    return (infra_read_item *)((char *)items + i * items->size);
}

int aws_read_many(infra_provider *self, infra_call *call, const char *type, infra_read_item *items,
                  size_t count)
{
    const aws_handler *h = aws_handler_find(type);
    int error = 0;

    if (h == NULL) {
        pu_diagf(call, "", "the aws provider has no resource type \"%s\"", type ? type : "");
        return INFRA_ENOTSUP;
    }
    if (count == 0)
        return 0;
    if (items == NULL || items->size < offsetof(infra_read_item, result) + sizeof(items->result)) {
        pu_diagf(call, "", "aws: read_many was given items of an unknown layout");
        return INFRA_EINVALID;
    }
    if ((error = aws_check_cancel(self, call)) < 0)
        return error;
    aws_many m = {self, call, pu_calloc(count, sizeof(aws_act)), pu_calloc(count, sizeof(int)), 0};
    size_t *where = pu_calloc(count, sizeof(size_t));
    for (size_t i = 0; i < count; i++) {
        infra_read_item *it = item_at(items, i);
        it->out = NULL;
        it->result = INFRA_EINTERNAL;
        if (it->state != NULL && h->read_many != NULL) {
            where[m.n] = i;
            m.acts[m.n++] = (aws_act){self,           it->call,           NULL,     NULL, it->state,
                                      it->private_in, it->private_in_len, &it->out, NULL, NULL};
            continue;
        }
        /* One by one, exactly as read(). */
        if (it->state == NULL && pu_host->call_token(it->call) == NULL) {
            it->result = INFRA_ENOTFOUND;
            continue;
        }
        aws_act a = {self,           it->call,           NULL,     NULL, it->state,
                     it->private_in, it->private_in_len, &it->out, NULL, NULL};
        it->result = h->read(&a);
        if (it->result == INFRA_ECANCELLED) {
            error = INFRA_ECANCELLED;
            break;
        }
    }
    if (error == 0 && m.n > 0) {
        for (size_t k = 0; k < m.n; k++)
            m.results[k] = INFRA_EINTERNAL;
        error = h->read_many(&m);
        for (size_t k = 0; k < m.n; k++) {
            infra_read_item *it = item_at(items, where[k]);
            it->result = error < 0 ? error : m.results[k];
            if (it->result < 0 && it->out != NULL) {
                AJ->release(it->out);
                it->out = NULL;
            }
        }
    }
    if (error < 0) {
        /* The whole batch fails: no item keeps a partial answer. */
        for (size_t i = 0; i < count; i++) {
            infra_read_item *it = item_at(items, i);
            AJ->release(it->out);
            it->out = NULL;
            it->result = error;
        }
    }
    free(where);
    free(m.acts);
    free(m.results);
    return error;
}
