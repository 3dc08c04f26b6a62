/* ${...} expressions: splitting templates, parsing expressions, resolving
 * references to resources, and evaluating YAML values at load time
 * (variables, environment variables and count.index are substituted;
 * references are checked, recorded as dependencies and kept as text for
 * topology_eval). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "topology/topology_int.h"

/* ------------------------------------------------------------------ */
/* Templates                                                          */

int topo_tpl_next(const char *s, size_t *pos, topo_tpl_part *part)
{
    const char *p = s + *pos;
    if (!*p)
        return 0;
    if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
        part->kind = TPL_LITERAL;
        part->text = p + 1;
        part->len = 2;
        *pos += 3;
        return 1;
    }
    if (p[0] == '$' && p[1] == '{') {
        const char *close = strchr(p + 2, '}');
        if (!close) {
            part->kind = TPL_UNTERMINATED;
            part->text = p + 2;
            part->len = strlen(p + 2);
            *pos += 2 + part->len;
            return 1;
        }
        part->kind = TPL_EXPR;
        part->text = p + 2;
        part->len = (size_t)(close - (p + 2));
        *pos = (size_t)(close + 1 - s);
        return 1;
    }
    size_t i = 1;
    while (p[i] && !(p[i] == '$' && (p[i + 1] == '{' || (p[i + 1] == '$' && p[i + 2] == '{'))))
        i++;
    part->kind = TPL_LITERAL;
    part->text = p;
    part->len = i;
    *pos += i;
    return 1;
}

static void escape_n(util_buf *b, const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] == '$' && s[i + 1] == '{') {
            util_buf_put(b, s + start, i - start);
            util_buf_puts(b, "$$");
            start = i + 1;
        }
    }
    util_buf_put(b, s + start, len - start);
}

void topo_escape(util_buf *b, const char *s)
{
    escape_n(b, s, strlen(s));
}

void topo_json_text(util_buf *b, const json_t *v)
{
    if (json_is_string(v)) {
        util_buf_puts(b, json_string_value(v));
    } else if (json_is_null(v) || !v) {
        /* null reads as nothing inside text */
    } else {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (s)
            util_buf_puts(b, s);
        free(s);
    }
}

/* A deep copy of v with "${" in every string written "$${". */
json_t *topo_escape_json(const json_t *v)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strstr(s, "${"))
            return json_string(s);
        util_buf b = {0};
        topo_escape(&b, s);
        json_t *r = json_string(b.data);
        util_buf_free(&b);
        return r;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) json_array_append_new(a, topo_escape_json(item));
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *key;
        json_t *item;
        json_object_foreach((json_t *)v, key, item)
            json_object_set_new(o, key, topo_escape_json(item));
        return o;
    }
    return json_deep_copy(v);
}

/* ------------------------------------------------------------------ */
/* Expressions                                                        */

static int name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

static int parse_steps(const char *p, const char *end, topo_expr *e, char **err)
{
    e->nsteps = 0;
    for (;;) {
        const char *start = p;
        while (p < end && name_char(*p))
            p++;
        if (p == start) {
            *err = util_printf("invalid reference ${%.*s}: expected a name at \"%.*s\"",
                               e->text_len, e->text, (int)(end - start), start);
            return -1;
        }
        if (e->nsteps == TOPO_MAX_STEPS)
            goto too_long;
        e->steps[e->nsteps++] = (topo_step){STEP_NAME, start, (size_t)(p - start), 0};
        while (p < end && *p == '[') {
            if (e->nsteps == TOPO_MAX_STEPS)
                goto too_long;
            if (end - p >= 3 && p[1] == '*' && p[2] == ']') {
                e->steps[e->nsteps++] = (topo_step){STEP_SPLAT, NULL, 0, 0};
                p += 3;
                continue;
            }
            const char *d = p + 1;
            long long index = 0;
            while (d < end && isdigit((unsigned char)*d) && index < 100000000)
                index = index * 10 + (*d++ - '0');
            if (d == p + 1 || d >= end || *d != ']') {
                *err = util_printf("invalid reference ${%.*s}: expected [N] or [*]", e->text_len,
                                   e->text);
                return -1;
            }
            e->steps[e->nsteps++] = (topo_step){STEP_INDEX, NULL, 0, index};
            p = d + 1;
        }
        if (p == end)
            return 0;
        if (*p != '.') {
            *err = util_printf("invalid reference ${%.*s}: unexpected \"%c\"", e->text_len, e->text,
                               *p);
            return -1;
        }
        p++;
    }
too_long:
    *err = util_printf("invalid reference ${%.*s}: too many parts", e->text_len, e->text);
    return -1;
}

