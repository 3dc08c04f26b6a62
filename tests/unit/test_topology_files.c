/* The files a topology is read from (the topology, --var-file) must be
 * regular files of at most 16 MiB: /dev/zero neither fills memory nor a
 * FIFO blocks the run, and the error names the file. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_topology_helpers.h"

static char dir[64];

static int setup(void **unused)
{
    snprintf(dir, sizeof(dir), "/tmp/infra-test-topology-files-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **unused)
{
    return rmdir(dir);
}

/* The first diagnostic of loading path (with opts), formatted. */
static char *load_file_error(const char *path, const topology_options *o)
{
    diag_list d = {0};
    topology *t = NULL;
    assert_int_equal(topology_load(path, o, &t, &d), INFRA_EINVALID);
    assert_null(t);
    assert_int_equal(d.count, 1);
    char *line = diag_format(&d.items[0]);
    diag_list_free(&d);
    return line;
}

static char *write_topology(const char *name, const char *text)
{
    char *path = util_printf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_topology_that_is_a_device_is_refused_before_reading_it(void **unused)
{
    char *line = load_file_error("/dev/zero", NULL);
    assert_string_equal(line, "/dev/zero: error: cannot read the topology: not a regular file (a "
                              "character device)");
    free(line);
}

static void test_topology_that_is_a_fifo_is_refused_without_waiting_for_a_writer(void **unused)
{
    char *fifo = util_printf("%s/topology.yaml", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    char *line = load_file_error(fifo, NULL);
    char *expected =
        util_printf("%s: error: cannot read the topology: not a regular file (a FIFO)", fifo);
    assert_string_equal(line, expected);
    free(expected);
    free(line);
    unlink(fifo);
    free(fifo);
}

static void test_topology_larger_than_16_mib_is_refused(void **unused)
{
    char *path = write_topology("big.yaml", "name: big\n");
    assert_int_equal(truncate(path, (16 << 20) + 1), 0); /* sparse: nothing is written */
    char *line = load_file_error(path, NULL);
    char *expected = util_printf("%s: error: cannot read the topology: larger than 16 MiB", path);
    assert_string_equal(line, expected);
    free(expected);
    free(line);
    unlink(path);
    free(path);
}

static void test_var_file_that_is_a_device_or_a_fifo_is_refused(void **unused)
{
    char *path = write_topology("t.yaml", "name: t\nvariables: { size: small }\n");
    char *fifo = util_printf("%s/vars.yaml", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);

    const char *const zero[] = {"/dev/zero", NULL};
    topology_options o = {.var_files = zero};
    char *line = load_file_error(path, &o);
    assert_string_equal(line, "/dev/zero: error: cannot read the --var-file: not a regular file "
                              "(a character device)");
    free(line);

    const char *const from_fifo[] = {fifo, NULL};
    o.var_files = from_fifo;
    line = load_file_error(path, &o);
    char *expected =
        util_printf("%s: error: cannot read the --var-file: not a regular file (a FIFO)", fifo);
    assert_string_equal(line, expected);
    free(expected);
    free(line);

    unlink(fifo);
    free(fifo);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topology_that_is_a_device_is_refused_before_reading_it),
        cmocka_unit_test(test_topology_that_is_a_fifo_is_refused_without_waiting_for_a_writer),
        cmocka_unit_test(test_topology_larger_than_16_mib_is_refused),
        cmocka_unit_test(test_var_file_that_is_a_device_or_a_fifo_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
