/* Logging to stderr with levels, masking of registered secret and
 * sensitive values, and escaping of control characters: every line infra
 * prints that may hold a value from a topology, a state or a plugin goes
 * through log_display (log_redact where a text is kept, not printed). */
#ifndef INFRA_LOG_H
#define INFRA_LOG_H

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level;

/* Minimum level printed (default LOG_INFO; -v sets LOG_DEBUG). */
void log_set_level(log_level level);
log_level log_get_level(void);

/* Prints "infra: LEVEL: message" (with prefix when set) to stderr, after
 * log_display. Thread-safe. */
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Registers a value that must never be printed (copied; min length 4). */
void log_add_secret(const char *value);
/* Registers the value of a variable declared sensitive (copied; min length
 * 4: a shorter one cannot be told apart in free text), printed as
 * "(sensitive)". */
void log_add_sensitive(const char *value);
/* Returns a new string with every registered secret replaced by
 * "[redacted]" and every sensitive value by "(sensitive)"; caller frees. */
char *log_redact(const char *text);
/* log_redact, then control characters escaped (util_escape_controls): the
 * text as a terminal may be given it. Caller frees. */
char *log_display(const char *text);

#endif