int topo_expr_parse(const char *text, size_t len, topo_expr *e, char **err)
{
    while (len && isspace((unsigned char)*text)) {
        text++;
        len--;
    }
    while (len && isspace((unsigned char)text[len - 1]))
        len--;
    memset(e, 0, sizeof(*e));
    e->text = text;
    e->text_len = (int)len;
    if (!len) {
        *err = util_strdup("empty ${}");
        return -1;
    }
    const char *end = text + len;
    if (len > 4 && !strncmp(text, "env.", 4)) {
        const char *p = text + 4;
        const char *name = p;
        while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
            p++;
        e->kind = EXPR_ENV;
        e->name = name;
        e->name_len = (size_t)(p - name);
        if (end - p >= 2 && p[0] == ':' && p[1] == '-') {
            e->has_fallback = 1;
            e->fallback = p + 2;
            e->fallback_len = (size_t)(end - (p + 2));
            p = end;
        }
        if (!e->name_len || p != end) {
            *err = util_printf("invalid ${%.*s}: expected ${env.NAME} or ${env.NAME:-fallback}",
                               (int)len, text);
            return -1;
        }
        return 0;
    }
    if (len == 11 && !strncmp(text, "count.index", 11)) {
        e->kind = EXPR_COUNT_INDEX;
        return 0;
    }
    const char *name = text;
    if (len > 4 && !strncmp(text, "var.", 4))
        name = text + 4;
    const char *p = name;
    while (p < end && name_char(*p))
        p++;
    if (p == end && p > name) {
        e->kind = EXPR_VAR;
        e->name = name;
        e->name_len = (size_t)(p - name);
        return 0;
    }
    if (name != text) {
        *err = util_printf("invalid ${%.*s}: expected ${var.NAME}", (int)len, text);
        return -1;
    }
    e->kind = EXPR_REF;
    return parse_steps(text, end, e, err);
}

/* ------------------------------------------------------------------ */
/* References                                                         */

static int step_is(const topo_step *s, const char *name)
{
    return s->kind == STEP_NAME && s->len == strlen(name) && !strncmp(s->name, name, s->len);
}

void topo_target_free(topo_target *t)
{
    free(t->resources);
    memset(t, 0, sizeof(*t));
}

static void target_add(topo_target *t, size_t index)
{
    t->resources = util_realloc(t->resources, (t->n + 1) * sizeof(*t->resources));
    t->resources[t->n++] = index;
}

static char *suggest(const char *word, const char *const *candidates)
{
    const char *close = util_did_you_mean(word, candidates);
    return close ? util_printf(" (did you mean \"%s\"?)", close) : util_strdup("");
}

/* After the resources: one attribute name, then names and indexes. */
static int check_attr(const topo_expr *e, size_t k, const char *what, topo_target *t, char **err)
{
    if (k >= e->nsteps || e->steps[k].kind != STEP_NAME) {
        *err = util_printf("${%.*s} names %s, not one of its attributes (e.g. ${%.*s.id})",
                           e->text_len, e->text, what, e->text_len, e->text);
        return -1;
    }
    for (size_t j = k + 1; j < e->nsteps; j++) {
        if (e->steps[j].kind == STEP_SPLAT) {
            *err = util_printf("invalid reference ${%.*s}: [*] can only follow the resource name",
                               e->text_len, e->text);
            return -1;
        }
    }
    t->attr = k;
    return 0;
}

static int pick_index(const topo_expr *e, const topo_step *s, const char *what, const char *label,
                      topo_target *t, char **err)
{
    if (s->kind == STEP_SPLAT) {
        t->list = 1;
        return 0;
    }
    if ((size_t)s->index >= t->n) {
        char *hint =
            t->n ? util_printf(" (did you mean \"%s[%zu]\"?)", what, t->n - 1) : util_strdup("");
        *err = util_printf("index %lld out of range in ${%.*s}: %s has %s%zu%s", s->index,
                           e->text_len, e->text, what, label, t->n, hint);
        free(hint);
        return -1;
    }
    size_t chosen = t->resources[s->index];
    t->resources[0] = chosen;
    t->n = 1;
    return 0;
}

