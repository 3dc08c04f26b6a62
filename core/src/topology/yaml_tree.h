/* A YAML document as a tree of nodes, each with the line and column where
 * it is written, built from libyaml's events.
 *
 * Scalars are resolved with the YAML 1.2 core schema (null, booleans,
 * integers, floats; quoted scalars are strings). Anchors and aliases are
 * supported (an alias shares the anchored node, so the tree is a DAG), as
 * are merge keys ("<<: *defaults"). Duplicate keys, non-scalar keys, more
 * than one document, unknown tags and alias bombs are errors. */
#ifndef INFRA_YAML_TREE_H
#define INFRA_YAML_TREE_H

#include <jansson.h>
#include <stddef.h>

#include "base/diag.h"

typedef enum {
    YTREE_NULL,
    YTREE_BOOL,
    YTREE_INT,
    YTREE_FLOAT,
    YTREE_STRING,
    YTREE_LIST,
    YTREE_MAP
} ytree_type;

typedef struct ytree_node ytree_node;

typedef struct ytree_pair {
    ytree_node *key; /* always a scalar; key->text is the key */
    ytree_node *value;
} ytree_pair;

struct ytree_node {
    ytree_type type;
    int line;           /* 1-based */
    int column;         /* 1-based */
    char *text;         /* scalars: the text as written (the value of a string); else NULL */
    int plain;          /* scalars: 1 when written without quotes or tag */
    long long integer;  /* YTREE_INT */
    double number;      /* YTREE_FLOAT */
    int boolean;        /* YTREE_BOOL */
    ytree_node **items; /* YTREE_LIST */
    size_t nitems;
    ytree_pair *pairs; /* YTREE_MAP, in document order */
    size_t npairs;
    size_t weight; /* nodes in the subtree with aliases expanded (saturating) */
};

typedef struct ytree {
    char *file;       /* name used in locations (owned) */
    ytree_node *root; /* NULL for an empty document */
    void *arena;      /* every node of the document */
} ytree;

/* Parses text (len bytes, need not be NUL-terminated). Returns 0 with *out a
 * new tree, or INFRA_EINVALID with diagnostics in diags (located in file)
 * and *out NULL. Caller frees *out with ytree_free. */
int ytree_parse(const char *file, const char *text, size_t len, ytree **out, diag_list *diags);

void ytree_free(ytree *doc);

/* The value of key in a mapping, or NULL (also when map is not a mapping). */
const ytree_node *ytree_get(const ytree_node *map, const char *key);

/* The location of node in doc (file borrowed from doc). */
diag_loc ytree_loc(const ytree *doc, const ytree_node *node);

/* "a string", "an integer", "a number", "a boolean", "a list", "a mapping", "null". */
const char *ytree_type_name(ytree_type type);

/* The node as plain data (no interpolation); new reference. */
json_t *ytree_to_json(const ytree_node *node);

/* A new node in doc: over deep-merged onto base (mappings merge key by
 * key, base order first; anything else is replaced by over). Neither input
 * is modified; unchanged subtrees are shared. */
const ytree_node *ytree_merge(ytree *doc, const ytree_node *base, const ytree_node *over);

#endif
