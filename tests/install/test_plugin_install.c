/* plugins/common/plugin_install on a node: the whole install against a
 * real OpenSSH sshd on 127.0.0.1 that this test starts (sshd_fixture.h).
 * dpkg runs for real, in a directory of the test's own: the sshd session's
 * PATH (SetEnv) puts wrappers first that give dpkg --root and dpkg-query
 * --admindir, so the machine's package database is never touched. Needs
 * root (sshd). Items and scripts alone: test_plugin_install_items.c. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "install_test.h"

static struct {
    int available;
    sshd_fixture sshd; /* its directory holds the files of the tests too */
    char *dpkg_root;   /* dpkg's --root */
    char *bin;         /* the bin_dir of the tests */
    char item[64];     /* an item name of this run: its package cache is ours */
    infra_ssh *ssh;    /* the session of the tests, opened by the first */
} fx;

/* The diagnostics of the last apply. */
static diags last;

static int group_setup(void **state)
{
    pu_init(host_table(), "install test");
    if (access(SSHD_FIXTURE_SSHD, X_OK) != 0 || geteuid() != 0)
        return 0; /* the tests that need it say so */
    sshd_fixture_init(&fx.sshd, "install", 0);
    install_test_dir = fx.sshd.dir;
    snprintf(fx.item, sizeof(fx.item), "infratest-%ld", (long)getpid());
    fx.dpkg_root = util_printf("%s/dpkg-root", fx.sshd.dir);
    fx.bin = util_printf("%s/bin", fx.sshd.dir);
    /* dpkg and dpkg-query of the sessions work in dpkg_root */
    const char *dir = fx.sshd.dir;
    sshd_fixture_sh(
        "mkdir -p '%s/shim' '%s/var/lib/dpkg/info' '%s/var/lib/dpkg/updates' && "
        "touch '%s/var/lib/dpkg/status' && "
        "printf '#!/bin/sh\\necho \"$*\" >>%s/dpkg.calls\\nexec /usr/bin/dpkg --root=%s \"$@\"\\n' "
        ">'%s/shim/dpkg' && "
        "printf '#!/bin/sh\\nexec /usr/bin/dpkg-query --admindir=%s/var/lib/dpkg \"$@\"\\n' "
        ">'%s/shim/dpkg-query' && chmod 755 '%s/shim/dpkg' '%s/shim/dpkg-query'",
        dir, fx.dpkg_root, fx.dpkg_root, fx.dpkg_root, dir, fx.dpkg_root, dir, fx.dpkg_root, dir,
        dir, dir);
    if (sshd_fixture_start(&fx.sshd, "shim") != 0)
        return -1;
    fx.available = 1;
    return 0;
}

static int group_teardown(void **state)
{
    ssh_api()->close(fx.ssh);
    if (fx.item[0]) {
        char *cache = util_printf(PU_INSTALL_CACHE_DIR "/%s", fx.item);
        sshd_fixture_remove_tree(cache);
        free(cache);
        rmdir(PU_INSTALL_CACHE_DIR); /* only when no other item is kept there */
        rmdir("/var/cache/infra");
    }
    sshd_fixture_free(&fx.sshd);
    install_test_dir = NULL;
    util_buf_free(&last.text);
    free(fx.dpkg_root);
    free(fx.bin);
    memset(&fx, 0, sizeof(fx));
    return 0;
}

#define REQUIRE_SSHD()                                                                             \
    do {                                                                                           \
        if (!fx.available)                                                                         \
            fail_msg("needs root and " SSHD_FIXTURE_SSHD " (scripts/deps.sh installs it)");        \
    } while (0)

/* pu_install_apply on the fixture's sshd; its result, diagnostics in d
 * (the last apply's, cleared first). */
