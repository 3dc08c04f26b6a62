/* SSH client against a real OpenSSH sshd that the test starts on 127.0.0.1
 * (sshd_fixture.h): exec, ssh_run diagnostics, sudo, atomic uploads, and
 * the run and write_file slots within a call. Host keys, login, retries
 * and timeouts are in test_ssh_hostkeys.c. Runs as root (sshd needs it);
 * skipped when /usr/sbin/sshd is not installed. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "plugin/host.h"
#include "services/ssh.h"
#include "services/ssh_int.h" /* to play a login user other than root */
#include "sshd_fixture.h"

static sshd_fixture fx;

static int group_setup(void **state)
{
    if (access(SSHD_FIXTURE_SSHD, X_OK) != 0)
        return 0;
    sshd_fixture_init(&fx, "ssh", 0);
    /* Commands see DIR/bin first: a stand-in "sudo" that refuses like a
     * sudo without rights for the login user (a second user and a sudoers
     * policy would change this machine); root never needs sudo. */
    sshd_fixture_sh("mkdir -p %s/bin && printf '#!/bin/sh\\necho \"sudo: a password is required\" "
                    ">&2\\nexit 1\\n' > %s/bin/sudo && chmod 755 %s/bin/sudo",
                    fx.dir, fx.dir, fx.dir);
    return sshd_fixture_start(&fx, "bin");
}

static int group_teardown(void **state)
{
    sshd_fixture_free(&fx);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The table                                                          */

static void test_ssh_api_table_has_every_slot(void **state)
{
    const infra_ssh_api *api = ssh_api();
    assert_non_null(api);
    assert_int_equal(api->size, sizeof(infra_ssh_api));
    assert_true(INFRA_HAS_SLOT(api, connect));
    assert_true(INFRA_HAS_SLOT(api, exec));
    assert_true(INFRA_HAS_SLOT(api, upload));
    assert_true(INFRA_HAS_SLOT(api, close));
    assert_true(INFRA_HAS_SLOT(api, exec_sudo));
    assert_true(INFRA_HAS_SLOT(api, run));
    assert_true(INFRA_HAS_SLOT(api, write_file));
    api->close(NULL); /* NULL is ignored */
}

static void test_ssh_connect_rejects_a_target_without_host_or_user(void **state)
{
    infra_call call;
    sshd_fixture_diags c;
    infra_ssh *ssh = (infra_ssh *)&c;
    sshd_fixture_call_begin(&call, &c);
    infra_ssh_target t = sshd_fixture_target("127.0.0.1", 22, NULL, NULL, 0);
    t.user = NULL;
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_EINVALID);
    assert_null(ssh);
    t = sshd_fixture_target("127.0.0.1", 22, "MD5:aa:bb", NULL, 0);
    assert_int_equal(ssh_connect(&call, &t, &ssh), INFRA_EINVALID);
    assert_non_null(strstr(sshd_fixture_diag_text(&c), "must look like SHA256:"));
    assert_int_equal(c.count, 2);
    sshd_fixture_call_end(&call, &c);
}

/* ------------------------------------------------------------------ */
/* Exec                                                               */

static void test_ssh_exec_returns_stdout_stderr_and_exit_status(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_ssh *ssh = sshd_fixture_session(&fx);
    int status = -1;
    char *out = NULL, *err = NULL;
    assert_int_equal(ssh_api()->exec(ssh, "printf 'hello\\n'; printf 'oops\\n' >&2; exit 3",
                                     &status, &out, &err),
                     0);
    assert_int_equal(status, 3);
    assert_string_equal(out, "hello\n");
    assert_string_equal(err, "oops\n");
    free(out);
    free(err);

    /* Outputs are optional, and a command that succeeds reports 0. */
    assert_int_equal(ssh_exec(ssh, "true", &status, NULL, NULL), 0);
    assert_int_equal(status, 0);
    ssh_api()->close(ssh);
}

