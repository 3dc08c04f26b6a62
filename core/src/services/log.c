/* Logging to stderr with secret masking and control characters escaped. */
#include "services/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static log_level min_level = LOG_INFO;
/* What is masked, and with what: secrets and sensitive values. */
typedef struct masked {
    char *value;
    const char *shown;
} masked;

static masked *secrets;
static size_t nsecrets;

void log_set_level(log_level level)
{
    min_level = level;
}

log_level log_get_level(void)
{
    return min_level;
}

static void add_masked(const char *value, const char *shown)
{
    if (!value || strlen(value) < 4)
        return;
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < nsecrets; i++) {
        if (strcmp(secrets[i].value, value) == 0) {
            pthread_mutex_unlock(&log_lock);
            return;
        }
    }
    secrets = util_realloc(secrets, (nsecrets + 1) * sizeof(*secrets));
    secrets[nsecrets].value = util_strdup(value);
    secrets[nsecrets].shown = shown;
    nsecrets++;
    pthread_mutex_unlock(&log_lock);
}

void log_add_secret(const char *value)
{
    add_masked(value, "[redacted]");
}

void log_add_sensitive(const char *value)
{
    add_masked(value, "(sensitive)");
}

/* Caller holds log_lock. */
static char *redact_locked(const char *text)
{
    util_buf b = {0};
    const char *p = text;
    while (*p) {
        size_t matched = 0;
        const char *shown = NULL;
        for (size_t i = 0; i < nsecrets; i++) {
            size_t n = strlen(secrets[i].value);
            if (n > matched && strncmp(p, secrets[i].value, n) == 0) {
                matched = n;
                shown = secrets[i].shown;
            }
        }
        if (matched) {
            util_buf_puts(&b, shown);
            p += matched;
        } else {
            util_buf_put(&b, p, 1);
            p++;
        }
    }
    return util_buf_take(&b);
}

char *log_redact(const char *text)
{
    pthread_mutex_lock(&log_lock);
    char *out = redact_locked(text);
    pthread_mutex_unlock(&log_lock);
    return out;
}

char *log_display(const char *text)
{
    char *masked_text = log_redact(text);
    char *shown = util_escape_controls(masked_text);
    free(masked_text);
    return shown;
}

void log_msg(log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warning", "error"};
    if (level < min_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *raw = util_vprintf(fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_lock);
    char *masked_text = redact_locked(raw);
    char *clean = util_escape_controls(masked_text);
    free(masked_text);
    if (level == LOG_INFO)
        fprintf(stderr, "infra: %s\n", clean);
    else
        fprintf(stderr, "infra: %s: %s\n", names[level], clean);
    pthread_mutex_unlock(&log_lock);
    free(clean);
    free(raw);
}
