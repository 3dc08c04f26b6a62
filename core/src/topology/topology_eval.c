/* topology_eval: resolving the references a loaded topology kept as text,
 * against what the caller knows about each resource. Reads the topology
 * only, so concurrent calls on one topology are safe. */
#include <stdlib.h>
#include <string.h>

#include "base/unknown.h"
#include "infra/plugin.h"
#include "topology/topology_int.h"

typedef struct evaluator {
    const topology *topo;
    topology_lookup_fn lookup;
    void *ud;
    int unknown; /* some reference is not known yet */
    char *err;   /* first error */
} evaluator;

static int is_unknown(const json_t *v)
{
    return unknown_is(v);
}

static void fail(evaluator *ev, char *msg)
{
    if (!ev->err)
        ev->err = msg;
    else
        free(msg);
}

static char *attr_text(const topo_expr *e, size_t from, size_t to)
{
    util_buf b = {0};
    for (size_t j = from; j < to && j < e->nsteps; j++) {
        const topo_step *s = &e->steps[j];
        if (s->kind == STEP_NAME)
            util_buf_printf(&b, "%s%.*s", j > from ? "." : "", (int)s->len, s->name);
        else
            util_buf_printf(&b, "[%lld]", s->index);
    }
    return util_buf_take(&b);
}

/* The value of the reference for one resource: a new reference, the
 * unknown marker, or NULL after an error. */
static json_t *one_value(evaluator *ev, const topo_expr *e, size_t attr, const char *address)
{
    char *name = util_strndup(e->steps[attr].name, e->steps[attr].len);
    const json_t *v = ev->lookup(ev->ud, address, name);
    free(name);
    for (size_t j = attr + 1; v && !is_unknown(v) && j < e->nsteps; j++) {
        const topo_step *s = &e->steps[j];
        const json_t *next = NULL;
        if (s->kind == STEP_NAME && json_is_object(v)) {
            char *key = util_strndup(s->name, s->len);
            next = json_object_get(v, key);
            free(key);
        } else if (s->kind == STEP_INDEX && json_is_array(v)) {
            next = json_array_get(v, (size_t)s->index);
        }
        if (!next) {
            char *path = attr_text(e, attr, j + 1);
            fail(ev, util_printf("unknown attribute \"%s\" of %s in ${%.*s}", path, address,
                                 e->text_len, e->text));
            free(path);
            return NULL;
        }
        v = next;
    }
    if (!v || is_unknown(v)) {
        ev->unknown = 1;
        return unknown_new();
    }
    return json_deep_copy(v);
}

static json_t *ref_value(evaluator *ev, const topo_expr *e)
{
    topo_target t;
    char *err = NULL;
    int rc = topo_ref_resolve(ev->topo, e, &t, &err);
    if (rc != 0) {
        fail(ev, err ? err : util_printf("cannot resolve ${%.*s}", e->text_len, e->text));
        return NULL;
    }
    json_t *result = NULL;
    if (t.list) {
        result = json_array();
        for (size_t i = 0; i < t.n; i++) {
            json_t *v = one_value(ev, e, t.attr, ev->topo->resources[t.resources[i]].address);
            if (!v) {
                json_decref(result);
                result = NULL;
                break;
            }
            json_array_append_new(result, v);
        }
    } else if (t.n == 1) {
        result = one_value(ev, e, t.attr, ev->topo->resources[t.resources[0]].address);
    }
    topo_target_free(&t);
    return result;
}

static json_t *eval_string(evaluator *ev, const char *s)
{
    if (!strchr(s, '$'))
        return json_string(s);
    size_t pos = 0;
    topo_tpl_part part;
    if (topo_tpl_next(s, &pos, &part) && part.kind == TPL_EXPR && s[pos] == '\0') {
        topo_expr e;
        char *err = NULL;
        if (topo_expr_parse(part.text, part.len, &e, &err) < 0) {
            fail(ev, err);
            return NULL;
        }
        if (e.kind != EXPR_REF) {
            fail(ev, util_printf("${%.*s} cannot be evaluated here", e.text_len, e.text));
            return NULL;
        }
        return ref_value(ev, &e);
    }
    util_buf out = {0};
    int partly_unknown = 0;
    pos = 0;
    while (topo_tpl_next(s, &pos, &part)) {
        if (part.kind == TPL_LITERAL) {
            util_buf_put(&out, part.text, part.len);
            continue;
        }
        if (part.kind == TPL_UNTERMINATED) {
            fail(ev, util_strdup("unterminated ${"));
            break;
        }
        topo_expr e;
        char *err = NULL;
        if (topo_expr_parse(part.text, part.len, &e, &err) < 0) {
            fail(ev, err);
            break;
        }
        if (e.kind != EXPR_REF) {
            fail(ev, util_printf("${%.*s} cannot be evaluated here", e.text_len, e.text));
            break;
        }
        json_t *v = ref_value(ev, &e);
        if (!v)
            break;
        /* Text with an unknown part is unknown as a whole. */
        partly_unknown |= unknown_in(v);
        if (!partly_unknown)
            topo_json_text(&out, v);
        json_decref(v);
    }
    if (ev->err) {
        util_buf_free(&out);
        return NULL;
    }
    if (partly_unknown) {
        util_buf_free(&out);
        return unknown_new();
    }
    json_t *r = json_string(out.data ? out.data : "");
    util_buf_free(&out);
    return r ? r : json_string("");
}

static json_t *eval_value(evaluator *ev, const json_t *v)
{
    if (json_is_string(v))
        return eval_string(ev, json_string_value(v));
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            json_t *r = eval_value(ev, item);
            if (!r) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, r);
        }
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *key;
        json_t *item;
        json_object_foreach((json_t *)v, key, item)
        {
            json_t *r = eval_value(ev, item);
            if (!r) {
                json_decref(o);
                return NULL;
            }
            json_object_set_new(o, key, r);
        }
        return o;
    }
    return v ? json_deep_copy(v) : json_null();
}

int topology_eval(const topology *topo, const json_t *value, topology_lookup_fn lookup, void *ud,
                  json_t **out, char **err)
{
    evaluator ev = {topo, lookup, ud, 0, NULL};
    *out = NULL;
    *err = NULL;
    json_t *result = eval_value(&ev, value);
    if (ev.err || !result) {
        json_decref(result);
        *err = ev.err ? ev.err : util_strdup("cannot evaluate the value");
        return INFRA_EINVALID;
    }
    *out = result;
    return ev.unknown ? 1 : 0;
}
