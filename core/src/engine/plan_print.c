/* A plan for humans (a Terraform-like diff) and for programs (JSON).
 * Sensitive values are shown as "(sensitive)" in both, whatever the state
 * holds for them. */
#include <stdlib.h>
#include <string.h>

#include "base/unknown.h"
#include "base/util.h"
#include "engine/plan.h"
#include "services/log.h"

#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_RED "\033[31m"
#define C_MAGENTA "\033[35m"

typedef struct painter {
    FILE *out;
    int color;
} painter;

static const char *paint(const painter *pp, const char *code)
{
    return pp->color ? code : "";
}

/* A value as it is shown: JSON, except the unknown marker stays bare. A
 * secret copied into an ordinary attribute is still masked. */
static char *show(const json_t *v)
{
    if (!v)
        return util_strdup("null");
    if (unknown_is(v))
        return util_strdup(UNKNOWN_TEXT);
    if (json_is_string(v) && !strcmp(json_string_value(v), ENGINE_SENSITIVE))
        return util_strdup(json_string_value(v));
    json_t *shown_value = unknown_in(v) ? unknown_shown(v) : NULL; /* inside a list or a map */
    char *text = json_dumps(shown_value ? shown_value : v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(shown_value);
    char *shown = log_display(text ? text : "?");
    free(text);
    return shown;
}

/* What the state records as applied, as shown. */
static json_t *before_of(const plan *p, const plan_item *it)
{
    const json_t *config = json_object_get(it->entry, "config");
    if (!config)
        return NULL;
    return engine_hide_sensitive(p->e, it->provider, it->type, config, 1);
}

static json_t *after_of(const plan *p, const plan_item *it)
{
    if (!it->desired || it->action == PLAN_DELETE)
        return NULL;
    return engine_hide_sensitive(p->e, it->provider, it->type, it->desired, 1);
}

static int in_list(const json_t *list, const char *name)
{
    size_t k;
    json_t *v;
    json_array_foreach(list, k, v)
        if (!strcmp(json_string_value(v), name))
            return 1;
    return 0;
}

static void reasons_text(util_buf *b, const json_t *reasons)
{
    size_t k;
    json_t *v;
    json_array_foreach(reasons, k, v)
        util_buf_printf(b, "%s%s", k ? ", " : "", json_string_value(v));
}

static void print_header(const painter *pp, const plan_item *it)
{
    static const char *const symbols[] = {"", "+", "~", "-/+", "-", "<="};
    static const char *const colors[] = {"", C_GREEN, C_YELLOW, C_MAGENTA, C_RED, C_GREEN};
    util_buf b = {0};
    switch (it->action) {
    case PLAN_CREATE:
        util_buf_puts(&b, "create");
        break;
    case PLAN_UPDATE:
        util_buf_puts(&b, "update in place: ");
        reasons_text(&b, it->reasons);
        break;
    case PLAN_REPLACE:
        util_buf_puts(&b, "replace: ");
        reasons_text(&b, it->reasons);
        break;
    case PLAN_DELETE:
        util_buf_puts(&b, "delete");
        break;
    default:
        util_buf_puts(&b, "read");
        break;
    }
    if (it->note)
        util_buf_printf(&b, "; %s", it->note);
    /* Attribute names a plugin reported, addresses from the state: shown, never obeyed. */
    char *address = log_display(it->address), *why = log_display(b.data ? b.data : "");
    fprintf(pp->out, "  %s%s%s %s%s%s  (%s)\n", paint(pp, colors[it->action]), symbols[it->action],
            paint(pp, C_RESET), paint(pp, C_BOLD), address, paint(pp, C_RESET), why);
    free(address);
    free(why);
    util_buf_free(&b);
}

static void print_attr(const painter *pp, const char *sym, const char *color, const char *key,
                       const json_t *old, const json_t *now, const char *remark)
{
    char *a = old ? show(old) : NULL;
    char *b = now ? show(now) : NULL;
    char *name = log_display(key);
    fprintf(pp->out, "      %s%s%s %s = %s%s%s%s\n", paint(pp, color), sym, paint(pp, C_RESET),
            name, a ? a : "", a && b ? " -> " : "", b ? b : "", remark ? remark : "");
    free(name);
    free(a);
    free(b);
}

static void print_item(const plan *p, const painter *pp, const plan_item *it)
{
    print_header(pp, it);
    json_t *before = before_of(p, it);
    json_t *after = after_of(p, it);
    /* Changes are found on the values as stored (sensitive ones hashed),
     * and shown masked. */
    const json_t *stored = json_object_get(it->entry, "config");
    json_t *wanted = it->desired ? engine_config_for_state(p->e, it->provider, it->type,
                                                           it->desired)
                                 : NULL;
    const char *key;
    json_t *v;
    if (it->action == PLAN_CREATE || it->action == PLAN_READ) {
        json_object_foreach(after, key, v)
            print_attr(pp, "+", C_GREEN, key, NULL, v, NULL);
    } else if (it->action == PLAN_UPDATE || it->action == PLAN_REPLACE) {
        json_object_foreach(after, key, v) {
            const json_t *old = json_object_get(before, key);
            const json_t *was = json_object_get(stored, key);
            const json_t *now = json_object_get(wanted, key);
            const char *remark = it->action == PLAN_REPLACE && in_list(it->reasons, key)
                                     ? "  # forces replacement"
                                     : NULL;
            const json_t *seen = json_object_get(it->prior, key);
            if (!old)
                print_attr(pp, "+", C_GREEN, key, NULL, v, remark);
            else if (!was || !now || !json_equal(was, now))
                print_attr(pp, "~", C_YELLOW, key, old, v, remark);
            else if (seen && in_list(it->reasons, key) && !json_equal(seen, v))
                print_attr(pp, "~", C_YELLOW, key, seen, v, remark); /* drifted */
        }
        json_object_foreach(before, key, v)
            if (!json_object_get(after, key))
                print_attr(pp, "-", C_RED, key, v, NULL, NULL);
        /* What the topology does not set but the provider plans back. */
        size_t k;
        json_t *name;
        json_array_foreach(it->reasons, k, name) {
            const char *attr = json_string_value(name);
            if (json_object_get(after, attr) || json_object_get(before, attr))
                continue;
            const json_t *now = json_object_get(it->planned, attr);
            print_attr(pp, "~", C_YELLOW, attr, json_object_get(it->prior, attr), now,
                       it->action == PLAN_REPLACE ? "  # forces replacement" : NULL);
        }
    }
    json_decref(wanted);
    json_decref(before);
    json_decref(after);
}

static void print_drift(const plan *p, const painter *pp)
{
    int header = 0;
    for (size_t k = 0; k < p->nitems; k++) {
        const plan_item *it = &p->items[p->order[k]];
        if (!it->entry || it->data || (!it->gone && !it->drift))
            continue;
        if (!header) {
            fputs("Changed outside infra:\n", pp->out);
            header = 1;
        }
        util_buf b = {0};
        if (it->gone)
            util_buf_puts(&b, "deleted");
        else
            reasons_text(&b, it->drift);
        char *address = log_display(it->address), *what = log_display(b.data ? b.data : "");
        fprintf(pp->out, "  %s!%s %s: %s\n", paint(pp, C_YELLOW), paint(pp, C_RESET), address,
                what);
        free(address);
        free(what);
        util_buf_free(&b);
    }
    if (header)
        fputc('\n', pp->out);
}

static int shown(const plan_item *it)
{
    return it->action == PLAN_CREATE || it->action == PLAN_UPDATE ||
           it->action == PLAN_REPLACE || (it->action == PLAN_DELETE && !it->data);
}

void plan_print(const plan *p, FILE *out, int color)
{
    painter pp = {out, color};
    print_drift(p, &pp);
    for (size_t k = 0; k < p->nitems; k++) {
        const plan_item *it = &p->items[p->order[k]];
        if (shown(it))
            print_item(p, &pp, it);
    }
    if (plan_changes(p) == 0) {
        fputs("No changes.\n", out);
        return;
    }
    fprintf(out, "\nPlan: %zu to create, %zu to update, %zu to replace, %zu to delete.\n",
            p->ncreate, p->nupdate, p->nreplace, p->ndelete);
}

json_t *plan_json(const plan *p)
{
    json_t *list = json_array();
    for (size_t k = 0; k < p->nitems; k++) {
        const plan_item *it = &p->items[p->order[k]];
        if (!shown(it))
            continue;
        json_t *before = it->action == PLAN_CREATE ? NULL : before_of(p, it);
        json_t *after_raw = after_of(p, it);
        json_t *after = unknown_shown(after_raw); /* unknowns as "(known after apply)" */
        json_decref(after_raw);
        json_array_append_new(list, json_pack("{s:s, s:s, s:O, s:o, s:o}", "address", it->address,
                                              "action", plan_action_name(it->action), "reasons",
                                              it->reasons, "before",
                                              before ? before : json_null(), "after",
                                              after ? after : json_null()));
    }
    return list;
}

const char *plan_item_status(const plan_item *it, char **owned)
{
    *owned = NULL;
    if (it->data)
        return "data";
    if (!it->refreshed)
        return "unknown";
    if (it->gone)
        return "missing";
    const json_t *keys = it->res ? it->reasons : it->drift;
    if (json_array_size(keys) == 0)
        return "ok";
    int drifted = !it->res;
    size_t k;
    json_t *v;
    json_array_foreach(keys, k, v)
        drifted |= !in_list(it->edited, json_string_value(v));
    util_buf b = {0};
    util_buf_puts(&b, drifted ? "drifted (" : "pending (");
    json_array_foreach(keys, k, v)
        if (!drifted || !in_list(it->edited, json_string_value(v)))
            util_buf_printf(&b, "%s%s", b.data[b.len - 1] == '(' ? "" : ", ", json_string_value(v));
    util_buf_puts(&b, ")");
    *owned = util_buf_take(&b);
    return *owned;
}
