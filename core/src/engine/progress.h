/* Progress lines of `infra up` and `infra down`, safe to call from the
 * worker threads.
 *
 * Not a terminal: one plain line per event
 *     instance.web[0]: creating
 *     instance.web[0]: created in 3.2s
 * On a terminal: the same finished lines, plus a status line at the bottom,
 * redrawn every second, naming what is running and for how long
 *     instance.web[0]: creating... 3s (+2 more)
 * Colours only on a terminal and only when NO_COLOR is unset.
 *
 * JSON (`up --json`, `down --json`): one object a line, for CI systems:
 *     {"type": "resource_start", "address": A, "action": "creating", "@timestamp": T}
 *     {"type": "resource_done", "address": A, "action": "created", "duration_s": 3.2, ...}
 *     {"type": "resource_failed", "address": A, "duration_s": 3.2, "error": TEXT, ...}
 *     {"type": "message", "message": TEXT, ...}
 * with T in UTC (2026-01-02T15:04:05.123Z); progress_event adds others. */
#ifndef INFRA_PROGRESS_H
#define INFRA_PROGRESS_H

#include <jansson.h>
#include <stdio.h>

typedef struct progress progress;

/* A new reporter writing to out; tty enables the redrawn status line,
 * color the colours. Free with progress_free (stops the redraw thread). */
progress *progress_new(FILE *out, int tty, int color);
void progress_free(progress *p);

/* A reporter writing JSON lines to out (see above). */
progress *progress_new_json(FILE *out);

/* Writes event (an object; "@timestamp" is added) as one JSON line of p's
 * output, between the other lines. Takes event. */
void progress_event(progress *p, json_t *event);

/* address started: verb is "creating", "updating", "replacing", "deleting", "reading". */
void progress_start(progress *p, const char *address, const char *verb);

/* address finished: past is "created", ... ; ok = 0 prints it as a failure
 * with detail (may be NULL). */
void progress_done(progress *p, const char *address, const char *past, int ok,
                   const char *detail);

/* A line of its own ("instance.lb: skipped (instance.web[1] failed)"). */
void progress_note(progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
