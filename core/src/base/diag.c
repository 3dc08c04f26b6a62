/* Diagnostics that point at a place in a topology file. */
#include "base/diag.h"

#include <stdarg.h>
#include <stdlib.h>

#include "base/util.h"

void diag_add(diag_list *list, diag_severity sev, const diag_loc *loc, const char *key,
              const char *fmt, ...)
{
    if (list->count == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 8;
        list->items = util_realloc(list->items, list->cap * sizeof(*list->items));
    }
    diag *d = &list->items[list->count++];
    d->severity = sev;
    d->file = loc && loc->file ? util_strdup(loc->file) : NULL;
    d->line = loc ? loc->line : 0;
    d->column = loc ? loc->column : 0;
    d->key = key && *key ? util_strdup(key) : NULL;
    va_list ap;
    va_start(ap, fmt);
    d->message = util_vprintf(fmt, ap);
    va_end(ap);
    if (sev == DIAG_ERROR)
        list->errors++;
}

char *diag_format(const diag *d)
{
    util_buf b = {0};
    if (d->file) {
        util_buf_puts(&b, d->file);
        if (d->line > 0) {
            util_buf_printf(&b, ":%d", d->line);
            if (d->column > 0)
                util_buf_printf(&b, ":%d", d->column);
        }
        util_buf_puts(&b, ": ");
    }
    util_buf_puts(&b, d->severity == DIAG_ERROR ? "error: " : "warning: ");
    if (d->key)
        util_buf_printf(&b, "%s: ", d->key);
    util_buf_puts(&b, d->message);
    return util_buf_take(&b);
}

void diag_print(const diag_list *list, FILE *out)
{
    for (size_t i = 0; i < list->count; i++) {
        char *line = diag_format(&list->items[i]);
        char *shown = util_escape_controls(line);
        fprintf(out, "%s\n", shown);
        free(shown);
        free(line);
    }
}

void diag_list_free(diag_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].file);
        free(list->items[i].key);
        free(list->items[i].message);
    }
    free(list->items);
    list->items = NULL;
    list->count = list->cap = list->errors = 0;
}
