/* libyaml events -> a tree of located nodes. */
#include "topology/yaml_tree.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "infra/plugin.h"
#include "base/util.h"

/* Bounds that keep hostile input (deep nesting, "billion laughs" alias
 * bombs) from exhausting the stack or memory of whatever walks the tree. */
#define MAX_DEPTH 256
#define MAX_ALIAS_EXPANSION 1000000
#define MANY_KEYS 16

#define TAG_PREFIX "tag:yaml.org,2002:"

typedef struct chunk {
    struct chunk *next;
    size_t used;
    ytree_node nodes[256];
} chunk;

typedef struct anchor {
    char *name;
    ytree_node *node;
} anchor;

/* A collection being built. Merge keys are kept as pairs with a NULL key
 * until the mapping ends. */
typedef struct frame {
    ytree_node *node;
    char *anchor;
    size_t cap;
    ytree_node *key; /* pending key of a mapping */
    int bad_key;     /* the pending key was rejected: drop its value */
    int has_merge;
} frame;

typedef struct builder {
    ytree *doc;
    diag_list *diags;
    frame stack[MAX_DEPTH];
    size_t depth;
    anchor *anchors;
    size_t nanchors, anchors_cap;
    size_t expansion;
    int failed;
    int fatal;
} builder;

static ytree_node *node_new(ytree *doc, ytree_type type, int line, int column)
{
    chunk *c = doc->arena;
    if (!c || c->used == sizeof(c->nodes) / sizeof(c->nodes[0])) {
        chunk *n = util_calloc(1, sizeof(*n));
        n->next = c;
        doc->arena = c = n;
    }
    ytree_node *node = &c->nodes[c->used++];
    node->type = type;
    node->line = line;
    node->column = column;
    node->weight = 1;
    return node;
}

void ytree_free(ytree *doc)
{
    if (!doc)
        return;
    chunk *c = doc->arena;
    while (c) {
        for (size_t i = 0; i < c->used; i++) {
            free(c->nodes[i].text);
            free(c->nodes[i].items);
            free(c->nodes[i].pairs);
        }
        chunk *next = c->next;
        free(c);
        c = next;
    }
    free(doc->file);
    free(doc);
}

diag_loc ytree_loc(const ytree *doc, const ytree_node *node)
{
    diag_loc loc = {doc ? doc->file : NULL, node ? node->line : 0, node ? node->column : 0};
    return loc;
}

const char *ytree_type_name(ytree_type type)
{
    switch (type) {
    case YTREE_NULL:
        return "null";
    case YTREE_BOOL:
        return "a boolean";
    case YTREE_INT:
        return "an integer";
    case YTREE_FLOAT:
        return "a number";
    case YTREE_STRING:
        return "a string";
    case YTREE_LIST:
        return "a list";
    case YTREE_MAP:
        return "a mapping";
    }
    return "a value";
}

const ytree_node *ytree_get(const ytree_node *map, const char *key)
{
    if (!map || map->type != YTREE_MAP)
        return NULL;
    for (size_t i = 0; i < map->npairs; i++)
        if (strcmp(map->pairs[i].key->text, key) == 0)
            return map->pairs[i].value;
    return NULL;
}

static size_t weight_add(size_t a, size_t b)
{
    return a > SIZE_MAX / 2 - b ? SIZE_MAX / 2 : a + b;
}

/* ------------------------------------------------------------------ */
/* Errors                                                             */

static void node_error(builder *b, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void node_error(builder *b, int line, int column, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = util_vprintf(fmt, ap);
    va_end(ap);

    /* The dotted path of the value being built, from the open collections. */
    util_buf path = {0};
    for (size_t i = 0; i < b->depth; i++) {
        const frame *f = &b->stack[i];
        if (f->node->type == YTREE_LIST) {
            util_buf_printf(&path, "[%zu]", f->node->nitems);
        } else if (f->key && !f->bad_key) {
            if (path.len)
                util_buf_puts(&path, ".");
            util_buf_puts(&path, f->key->text);
        }
    }
    diag_loc loc = {b->doc->file, line, column};
    diag_add(b->diags, DIAG_ERROR, &loc, path.data, "%s", msg);
    util_buf_free(&path);
    free(msg);
    b->failed = 1;
}

static void syntax_error(builder *b, yaml_parser_t *parser, const char *text, size_t len)
{
    int line = (int)parser->problem_mark.line + 1;
    int column = (int)parser->problem_mark.column + 1;
    if (parser->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark. */
        line = 1;
        column = 1;
        for (size_t i = 0; i < parser->problem_offset && i < len; i++) {
            if (text[i] == '\n') {
                line++;
                column = 1;
            } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
                column++;
            }
        }
    }
    diag_loc loc = {b->doc->file, line, column};
    diag_add(b->diags, DIAG_ERROR, &loc, NULL, "YAML syntax error: %s",
             parser->problem ? parser->problem : "cannot parse the document");
    b->failed = 1;
    b->fatal = 1;
}

