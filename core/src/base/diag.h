/* Diagnostics: errors and warnings that point at a place in a topology file.
 * Printed as "FILE:LINE:COL: error: KEY: message". */
#ifndef INFRA_DIAG_H
#define INFRA_DIAG_H

#include <stdio.h>

typedef enum { DIAG_WARNING = 1, DIAG_ERROR = 2 } diag_severity;

/* A place in a source file; file is borrowed (lives as long as the topology). */
typedef struct diag_loc {
    const char *file;
    int line;   /* 1-based; 0 = unknown */
    int column; /* 1-based; 0 = unknown */
} diag_loc;

typedef struct diag {
    diag_severity severity;
    char *file;    /* owned copy, may be NULL */
    int line;
    int column;
    char *key;     /* dotted key path ("instances.web.count"), may be NULL */
    char *message; /* owned */
} diag;

typedef struct diag_list {
    diag *items;
    size_t count;
    size_t cap;
    size_t errors;
} diag_list;

/* Appends a diagnostic; loc and key may be NULL. Thread-safe only under the caller's lock. */
void diag_add(diag_list *list, diag_severity sev, const diag_loc *loc, const char *key,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Prints every diagnostic, one line each, in the order added, with control
 * characters escaped (a message may quote a value from the topology). */
void diag_print(const diag_list *list, FILE *out);

/* Formats one diagnostic as a line without newline; caller frees. */
char *diag_format(const diag *d);

void diag_list_free(diag_list *list);

#endif