static void test_ssh_exec_reads_large_interleaved_stdout_and_stderr(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_ssh *ssh = sshd_fixture_session(&fx);
    int status = -1;
    char *out = NULL, *err = NULL;
    /* Far more than one channel window on each stream, written alternately:
     * reading one stream to its end first would stall the command. */
    assert_int_equal(ssh_exec(ssh,
                              "i=0; while [ $i -lt 30000 ]; do echo \"out $i\"; "
                              "echo \"err $i\" >&2; i=$((i+1)); done",
                              &status, &out, &err),
                     0);
    assert_int_equal(status, 0);
    size_t out_lines = 0, err_lines = 0;
    for (const char *p = out; *p; p++)
        out_lines += *p == '\n';
    for (const char *p = err; *p; p++)
        err_lines += *p == '\n';
    assert_int_equal(out_lines, 30000);
    assert_int_equal(err_lines, 30000);
    assert_true(strncmp(out, "out 0\nout 1\n", 12) == 0);
    assert_non_null(strstr(out, "\nout 29999\n"));
    assert_non_null(strstr(err, "\nerr 29999\n"));
    free(out);
    free(err);
    ssh_close(ssh);
}

static void test_ssh_exec_reports_death_by_signal_and_closes_stdin(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_ssh *ssh = sshd_fixture_session(&fx);
    int status = -1;
    char *out = NULL;
    assert_int_equal(ssh_exec(ssh, "kill -TERM $$", &status, NULL, NULL), 0);
    assert_int_equal(status, 128 + SIGTERM);
    /* cat reads stdin: it ends at once because stdin is closed. */
    assert_int_equal(ssh_exec(ssh, "cat; echo done", &status, &out, NULL), 0);
    assert_int_equal(status, 0);
    assert_string_equal(out, "done\n");
    free(out);
    ssh_close(ssh);
}

static void test_ssh_exec_times_out_instead_of_hanging(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_ssh *ssh = sshd_fixture_session(&fx);
    int status = 7;
    char *out = (char *)"unset";
    ssh_set_timeouts(0, 0, 1000);
    int64_t start = sshd_fixture_now_ms();
    int rc = ssh_exec(ssh, "exec sleep 30", &status, &out, NULL);
    int64_t elapsed = sshd_fixture_now_ms() - start;
    ssh_set_timeouts(0, 0, 0);
    assert_int_equal(rc, INFRA_ETRANSIENT);
    assert_int_equal(status, -1);
    assert_null(out);
    assert_true(elapsed >= 1000);
    assert_true(elapsed < 1000 + 5000);
    assert_non_null(strstr(ssh_last_error(ssh), "timed out after 1 s"));
    /* The session itself survives a command that took too long. */
    out = sshd_fixture_remote(ssh, "echo still here");
    assert_string_equal(out, "still here\n");
    free(out);
    ssh_close(ssh);
}

static void test_ssh_run_returns_stdout_of_a_successful_command(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_ssh *ssh = sshd_fixture_session(&fx);
    infra_call call;
    sshd_fixture_diags c;
    char *out = NULL;
    sshd_fixture_call_begin(&call, &c);
    assert_int_equal(ssh_run(&call, ssh, "echo ready; echo noise >&2", &out), 0);
    assert_string_equal(out, "ready\n");
    assert_int_equal(c.count, 0);
    assert_string_equal(ssh_last_error(ssh), "");
    free(out);
    sshd_fixture_call_end(&call, &c);
    ssh_close(ssh);
}

static void test_ssh_run_reports_exit_code_and_last_stderr_lines(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_ssh *ssh = sshd_fixture_session(&fx);
    infra_call call;
    sshd_fixture_diags c;
    char *out = (char *)"unset";
    const char *command = "for i in $(seq 1 30); do echo \"line $i\" >&2; done; exit 4";
    sshd_fixture_call_begin(&call, &c);
    assert_int_equal(ssh_run(&call, ssh, command, &out), INFRA_EINTERNAL);
    assert_null(out);
    assert_int_equal(c.count, 1);
    assert_int_equal(call.errors, 1);
    util_buf want = {0};
    util_buf_printf(&want, "command failed with exit code 4 on 127.0.0.1: %s\n", command);
    for (int i = 11; i <= 30; i++)
        util_buf_printf(&want, "line %d\n", i);
    assert_string_equal(sshd_fixture_diag_text(&c), want.data);
    assert_string_equal(call.first_error, "command failed with exit code 4 on 127.0.0.1: "
                                          "for i in $(seq 1 30); do echo \"line $i\" >&2; "
                                          "done; exit 4\nline 11\nline 12\nline 13\nline 14\n"
                                          "line 15\nline 16\nline 17\nline 18\nline 19\nline 20\n"
                                          "line 21\nline 22\nline 23\nline 24\nline 25\nline 26\n"
                                          "line 27\nline 28\nline 29\nline 30");
    util_buf_free(&want);
    sshd_fixture_call_end(&call, &c);
    ssh_close(ssh);
}

