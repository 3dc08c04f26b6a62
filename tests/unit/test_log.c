/* Logging: registered secrets never reach stderr, levels filter lines.
 * stderr is captured through a pipe drained by a reader thread, so a long
 * line cannot fill the pipe and block the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "services/log.h"
#include "base/util.h"

typedef struct capture {
    int saved;
    int pipe_fds[2];
    pthread_t reader;
    util_buf text;
} capture;

static void *drain(void *arg)
{
    capture *c = arg;
    char chunk[512];
    ssize_t n;
    while ((n = read(c->pipe_fds[0], chunk, sizeof(chunk))) > 0)
        util_buf_put(&c->text, chunk, (size_t)n);
    return NULL;
}

static void capture_begin(capture *c)
{
    memset(c, 0, sizeof(*c));
    fflush(stderr);
    assert_int_equal(pipe(c->pipe_fds), 0);
    c->saved = dup(2);
    assert_true(c->saved >= 0);
    assert_int_equal(dup2(c->pipe_fds[1], 2), 2);
    close(c->pipe_fds[1]);
    assert_int_equal(pthread_create(&c->reader, NULL, drain, c), 0);
}

/* Restores stderr and returns everything written meanwhile (caller frees). */
static char *capture_end(capture *c)
{
    fflush(stderr);
    dup2(c->saved, 2); /* closes the last write end: the reader sees EOF */
    close(c->saved);
    pthread_join(c->reader, NULL);
    close(c->pipe_fds[0]);
    return util_buf_take(&c->text);
}

static void test_log_masks_registered_secret_in_log_lines(void **state)
{
    log_add_secret("AKIAEXAMPLESECRET99");
    capture cap;
    capture_begin(&cap);
    log_msg(LOG_WARN, "signing with %s for %s", "AKIAEXAMPLESECRET99", "us-east-1");
    log_msg(LOG_INFO, "twice: AKIAEXAMPLESECRET99/AKIAEXAMPLESECRET99");
    char *out = capture_end(&cap);

    assert_null(strstr(out, "AKIAEXAMPLESECRET99"));
    assert_non_null(strstr(out, "infra: warning: signing with [redacted] for us-east-1\n"));
    assert_non_null(strstr(out, "infra: twice: [redacted]/[redacted]\n"));
    free(out);
}

static void test_log_masks_the_longest_of_overlapping_secrets(void **state)
{
    log_add_secret("overlap-short");
    log_add_secret("overlap-short-and-longer");
    capture cap;
    capture_begin(&cap);
    log_msg(LOG_ERROR, "x overlap-short-and-longer y overlap-short z");
    char *out = capture_end(&cap);
    assert_non_null(strstr(out, "infra: error: x [redacted] y [redacted] z\n"));
    assert_null(strstr(out, "and-longer"));
    free(out);
}

static void test_log_redact_returns_a_masked_copy(void **state)
{
    log_add_secret("redact-me-please");
    const char *text = "before redact-me-please after";
    char *clean = log_redact(text);
    assert_string_equal(clean, "before [redacted] after");
    assert_string_equal(text, "before redact-me-please after");
    free(clean);

    clean = log_redact("nothing to hide");
    assert_string_equal(clean, "nothing to hide");
    free(clean);
    clean = log_redact("");
    assert_string_equal(clean, "");
    free(clean);
}

static void test_log_masks_secret_in_a_long_line(void **state)
{
    log_add_secret("needle-in-haystack-0042");
    util_buf line = {0};
    for (int i = 0; i < 2000; i++)
        util_buf_puts(&line, "hay ");
    util_buf_puts(&line, "needle-in-haystack-0042 end");
    capture cap;
    capture_begin(&cap);
    log_msg(LOG_INFO, "%s", line.data);
    char *out = capture_end(&cap);
    assert_null(strstr(out, "needle-in-haystack-0042"));
    assert_non_null(strstr(out, "hay [redacted] end\n"));
    free(out);
    util_buf_free(&line);
}

static void test_log_level_filters_debug_until_verbose(void **state)
{
    log_level saved = log_get_level();
    log_set_level(LOG_INFO);
    capture cap;
    capture_begin(&cap);
    log_msg(LOG_DEBUG, "quiet detail");
    log_msg(LOG_INFO, "visible progress");
    log_set_level(LOG_DEBUG);
    log_msg(LOG_DEBUG, "verbose detail");
    char *out = capture_end(&cap);
    log_set_level(saved);

    assert_null(strstr(out, "quiet detail"));
    assert_non_null(strstr(out, "infra: visible progress\n"));
    assert_non_null(strstr(out, "infra: debug: verbose detail\n"));
    free(out);
}

static void test_log_ignores_secrets_too_short_to_mask_safely(void **state)
{
    /* Masking "abc" would shred ordinary words; values that short are not
     * registered. */
    log_add_secret("abc");
    log_add_secret(NULL);
    char *clean = log_redact("abcdef");
    assert_string_equal(clean, "abcdef");
    free(clean);
}

/* Control characters from a value are written out, never sent: ESC, CR,
 * newline, DEL, C1 controls and bytes that are not UTF-8; other text
 * (UTF-8 included) is kept, and escaping is idempotent. */
static void test_log_display_escapes_control_characters(void **state)
{
    char *clean = log_display("a\033]0;title\007b\nfake line\r\tc\177");
    assert_string_equal(clean, "a\\x1b]0;title\\x07b\\nfake line\\r\\tc\\x7f");
    char *twice = log_display(clean);
    assert_string_equal(twice, clean);
    free(twice);
    free(clean);

    clean = util_escape_controls("caf\xc3\xa9 \xc2\x9b"
                                 "31m \xff \xe2\x82\xac");
    assert_string_equal(clean, "caf\xc3\xa9 \\u009b31m \\xff \xe2\x82\xac");
    free(clean);
}

/* A sensitive variable's value prints as "(sensitive)", a secret's as
 * "[redacted]", and a line logged with either is masked then escaped. */
static void test_log_masks_sensitive_values_and_escapes_log_lines(void **state)
{
    log_add_sensitive("sensitive-value-77");
    log_add_sensitive("xyz"); /* too short to tell apart in free text */
    char *clean = log_redact("pw=sensitive-value-77 xyz");
    assert_string_equal(clean, "pw=(sensitive) xyz");
    free(clean);

    capture cap;
    capture_begin(&cap);
    log_msg(LOG_WARN, "value sensitive-value-77\n\033[2Jcleared");
    char *err = capture_end(&cap);
    assert_string_equal(err, "infra: warning: value (sensitive)\\n\\x1b[2Jcleared\n");
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_masks_registered_secret_in_log_lines),
        cmocka_unit_test(test_log_masks_the_longest_of_overlapping_secrets),
        cmocka_unit_test(test_log_redact_returns_a_masked_copy),
        cmocka_unit_test(test_log_masks_secret_in_a_long_line),
        cmocka_unit_test(test_log_level_filters_debug_until_verbose),
        cmocka_unit_test(test_log_ignores_secrets_too_short_to_mask_safely),
        cmocka_unit_test(test_log_display_escapes_control_characters),
        cmocka_unit_test(test_log_masks_sensitive_values_and_escapes_log_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
