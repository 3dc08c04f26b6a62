/* SSH commands and uploads on a connected session (see ssh.c for the
 * non-blocking discipline every call here follows). */
#define _GNU_SOURCE /* sigabbrev_np */
#include "services/ssh_int.h"

#include <libssh2_sftp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/log.h"
#include "base/util.h"

/* ------------------------------------------------------------------ */
/* Commands                                                           */

/* 128 + N for the signal a command died of ("TERM"), as a shell reports it. */
static int signal_status(const char *name)
{
    for (int n = 1; n < NSIG; n++) {
        const char *abbrev = sigabbrev_np(n);
        if (abbrev && strcmp(abbrev, name) == 0)
            return 128 + n;
    }
    return 255;
}

static void channel_dispose(ssh_op *op, LIBSSH2_CHANNEL *ch)
{
    int rc;
    if (!ch)
        return;
    /* After a timeout the channel may never close: give it a short grace
     * and otherwise leave it to libssh2_session_free. */
    op->deadline = ssh_now_ms() + SSH_CLEANUP_MS;
    SSH_NB(op, rc, libssh2_channel_free(ch));
}

/* Drains one stream until it would block; <0 on error, 0 otherwise. */
static ssize_t drain(LIBSSH2_CHANNEL *ch, int stream, util_buf *b, int *progressed)
{
    char chunk[16384];
    ssize_t n;
    while ((n = libssh2_channel_read_ex(ch, stream, chunk, sizeof(chunk))) > 0) {
        util_buf_put(b, chunk, (size_t)n);
        *progressed = 1;
    }
    return n == LIBSSH2_ERROR_EAGAIN ? 0 : n;
}

/* Runs command on ssh's session; *partial_stderr (may be NULL) gets what
 * stderr said before a failure to finish. */
static int exec_run(infra_call *call, infra_ssh *ssh, const char *command, int *exit_status,
                    char **out_stdout, char **out_stderr, char **partial_stderr)
{
    LIBSSH2_CHANNEL *ch = NULL;
    util_buf out = {0}, err = {0};
    int error = 0, rc, status = -1;
    ssize_t n;

    if (exit_status)
        *exit_status = -1;
    if (out_stdout)
        *out_stdout = NULL;
    if (out_stderr)
        *out_stderr = NULL;
    if (!ssh || !command)
        return INFRA_EINVALID;
    free(ssh->error);
    ssh->error = NULL;
    if (!ssh->session) {
        ssh_set_error(ssh, "no open session to %s", ssh->host);
        return INFRA_EINVALID;
    }
    ssh_op op = ssh_op_start(ssh, call, ssh_exec_timeout_ms());
    log_msg(LOG_DEBUG, "ssh: %s@%s:%d: exec: %s", ssh->user, ssh->host, ssh->port, command);

    SSH_NB_PTR(&op, ch, libssh2_channel_open_session(ssh->session));
    if (!ch) {
        rc = libssh2_session_last_errno(ssh->session);
        error = ssh_op_fail(&op, ssh, rc, "opening a channel");
        goto done;
    }
    SSH_NB(&op, rc, libssh2_channel_exec(ch, command));
    if (rc == 0) /* nothing to say on stdin: a command reading it sees EOF */
        SSH_NB(&op, rc, libssh2_channel_send_eof(ch));
    if (rc != 0) {
        error = ssh_op_fail(&op, ssh, rc, "starting a command");
        goto done;
    }
    /* Both streams are drained in turn: a command filling its stderr window
     * while we wait on stdout would otherwise stall forever. */
    for (;;) {
        int progressed = 0;
        if ((n = drain(ch, 0, &out, &progressed)) < 0 ||
            (n = drain(ch, SSH_EXTENDED_DATA_STDERR, &err, &progressed)) < 0) {
            error = ssh_op_fail(&op, ssh, (int)n, "reading command output");
            goto done;
        }
        if (libssh2_channel_eof(ch))
            break;
        if (!progressed && !ssh_op_wait(&op)) {
            error = ssh_op_fail(&op, ssh, LIBSSH2_ERROR_EAGAIN, "waiting for a command");
            goto done;
        }
    }
    SSH_NB(&op, rc, libssh2_channel_close(ch));
    if (rc == 0)
        SSH_NB(&op, rc, libssh2_channel_wait_closed(ch));
    if (rc != 0) {
        error = ssh_op_fail(&op, ssh, rc, "closing a channel");
        goto done;
    }
    char *signame = NULL;
    libssh2_channel_get_exit_signal(ch, &signame, NULL, NULL, NULL, NULL, NULL);
    status = signame ? signal_status(signame) : libssh2_channel_get_exit_status(ch);
    if (signame)
        libssh2_free(ssh->session, signame);
    log_msg(LOG_DEBUG, "ssh: %s: exit status %d, %zu bytes of stdout, %zu of stderr", ssh->host,
            status, out.len, err.len);
    if (exit_status)
        *exit_status = status;
    if (out_stdout)
        *out_stdout = util_buf_take(&out);
    if (out_stderr)
        *out_stderr = util_buf_take(&err);
done:
    channel_dispose(&op, ch);
    if (partial_stderr)
        *partial_stderr = error < 0 && err.len ? util_buf_take(&err) : NULL;
    util_buf_free(&out);
    util_buf_free(&err);
    return error;
}