static void test_ssh_exec_sudo_runs_unchanged_for_root(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_ssh *ssh = sshd_fixture_session(&fx);
    int status = -1;
    char *out = NULL;
    /* No sudo is needed as root: a prefixed command would fail where sudo
     * is not installed, and would print nothing but "0" either way. */
    assert_int_equal(ssh_exec_sudo(ssh, "id -u; echo \"$0\"", &status, &out, NULL), 0);
    assert_int_equal(status, 0);
    assert_true(strncmp(out, "0\n", 2) == 0);
    assert_null(strstr(out, "sudo"));
    free(out);
    char *plain = ssh_sudo_command("root", "id -u");
    assert_string_equal(plain, "id -u");
    free(plain);
    ssh_close(ssh);
}

static void test_ssh_sudo_command_wraps_and_quotes_for_other_users(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    const char *command = "echo \"it's $((1+1))\"; echo 'a  b'";
    char *line = ssh_sudo_command("deploy", command);
    assert_string_equal(line, "sudo -n -- sh -c 'echo \"it'\\''s $((1+1))\"; echo '\\''a  b'\\'''");
    /* A remote shell parses it back to the original command: a stand-in
     * sudo checks its options and runs the rest. */
    char *script = util_printf("sudo() { [ \"$1\" = -n ] && [ \"$2\" = -- ] || exit 99; "
                               "shift 2; \"$@\"; }; %s",
                               line);
    infra_ssh *ssh = sshd_fixture_session(&fx);
    char *out = sshd_fixture_remote(ssh, script);
    assert_string_equal(out, "it's 2\na  b\n");
    free(out);
    free(script);
    free(line);
    ssh_close(ssh);
}

/* ------------------------------------------------------------------ */
/* Upload                                                             */

static void test_ssh_upload_writes_file_with_mode_and_replaces_it_atomically(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_ssh *ssh = sshd_fixture_session(&fx);
    char *path = util_printf("%s/uploaded.conf", fx.dir);
    char *cmd = util_printf("stat -c %%a %s; cat %s", path, path);
    const char *first = "bind_addr = \"0.0.0.0\"\nports { http = 4646 }\n";
    assert_int_equal(ssh_api()->upload(ssh, path, first, strlen(first), 0640), 0);
    char *out = sshd_fixture_remote(ssh, cmd);
    char *want = util_printf("640\n%s", first);
    assert_string_equal(out, want);
    free(out);
    free(want);

    /* Over an existing file, with a mode the server's umask would cut. */
    const char *second = "replaced\n";
    assert_int_equal(ssh_upload(ssh, path, second, strlen(second), 0666), 0);
    out = sshd_fixture_remote(ssh, cmd);
    assert_string_equal(out, "666\nreplaced\n");
    free(out);
    char *leftover = util_printf("ls -a %s", fx.dir);
    out = sshd_fixture_remote(ssh, leftover);
    assert_null(strstr(out, "uploaded.conf.tmp"));
    free(out);

    /* Empty content is a valid file. */
    assert_int_equal(ssh_upload(ssh, path, "", 0, 0600), 0);
    out = sshd_fixture_remote(ssh, cmd);
    assert_string_equal(out, "600\n");
    free(out);
    free(leftover);
    free(cmd);
    free(path);
    ssh_close(ssh);
}

static void test_ssh_upload_sends_large_binary_data_intact(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_ssh *ssh = sshd_fixture_session(&fx);
    size_t len = 300 * 1024 + 7;
    unsigned char *data = util_malloc(len);
    assert_int_equal(util_random(data, len), 0);
    data[0] = 0; /* NUL bytes travel too */
    unsigned char digest[32];
    unsigned int dlen = 0;
    assert_int_equal(EVP_Digest(data, len, digest, &dlen, EVP_sha256(), NULL), 1);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    char *path = util_printf("%s/blob.bin", fx.dir);
    assert_int_equal(ssh_upload(ssh, path, data, len, 0600), 0);
    char *cmd = util_printf("stat -c %%s %s; sha256sum < %s", path, path);
    char *out = sshd_fixture_remote(ssh, cmd);
    char *want = util_printf("%zu\n%s  -\n", len, hex);
    assert_string_equal(out, want);
    free(want);
    free(out);
    free(cmd);
    free(path);
    free(data);
    ssh_close(ssh);
}

