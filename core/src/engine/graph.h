/* A directed graph of resource addresses: O(1) lookup by address,
 * topological order, the first cycle named in dependency order, and DOT
 * output. An edge FROM -> TO means FROM must be finished before TO starts
 * (for the resource graph: dependency -> dependent). */
#ifndef INFRA_GRAPH_H
#define INFRA_GRAPH_H

#include <stddef.h>
#include <stdio.h>

typedef struct graph graph;

/* Index returned by graph_find for an unknown address. */
#define GRAPH_NONE ((size_t)-1)

/* A new empty graph (aborts when memory is out); free with graph_free. */
graph *graph_new(void);
void graph_free(graph *g);

/* Adds a node for address (copied) and returns its index; nodes are
 * numbered 0, 1, ... in the order added. An address already present keeps
 * its index. */
size_t graph_add_node(graph *g, const char *address);

/* Index of address, or GRAPH_NONE. */
size_t graph_find(const graph *g, const char *address);

size_t graph_count(const graph *g);
const char *graph_address(const graph *g, size_t node);

/* Adds the edge from -> to: `from` must finish before `to` starts. */
void graph_add_edge(graph *g, size_t from, size_t to);

/* Borrowed arrays of the nodes after / before node, valid until the next
 * graph_add_edge. */
const size_t *graph_successors(const graph *g, size_t node, size_t *n);
const size_t *graph_predecessors(const graph *g, size_t node, size_t *n);

/* Topological order (ties broken by insertion order). Returns 0 with
 * *order a new array of graph_count() indices (caller frees), or
 * INFRA_EINVALID when the graph has a cycle: *order is NULL and *cycle a
 * new array of *ncycle nodes forming one cycle, starting with the
 * lowest-numbered node on it and listed so that each node depends on
 * (has an edge from) the next one. cycle may be NULL when not wanted. */
int graph_order(const graph *g, size_t **order, size_t **cycle, size_t *ncycle);

/* "a -> b -> a" for a cycle returned by graph_order; caller frees. */
char *graph_cycle_text(const graph *g, const size_t *cycle, size_t ncycle);

/* Extra DOT attributes for a node ("color=green"), or NULL for none. */
typedef const char *(*graph_dot_style_fn)(void *ud, size_t node);

/* Writes the graph as a DOT digraph named name, one node per address and
 * one edge per dependency, drawn dependency -> dependent. */
void graph_write_dot(const graph *g, FILE *out, const char *name, graph_dot_style_fn style,
                     void *ud);

#endif
