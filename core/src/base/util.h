/* Small shared helpers: allocation that aborts on OOM, string building,
 * edit distance for "did you mean". */
#ifndef INFRA_UTIL_H
#define INFRA_UTIL_H

#include <stdarg.h>
#include <stddef.h>

/* malloc/calloc/realloc/strdup that abort with a message when memory is out. */
void *util_malloc(size_t len);
void *util_calloc(size_t n, size_t len);
void *util_realloc(void *ptr, size_t len);
char *util_strdup(const char *s);
char *util_strndup(const char *s, size_t n);

/* printf into a new string; caller frees. */
char *util_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *util_vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Growable byte buffer, always NUL-terminated when len > 0. */
typedef struct util_buf {
    char *data;
    size_t len;
    size_t cap;
} util_buf;

void util_buf_put(util_buf *b, const void *data, size_t len);
void util_buf_puts(util_buf *b, const char *s);
void util_buf_printf(util_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Moves the buffer's contents out (caller frees; "" when empty) and resets b. */
char *util_buf_take(util_buf *b);
void util_buf_free(util_buf *b);

/* Levenshtein distance between a and b. */
size_t util_edit_distance(const char *a, const char *b);

/* The candidate closest to word (distance <= max(2, strlen/3)), or NULL.
 * candidates is a NULL-terminated array; the result is borrowed from it. */
const char *util_did_you_mean(const char *word, const char *const *candidates);

/* Fills out with n random bytes from the OS; 0 or -1. */
int util_random(void *out, size_t n);

/* A new random identifier of 32 hex characters; caller frees. */
char *util_random_hex(void);

/* A copy of text fit for a terminal: every control character a value
 * could carry is written out instead of sent (ESC as \x1b, newline as \n,
 * tab as \t, carriage return as \r, other C0 bytes and DEL as \xHH, the
 * C1 controls U+0080..U+009F as \u0080..\u009f, and bytes that are not
 * UTF-8 as \xHH), so text from a topology, a state or a plugin cannot move
 * the cursor, retitle the window or fake a line. Other text, backslashes
 * included, is kept, so escaping twice changes nothing. Caller frees. */
char *util_escape_controls(const char *text);

/* Securely zero memory (not optimised away). */
void util_zero(void *ptr, size_t len);

#endif