static void test_ssh_upload_into_missing_directory_fails_with_enotfound(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_ssh *ssh = sshd_fixture_session(&fx);
    char *path = util_printf("%s/no/such/dir/file", fx.dir);
    assert_int_equal(ssh_upload(ssh, path, "x", 1, 0644), INFRA_ENOTFOUND);
    assert_non_null(strstr(ssh_last_error(ssh), "no/such/dir/file.tmp"));
    /* Uploading onto a directory is refused rather than moved into it. */
    assert_int_equal(ssh_upload(ssh, fx.dir, "x", 1, 0644), INFRA_EINVALID);
    assert_non_null(strstr(ssh_last_error(ssh), "is a directory"));
    free(path);
    ssh_close(ssh);
}

/* ------------------------------------------------------------------ */
/* Within a call: host->ssh->run and host->ssh->write_file             */

static void test_ssh_run_slot_runs_as_root_and_hands_back_any_exit_status(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_ssh *ssh = sshd_fixture_session(&fx);
    infra_call call;
    sshd_fixture_diags c;
    int status = -1;
    char *out = NULL, *err = NULL;
    sshd_fixture_call_begin(&call, &c);
    call.deadline_ms = host_now_ms() + 30000;
    assert_int_equal(
        ssh_api()->run(&call, ssh, "id -u; echo bad >&2; exit 3", 1, &status, &out, &err), 0);
    assert_int_equal(status, 3);
    assert_string_equal(out, "0\n");
    assert_string_equal(err, "bad\n");
    assert_int_equal(c.count, 0);
    free(out);
    free(err);
    sshd_fixture_call_end(&call, &c);
    ssh_close(ssh);
}

static void test_ssh_run_slot_stops_at_the_calls_deadline_and_says_so(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_ssh *ssh = sshd_fixture_session(&fx);
    infra_call call;
    sshd_fixture_diags c;
    int status = 7;
    sshd_fixture_call_begin(&call, &c);
    int64_t start = sshd_fixture_now_ms();
    call.deadline_ms = host_now_ms() + 500;
    assert_int_equal(ssh_api()->run(&call, ssh, "exec sleep 30", 0, &status, NULL, NULL),
                     INFRA_ECANCELLED);
    int64_t elapsed = sshd_fixture_now_ms() - start;
    assert_true(elapsed >= 450);
    assert_true(elapsed < 5000);
    assert_int_equal(status, -1);
    assert_int_equal(c.count, 1);
    assert_non_null(strstr(sshd_fixture_diag_text(&c), "stopped: the call's deadline passed"));
    sshd_fixture_call_end(&call, &c);
    ssh_close(ssh);
}

static void test_ssh_run_slot_reports_a_broken_connection_with_the_stderr_tail(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_ssh *ssh = sshd_fixture_session(&fx);
    infra_call call;
    sshd_fixture_diags c;
    sshd_fixture_call_begin(&call, &c);
    call.deadline_ms = host_now_ms() + 30000;
    /* The command kills its own session: the connection drops under it. */
    int rc = ssh_api()->run(&call, ssh, "echo 'about to go' >&2; sleep 0.3; kill -9 $PPID; sleep 5",
                            0, NULL, NULL, NULL);
    assert_true(rc == INFRA_ETRANSIENT || rc == INFRA_EINTERNAL);
    assert_int_equal(c.count, 1);
    assert_true(strncmp(sshd_fixture_diag_text(&c), "ssh: ", 5) == 0);
    assert_non_null(strstr(sshd_fixture_diag_text(&c), "on 127.0.0.1: "));
    assert_non_null(
        strstr(sshd_fixture_diag_text(&c), "the command's last lines of stderr:\nabout to go"));
    sshd_fixture_call_end(&call, &c);
    ssh_close(ssh);
}

