/* Directed graph of addresses with an open-addressing index, Kahn's
 * topological sort and cycle extraction. Everything is linear in nodes +
 * edges so that topologies of tens of thousands of resources stay fast. */
#include "engine/graph.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <infra/plugin.h>

#include "base/util.h"

typedef struct index_list {
    size_t *items;
    size_t len;
    size_t cap;
} index_list;

typedef struct graph_node {
    char *address;
    index_list succ;
    index_list pred;
} graph_node;

struct graph {
    graph_node *nodes;
    size_t count;
    size_t cap;
    size_t *slots; /* hash slots holding node index + 1; 0 = empty */
    size_t nslots; /* power of two, kept at most half full */
};

static void list_push(index_list *l, size_t v)
{
    if (l->len == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->items = util_realloc(l->items, l->cap * sizeof(*l->items));
    }
    l->items[l->len++] = v;
}

static uint64_t hash_text(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static void index_insert(graph *g, size_t node)
{
    size_t mask = g->nslots - 1;
    size_t i = (size_t)hash_text(g->nodes[node].address) & mask;
    while (g->slots[i])
        i = (i + 1) & mask;
    g->slots[i] = node + 1;
}

static void index_grow(graph *g)
{
    free(g->slots);
    g->nslots = g->nslots ? g->nslots * 2 : 64;
    g->slots = util_calloc(g->nslots, sizeof(*g->slots));
    for (size_t i = 0; i < g->count; i++)
        index_insert(g, i);
}

graph *graph_new(void)
{
    graph *g = util_calloc(1, sizeof(*g));
    index_grow(g);
    return g;
}

void graph_free(graph *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->count; i++) {
        free(g->nodes[i].address);
        free(g->nodes[i].succ.items);
        free(g->nodes[i].pred.items);
    }
    free(g->nodes);
    free(g->slots);
    free(g);
}

size_t graph_find(const graph *g, const char *address)
{
    size_t mask = g->nslots - 1;
    for (size_t i = (size_t)hash_text(address) & mask; g->slots[i]; i = (i + 1) & mask) {
        size_t node = g->slots[i] - 1;
        if (strcmp(g->nodes[node].address, address) == 0)
            return node;
    }
    return GRAPH_NONE;
}

size_t graph_add_node(graph *g, const char *address)
{
    size_t found = graph_find(g, address);
    if (found != GRAPH_NONE)
        return found;
    if (g->count == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 16;
        g->nodes = util_realloc(g->nodes, g->cap * sizeof(*g->nodes));
    }
    size_t node = g->count++;
    memset(&g->nodes[node], 0, sizeof(g->nodes[node]));
    g->nodes[node].address = util_strdup(address);
    if (2 * g->count > g->nslots)
        index_grow(g); /* reinserts every node, this one included */
    else
        index_insert(g, node);
    return node;
}

size_t graph_count(const graph *g)
{
    return g->count;
}

const char *graph_address(const graph *g, size_t node)
{
    return node < g->count ? g->nodes[node].address : NULL;
}

void graph_add_edge(graph *g, size_t from, size_t to)
{
    if (from >= g->count || to >= g->count)
        return;
    list_push(&g->nodes[from].succ, to);
    list_push(&g->nodes[to].pred, from);
}

const size_t *graph_successors(const graph *g, size_t node, size_t *n)
{
    *n = g->nodes[node].succ.len;
    return g->nodes[node].succ.items;
}

const size_t *graph_predecessors(const graph *g, size_t node, size_t *n)
{
    *n = g->nodes[node].pred.len;
    return g->nodes[node].pred.items;
}

/* Every node left after Kahn's sort has a predecessor that is also left,
 * so walking predecessors from any of them must revisit a node: the loop
 * from that node back to itself is a cycle. */
