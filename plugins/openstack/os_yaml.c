/* YAML files (clouds.yaml, secure.yaml) read with libyaml into JSON values
 * of the host's JSON service: mappings become objects, sequences arrays,
 * scalars strings. Anchors, aliases and merge keys ("<<") are followed, as
 * the openstack CLI's YAML loader follows them. The line of every mapping
 * key is kept under its dotted path ("clouds.ovh.auth.auth_url"), so that
 * an error can name the file, the line and the key. */
#include "os_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

typedef struct frame {
    infra_json *node;
    int is_map;
    char *key; /* the key waiting for its value (maps) */
    char *path;
    size_t index; /* next element (sequences) */
    char *anchor;
} frame;

typedef struct anchor {
    char *name;
    infra_json *value;
} anchor;

typedef struct builder {
    os_yaml_doc *doc;
    frame *stack;
    size_t depth;
    anchor *anchors;
    size_t nanchors;
    char *err;
} builder;

static void mark_line(os_yaml_doc *d, const char *path, int line)
{
    d->paths = pu_realloc(d->paths, (d->n + 1) * sizeof(*d->paths));
    d->lines = pu_realloc(d->lines, (d->n + 1) * sizeof(*d->lines));
    d->paths[d->n] = pu_strdup(path);
    d->lines[d->n] = line;
    d->n++;
}

int os_yaml_line(const os_yaml_doc *d, const char *path)
{
    for (size_t i = d ? d->n : 0; i > 0; i--)
        if (strcmp(d->paths[i - 1], path) == 0)
            return d->lines[i - 1];
    return 0;
}

static char *child_path(const frame *f)
{
    if (f == NULL)
        return pu_strdup("");
    if (f->is_map)
        return *f->path ? pu_printf("%s.%s", f->path, f->key) : pu_strdup(f->key);
    return pu_printf("%s[%zu]", f->path, f->index);
}

static void remember(builder *b, const char *name, const infra_json *value)
{
    b->anchors = pu_realloc(b->anchors, (b->nanchors + 1) * sizeof(*b->anchors));
    b->anchors[b->nanchors].name = pu_strdup(name);
    b->anchors[b->nanchors].value = OJ->copy(value);
    b->nanchors++;
}

/* Members of src that dst lacks, copied into dst (a merge key). */
static void merge_into(infra_json *dst, const infra_json *src)
{
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    while (OJ->type(src) == INFRA_JSON_OBJECT && OJ->next(src, &iter, &key, &value))
        if (OJ->get(dst, key) == NULL)
            OJ->set(dst, key, OJ->copy(value));
}

/* Puts a finished value where it belongs; takes value. */
static int attach(builder *b, infra_json *value)
{
    if (value == NULL)
        return INFRA_EINTERNAL;
    if (b->depth == 0) {
        OJ->release(b->doc->root);
        b->doc->root = value;
        return 0;
    }
    frame *top = &b->stack[b->depth - 1];
    if (!top->is_map) {
        top->index++;
        return OJ->append(top->node, value) < 0 ? INFRA_EINTERNAL : 0;
    }
    if (strcmp(top->key, "<<") == 0) {
        if (OJ->type(value) == INFRA_JSON_ARRAY)
            for (size_t i = 0; i < OJ->length(value); i++)
                merge_into(top->node, OJ->at(value, i));
        else
            merge_into(top->node, value);
        OJ->release(value);
    } else if (OJ->set(top->node, top->key, value) < 0) {
        return INFRA_EINTERNAL;
    }
    free(top->key);
    top->key = NULL;
    return 0;
}

static void push(builder *b, infra_json *node, int is_map, const char *anchor_name)
{
    /* The path first: the realloc may move the parent's frame. */
    char *path = child_path(b->depth ? &b->stack[b->depth - 1] : NULL);
    b->stack = pu_realloc(b->stack, (b->depth + 1) * sizeof(*b->stack));
    frame *f = &b->stack[b->depth++];
    memset(f, 0, sizeof(*f));
    f->node = node;
    f->is_map = is_map;
    f->path = path;
    f->anchor = anchor_name ? pu_strdup(anchor_name) : NULL;
}

static int pop(builder *b)
{
    frame f = b->stack[--b->depth];
    if (f.anchor != NULL)
        remember(b, f.anchor, f.node);
    free(f.anchor);
    free(f.path);
    free(f.key);
    return attach(b, f.node);
}