static void test_ssh_run_slot_quotes_the_refusal_of_sudo(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_ssh *ssh = sshd_fixture_session(&fx);
    infra_call call;
    sshd_fixture_diags c;
    int status = 5;
    sshd_fixture_call_begin(&call, &c);
    free(ssh->user);
    ssh->user = util_strdup("deploy"); /* as if logged in as a user needing sudo */
    assert_int_equal(ssh_api()->run(&call, ssh, "systemctl restart nomad", 1, &status, NULL, NULL),
                     INFRA_EAUTH);
    assert_int_equal(status, -1);
    assert_string_equal(sshd_fixture_diag_text(&c),
                        "sudo on 127.0.0.1 refused to run a command as root for "
                        "deploy: sudo: a password is required\n");
    sshd_fixture_call_end(&call, &c);
    ssh_close(ssh);
}

static void test_ssh_write_file_slot_writes_and_explains_a_failure(void **state)
{
    SSHD_FIXTURE_REQUIRE(&fx);
    infra_ssh *ssh = sshd_fixture_session(&fx);
    infra_call call;
    sshd_fixture_diags c;
    sshd_fixture_call_begin(&call, &c);
    call.deadline_ms = host_now_ms() + 30000;
    char *path = util_printf("%s/written.conf", fx.dir);
    assert_int_equal(ssh_api()->write_file(&call, ssh, path, "a = 1\n", 6, 0600), 0);
    char *cmd = util_printf("stat -c %%a %s; cat %s", path, path);
    char *out = sshd_fixture_remote(ssh, cmd);
    assert_string_equal(out, "600\na = 1\n");
    free(out);
    assert_int_equal(c.count, 0);
    char *missing = util_printf("%s/no/such/dir/file", fx.dir);
    assert_int_equal(ssh_api()->write_file(&call, ssh, missing, "x", 1, 0644), INFRA_ENOTFOUND);
    assert_int_equal(c.count, 1);
    assert_non_null(strstr(sshd_fixture_diag_text(&c), "no/such/dir/file.tmp on 127.0.0.1"));
    /* A call whose deadline has passed writes nothing. */
    call.deadline_ms = host_now_ms() - 1;
    assert_int_equal(ssh_api()->write_file(&call, ssh, path, "b = 2\n", 6, 0600), INFRA_ECANCELLED);
    assert_non_null(strstr(sshd_fixture_diag_text(&c), "deadline passed"));
    out = sshd_fixture_remote(ssh, cmd);
    assert_string_equal(out, "600\na = 1\n");
    free(out);
    free(missing);
    free(cmd);
    free(path);
    sshd_fixture_call_end(&call, &c);
    ssh_close(ssh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ssh_api_table_has_every_slot),
        cmocka_unit_test(test_ssh_connect_rejects_a_target_without_host_or_user),
        cmocka_unit_test(test_ssh_exec_returns_stdout_stderr_and_exit_status),
        cmocka_unit_test(test_ssh_exec_reads_large_interleaved_stdout_and_stderr),
        cmocka_unit_test(test_ssh_exec_reports_death_by_signal_and_closes_stdin),
        cmocka_unit_test(test_ssh_exec_times_out_instead_of_hanging),
        cmocka_unit_test(test_ssh_run_returns_stdout_of_a_successful_command),
        cmocka_unit_test(test_ssh_run_reports_exit_code_and_last_stderr_lines),
        cmocka_unit_test(test_ssh_exec_sudo_runs_unchanged_for_root),
        cmocka_unit_test(test_ssh_sudo_command_wraps_and_quotes_for_other_users),
        cmocka_unit_test(test_ssh_upload_writes_file_with_mode_and_replaces_it_atomically),
        cmocka_unit_test(test_ssh_upload_sends_large_binary_data_intact),
        cmocka_unit_test(test_ssh_upload_into_missing_directory_fails_with_enotfound),
        cmocka_unit_test(test_ssh_run_slot_runs_as_root_and_hands_back_any_exit_status),
        cmocka_unit_test(test_ssh_run_slot_stops_at_the_calls_deadline_and_says_so),
        cmocka_unit_test(test_ssh_run_slot_reports_a_broken_connection_with_the_stderr_tail),
        cmocka_unit_test(test_ssh_run_slot_quotes_the_refusal_of_sudo),
        cmocka_unit_test(test_ssh_write_file_slot_writes_and_explains_a_failure),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