/* ------------------------------------------------------------------ */
/* Scalars                                                            */

static int is_digits(const char *s, const char *set)
{
    if (!*s)
        return 0;
    return s[strspn(s, set)] == '\0';
}

/* YAML 1.2 core schema float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int is_float(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    size_t whole = strspn(s, "0123456789");
    s += whole;
    size_t frac = 0;
    if (*s == '.') {
        s++;
        frac = strspn(s, "0123456789");
        s += frac;
    } else if (!whole) {
        return 0;
    }
    if (!whole && !frac)
        return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        if (!is_digits(s, "0123456789"))
            return 0;
        s += strlen(s);
    }
    return *s == '\0';
}

static int is_special_float(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    return !strcmp(s, ".inf") || !strcmp(s, ".Inf") || !strcmp(s, ".INF") || !strcmp(s, ".nan") ||
           !strcmp(s, ".NaN") || !strcmp(s, ".NAN");
}

static int parse_int(const char *s, long long *out)
{
    const char *digits = s;
    int base = 10;
    if (!strncmp(s, "0o", 2) && is_digits(s + 2, "01234567")) {
        digits = s + 2;
        base = 8;
    } else if (!strncmp(s, "0x", 2) && is_digits(s + 2, "0123456789abcdefABCDEF")) {
        digits = s + 2;
        base = 16;
    } else {
        const char *d = (*s == '-' || *s == '+') ? s + 1 : s;
        if (!is_digits(d, "0123456789"))
            return 0;
    }
    errno = 0;
    char *end = NULL;
    *out = strtoll(digits, &end, base);
    if (errno == ERANGE)
        return -1;
    return 1;
}

/* Gives n its type from its text under the core schema; tag is the
 * explicit tag or NULL for a plain untagged scalar. */
static void resolve_scalar(builder *b, ytree_node *n, const char *tag)
{
    const char *s = n->text;
    const char *want =
        tag && !strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) ? tag + strlen(TAG_PREFIX) : NULL;
    if (tag && !want) {
        node_error(b, n->line, n->column, "unsupported tag \"%s\"", tag);
        return;
    }
    if (want && !strcmp(want, "str"))
        return;
    /* Most plain scalars are words: only these can start a non-string. */
    if (!want && *s && !strchr("0123456789+-.~nNtTfF", *s))
        return;
    if (!want || !strcmp(want, "null")) {
        if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
            !strcmp(s, "NULL")) {
            n->type = YTREE_NULL;
            return;
        }
    }
    if (!want || !strcmp(want, "bool")) {
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
            n->type = YTREE_BOOL;
            n->boolean = 1;
            return;
        }
        if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
            n->type = YTREE_BOOL;
            return;
        }
    }
    if (!want || !strcmp(want, "int")) {
        int rc = parse_int(s, &n->integer);
        if (rc < 0) {
            node_error(b, n->line, n->column, "integer %s is out of range", s);
            return;
        }
        if (rc > 0) {
            n->type = YTREE_INT;
            return;
        }
    }
    if (!want || !strcmp(want, "float")) {
        if (is_special_float(s)) {
            node_error(b, n->line, n->column, "infinite and NaN numbers are not supported");
            return;
        }
        if (is_float(s)) {
            n->type = YTREE_FLOAT;
            n->number = strtod(s, NULL);
            return;
        }
    }
    if (want)
        node_error(b, n->line, n->column, "\"%s\" is not a valid !!%s", s, want);
}

/* ------------------------------------------------------------------ */
/* Building                                                           */

static void anchor_set(builder *b, const char *name, ytree_node *node)
{
    for (size_t i = b->nanchors; i-- > 0;) {
        if (!strcmp(b->anchors[i].name, name)) {
            b->anchors[i].node = node;
            return;
        }
    }
    if (b->nanchors == b->anchors_cap) {
        b->anchors_cap = b->anchors_cap ? b->anchors_cap * 2 : 8;
        b->anchors = util_realloc(b->anchors, b->anchors_cap * sizeof(*b->anchors));
    }
    b->anchors[b->nanchors].name = util_strdup(name);
    b->anchors[b->nanchors].node = node;
    b->nanchors++;
}