static const topo_cluster *find_cluster(const topology *topo, const topo_step *s)
{
    for (size_t i = 0; i < topo->nclusters; i++)
        if (step_is(s, topo->clusters[i].name))
            return &topo->clusters[i];
    return NULL;
}

static int cluster_resolve(const topology *topo, const topo_expr *e, topo_target *t, char **err)
{
    const topo_priv *p = topo->priv;
    const topo_step *s = e->steps;
    if (e->nsteps < 2 || s[1].kind != STEP_NAME) {
        *err =
            util_printf("invalid reference ${%.*s}: expected cluster.NAME", e->text_len, e->text);
        return -1;
    }
    const topo_cluster *c = find_cluster(topo, &s[1]);
    if (!c) {
        char *word = util_printf("cluster.%.*s", (int)s[1].len, s[1].name);
        char *hint = suggest(word, p->candidates);
        *err =
            util_printf("unknown resource \"%s\" in ${%.*s}%s", word, e->text_len, e->text, hint);
        free(hint);
        free(word);
        return -1;
    }
    /* cluster.C [.R [.DC]] .servers|clients [N|*] */
    size_t k = 2;
    const topo_step *names[2] = {NULL, NULL};
    size_t nnames = 0;
    while (k + 1 < e->nsteps && s[k].kind == STEP_NAME && s[k + 1].kind == STEP_NAME && nnames < 2)
        names[nnames++] = &s[k++];
    int server = k < e->nsteps && step_is(&s[k], "servers");
    if (k + 1 >= e->nsteps || !(server || step_is(&s[k], "clients")) ||
        s[k + 1].kind == STEP_NAME) {
        *err = util_printf("invalid reference ${%.*s}: expected cluster.%s[.REGION[.DATACENTER]]"
                           ".servers[N|*] or .clients[N|*]",
                           e->text_len, e->text, c->name);
        return -1;
    }
    const topo_region *only_region = NULL;
    const topo_datacenter *only_dc = NULL;
    if (names[0]) {
        for (size_t r = 0; r < c->nregions && !only_region; r++)
            if (step_is(names[0], c->regions[r].name))
                only_region = &c->regions[r];
        if (!only_region) {
            const char **cands = util_calloc(c->nregions + 1, sizeof(*cands));
            for (size_t r = 0; r < c->nregions; r++)
                cands[r] = c->regions[r].name;
            char *word = util_strndup(names[0]->name, names[0]->len);
            /* a datacenter written where its region is due */
            const topo_region *of = NULL;
            for (size_t r = 0; r < c->nregions && !of; r++)
                for (size_t d = 0; d < c->regions[r].ndatacenters && !of; d++)
                    if (!strcmp(c->regions[r].datacenters[d].name, word))
                        of = &c->regions[r];
            char *index = s[k + 1].kind == STEP_SPLAT ? util_strdup("*")
                                                      : util_printf("%lld", s[k + 1].index);
            char *hint = of ? util_printf(" (\"%s\" is a datacenter of region \"%s\": write "
                                          "cluster.%s.%s.%s.%s[%s])",
                                          word, of->name, c->name, of->name, word,
                                          server ? "servers" : "clients", index)
                            : suggest(word, cands);
            free(index);
            *err = util_printf("unknown region \"%s\" of cluster \"%s\" in ${%.*s}: expected "
                               "cluster.%s.REGION[.DATACENTER].servers|clients[N|*]%s",
                               word, c->name, e->text_len, e->text, c->name, hint);
            free(hint);
            free(word);
            free(cands);
            return -1;
        }
    }
    if (names[1]) {
        for (size_t d = 0; d < only_region->ndatacenters && !only_dc; d++)
            if (step_is(names[1], only_region->datacenters[d].name))
                only_dc = &only_region->datacenters[d];
        if (!only_dc) {
            const char **cands = util_calloc(only_region->ndatacenters + 1, sizeof(*cands));
            for (size_t d = 0; d < only_region->ndatacenters; d++)
                cands[d] = only_region->datacenters[d].name;
            char *word = util_strndup(names[1]->name, names[1]->len);
            char *hint = suggest(word, cands);
            *err = util_printf("unknown datacenter \"%s\" in region \"%s\" of cluster \"%s\" in "
                               "${%.*s}%s",
                               word, only_region->name, c->name, e->text_len, e->text, hint);
            free(hint);
            free(word);
            free(cands);
            return -1;
        }
    }
    for (size_t r = 0; r < c->nregions; r++) {
        const topo_region *reg = &c->regions[r];
        if (only_region && reg != only_region)
            continue;
        for (size_t d = 0; d < reg->ndatacenters; d++) {
            const topo_datacenter *dc = &reg->datacenters[d];
            if (only_dc && dc != only_dc)
                continue;
            int n = server ? dc->servers : dc->clients;
            for (int i = 0; i < n; i++) {
                char *address = util_printf("cluster.%s.%s.%s.%s[%d]", c->name, reg->name, dc->name,
                                            server ? "server" : "client", i);
                json_t *idx = json_object_get(p->addresses, address);
                if (idx)
                    target_add(t, (size_t)json_integer_value(idx));
                free(address);
            }
        }
    }
    char *what = util_printf("cluster.%s%s%s%s%s.%s", c->name, names[0] ? "." : "",
                             names[0] ? only_region->name : "", names[1] ? "." : "",
                             names[1] ? only_dc->name : "", server ? "servers" : "clients");
    int error = pick_index(e, &s[k + 1], what, "", t, err);
    if (error == 0)
        error = check_attr(e, k + 2, what, t, err);
    free(what);
    return error;
}

