/* plugins/common/plugin_install on this machine: items read and checked
 * (hash first, a .zip's program, a directory of packages), the scripts run
 * on a node (what they quote and check) and the skip logic. The install on
 * a node is in test_plugin_install.c. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "install_test.h"

static int group_setup(void **state)
{
    pu_init(host_table(), "install test");
    char tmpl[] = "/tmp/infra-test-install-items-XXXXXX";
    if (!mkdtemp(tmpl))
        return -1;
    install_test_dir = util_strdup(tmpl);
    return 0;
}

static int group_teardown(void **state)
{
    if (install_test_dir)
        sshd_fixture_remove_tree(install_test_dir);
    free(install_test_dir);
    install_test_dir = NULL;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Items on this machine                                              */

static void test_install_spec_without_sha256_is_refused(void **state)
{
    infra_call call;
    diags d;
    call_begin(&call, &d);
    infra_json *s = spec("/bin/true", NULL);
    assert_int_equal(pu_install_check_spec(&call, "install.nomad", s), INFRA_EINVALID);
    assert_contains(text(&d), "[install.nomad.sha256] install.nomad needs sha256");
    release(s);
    s = spec_json("{\"file\": \"/bin/true\", \"sha256\": \"abc\", \"version\": 1}");
    assert_int_equal(pu_install_check_spec(&call, "install.nomad", s), INFRA_EINVALID);
    assert_contains(text(&d), "must be 64 hexadecimal digits");
    assert_contains(text(&d), "unknown key \"version\"");
    release(s);
    s = spec_json("{\"sha256\": {\"a b.deb\": \"x\"}}");
    assert_int_equal(pu_install_check_spec(&call, "install.zk", s), INFRA_EINVALID);
    assert_contains(text(&d), "install.zk needs file");
    assert_contains(text(&d), "\"a b.deb\" is not the name of a .deb file");
    release(s);
    call_end(&call, &d);
}