static ytree_node *anchor_get(builder *b, const char *name)
{
    for (size_t i = b->nanchors; i-- > 0;)
        if (!strcmp(b->anchors[i].name, name))
            return b->anchors[i].node;
    return NULL;
}

/* Duplicate keys of small mappings are found as they come; large ones
 * are checked once complete (see check_duplicates), which costs a sort
 * instead of a hash insertion per key. */
static int key_seen(frame *f, const char *key)
{
    if (f->node->npairs >= MANY_KEYS)
        return 0;
    for (size_t i = 0; i < f->node->npairs; i++)
        if (f->node->pairs[i].key && !strcmp(f->node->pairs[i].key->text, key))
            return 1;
    return 0;
}

static void pair_push(frame *f, ytree_node *key, ytree_node *value)
{
    ytree_node *m = f->node;
    if (m->npairs == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 4;
        m->pairs = util_realloc(m->pairs, f->cap * sizeof(*m->pairs));
    }
    m->pairs[m->npairs].key = key;
    m->pairs[m->npairs].value = value;
    m->npairs++;
}

static int is_merge_source(const ytree_node *v)
{
    if (v->type == YTREE_MAP)
        return 1;
    if (v->type != YTREE_LIST)
        return 0;
    for (size_t i = 0; i < v->nitems; i++)
        if (v->items[i]->type != YTREE_MAP)
            return 0;
    return 1;
}

static void duplicate_error(builder *b, frame *f, const ytree_node *first, ytree_node *key)
{
    ytree_node *pending = f->key;
    f->key = key; /* so that the path ends with the key */
    node_error(b, key->line, key->column, "duplicate key \"%s\" (first at line %d, column %d)",
               key->text, first->line, first->column);
    f->key = pending;
}

static int pair_order(const void *a, const void *b)
{
    const ytree_pair *x = *(const ytree_pair *const *)a, *y = *(const ytree_pair *const *)b;
    int c = strcmp(x->key->text, y->key->text);
    return c ? c : (x < y ? -1 : x > y);
}

/* Reports the repeated keys of a large mapping, each at its repetition. */
static void check_duplicates(builder *b, frame *f)
{
    ytree_node *m = f->node;
    if (m->npairs <= MANY_KEYS)
        return;
    const ytree_pair **order = util_malloc(m->npairs * sizeof(*order));
    size_t n = 0;
    for (size_t i = 0; i < m->npairs; i++)
        if (m->pairs[i].key)
            order[n++] = &m->pairs[i];
    qsort(order, n, sizeof(*order), pair_order);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(order[i]->key->text, order[i - 1]->key->text))
            continue;
        size_t first = i - 1;
        while (first > 0 && !strcmp(order[first - 1]->key->text, order[i]->key->text))
            first--;
        duplicate_error(b, f, order[first]->key, order[i]->key);
    }
    free(order);
}

/* Places a completed node in the open collection (or as the root). */
static void attach(builder *b, ytree_node *node)
{
    if (b->depth == 0) {
        b->doc->root = node;
        return;
    }
    frame *f = &b->stack[b->depth - 1];
    ytree_node *parent = f->node;
    parent->weight = weight_add(parent->weight, node->weight);
    if (parent->type == YTREE_LIST) {
        if (parent->nitems == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 4;
            parent->items = util_realloc(parent->items, f->cap * sizeof(*parent->items));
        }
        parent->items[parent->nitems++] = node;
        return;
    }
    if (!f->key && !f->bad_key) {
        if (!node->text) {
            node_error(b, node->line, node->column, "a mapping key must be a scalar, not %s",
                       ytree_type_name(node->type));
            f->bad_key = 1;
        } else {
            f->key = node;
        }
        return;
    }
    if (f->bad_key) {
        f->bad_key = 0;
        return;
    }
    ytree_node *key = f->key;
    f->key = NULL;
    if (key->plain && !strcmp(key->text, "<<")) {
        if (!is_merge_source(node)) {
            f->key = key;
            node_error(b, node->line, node->column,
                       "a merge key (<<) takes a mapping or a list of mappings, not %s",
                       ytree_type_name(node->type));
            f->key = NULL;
            return;
        }
        f->has_merge = 1;
        pair_push(f, NULL, node);
        return;
    }
    if (key_seen(f, key->text)) {
        const ytree_node *first = NULL;
        for (size_t i = 0; i < parent->npairs && !first; i++)
            if (parent->pairs[i].key && !strcmp(parent->pairs[i].key->text, key->text))
                first = parent->pairs[i].key;
        duplicate_error(b, f, first, key);
        return;
    }
    pair_push(f, key, node);
}