int ssh_exec(infra_ssh *ssh, const char *command, int *exit_status, char **out_stdout,
             char **out_stderr)
{
    return exec_run(NULL, ssh, command, exit_status, out_stdout, out_stderr, NULL);
}

char *ssh_shell_quote(const char *text)
{
    util_buf b = {0};
    util_buf_puts(&b, "'");
    for (const char *p = text; *p; p++) {
        if (*p == '\'')
            util_buf_puts(&b, "'\\''");
        else
            util_buf_put(&b, p, 1);
    }
    util_buf_puts(&b, "'");
    return util_buf_take(&b);
}

char *ssh_sudo_command(const char *user, const char *command)
{
    if (user && strcmp(user, "root") == 0)
        return util_strdup(command);
    char *quoted = ssh_shell_quote(command);
    char *line = util_printf("sudo -n -- sh -c %s", quoted);
    free(quoted);
    return line;
}

int ssh_exec_sudo(infra_ssh *ssh, const char *command, int *exit_status, char **out_stdout,
                  char **out_stderr)
{
    if (!ssh || !command)
        return exec_run(NULL, ssh, command, exit_status, out_stdout, out_stderr, NULL);
    char *line = ssh_sudo_command(ssh->user, command);
    int error = exec_run(NULL, ssh, line, exit_status, out_stdout, out_stderr, NULL);
    free(line);
    return error;
}

/* The last max_lines lines of text, without a trailing newline (borrowed). */
static const char *tail_lines(const char *text, size_t *len, int max_lines)
{
    size_t n = strlen(text);
    while (n > 0 && text[n - 1] == '\n')
        n--;
    size_t start = n;
    for (int lines = 0; start > 0; start--)
        if (text[start - 1] == '\n' && ++lines == max_lines)
            break;
    *len = n - start;
    return text + start;
}

int ssh_run(infra_call *call, infra_ssh *ssh, const char *command, char **out)
{
    char *stdout_text = NULL, *stderr_text = NULL;
    int status = -1, error;

    if (out)
        *out = NULL;
    if ((error = exec_run(call, ssh, command, &status, &stdout_text, &stderr_text, NULL)) < 0) {
        if (error != INFRA_ECANCELLED)
            ssh_report(call, "ssh: %s", ssh ? ssh_last_error(ssh) : "no session");
        goto done;
    }
    if (status != 0) {
        size_t len;
        const char *tail = tail_lines(stderr_text, &len, SSH_STDERR_TAIL_LINES);
        ssh_report(call, "command failed with exit code %d on %s: %s\n%.*s", status, ssh->host,
                   command, (int)len, tail);
        error = INFRA_EINTERNAL;
        goto done;
    }
    if (out) {
        *out = stdout_text;
        stdout_text = NULL;
    }
done:
    free(stdout_text);
    free(stderr_text);
    return error;
}

