/* The unknown value: what a reference to something not made yet evaluates
 * to before apply. It is a JSON string holding a byte no user value can
 * hold (0xff, which is never valid UTF-8: YAML, JSON and the host's JSON
 * service refuse it), so it travels inside configurations as a distinct
 * value, never as text a user could have written. jansson refuses to dump
 * it, so it can never be written to the state by mistake either. */
#ifndef INFRA_UNKNOWN_H
#define INFRA_UNKNOWN_H

#include <jansson.h>

/* What the CLI shows in place of an unknown value. */
#define UNKNOWN_TEXT "(known after apply)"

/* A new unknown value. */
json_t *unknown_new(void);

/* 1 when v is an unknown value. */
int unknown_is(const json_t *v);

/* 1 when v is or holds (in an array or object) an unknown value. */
int unknown_in(const json_t *v);

/* A copy of v with every unknown value replaced by the string
 * UNKNOWN_TEXT, for display and --json output. New value. */
json_t *unknown_shown(const json_t *v);

/* The same with null in place of every unknown value. New value. */
json_t *unknown_nulled(const json_t *v);

#endif