int topo_ref_resolve(const topology *topo, const topo_expr *e, topo_target *t, char **err)
{
    const topo_priv *p = topo->priv;
    memset(t, 0, sizeof(*t));
    *err = NULL;
    int error = 0;
    if (e->nsteps >= 1 && step_is(&e->steps[0], "cluster")) {
        error = cluster_resolve(topo, e, t, err);
        goto done;
    }
    if (e->nsteps < 2 || e->steps[1].kind != STEP_NAME) {
        *err = util_printf("invalid reference ${%.*s}: expected TYPE.NAME.ATTRIBUTE", e->text_len,
                           e->text);
        error = -1;
        goto done;
    }
    char *key =
        topo_concat(e->steps[0].name, e->steps[0].len, '.', e->steps[1].name, e->steps[1].len);
    json_t *bi = json_object_get(p->base_index, key);
    if (!bi) {
        char *hint = suggest(key, p->candidates);
        *err = util_printf("unknown resource \"%s\" in ${%.*s}%s", key, e->text_len, e->text, hint);
        free(hint);
        free(key);
        error = -1;
        goto done;
    }
    const topo_base *b = &p->bases[json_integer_value(bi)];
    if (b->broken) {
        free(key);
        error = 1;
        goto done;
    }
    size_t k = 2;
    if (k < e->nsteps && e->steps[k].kind != STEP_NAME) {
        if (b->count < 0 && e->steps[k].kind == STEP_INDEX) {
            *err = util_printf("index %lld out of range in ${%.*s}: %s has no count (did you mean "
                               "\"%s\"?)",
                               e->steps[k].index, e->text_len, e->text, key, key);
            free(key);
            error = -1;
            goto done;
        }
        size_t n = b->count < 0 ? 1 : (size_t)b->count;
        for (size_t i = 0; i < n; i++)
            target_add(t, b->first + i);
        error = pick_index(e, &e->steps[k], key, "count ", t, err);
        k++;
    } else if (b->count >= 0) {
        *err = util_printf("%s has count %ld: use %s[N] or %s[*] in ${%.*s}", key, b->count, key,
                           key, e->text_len, e->text);
        error = -1;
    } else {
        target_add(t, b->first);
    }
    if (error == 0)
        error = check_attr(e, k, key, t, err);
    free(key);
done:
    if (error != 0)
        topo_target_free(t);
    return error;
}