/* ------------------------------------------------------------------ */
/* Upload                                                             */

static int sftp_category(unsigned long code)
{
    switch (code) {
    case LIBSSH2_FX_NO_SUCH_FILE:
    case LIBSSH2_FX_NO_SUCH_PATH:
        return INFRA_ENOTFOUND;
    case LIBSSH2_FX_PERMISSION_DENIED:
    case LIBSSH2_FX_WRITE_PROTECT:
        return INFRA_EAUTH;
    case LIBSSH2_FX_NO_CONNECTION:
    case LIBSSH2_FX_CONNECTION_LOST:
        return INFRA_ETRANSIENT;
    default:
        return INFRA_EINTERNAL;
    }
}

static int sftp_fail(ssh_op *op, infra_ssh *ssh, LIBSSH2_SFTP *sftp, int rc, const char *step,
                     const char *path)
{
    char buf[32];
    if (rc != LIBSSH2_ERROR_SFTP_PROTOCOL || !sftp) {
        int error = ssh_classify(op, rc);
        if (rc == LIBSSH2_ERROR_EAGAIN && error == INFRA_ECANCELLED)
            ssh_set_error(ssh, "%s %s on %s: %s", step, path, ssh->host, ssh_stop_reason(op));
        else if (rc == LIBSSH2_ERROR_EAGAIN)
            ssh_set_error(ssh, "%s %s on %s: timed out after %s s", step, path, ssh->host,
                          ssh_seconds(op->timeout_ms, buf));
        else
            ssh_set_error(ssh, "%s %s on %s: %s", step, path, ssh->host,
                          ssh_session_error(ssh->session));
        return error;
    }
    unsigned long code = libssh2_sftp_last_error(sftp);
    ssh_set_error(ssh, "%s %s on %s: %s (SFTP status %lu)", step, path, ssh->host,
                  ssh_session_error(ssh->session), code);
    return sftp_category(code);
}

/* OpenSSH's sftp-server speaks SFTP v3, whose rename refuses an existing
 * target; mv -f renames over it with rename(2), which is atomic. */
static int replace_with_mv(infra_call *call, infra_ssh *ssh, const char *tmp, const char *path)
{
    char *qtmp = ssh_shell_quote(tmp), *qpath = ssh_shell_quote(path);
    char *line = util_printf("mv -f -- %s %s", qtmp, qpath);
    char *errtext = NULL;
    int status = -1;
    int error = exec_run(call, ssh, line, &status, NULL, &errtext, NULL);
    if (error == 0 && status != 0) {
        size_t len;
        const char *tail = tail_lines(errtext, &len, 3);
        ssh_set_error(ssh, "renaming %s to %s on %s: %.*s", tmp, path, ssh->host, (int)len, tail);
        error = INFRA_EINTERNAL;
    }
    free(errtext);
    free(line);
    free(qpath);
    free(qtmp);
    return error;
}

