/* Logging to stderr with levels, and masking of registered secret values. */
#ifndef INFRA_LOG_H
#define INFRA_LOG_H

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level;

/* Minimum level printed (default LOG_INFO; -v sets LOG_DEBUG). */
void log_set_level(log_level level);
log_level log_get_level(void);

/* Prints "infra: LEVEL: message" (with prefix when set) to stderr, after
 * replacing every registered secret by "[redacted]". Thread-safe. */
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Registers a value that must never be printed (copied; min length 4). */
void log_add_secret(const char *value);
/* Returns a new string with every registered secret replaced; caller frees. */
char *log_redact(const char *text);

#endif