static void find_cycle(const graph *g, const size_t *indegree, size_t **cycle, size_t *ncycle)
{
    size_t *seen_at = util_malloc(g->count * sizeof(*seen_at));
    size_t *path = util_malloc(g->count * sizeof(*path));
    size_t len = 0, start = GRAPH_NONE;

    for (size_t i = 0; i < g->count; i++)
        seen_at[i] = GRAPH_NONE;
    for (size_t i = 0; i < g->count && start == GRAPH_NONE; i++)
        if (indegree[i] > 0)
            start = i;
    size_t node = start;
    while (seen_at[node] == GRAPH_NONE) {
        seen_at[node] = len;
        path[len++] = node;
        const index_list *pred = &g->nodes[node].pred;
        size_t next = GRAPH_NONE;
        for (size_t k = 0; k < pred->len && next == GRAPH_NONE; k++)
            if (indegree[pred->items[k]] > 0)
                next = pred->items[k];
        node = next;
    }
    /* path[seen_at[node] .. len) is the cycle; rotate it to start at its
     * lowest-numbered node so the message is stable. */
    size_t first = seen_at[node], n = len - first, lowest = 0;
    for (size_t k = 1; k < n; k++)
        if (path[first + k] < path[first + lowest])
            lowest = k;
    *cycle = util_malloc(n * sizeof(**cycle));
    for (size_t k = 0; k < n; k++)
        (*cycle)[k] = path[first + (lowest + k) % n];
    *ncycle = n;
    free(path);
    free(seen_at);
}

int graph_order(const graph *g, size_t **order, size_t **cycle, size_t *ncycle)
{
    size_t *indegree = util_calloc(g->count, sizeof(*indegree));
    size_t *out = util_malloc(g->count * sizeof(*out));
    size_t head = 0, tail = 0;
    int error = 0;

    *order = NULL;
    if (cycle) {
        *cycle = NULL;
        *ncycle = 0;
    }
    for (size_t i = 0; i < g->count; i++)
        indegree[i] = g->nodes[i].pred.len;
    for (size_t i = 0; i < g->count; i++)
        if (indegree[i] == 0)
            out[tail++] = i;
    /* out doubles as the FIFO queue: what has been dequeued is the order. */
    while (head < tail) {
        const index_list *succ = &g->nodes[out[head++]].succ;
        for (size_t k = 0; k < succ->len; k++)
            if (--indegree[succ->items[k]] == 0)
                out[tail++] = succ->items[k];
    }
    if (tail < g->count) {
        error = INFRA_EINVALID;
        if (cycle)
            find_cycle(g, indegree, cycle, ncycle);
        free(out);
        goto done;
    }
    *order = out;
done:
    free(indegree);
    return error;
}

char *graph_cycle_text(const graph *g, const size_t *cycle, size_t ncycle)
{
    util_buf b = {0};
    for (size_t k = 0; k < ncycle; k++)
        util_buf_printf(&b, "%s -> ", g->nodes[cycle[k]].address);
    if (ncycle > 0)
        util_buf_puts(&b, g->nodes[cycle[0]].address);
    return util_buf_take(&b);
}

static void dot_quoted(FILE *out, const char *text)
{
    fputc('"', out);
    for (; *text; text++) {
        if (*text == '"' || *text == '\\')
            fputc('\\', out);
        fputc(*text, out);
    }
    fputc('"', out);
}

void graph_write_dot(const graph *g, FILE *out, const char *name, graph_dot_style_fn style,
                     void *ud)
{
    fputs("digraph ", out);
    dot_quoted(out, name ? name : "infra");
    fputs(" {\n  rankdir=LR;\n  node [shape=box];\n", out);
    for (size_t i = 0; i < g->count; i++) {
        const char *attrs = style ? style(ud, i) : NULL;
        fputs("  ", out);
        dot_quoted(out, g->nodes[i].address);
        if (attrs && *attrs)
            fprintf(out, " [%s]", attrs);
        fputs(";\n", out);
    }
    for (size_t i = 0; i < g->count; i++) {
        const index_list *succ = &g->nodes[i].succ;
        for (size_t k = 0; k < succ->len; k++) {
            fputs("  ", out);
            dot_quoted(out, g->nodes[i].address);
            fputs(" -> ", out);
            dot_quoted(out, g->nodes[succ->items[k]].address);
            fputs(";\n", out);
        }
    }
    fputs("}\n", out);
}