static int upload_run(infra_call *call, infra_ssh *ssh, const char *path, const void *data,
                      size_t len, int mode)
{
    LIBSSH2_SFTP *sftp = NULL;
    LIBSSH2_SFTP_HANDLE *file = NULL;
    LIBSSH2_SFTP_ATTRIBUTES attrs = {0};
    char *tmp = NULL;
    int error = 0, rc = 0;
    size_t done_len = 0;

    if (!ssh || !path || !*path || (!data && len))
        return INFRA_EINVALID;
    free(ssh->error);
    ssh->error = NULL;
    if (!ssh->session) {
        ssh_set_error(ssh, "no open session to %s", ssh->host);
        return INFRA_EINVALID;
    }
    ssh_op op = ssh_op_start(ssh, call, ssh_exec_timeout_ms());
    tmp = util_printf("%s.tmp", path);
    log_msg(LOG_DEBUG, "ssh: %s: upload %zu bytes to %s (mode %o)", ssh->host, len, path, mode);

    SSH_NB_PTR(&op, sftp, libssh2_sftp_init(ssh->session));
    if (!sftp) {
        error = sftp_fail(&op, ssh, NULL, libssh2_session_last_errno(ssh->session),
                          "starting SFTP for", path);
        goto done;
    }
    LIBSSH2_SFTP_ATTRIBUTES st;
    SSH_NB(&op, rc, libssh2_sftp_stat(sftp, path, &st));
    if (rc == 0 && (st.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) &&
        LIBSSH2_SFTP_S_ISDIR(st.permissions)) {
        ssh_set_error(ssh, "uploading to %s on %s: it is a directory", path, ssh->host);
        error = INFRA_EINVALID;
        goto done;
    }
    SSH_NB_PTR(&op, file,
               libssh2_sftp_open_ex(sftp, tmp, (unsigned)strlen(tmp),
                                    LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_TRUNC,
                                    mode & 07777, LIBSSH2_SFTP_OPENFILE));
    if (!file) {
        error =
            sftp_fail(&op, ssh, sftp, libssh2_session_last_errno(ssh->session), "creating", tmp);
        goto done;
    }
    while (done_len < len) {
        ssize_t n;
        SSH_NB(&op, n, libssh2_sftp_write(file, (const char *)data + done_len, len - done_len));
        if (n < 0) {
            error = sftp_fail(&op, ssh, sftp, (int)n, "writing", tmp);
            goto done;
        }
        done_len += (size_t)n;
    }
    /* The server's umask applied at creation, and an old PATH.tmp keeps its
     * mode: set the permissions explicitly. */
    attrs.flags = LIBSSH2_SFTP_ATTR_PERMISSIONS;
    attrs.permissions = (unsigned long)(mode & 07777);
    SSH_NB(&op, rc, libssh2_sftp_fsetstat(file, &attrs));
    if (rc == 0)
        SSH_NB(&op, rc, libssh2_sftp_fsync(file));
    if (rc != 0 && !(rc == LIBSSH2_ERROR_SFTP_PROTOCOL &&
                     libssh2_sftp_last_error(sftp) == LIBSSH2_FX_OP_UNSUPPORTED)) {
        error = sftp_fail(&op, ssh, sftp, rc, "finishing", tmp);
        goto done;
    }
    SSH_NB(&op, rc, libssh2_sftp_close_handle(file));
    file = NULL;
    if (rc != 0) {
        error = sftp_fail(&op, ssh, sftp, rc, "closing", tmp);
        goto done;
    }
    SSH_NB(&op, rc,
           libssh2_sftp_rename_ex(sftp, tmp, (unsigned)strlen(tmp), path, (unsigned)strlen(path),
                                  LIBSSH2_SFTP_RENAME_OVERWRITE | LIBSSH2_SFTP_RENAME_ATOMIC |
                                      LIBSSH2_SFTP_RENAME_NATIVE));
    if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL &&
        (libssh2_sftp_last_error(sftp) == LIBSSH2_FX_FAILURE ||
         libssh2_sftp_last_error(sftp) == LIBSSH2_FX_FILE_ALREADY_EXISTS)) {
        error = replace_with_mv(call, ssh, tmp, path);
    } else if (rc != 0) {
        error = sftp_fail(&op, ssh, sftp, rc, "renaming", tmp);
    }
done:
    op.deadline = ssh_now_ms() + SSH_CLEANUP_MS;
    if (file)
        SSH_NB(&op, rc, libssh2_sftp_close_handle(file));
    if (error < 0 && sftp && error != INFRA_ETRANSIENT)
        SSH_NB(&op, rc, libssh2_sftp_unlink_ex(sftp, tmp, (unsigned)strlen(tmp)));
    if (sftp)
        SSH_NB(&op, rc, libssh2_sftp_shutdown(sftp));
    free(tmp);
    return error;
}