/* Replaces the merge markers of a finished mapping by the merged pairs
 * that no explicit key (nor an earlier merge) overrides. */
static void expand_merges(frame *f)
{
    ytree_node *m = f->node;
    json_t *have = json_object();
    for (size_t i = 0; i < m->npairs; i++)
        if (m->pairs[i].key)
            json_object_set_new(have, m->pairs[i].key->text, json_true());
    ytree_pair *old = m->pairs;
    size_t nold = m->npairs;
    m->pairs = NULL;
    m->npairs = 0;
    f->cap = 0;
    for (size_t i = 0; i < nold; i++) {
        if (old[i].key) {
            pair_push(f, old[i].key, old[i].value);
            continue;
        }
        const ytree_node *src = old[i].value;
        size_t nsrc = src->type == YTREE_MAP ? 1 : src->nitems;
        for (size_t s = 0; s < nsrc; s++) {
            const ytree_node *map = src->type == YTREE_MAP ? src : src->items[s];
            for (size_t k = 0; k < map->npairs; k++) {
                const char *name = map->pairs[k].key->text;
                if (json_object_get(have, name))
                    continue;
                json_object_set_new(have, name, json_true());
                pair_push(f, map->pairs[k].key, map->pairs[k].value);
            }
        }
    }
    free(old);
    json_decref(have);
}

static void push_frame(builder *b, ytree_node *node, const char *anchor_name)
{
    if (b->depth == MAX_DEPTH) {
        node_error(b, node->line, node->column, "the document is nested deeper than %d levels",
                   MAX_DEPTH);
        b->fatal = 1;
        return;
    }
    frame *f = &b->stack[b->depth++];
    memset(f, 0, sizeof(*f));
    f->node = node;
    f->anchor = anchor_name ? util_strdup(anchor_name) : NULL;
}

static void pop_frame(builder *b)
{
    frame *f = &b->stack[b->depth - 1];
    if (f->node->type == YTREE_MAP)
        check_duplicates(b, f);
    if (f->has_merge)
        expand_merges(f);
    ytree_node *node = f->node;
    char *anchor_name = f->anchor;
    b->depth--;
    if (anchor_name) {
        anchor_set(b, anchor_name, node);
        free(anchor_name);
    }
    attach(b, node);
}

static const char *collection_tag_ok(const char *tag, const char *want)
{
    if (!tag || !strcmp(tag, "!"))
        return NULL;
    if (!strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) && !strcmp(tag + strlen(TAG_PREFIX), want))
        return NULL;
    return tag;
}

static void on_scalar(builder *b, yaml_event_t *ev)
{
    int line = (int)ev->start_mark.line + 1, column = (int)ev->start_mark.column + 1;
    const char *value = (const char *)ev->data.scalar.value;
    size_t length = ev->data.scalar.length;
    ytree_node *n = node_new(b->doc, YTREE_STRING, line, column);
    /* libyaml allocates the NUL-terminated value with malloc(): take it
     * rather than copy it, one allocation less per scalar. */
    n->text = value ? (char *)ev->data.scalar.value : util_strdup("");
    ev->data.scalar.value = NULL;
    value = n->text;
    if (memchr(value, '\0', length)) {
        node_error(b, line, column, "a string cannot hold a NUL character");
    } else {
        const char *tag = (const char *)ev->data.scalar.tag;
        int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (tag && !strcmp(tag, "!"))
            ; /* non-specific tag: a string */
        else if (tag || plain)
            resolve_scalar(b, n, tag);
        n->plain = plain && !tag;
    }
    if (ev->data.scalar.anchor)
        anchor_set(b, (const char *)ev->data.scalar.anchor, n);
    attach(b, n);
}

static void on_alias(builder *b, yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    ytree_node *target = anchor_get(b, name);
    if (!target) {
        node_error(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                   "alias *%s refers to no anchor &%s defined before it", name, name);
        /* Keep the shape of the document: a null stands in. */
        attach(b, node_new(b->doc, YTREE_NULL, (int)ev->start_mark.line + 1,
                           (int)ev->start_mark.column + 1));
        return;
    }
    b->expansion = weight_add(b->expansion, target->weight);
    if (b->expansion > MAX_ALIAS_EXPANSION) {
        node_error(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                   "aliases expand to more than %d values", MAX_ALIAS_EXPANSION);
        b->fatal = 1;
        return;
    }
    attach(b, target);
}