static int apply(const pu_install *in, int root, pu_install_result *res, diags *d)
{
    infra_call call;
    if (fx.ssh == NULL) /* one session for every test: connecting is the slow part */
        fx.ssh = sshd_fixture_session(&fx.sshd);
    infra_ssh *ssh = fx.ssh;
    host_call_init(&call, "test", "install");
    util_buf_free(&d->text);
    memset(d, 0, sizeof(*d));
    call.diag = collect;
    call.diag_ud = d;
    pu_install_node node = {ssh, "node-0", root};
    int rc = pu_install_apply(&call, &node, in, fx.bin, "install.x", res);
    host_call_clear(&call);
    return rc;
}

/* ------------------------------------------------------------------ */
/* On a node                                                          */

static void test_install_program_uploads_once_and_again_only_when_it_changes(void **state)
{
    REQUIRE_SSHD();
    const char *name = "infratest-prog";
    char *prog = put_file("prog-v1", "#!/bin/sh\necho v1\n", 0644);
    char *sha = sha_of(prog);
    infra_json *s = spec(prog, sha);
    pu_install in;
    pu_install_result res;
    load(name, s, &in);
    char *dest = util_printf("%s/%s", fx.bin, name);

    /* first: uploaded, root's, 0755, the same bytes */
    if (apply(&in, 1, &res, &last) != 0)
        fail_msg("%s", text(&last));
    assert_int_equal(res.uploaded, 1);
    assert_int_equal(res.bytes, strlen("#!/bin/sh\necho v1\n"));
    assert_true(res.changed);
    assert_string_equal(res.path, dest);
    pu_install_result_free(&res);
    char *got = sha_of(dest);
    assert_string_equal(got, sha);
    free(got);
    got = sshd_fixture_sh_line("stat -c '%%a %%u' '%s'", dest);
    assert_string_equal(got, "755 0");
    free(got);
    got = sshd_fixture_sh_line("'%s'", dest);
    assert_string_equal(got, "v1");
    free(got);
    char *inode = sshd_fixture_sh_line("stat -c %%i '%s'", dest);

    /* second: the node has the same hash: nothing uploaded, nothing changed */
    assert_int_equal(apply(&in, 1, &res, &last), 0);
    assert_int_equal(res.uploaded, 0);
    assert_false(res.changed);
    pu_install_result_free(&res);
    got = sshd_fixture_sh_line("stat -c %%i '%s'", dest);
    assert_string_equal(got, inode);
    free(got);

    /* the mode changed behind our back: set again, still no upload */
    sshd_fixture_sh("chmod 0700 '%s'", dest);
    assert_int_equal(apply(&in, 1, &res, &last), 0);
    assert_int_equal(res.uploaded, 0);
    assert_false(res.changed);
    pu_install_result_free(&res);
    got = sshd_fixture_sh_line("stat -c '%%a' '%s'", dest);
    assert_string_equal(got, "755");
    free(got);
    pu_install_free(&in);
    release(s);

    /* a new file with its new hash: uploaded and replaced */
    char *prog2 = put_file("prog-v2", "#!/bin/sh\necho v2\n", 0644);
    char *sha2 = sha_of(prog2);
    s = spec(prog2, sha2);
    load(name, s, &in);
    assert_int_equal(apply(&in, 1, &res, &last), 0);
    assert_int_equal(res.uploaded, 1);
    assert_true(res.changed);
    pu_install_result_free(&res);
    got = sshd_fixture_sh_line("'%s'", dest);
    assert_string_equal(got, "v2");
    free(got);
    /* nothing is left beside it */
    got = sshd_fixture_sh_line("ls -A '%s' | tr '\\n' ' '", fx.bin);
    assert_string_equal(got, "infratest-prog ");
    free(got);
    pu_install_free(&in);
    release(s);
    free(sha2);
    free(prog2);
    free(inode);
    free(dest);
    free(sha);
    free(prog);
}

