/* Progress reporting. Running operations are kept in a small table
 * (at most the parallelism); on a terminal a thread redraws the bottom
 * status line once a second, and every permanent line first clears it. */
#include "engine/progress.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "services/log.h"
#include "base/util.h"

#define C_RESET "\033[0m"
#define C_GREEN "\033[32m"
#define C_RED "\033[31m"
#define C_DIM "\033[2m"

typedef struct running_op {
    char *address;
    const char *verb;
    double started;
} running_op;

struct progress {
    FILE *out;
    int tty;
    int color;
    int json; /* JSON lines instead of text */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    running_op *ops;
    size_t nops;
    size_t cap;
    int status_shown; /* the bottom line is on screen */
    int quit;
    int has_thread;
    pthread_t thread;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Caller holds the lock. */
static void clear_status(progress *p)
{
    if (p->status_shown) {
        fputs("\r\033[K", p->out);
        p->status_shown = 0;
    }
}

/* The oldest running operation with its elapsed time. Caller holds the lock. */
static void draw_status(progress *p)
{
    clear_status(p);
    if (p->nops == 0) {
        fflush(p->out);
        return;
    }
    const running_op *op = &p->ops[0];
    char *address = util_escape_controls(op->address);
    fprintf(p->out, "%s%s: %s... %.0fs", p->color ? C_DIM : "", address, op->verb,
            now_s() - op->started);
    free(address);
    if (p->nops > 1)
        fprintf(p->out, " (+%zu more)", p->nops - 1);
    fputs(p->color ? C_RESET : "", p->out);
    fflush(p->out);
    p->status_shown = 1;
}

static void *redraw_main(void *arg)
{
    progress *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->quit) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&p->wake, &p->lock, &until);
        if (!p->quit)
            draw_status(p);
    }
    clear_status(p);
    fflush(p->out);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Writes event with its timestamp as one line; takes it. Caller holds the lock. */
static void emit(progress *p, json_t *event)
{
    struct timespec ts;
    struct tm tm;
    char when[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);
    json_object_set_new(event, "@timestamp", json_string(when));
    json_dumpf(event, p->out, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(6));
    fputc('\n', p->out);
    fflush(p->out);
    json_decref(event);
}

progress *progress_new_json(FILE *out)
{
    progress *p = progress_new(out, 0, 0);
    p->json = 1;
    return p;
}

void progress_event(progress *p, json_t *event)
{
    if (!p) {
        json_decref(event);
        return;
    }
    pthread_mutex_lock(&p->lock);
    emit(p, event);
    pthread_mutex_unlock(&p->lock);
}

progress *progress_new(FILE *out, int tty, int color)
{
    progress *p = util_calloc(1, sizeof(*p));
    p->out = out;
    p->tty = tty;
    p->color = tty && color;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (tty && pthread_create(&p->thread, NULL, redraw_main, p) == 0)
        p->has_thread = 1;
    return p;
}

void progress_free(progress *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    if (p->has_thread)
        pthread_join(p->thread, NULL);
    for (size_t i = 0; i < p->nops; i++)
        free(p->ops[i].address);
    free(p->ops);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void progress_start(progress *p, const char *address, const char *verb)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->nops == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->ops = util_realloc(p->ops, p->cap * sizeof(*p->ops));
    }
    p->ops[p->nops++] = (running_op){util_strdup(address), verb, now_s()};
    if (p->json) {
        emit(p, json_pack("{s:s, s:s, s:s}", "type", "resource_start", "address", address, "action",
                          verb));
    } else if (p->tty) {
        draw_status(p);
    } else {
        char *shown = util_escape_controls(address);
        fprintf(p->out, "%s: %s\n", shown, verb);
        free(shown);
        fflush(p->out);
    }
    pthread_mutex_unlock(&p->lock);
}

void progress_done(progress *p, const char *address, const char *past, int ok,
                   const char *detail)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    double started = now_s();
    for (size_t i = 0; i < p->nops; i++) {
        if (strcmp(p->ops[i].address, address) != 0)
            continue;
        started = p->ops[i].started;
        free(p->ops[i].address);
        memmove(&p->ops[i], &p->ops[i + 1], (p->nops - i - 1) * sizeof(*p->ops));
        p->nops--;
        break;
    }
    double secs = now_s() - started;
    char *clean = detail ? log_display(detail) : NULL;
    char *shown = util_escape_controls(address);
    clear_status(p);
    if (p->json) {
        json_t *ev =
            json_pack("{s:s, s:s, s:s, s:f}", "type", ok ? "resource_done" : "resource_failed",
                      "address", address, "action", ok ? past : "failed", "duration_s",
                      (double)(long long)(secs * 1000) / 1000);
        if (clean)
            json_object_set_new(ev, ok ? "detail" : "error", json_string(clean));
        emit(p, ev);
    } else if (ok)
        fprintf(p->out, p->tty ? "%s: %s%s%s (%.1fs)\n" : "%s: %s%s%s in %.1fs\n", shown,
                p->color ? C_GREEN : "", past, p->color ? C_RESET : "", secs);
    else
        fprintf(p->out, "%s: %sfailed%s after %.1fs%s%s\n", shown, p->color ? C_RED : "",
                p->color ? C_RESET : "", secs, clean ? ": " : "", clean ? clean : "");
    free(shown);
    free(clean);
    if (p->tty)
        draw_status(p);
    fflush(p->out);
    pthread_mutex_unlock(&p->lock);
}

void progress_note(progress *p, const char *fmt, ...)
{
    if (!p)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *text = util_vprintf(fmt, ap);
    va_end(ap);
    char *clean = log_display(text);
    pthread_mutex_lock(&p->lock);
    if (p->json) {
        emit(p, json_pack("{s:s, s:s}", "type", "message", "message", clean));
        pthread_mutex_unlock(&p->lock);
        free(clean);
        free(text);
        return;
    }
    clear_status(p);
    fprintf(p->out, "%s\n", clean);
    if (p->tty)
        draw_status(p);
    fflush(p->out);
    pthread_mutex_unlock(&p->lock);
    free(clean);
    free(text);
}
