/* Logging to stderr with secret masking. */
#include "services/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static log_level min_level = LOG_INFO;
static char **secrets;
static size_t nsecrets;

void log_set_level(log_level level)
{
    min_level = level;
}

log_level log_get_level(void)
{
    return min_level;
}

void log_add_secret(const char *value)
{
    if (!value || strlen(value) < 4)
        return;
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < nsecrets; i++) {
        if (strcmp(secrets[i], value) == 0) {
            pthread_mutex_unlock(&log_lock);
            return;
        }
    }
    secrets = util_realloc(secrets, (nsecrets + 1) * sizeof(*secrets));
    secrets[nsecrets++] = util_strdup(value);
    pthread_mutex_unlock(&log_lock);
}

/* Caller holds log_lock. */
static char *redact_locked(const char *text)
{
    util_buf b = {0};
    const char *p = text;
    while (*p) {
        size_t matched = 0;
        for (size_t i = 0; i < nsecrets; i++) {
            size_t n = strlen(secrets[i]);
            if (strncmp(p, secrets[i], n) == 0 && n > matched)
                matched = n;
        }
        if (matched) {
            util_buf_puts(&b, "[redacted]");
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
    char *clean = redact_locked(raw);
    if (level == LOG_INFO)
        fprintf(stderr, "infra: %s\n", clean);
    else
        fprintf(stderr, "infra: %s: %s\n", names[level], clean);
    pthread_mutex_unlock(&log_lock);
    free(clean);
    free(raw);
}