static void test_install_copy_that_differs_on_the_node_is_refused(void **state)
{
    REQUIRE_SSHD();
    const char *name = "infratest-corrupt";
    char *prog = put_file("prog-corrupt", "#!/bin/sh\necho good\n", 0644);
    char *sha = sha_of(prog);
    infra_json *s = spec(prog, sha);
    pu_install in;
    pu_install_result res;
    load(name, s, &in);
    /* the bytes that travel are not those that were checked (as if changed
     * on the way): the node's check after the upload refuses them */
    free(in.files[0].data);
    in.files[0].data = util_strdup("#!/bin/sh\necho evil\n");
    in.files[0].len = strlen(in.files[0].data);
    for (int root = 1; root >= 0; root--) {
        assert_int_equal(apply(&in, root, &res, &last), INFRA_EINVALID);
        assert_contains(text(&last),
                        "node node-0: install.x: installing failed: the uploaded copy of "
                        "infratest-corrupt on this node has SHA-256");
        assert_contains(text(&last), sha);
        char *dest = util_printf("%s/%s", fx.bin, name);
        assert_int_equal(access(dest, F_OK), -1); /* never put in place */
        free(dest);
    }
    pu_install_free(&in);
    release(s);
    free(sha);
    free(prog);
}

static void test_install_staged_for_a_login_that_is_not_root(void **state)
{
    REQUIRE_SSHD();
    /* root: 0 makes the plugin stage in a directory of the login user's
     * and install from there as root (sudo is the host's business) */
    char *prog = put_file("prog-staged", "#!/bin/sh\necho staged\n", 0644);
    char *sha = sha_of(prog);
    infra_json *s = spec(prog, sha);
    pu_install in;
    pu_install_result res;
    load("infratest-staged", s, &in);
    if (apply(&in, 0, &res, &last) != 0)
        fail_msg("%s", text(&last));
    assert_int_equal(res.uploaded, 1);
    pu_install_result_free(&res);
    char *got = sshd_fixture_sh_line("'%s/infratest-staged'", fx.bin);
    assert_string_equal(got, "staged");
    free(got);
    /* the staging directory is gone */
    got = sshd_fixture_sh_line("find /tmp -maxdepth 2 -name infratest-staged 2>/dev/null | wc -l");
    assert_string_equal(got, "0");
    free(got);
    pu_install_free(&in);
    release(s);
    free(sha);
    free(prog);
}

static void test_install_packages_with_dpkg_only_when_not_installed(void **state)
{
    REQUIRE_SSHD();
    char *pkg = util_printf("%s-tool", fx.item);
    char *deb = make_deb(pkg, "1.0");
    char *sha = sha_of(deb);
    infra_json *s = spec(deb, sha);
    pu_install in;
    pu_install_result res;
    load(fx.item, s, &in);
    assert_int_equal(in.packages, 1);
    char *calls = util_printf("%s/dpkg.calls", fx.sshd.dir);
    char *cached = util_printf(PU_INSTALL_CACHE_DIR "/%s/%s_1.0_all.deb", fx.item, pkg);

    if (apply(&in, 1, &res, &last) != 0)
        fail_msg("%s", text(&last));
    assert_int_equal(res.uploaded, 1);
    assert_true(res.changed);
    assert_null(res.path);
    pu_install_result_free(&res);
    char *got = sha_of(cached);
    assert_string_equal(got, sha);
    free(got);
    got = sshd_fixture_sh_line(
        "/usr/bin/dpkg-query --admindir='%s/var/lib/dpkg' -W -f='${Status} ${Version}' "
        "'%s'",
        fx.dpkg_root, pkg);
    assert_string_equal(got, "install ok installed 1.0");
    free(got);
    got = sshd_fixture_sh_line("grep -c -- '-i' '%s'", calls);
    assert_string_equal(got, "1");
    free(got);

    /* again: the cache holds it and it is installed: nothing at all */
    assert_int_equal(apply(&in, 1, &res, &last), 0);
    assert_int_equal(res.uploaded, 0);
    assert_false(res.changed);
    pu_install_result_free(&res);
    got = sshd_fixture_sh_line("grep -c -- '-i' '%s'", calls);
    assert_string_equal(got, "1");
    free(got);

    /* the cache was cleaned: uploaded again, but installed already: no dpkg */
    unlink(cached);
    assert_int_equal(apply(&in, 1, &res, &last), 0);
    assert_int_equal(res.uploaded, 1);
    assert_false(res.changed);
    pu_install_result_free(&res);
    got = sshd_fixture_sh_line("grep -c -- '-i' '%s'", calls);
    assert_string_equal(got, "1");
    free(got);
    pu_install_free(&in);
    release(s);

    /* a new version: uploaded, installed, the old one dropped from the cache */
    char *deb2 = make_deb(pkg, "2.0");
    char *sha2 = sha_of(deb2);
    s = spec(deb2, sha2);
    load(fx.item, s, &in);
    assert_int_equal(apply(&in, 0, &res, &last), 0); /* staged this time */
    assert_int_equal(res.uploaded, 1);
    assert_true(res.changed);
    pu_install_result_free(&res);
    got = sshd_fixture_sh_line(
        "/usr/bin/dpkg-query --admindir='%s/var/lib/dpkg' -W -f='${Version}' '%s'", fx.dpkg_root,
        pkg);
    assert_string_equal(got, "2.0");
    free(got);
    assert_int_equal(access(cached, F_OK), -1);
    pu_install_free(&in);
    release(s);

    /* dpkg's refusal is quoted */
    char *bad = util_printf("%s/debs-bad/%s_3.0_all.deb", fx.sshd.dir, pkg);
    sshd_fixture_sh("mkdir -p \"$(dirname '%s')\" && { printf '!<arch>\\n'; echo broken; } >'%s'",
                    bad, bad);
    char *sha3 = sha_of(bad);
    s = spec(bad, sha3);
    load(fx.item, s, &in);
    assert_int_equal(apply(&in, 1, &res, &last), INFRA_EINVALID);
    assert_contains(text(&last), "dpkg -i refused the packages");
    assert_contains(text(&last), "dpkg");
    pu_install_free(&in);
    release(s);
    free(sha3);
    free(bad);
    free(sha2);
    free(deb2);
    free(cached);
    free(calls);
    free(sha);
    free(deb);
    free(pkg);
}

