/* The topology corpus: every tests/topologies/bad/NAME.yaml is refused
 * with NAME.expected as its first diagnostic (options from NAME.args:
 * -e NAME, --var K=V, --var-file FILE), and every
 * tests/topologies/good/NAME.yaml loads without a diagnostic. Each
 * directory is the working directory while its files load, so that
 * diagnostics name the file as "NAME.yaml". Cases that only a later stage
 * refuses (a dependency cycle) must load here. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "infra/plugin.h"
#include "topology/topology.h"
#include "base/util.h"

/* Sorted NAME.yaml entries of dir; caller frees each and the array. */
static char **yaml_files(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    char **names = NULL;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 5 && !strcmp(e->d_name + len - 5, ".yaml")) {
            names = util_realloc(names, (*n + 1) * sizeof(*names));
            names[(*n)++] = util_strdup(e->d_name);
        }
    }
    closedir(d);
    for (size_t i = 0; i < *n; i++)
        for (size_t k = i + 1; k < *n; k++)
            if (strcmp(names[k], names[i]) < 0) {
                char *s = names[i];
                names[i] = names[k];
                names[k] = s;
            }
    return names;
}

/* Cases refused after loading (the dependency graph finds cycles): the
 * `infra validate` runner checks them; here they must load. */
static int later_stage(const char *expected)
{
    return expected && strstr(expected, ": dependency cycle: ") != NULL;
}

/* NAME.plugin beside a bad topology: a provider's validate refuses it,
 * after the loader accepted it (e2e/bad-topologies runs the plugins). */
static int plugin_stage(const char *name)
{
    char *path = util_printf("%s.plugin", name);
    int found = access(path, F_OK) == 0;
    free(path);
    return found;
}

/* The first line of path, or NULL when there is no such file. */
static char *first_line(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char buf[4096] = "";
    if (!fgets(buf, sizeof(buf), f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return util_strdup(buf);
}

typedef struct args {
    char *text;
    const char *vars[16];
    const char *files[16];
    size_t nvars, nfiles;
    topology_options opts;
} args;

/* Options from NAME.args, as `infra validate` would take them. */
static void read_args(const char *name, args *a)
{
    memset(a, 0, sizeof(*a));
    char *path = util_printf("%s.args", name);
    a->text = first_line(path);
    free(path);
    if (!a->text)
        return;
    char *save = NULL;
    for (char *tok = strtok_r(a->text, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        char *value = strtok_r(NULL, " \t", &save);
        assert_non_null(value);
        if (!strcmp(tok, "-e") || !strcmp(tok, "--env"))
            a->opts.environment = value;
        else if (!strcmp(tok, "--var") && a->nvars < 15)
            a->vars[a->nvars++] = value;
        else if (!strcmp(tok, "--var-file") && a->nfiles < 15)
            a->files[a->nfiles++] = value;
        else
            fail_msg("%s.args: unknown option %s", name, tok);
    }
    a->opts.vars = a->nvars ? a->vars : NULL;
    a->opts.var_files = a->nfiles ? a->files : NULL;
}

static void enter(const char *sub, char *saved, size_t len)
{
    assert_non_null(getcwd(saved, len));
    char *dir = util_printf("%s/topologies/%s", TEST_SOURCE_DIR, sub);
    assert_int_equal(chdir(dir), 0);
    free(dir);
}

static void test_topology_corpus_bad_files_give_their_expected_first_diagnostic(void **unused)
{
    char cwd[4096];
    enter("bad", cwd, sizeof(cwd));
    unsetenv("INFRA_CORPUS_SURELY_UNSET");
    size_t n = 0;
    char **files = yaml_files(".", &n);
    assert_true(n >= 13);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        char *name = util_strndup(files[i], strlen(files[i]) - 5);
        char *exp_path = util_printf("%s.expected", name);
        char *expected = first_line(exp_path);
        args a;
        read_args(name, &a);
        diag_list d = {0};
        topology *t = NULL;
        int rc = topology_load(files[i], &a.opts, &t, &d);
        char *got = d.count ? diag_format(&d.items[0]) : util_strdup("(no diagnostic)");
        if (!expected) {
            fprintf(stderr, "FAIL %s: no %s (first diagnostic: %s)\n", files[i], exp_path, got);
            failed++;
        } else if (later_stage(expected) || plugin_stage(name)) {
            if (rc != 0) {
                fprintf(stderr, "FAIL %s: should load (refused later), got: %s\n", files[i], got);
                failed++;
            }
        } else if (rc != INFRA_EINVALID || t) {
            fprintf(stderr, "FAIL %s: loaded (rc %d)\n", files[i], rc);
            failed++;
        } else if (strcmp(got, expected)) {
            fprintf(stderr, "FAIL %s\n  expected: %s\n  got:      %s\n", files[i], expected, got);
            failed++;
        }
        topology_free(t);
        diag_list_free(&d);
        free(got);
        free(a.text);
        free(expected);
        free(exp_path);
        free(name);
        free(files[i]);
    }
    free(files);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(failed, 0);
}

static void test_topology_corpus_good_files_load_without_diagnostics(void **unused)
{
    char cwd[4096];
    enter("good", cwd, sizeof(cwd));
    size_t n = 0;
    char **files = yaml_files(".", &n);
    assert_true(n >= 1);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        diag_list d = {0};
        topology *t = NULL;
        int rc = topology_load(files[i], NULL, &t, &d);
        if (rc != 0 || d.count) {
            fprintf(stderr, "FAIL %s:\n", files[i]);
            diag_print(&d, stderr);
            failed++;
        } else {
            assert_non_null(t);
            assert_true(t->nresources > 0 || t->noutputs > 0);
        }
        topology_free(t);
        diag_list_free(&d);
        free(files[i]);
    }
    free(files);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(failed, 0);
}

/* The file with every section loads in each of its environments. */
static void test_topology_corpus_full_example_loads_in_every_environment(void **unused)
{
    char cwd[4096];
    enter("good", cwd, sizeof(cwd));
    const char *envs[] = {"int", "prod"};
    size_t previous = 0;
    for (size_t i = 0; i < 2; i++) {
        topology_options o = {.environment = envs[i]};
        diag_list d = {0};
        topology *t = NULL;
        int rc = topology_load("full.yaml", &o, &t, &d);
        diag_print(&d, stderr);
        assert_int_equal(rc, 0);
        assert_string_equal(t->environment, envs[i]);
        /* prod declares more web instances and clients than int. */
        assert_true(t->nresources > previous);
        previous = t->nresources;
        assert_int_equal(t->nclusters, 1);
        assert_int_equal(t->njobs, 2);
        topology_free(t);
        diag_list_free(&d);
    }
    assert_int_equal(chdir(cwd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topology_corpus_bad_files_give_their_expected_first_diagnostic),
        cmocka_unit_test(test_topology_corpus_good_files_load_without_diagnostics),
        cmocka_unit_test(test_topology_corpus_full_example_loads_in_every_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