static void test_install_wrong_hash_is_refused_before_anything_is_sent(void **state)
{
    char *prog = put_file("prog-wrong", "#!/bin/sh\necho one\n", 0755);
    char *sha = sha_of(prog);
    char wrong[65];
    snprintf(wrong, sizeof(wrong), "%s", sha);
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    infra_call call;
    diags d;
    pu_install in;
    call_begin(&call, &d);
    infra_json *s = spec(prog, wrong);
    assert_int_equal(pu_install_load(&call, "install.nomad", "nomad", s, 0, &in), INFRA_EINVALID);
    assert_contains(text(&d), "[install.nomad.sha256]");
    assert_contains(text(&d), sha);
    assert_contains(text(&d), wrong);
    assert_contains(text(&d), "refusing to install it");
    pu_install_free(&in);
    release(s);
    /* a missing file is named with why */
    s = spec("/nonexistent/nomad", sha);
    assert_int_equal(pu_install_load(&call, "install.nomad", "nomad", s, 0, &in), INFRA_ENOTFOUND);
    assert_contains(text(&d), "[install.nomad.file] install.nomad: cannot read /nonexistent/nomad");
    pu_install_free(&in);
    release(s);
    /* upper-case hex is the same hash */
    for (char *p = sha; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    s = spec(prog, sha);
    assert_int_equal(pu_install_load(&call, "install.nomad", "nomad", s, 0, &in), 0);
    assert_int_equal(in.packages, 0);
    assert_int_equal(in.nfiles, 1);
    assert_string_equal(in.files[0].name, "nomad");
    assert_string_equal(in.files[0].data, "#!/bin/sh\necho one\n");
    assert_string_equal(in.digest, in.files[0].sha256);
    pu_install_free(&in);
    release(s);
    call_end(&call, &d);
    free(sha);
    free(prog);
}

static void test_install_zip_gives_its_program(void **state)
{
    char *zip = util_printf("%s/nomad_1.7.7_linux_amd64.zip", install_test_dir);
    const char *entries[] = {"LICENSE.txt", "license text\n", "nomad", "#!/bin/sh\necho zip\n",
                             NULL};
    make_zip(zip, entries);
    char *sha = sha_of(zip);
    pu_install in;
    infra_json *s = spec(zip, sha);
    load("nomad", s, &in);
    assert_int_equal(in.nfiles, 1);
    assert_string_equal(in.files[0].data, "#!/bin/sh\necho zip\n");
    /* what lands on nodes is the program, hashed as such */
    char *prog = put_file("zip-member", "#!/bin/sh\necho zip\n", 0755);
    char *want = sha_of(prog);
    assert_string_equal(in.files[0].sha256, want);
    assert_string_not_equal(in.files[0].sha256, sha);
    pu_install_free(&in);
    /* the check alone keeps nothing */
    infra_call call;
    diags d;
    call_begin(&call, &d);
    assert_int_equal(pu_install_load(&call, "install.x", "nomad", s, PU_INSTALL_CHECK_ONLY, &in),
                     0);
    assert_null(in.files[0].data);
    pu_install_free(&in);
    /* a zip without the program says so */
    assert_int_equal(pu_install_load(&call, "install.consul", "consul", s, 0, &in), INFRA_EINVALID);
    assert_contains(text(&d), "holds no file called consul");
    pu_install_free(&in);
    call_end(&call, &d);
    release(s);
    free(want);
    free(prog);
    free(sha);
    free(zip);
}

static void test_install_directory_must_match_its_hashes(void **state)
{
    char *a = make_deb("infratest-dir-a", "1.0");
    char *b = make_deb("infratest-dir-b", "1.0");
    char *dir = util_printf("%s/debs-1.0", install_test_dir);
    char *sa = sha_of(a), *sb = sha_of(b);
    infra_call call;
    diags d;
    pu_install in;
    call_begin(&call, &d);
    /* b is not listed */
    char *js = util_printf("{\"file\": \"%s\", \"sha256\": {\"infratest-dir-a_1.0_all.deb\": "
                           "\"%s\", \"other_1.0_all.deb\": \"%s\"}}",
                           dir, sa, sb);
    infra_json *s = spec_json(js);
    assert_int_equal(pu_install_load(&call, "install.zk", "zk", s, 0, &in), INFRA_EINVALID);
    assert_contains(text(&d), "infratest-dir-b_1.0_all.deb has no sha256");
    assert_contains(text(&d), "names other_1.0_all.deb, which is not in");
    pu_install_free(&in);
    release(s);
    free(js);
    /* a string for a directory */
    s = spec(dir, sa);
    assert_int_equal(pu_install_load(&call, "install.zk", "zk", s, 0, &in), INFRA_EINVALID);
    assert_contains(text(&d), "is a directory of packages: give sha256 as a map");
    pu_install_free(&in);
    release(s);
    call_end(&call, &d);
    js = util_printf("{\"file\": \"%s\", \"sha256\": {\"infratest-dir-b_1.0_all.deb\": \"%s\", "
                     "\"infratest-dir-a_1.0_all.deb\": \"%s\"}}",
                     dir, sb, sa);
    s = spec_json(js);
    load("zk", s, &in);
    assert_int_equal(in.packages, 1);
    assert_int_equal(in.nfiles, 2);
    assert_string_equal(in.files[0].name, "infratest-dir-a_1.0_all.deb"); /* sorted */
    assert_string_equal(in.files[1].sha256, sb);
    assert_string_not_equal(in.digest, sa);
    pu_install_free(&in);
    release(s);
    free(js);
    free(sa);
    free(sb);
    free(dir);
    free(a);
    free(b);
}

/* ------------------------------------------------------------------ */
/* Scripts and the skip logic                                         */

static void test_install_scripts_quote_and_check_what_they_install(void **state)
{
    pu_install_file f = {"nomad", "x", 1,
                         "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"};
    pu_install in = {.name = "nomad", .source = "/d/nomad.zip", .files = &f, .nfiles = 1};
    char *s = pu_install_inspect_script(&in, "/opt/my bin");
    assert_contains(s, "f='/opt/my bin/nomad'");
    assert_contains(s, "stat -c '%a %u'");
    assert_contains(s, "sha256sum");
    free(s);
    unsigned char up[1] = {1};
    pu_install_plan plan = {.upload = up, .nupload = 1};
    s = pu_install_commit_script(&in, &plan, "/opt/my bin", "/tmp/tmp.abc");
    /* the staged copy is checked, installed as root's 0755, and checked again */
    assert_contains(s, "check '/tmp/tmp.abc/nomad' "
                       "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881");
    assert_contains(s,
                    "install -m 755 -o 0 -g 0 '/tmp/tmp.abc/nomad' '/opt/my bin/.nomad.infra-new'");
    assert_contains(s, "mv -f -- '/opt/my bin/.nomad.infra-new' '/opt/my bin/nomad'");
    assert_contains(s, "check '/opt/my bin/nomad' 2d71");
    assert_contains(s, "rm -rf '/tmp/tmp.abc'");
    free(s);
    /* a root login uploads beside the destination */
    s = pu_install_stage_path(&in, 0, NULL, NULL);
    assert_string_equal(s, "/usr/local/bin/.nomad.infra-new");
    free(s);

    pu_install_file p[2] = {{"a_1_all.deb", "!", 1, "aa"}, {"b'q_1_all.deb", "!", 1, "bb"}};
    pu_install pk = {.name = "mesos", .packages = 1, .files = p, .nfiles = 2};
    s = pu_install_inspect_script(&pk, NULL);
    assert_contains(s, "command -v dpkg");
    assert_contains(s, "f='/var/cache/infra/packages/mesos/a_1_all.deb'");
    assert_contains(s, "dpkg-query -W -f='${Status}|${Version}'");
    assert_contains(s, "echo \"pkg $h $i\" 'b'\\''q_1_all.deb'");
    free(s);
    unsigned char up2[2] = {0, 1};
    pu_install_plan plan2 = {.upload = up2, .nupload = 1, .not_installed = 1};
    s = pu_install_commit_script(&pk, &plan2, NULL, NULL);
    assert_contains(s, "chown 0:0 '/var/cache/infra/packages/mesos/.b'\\''q_1_all.deb.infra-new'");
    assert_non_null(strstr(s, "check '/var/cache/infra/packages/mesos/a_1_all.deb' aa"));
    assert_null(strstr(s, "/.a_1_all.deb.infra-new")); /* a's copy was already there */
    assert_contains(s, "case ${f##*/} in\n  'a_1_all.deb'|'b'\\''q_1_all.deb') ;;");
    assert_contains(s, "dpkg -i --force-confdef --force-confold "
                       "'/var/cache/infra/packages/mesos/a_1_all.deb' "
                       "'/var/cache/infra/packages/mesos/b'\\''q_1_all.deb' </dev/null");
    assert_contains(s, "echo dpkg-ran");
    free(s);
}

static void test_install_plan_skips_what_the_node_holds(void **state)
{
    char sha[65];
    memset(sha, 'a', 64);
    sha[64] = '\0';
    pu_install_file f = {"nomad", "x", 1, ""};
    memcpy(f.sha256, sha, 65);
    pu_install in = {.name = "nomad", .files = &f, .nfiles = 1};
    pu_install_plan plan;
    char *out = util_printf("prog 755 0 %s\n", sha);
    assert_int_equal(pu_install_plan_read(&in, out, &plan), 0);
    assert_true(pu_install_plan_done(&in, &plan));
    pu_install_plan_free(&plan);
    free(out);
    out = util_printf("prog 700 0 %s\n", sha); /* same bytes, wrong mode: no upload */
    assert_int_equal(pu_install_plan_read(&in, out, &plan), 0);
    assert_false(pu_install_plan_done(&in, &plan));
    assert_int_equal(plan.nupload, 0);
    assert_true(plan.fix_mode);
    pu_install_plan_free(&plan);
    free(out);
    assert_int_equal(pu_install_plan_read(&in, "prog - - -\n", &plan), 0);
    assert_int_equal(plan.nupload, 1);
    pu_install_plan_free(&plan);
    assert_int_equal(pu_install_plan_read(&in, "something else\n", &plan), INFRA_EINTERNAL);

    pu_install_file p[2] = {{"a.deb", "!", 1, ""}, {"b.deb", "!", 1, ""}};
    memcpy(p[0].sha256, sha, 65);
    memcpy(p[1].sha256, sha, 65);
    pu_install pk = {.name = "zk", .packages = 1, .files = p, .nfiles = 2};
    out = util_printf("pkg %s yes a.deb\npkg - no b.deb\n", sha);
    assert_int_equal(pu_install_plan_read(&pk, out, &plan), 0);
    assert_int_equal(plan.nupload, 1);
    assert_false(plan.upload[0]);
    assert_true(plan.upload[1]);
    assert_true(plan.not_installed);
    pu_install_plan_free(&plan);
    free(out);
    out = util_printf("pkg %s yes a.deb\npkg %s yes b.deb\n", sha, sha);
    assert_int_equal(pu_install_plan_read(&pk, out, &plan), 0);
    assert_true(pu_install_plan_done(&pk, &plan));
    pu_install_plan_free(&plan);
    free(out);
    assert_int_equal(pu_install_plan_read(&pk, "dpkg no\n", &plan), 0);
    assert_true(plan.no_dpkg);
    pu_install_plan_free(&plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_install_spec_without_sha256_is_refused),
        cmocka_unit_test(test_install_wrong_hash_is_refused_before_anything_is_sent),
        cmocka_unit_test(test_install_zip_gives_its_program),
        cmocka_unit_test(test_install_directory_must_match_its_hashes),
        cmocka_unit_test(test_install_scripts_quote_and_check_what_they_install),
        cmocka_unit_test(test_install_plan_skips_what_the_node_holds),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