/* ------------------------------------------------------------------ */
/* The ABI 1.2 slots                                                  */

static int runs, writes;

static int slot_run(infra_call *call, infra_ssh *ssh, const char *command, int as_root, int *status,
                    char **out, char **err)
{
    runs++;
    return as_root ? ssh_api()->exec_sudo(ssh, command, status, out, err)
                   : ssh_api()->exec(ssh, command, status, out, err);
}

static int slot_write(infra_call *call, infra_ssh *ssh, const char *path, const void *data,
                      size_t len, int mode)
{
    writes++;
    return ssh_api()->upload(ssh, path, data, len, mode);
}

static void test_install_uses_run_and_write_file_when_the_host_has_them(void **state)
{
    REQUIRE_SSHD();
    infra_ssh_api api = *ssh_api();
    api.size = sizeof(api);
    api.run = slot_run;
    api.write_file = slot_write;
    infra_host host = *host_table();
    host.ssh = &api;
    pu_init(&host, "install test");
    char *prog = put_file("prog-slots", "#!/bin/sh\necho slots\n", 0644);
    char *sha = sha_of(prog);
    infra_json *s = spec(prog, sha);
    pu_install in;
    pu_install_result res;
    load("infratest-slots", s, &in);
    runs = writes = 0;
    int rc = apply(&in, 1, &res, &last);
    pu_init(host_table(), "install test");
    if (rc != 0)
        fail_msg("%s", text(&last));
    assert_int_equal(res.uploaded, 1);
    assert_int_equal(writes, 1);
    assert_true(runs >= 2); /* the inspection and the install */
    pu_install_result_free(&res);
    pu_install_free(&in);
    release(s);
    free(sha);
    free(prog);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_install_program_uploads_once_and_again_only_when_it_changes),
        cmocka_unit_test(test_install_copy_that_differs_on_the_node_is_refused),
        cmocka_unit_test(test_install_staged_for_a_login_that_is_not_root),
        cmocka_unit_test(test_install_packages_with_dpkg_only_when_not_installed),
        cmocka_unit_test(test_install_uses_run_and_write_file_when_the_host_has_them),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