static int on_scalar(builder *b, const yaml_event_t *ev)
{
    const char *text = (const char *)ev->data.scalar.value;
    frame *top = b->depth ? &b->stack[b->depth - 1] : NULL;
    if (top != NULL && top->is_map && top->key == NULL) {
        top->key = pu_strdup(text);
        char *path = child_path(top);
        mark_line(b->doc, path, (int)ev->start_mark.line + 1);
        free(path);
        return 0;
    }
    /* A plain "~" or "null" is YAML's null; everything else stays text. */
    int null = ev->data.scalar.plain_implicit &&
               (strcmp(text, "~") == 0 || strcmp(text, "null") == 0 || *text == '\0');
    infra_json *v = null ? OJ->new_null() : OJ->new_string(text);
    if (v != NULL && ev->data.scalar.anchor != NULL)
        remember(b, (const char *)ev->data.scalar.anchor, v);
    return attach(b, v);
}

static int on_alias(builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    for (size_t i = b->nanchors; i > 0; i--)
        if (strcmp(b->anchors[i - 1].name, name) == 0) {
            frame *top = b->depth ? &b->stack[b->depth - 1] : NULL;
            if (top != NULL && top->is_map && top->key == NULL) {
                b->err =
                    pu_printf("%d: an alias cannot be a mapping key", (int)ev->start_mark.line + 1);
                return INFRA_EINVALID;
            }
            return attach(b, OJ->copy(b->anchors[i - 1].value));
        }
    b->err = pu_printf("%d: unknown alias *%s", (int)ev->start_mark.line + 1, name);
    return INFRA_EINVALID;
}

int os_yaml_parse(const char *text, size_t len, os_yaml_doc *out, char **err)
{
    yaml_parser_t parser;
    builder b;
    int error = 0, done = 0;

    memset(out, 0, sizeof(*out));
    memset(&b, 0, sizeof(b));
    b.doc = out;
    *err = NULL;
    if (!yaml_parser_initialize(&parser))
        return INFRA_EINTERNAL;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (!done && error == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            b.err = pu_printf("%d: %s", (int)parser.problem_mark.line + 1,
                              parser.problem ? parser.problem : "not YAML");
            error = INFRA_EINVALID;
            break;
        }
        frame *top = b.depth ? &b.stack[b.depth - 1] : NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            done = ev.type == YAML_STREAM_END_EVENT || out->root != NULL;
            break;
        case YAML_SCALAR_EVENT:
            error = on_scalar(&b, &ev);
            break;
        case YAML_ALIAS_EVENT:
            error = on_alias(&b, &ev);
            break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            if (top != NULL && top->is_map && top->key == NULL) {
                b.err =
                    pu_printf("%d: a mapping key must be a scalar", (int)ev.start_mark.line + 1);
                error = INFRA_EINVALID;
                break;
            }
            push(&b, ev.type == YAML_MAPPING_START_EVENT ? OJ->new_object() : OJ->new_array(),
                 ev.type == YAML_MAPPING_START_EVENT,
                 (const char *)(ev.type == YAML_MAPPING_START_EVENT
                                    ? ev.data.mapping_start.anchor
                                    : ev.data.sequence_start.anchor));
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            error = pop(&b);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    while (b.depth > 0) {
        frame *f = &b.stack[--b.depth];
        OJ->release(f->node);
        free(f->key);
        free(f->path);
        free(f->anchor);
    }
    free(b.stack);
    for (size_t i = 0; i < b.nanchors; i++) {
        free(b.anchors[i].name);
        OJ->release(b.anchors[i].value);
    }
    free(b.anchors);
    if (error < 0) {
        *err = b.err ? b.err : pu_strdup("cannot read");
        os_yaml_free(out);
    }
    return error;
}

int os_yaml_load(const char *path, os_yaml_doc *out, char **err)
{
    char *text = NULL;
    size_t len = 0;
    char *why = NULL;

    memset(out, 0, sizeof(*out));
    *err = NULL;
    int error = pu_read_file(path, PU_FILE_SECRET, &text, &len);
    if (error == INFRA_ENOTFOUND)
        return error;
    if (error < 0) {
        *err = pu_printf("%s: cannot read the file", path);
        return INFRA_EINVALID;
    }
    error = os_yaml_parse(text, len, out, &why);
    memset(text, 0, len);
    free(text);
    if (error < 0) {
        *err = pu_printf("%s:%s", path, why ? why : "1: not YAML");
        free(why);
        return error;
    }
    out->file = pu_strdup(path);
    return 0;
}

void os_yaml_free(os_yaml_doc *d)
{
    if (d == NULL)
        return;
    OJ->release(d->root);
    for (size_t i = 0; i < d->n; i++)
        free(d->paths[i]);
    free(d->paths);
    free(d->lines);
    free(d->file);
    memset(d, 0, sizeof(*d));
}