int ssh_upload(infra_ssh *ssh, const char *path, const void *data, size_t len, int mode)
{
    return upload_run(NULL, ssh, path, data, len, mode);
}

/* ------------------------------------------------------------------ */
/* Within a call (ABI 1.2): cancellable, and every failure explained   */

/* 1 when a command run through sudo was refused by sudo itself. */
static int sudo_refused(const infra_ssh *ssh, int status, const char *stderr_text)
{
    return strcmp(ssh->user, "root") != 0 && status == 1 && stderr_text &&
           strncmp(stderr_text, "sudo: ", 6) == 0;
}

int ssh_call_run(infra_call *call, infra_ssh *ssh, const char *command, int as_root,
                 int *exit_status, char **out_stdout, char **out_stderr)
{
    char *stdout_text = NULL, *stderr_text = NULL, *partial = NULL;
    int status = -1;

    if (exit_status)
        *exit_status = -1;
    if (out_stdout)
        *out_stdout = NULL;
    if (out_stderr)
        *out_stderr = NULL;
    if (!ssh || !command) {
        ssh_report(call, "ssh: run needs a session and a command");
        return INFRA_EINVALID;
    }
    if (ssh_cancelled(call)) {
        ssh_op op = ssh_op_start(ssh, call, 0);
        ssh_report(call, "ssh: running a command on %s: %s", ssh->host, ssh_stop_reason(&op));
        return INFRA_ECANCELLED;
    }
    char *line = as_root ? ssh_sudo_command(ssh->user, command) : util_strdup(command);
    int error = exec_run(call, ssh, line, &status, &stdout_text, &stderr_text, &partial);
    if (error < 0) {
        size_t len = 0;
        const char *tail = partial ? tail_lines(partial, &len, SSH_STDERR_TAIL_LINES) : "";
        ssh_report(call, "ssh: %s%s%.*s", ssh_last_error(ssh),
                   len ? "; the command's last lines of stderr:\n" : "", (int)len, tail);
    } else if (as_root && sudo_refused(ssh, status, stderr_text)) {
        size_t len;
        const char *tail = tail_lines(stderr_text, &len, 3);
        ssh_report(call, "sudo on %s refused to run a command as root for %s: %.*s", ssh->host,
                   ssh->user, (int)len, tail);
        error = INFRA_EAUTH;
    } else {
        if (exit_status)
            *exit_status = status;
        if (out_stdout) {
            *out_stdout = stdout_text;
            stdout_text = NULL;
        }
        if (out_stderr) {
            *out_stderr = stderr_text;
            stderr_text = NULL;
        }
    }
    free(line);
    free(partial);
    free(stdout_text);
    free(stderr_text);
    return error;
}

int ssh_call_write_file(infra_call *call, infra_ssh *ssh, const char *path, const void *data,
                        size_t len, int mode)
{
    if (!ssh || !path || !*path || (!data && len)) {
        ssh_report(call, "ssh: write_file needs a session, a path and the data");
        return INFRA_EINVALID;
    }
    if (ssh_cancelled(call)) {
        ssh_op op = ssh_op_start(ssh, call, 0);
        ssh_report(call, "ssh: writing %s on %s: %s", path, ssh->host, ssh_stop_reason(&op));
        return INFRA_ECANCELLED;
    }
    int error = upload_run(call, ssh, path, data, len, mode);
    if (error < 0)
        ssh_report(call, "ssh: %s", ssh_last_error(ssh));
    return error;
}

static const infra_ssh_api ssh_table = {
    .size = sizeof(infra_ssh_api),
    .connect = ssh_connect,
    .exec = ssh_exec,
    .upload = ssh_upload,
    .close = ssh_close,
    .exec_sudo = ssh_exec_sudo,
    .run = ssh_call_run,
    .write_file = ssh_call_write_file,
    .tunnel = ssh_tunnel,
};

const infra_ssh_api *ssh_api(void)
{
    return &ssh_table;
}