static void on_collection_start(builder *b, yaml_event_t *ev, ytree_type type)
{
    int line = (int)ev->start_mark.line + 1, column = (int)ev->start_mark.column + 1;
    const char *tag, *anchor_name;
    if (type == YTREE_MAP) {
        tag = (const char *)ev->data.mapping_start.tag;
        anchor_name = (const char *)ev->data.mapping_start.anchor;
    } else {
        tag = (const char *)ev->data.sequence_start.tag;
        anchor_name = (const char *)ev->data.sequence_start.anchor;
    }
    ytree_node *n = node_new(b->doc, type, line, column);
    const char *bad = collection_tag_ok(tag, type == YTREE_MAP ? "map" : "seq");
    if (bad)
        node_error(b, line, column, "unsupported tag \"%s\"", bad);
    push_frame(b, n, anchor_name);
}

int ytree_parse(const char *file, const char *text, size_t len, ytree **out, diag_list *diags)
{
    *out = NULL;
    builder b = {0};
    b.diags = diags;
    b.doc = util_calloc(1, sizeof(*b.doc));
    b.doc->file = util_strdup(file ? file : "<input>");

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        ytree_free(b.doc);
        return INFRA_EINTERNAL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int documents = 0, done = 0;
    while (!done && !b.fatal) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            syntax_error(&b, &parser, text, len);
            break;
        }
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1) {
                diag_loc loc = {b.doc->file, (int)ev.start_mark.line + 1,
                                (int)ev.start_mark.column + 1};
                diag_add(diags, DIAG_ERROR, &loc, NULL,
                         "more than one YAML document: a topology is a single document");
                b.failed = b.fatal = 1;
            }
            break;
        case YAML_SCALAR_EVENT:
            on_scalar(&b, &ev);
            break;
        case YAML_ALIAS_EVENT:
            on_alias(&b, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
            on_collection_start(&b, &ev, YTREE_LIST);
            break;
        case YAML_MAPPING_START_EVENT:
            on_collection_start(&b, &ev, YTREE_MAP);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (b.depth > 0)
                pop_frame(&b);
            break;
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);

    while (b.depth > 0) {
        frame *f = &b.stack[--b.depth];
        free(f->anchor);
    }
    for (size_t i = 0; i < b.nanchors; i++)
        free(b.anchors[i].name);
    free(b.anchors);
    if (b.failed) {
        ytree_free(b.doc);
        return INFRA_EINVALID;
    }
    *out = b.doc;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Using trees                                                        */

json_t *ytree_to_json(const ytree_node *node)
{
    if (!node)
        return json_null();
    switch (node->type) {
    case YTREE_NULL:
        return json_null();
    case YTREE_BOOL:
        return json_boolean(node->boolean);
    case YTREE_INT:
        return json_integer(node->integer);
    case YTREE_FLOAT: {
        json_t *r = json_real(node->number);
        return r ? r : json_null();
    }
    case YTREE_STRING: {
        json_t *s = json_string(node->text);
        return s ? s : json_string("");
    }
    case YTREE_LIST: {
        json_t *a = json_array();
        for (size_t i = 0; i < node->nitems; i++)
            json_array_append_new(a, ytree_to_json(node->items[i]));
        return a;
    }
    case YTREE_MAP: {
        json_t *o = json_object();
        for (size_t i = 0; i < node->npairs; i++)
            json_object_set_new(o, node->pairs[i].key->text, ytree_to_json(node->pairs[i].value));
        return o;
    }
    }
    return json_null();
}

const ytree_node *ytree_merge(ytree *doc, const ytree_node *base, const ytree_node *over)
{
    if (!base || base->type != YTREE_MAP || !over || over->type != YTREE_MAP)
        return over;
    ytree_node *m = node_new(doc, YTREE_MAP, base->line, base->column);
    m->pairs = util_calloc(base->npairs + over->npairs, sizeof(*m->pairs));
    for (size_t i = 0; i < base->npairs; i++) {
        const ytree_pair *p = &base->pairs[i];
        const ytree_node *o = ytree_get(over, p->key->text);
        m->pairs[m->npairs].key = p->key;
        m->pairs[m->npairs].value = (ytree_node *)(o ? ytree_merge(doc, p->value, o) : p->value);
        m->weight = weight_add(m->weight, m->pairs[m->npairs].value->weight);
        m->npairs++;
    }
    for (size_t i = 0; i < over->npairs; i++) {
        const ytree_pair *p = &over->pairs[i];
        if (ytree_get(base, p->key->text))
            continue;
        m->pairs[m->npairs++] = *p;
        m->weight = weight_add(m->weight, p->value->weight);
    }
    return m;
}