int topo_depends_on(const topology *topo, const char *target, topo_deps *deps, char **err)
{
    const topo_priv *p = topo->priv;
    json_t *idx = json_object_get(p->addresses, target);
    if (idx) {
        topo_deps_add(deps, topo->resources[json_integer_value(idx)].address);
        return 0;
    }
    json_t *bi = json_object_get(p->base_index, target);
    if (bi) {
        const topo_base *b = &p->bases[json_integer_value(bi)];
        /* A broken declaration has no instances (and is reported already). */
        size_t n = b->broken ? 0 : b->count < 0 ? 1 : (size_t)b->count;
        for (size_t i = 0; i < n; i++)
            topo_deps_add(deps, topo->resources[b->first + i].address);
        return 0;
    }
    for (size_t c = 0; p->cluster_keys && p->cluster_keys[c]; c++) {
        if (strcmp(p->cluster_keys[c], target))
            continue;
        size_t len = strlen(target);
        for (size_t i = 0; i < topo->nresources; i++)
            if (!strncmp(topo->resources[i].address, target, len) &&
                topo->resources[i].address[len] == '.')
                topo_deps_add(deps, topo->resources[i].address);
        return 0;
    }
    char *hint = suggest(target, p->candidates);
    *err = util_printf("unknown resource \"%s\" in depends_on%s", target, hint);
    free(hint);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Evaluation at load time                                            */

static void report(topo_ctx *ctx, const topo_scope *sc, const ytree_node *node, const char *msg)
{
    if (topo_reporting(ctx, sc))
        topo_error(ctx, sc->doc, node, sc->path ? sc->path->data : NULL, "%s", msg);
    else
        ctx->errors++;
}

/* The value of one non-reference expression, borrowed or new in *owned. */
static const json_t *expr_value(topo_ctx *ctx, const topo_scope *sc, const ytree_node *node,
                                const topo_expr *e, json_t **owned)
{
    *owned = NULL;
    if (e->kind == EXPR_COUNT_INDEX) {
        if (sc->count_index < 0) {
            char *msg = util_printf("${count.index} is only available in a resource with count");
            report(ctx, sc, node, msg);
            free(msg);
            return NULL;
        }
        return *owned = json_integer(sc->count_index);
    }
    if (e->kind == EXPR_ENV) {
        char *name = util_strndup(e->name, e->name_len);
        const char *value = getenv(name);
        if (!value && e->has_fallback) {
            char *fb = util_strndup(e->fallback, e->fallback_len);
            *owned = json_string(fb);
            free(fb);
        } else if (!value) {
            char *msg =
                util_printf("environment variable \"%s\" is not set (use ${env.%s:-default} "
                            "to give a fallback)",
                            name, name);
            report(ctx, sc, node, msg);
            free(msg);
        } else {
            *owned = json_string(value);
            if (!*owned) {
                char *msg = util_printf("environment variable \"%s\" is not valid UTF-8", name);
                report(ctx, sc, node, msg);
                free(msg);
            }
        }
        free(name);
        return *owned;
    }
    int declared = 0;
    const json_t *v = topo_var_get(ctx, sc, node, e->name, e->name_len, &declared);
    if (!declared) {
        char *name = util_strndup(e->name, e->name_len);
        if (topo_reporting(ctx, sc)) {
            const char **names = topo_var_names(ctx);
            char *hint = suggest(name, names);
            char *msg = util_printf("unknown variable \"%s\" in ${%.*s}%s", name, e->text_len,
                                    e->text, hint);
            report(ctx, sc, node, msg);
            free(msg);
            free(hint);
            free(names);
        } else {
            ctx->errors++;
        }
        free(name);
    }
    return v;
}

/* Checks a reference and records its resources as dependencies. */
static int check_ref(topo_ctx *ctx, const topo_scope *sc, const ytree_node *node,
                     const topo_expr *e)
{
    if (!sc->refs) {
        char *msg = util_printf("${%.*s}: %s cannot refer to resources (only to variables and "
                                "environment variables)",
                                e->text_len, e->text, sc->where ? sc->where : "this value");
        report(ctx, sc, node, msg);
        free(msg);
        return -1;
    }
    topo_target t;
    char *err = NULL;
    int rc = topo_ref_resolve(ctx->topo, e, &t, &err);
    if (rc < 0) {
        report(ctx, sc, node, err);
        free(err);
        return -1;
    }
    if (rc == 0) {
        for (size_t i = 0; sc->deps && i < t.n; i++)
            topo_deps_add(sc->deps, ctx->topo->resources[t.resources[i]].address);
        topo_target_free(&t);
    }
    return 0;
}

static json_t *eval_string(topo_ctx *ctx, const topo_scope *sc, const ytree_node *node)
{
    const char *s = node->text;
    if (!strchr(s, '$')) {
        json_t *r = json_string(s);
        return r ? r : json_string("");
    }
    size_t pos = 0;
    topo_tpl_part part;
    util_buf out = {0};
    json_t *whole = NULL;
    int failed = 0, lone = 0;
    {
        size_t p2 = 0;
        topo_tpl_part first;
        lone = topo_tpl_next(s, &p2, &first) && first.kind == TPL_EXPR && s[p2] == '\0';
    }
    while (topo_tpl_next(s, &pos, &part)) {
        if (part.kind == TPL_UNTERMINATED) {
            report(ctx, sc, node,
                   "unterminated ${ (close it with } or write $${ for a literal ${)");
            failed = 1;
            continue;
        }
        if (part.kind == TPL_LITERAL) {
            if (sc->template)
                escape_n(&out, part.text, part.len);
            else
                util_buf_put(&out, part.text, part.len);
            continue;
        }
        topo_expr e;
        char *err = NULL;
        if (topo_expr_parse(part.text, part.len, &e, &err) < 0) {
            report(ctx, sc, node, err);
            free(err);
            failed = 1;
            continue;
        }
        if (e.kind == EXPR_REF) {
            if (check_ref(ctx, sc, node, &e) < 0) {
                failed = 1;
                continue;
            }
            if (lone)
                whole = json_string(s);
            util_buf_puts(&out, "${");
            util_buf_put(&out, part.text, part.len);
            util_buf_puts(&out, "}");
            continue;
        }
        json_t *owned = NULL;
        const json_t *v = expr_value(ctx, sc, node, &e, &owned);
        if (!v) {
            failed = 1;
            continue;
        }
        if (lone) {
            whole = sc->template ? topo_escape_json(v) : json_deep_copy(v);
        } else if (sc->template) {
            util_buf tmp = {0};
            topo_json_text(&tmp, v);
            if (tmp.data)
                topo_escape(&out, tmp.data);
            util_buf_free(&tmp);
        } else {
            topo_json_text(&out, v);
        }
        json_decref(owned);
    }
    if (failed) {
        json_decref(whole);
        util_buf_free(&out);
        return NULL;
    }
    if (!whole) {
        whole = json_string(out.data ? out.data : "");
        if (!whole)
            whole = json_string("");
    }
    util_buf_free(&out);
    return whole;
}

json_t *topo_eval_node(topo_ctx *ctx, const topo_scope *sc, const ytree_node *node)
{
    if (!node)
        return json_null();
    if (topo_charge(ctx, node, 1) < 0)
        return NULL;
    switch (node->type) {
    case YTREE_STRING:
        return eval_string(ctx, sc, node);
    case YTREE_LIST: {
        json_t *a = json_array();
        int failed = 0;
        for (size_t i = 0; i < node->nitems && !ctx->fatal; i++) {
            size_t mark = topo_path_index(sc->path, i);
            json_t *v = topo_eval_node(ctx, sc, node->items[i]);
            topo_path_pop(sc->path, mark);
            if (!v)
                failed = 1;
            else
                json_array_append_new(a, v);
        }
        if (failed || ctx->fatal) {
            json_decref(a);
            return NULL;
        }
        return a;
    }
    case YTREE_MAP: {
        json_t *o = json_object();
        int failed = 0;
        for (size_t i = 0; i < node->npairs && !ctx->fatal; i++) {
            size_t mark = topo_path_key(sc->path, node->pairs[i].key->text);
            json_t *v = topo_eval_node(ctx, sc, node->pairs[i].value);
            topo_path_pop(sc->path, mark);
            if (!v)
                failed = 1;
            else
                json_object_set_new(o, node->pairs[i].key->text, v);
        }
        if (failed || ctx->fatal) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    default:
        return ytree_to_json(node);
    }
}
