/* What ssh.c (sessions, host keys, connecting) and ssh_cmd.c (commands
 * and uploads) share; not part of the host's interface (that is ssh.h). */
#ifndef INFRA_SSH_INT_H
#define INFRA_SSH_INT_H

#include <libssh2.h>
#include <stdint.h>

#include "services/ssh.h"

#define SSH_WAIT_SLICE_MS 100
#define SSH_CLEANUP_MS 2000 /* closing a channel or session after a failure */
#define SSH_FP_LEN 64       /* "SHA256:" + 43 base64 characters + NUL fits */

struct infra_ssh {
    int fd;
    LIBSSH2_SESSION *session;
    char *host;
    int port;
    char *user;
    char *error;    /* why the last exec or upload failed, or NULL */
    int handshaken; /* the SSH handshake completed: a disconnect can be sent */
    const infra_ssh_target *via; /* the bastion to go through while connecting (borrowed) */
    struct ssh_jump *jump;       /* the transport through a bastion, or NULL */
};

typedef struct ssh_jump ssh_jump;

/* One bounded operation on a session. */
typedef struct ssh_op {
    int fd;
    LIBSSH2_SESSION *session;
    int64_t deadline;
    long timeout_ms;
    infra_call *call;
    int werr; /* why waiting stopped: INFRA_ETRANSIENT (timeout), INFRA_ECANCELLED */
} ssh_op;

/* Repeat a libssh2 call while it would block; on a timeout or cancellation
 * the result stays LIBSSH2_ERROR_EAGAIN and op->werr says which. */
#define SSH_NB(op, rc, expr)                                                                       \
    do {                                                                                           \
    } while (((rc) = (expr)) == LIBSSH2_ERROR_EAGAIN && ssh_op_wait(op))
#define SSH_NB_PTR(op, ptr, expr)                                                                  \
    do {                                                                                           \
    } while (!((ptr) = (expr)) &&                                                                  \
             libssh2_session_last_errno((op)->session) == LIBSSH2_ERROR_EAGAIN && ssh_op_wait(op))

int64_t ssh_now_ms(void);
/* The call was cancelled (NULL: never). */
int ssh_cancelled(const infra_call *call);
/* The timeout of one command or upload (ssh_set_timeouts). */
long ssh_exec_timeout_ms(void);
/* An error diagnostic on call. */
void ssh_report(infra_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records why the last exec or upload on ssh failed (ssh_last_error). */
void ssh_set_error(infra_ssh *ssh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* libssh2's last error message for session (borrowed). */
const char *ssh_session_error(LIBSSH2_SESSION *session);
/* ms as seconds text in buf. */
const char *ssh_seconds(long ms, char buf[32]);
/* A bounded operation on ssh's session, timeout_ms from now. */
ssh_op ssh_op_start(infra_ssh *ssh, infra_call *call, long timeout_ms);
/* Waits for the socket in the direction libssh2 is blocked on; 1 to try
 * again, 0 when the deadline passed or the call was cancelled (op->werr). */
int ssh_op_wait(ssh_op *op);
/* Why op stopped waiting when it was cancelled: "cancelled", or that the
 * call's deadline passed (static text). */
const char *ssh_stop_reason(const ssh_op *op);
/* Category of a failed libssh2 call: a lost connection is worth a retry. */
int ssh_classify(ssh_op *op, int rc);
/* Records on ssh why step failed and returns its category. */
int ssh_op_fail(ssh_op *op, infra_ssh *ssh, int rc, const char *step);

/* ssh_connect without looking up a route: the session to a bastion. */
int ssh_connect_direct(infra_call *call, const infra_ssh_target *target, infra_ssh **out);
/* Sets the text put before every ssh_report of this thread (NULL: none)
 * and returns the previous one (borrowed: give it back the same way). */
char *ssh_report_prefix_swap(char *prefix);

/* A stream to host:port through bastion, until deadline: connects and logs
 * in to the bastion (checked against its pinned key or known_hosts; a
 * failure is reported naming the bastion and comes back without *reason),
 * opens a direct-tcpip channel and starts the thread that carries it.
 * Returns 0 with *out (free with ssh_jump_close, after closing *out_fd)
 * and *out_fd, a non-blocking socket for the target's session;
 * INFRA_ETRANSIENT with *reason (caller frees) when the bastion cannot
 * reach the target; INFRA_EAUTH, INFRA_ECANCELLED, INFRA_EINTERNAL. */
int ssh_jump_open(infra_call *call, const infra_ssh_target *bastion, const char *host, int port,
                  int64_t deadline, ssh_jump **out, int *out_fd, char **reason);
/* Like ssh_jump_open, but carries the stream to fd (a connected
 * non-blocking socket, taken whatever the result: closed with the jump, or
 * at once on failure). */
int ssh_jump_carry(infra_call *call, const infra_ssh_target *bastion, const char *host, int port,
                   int64_t deadline, int fd, ssh_jump **out, char **reason);
/* 1 once jump carries nothing more (either side closed); close it then. */
int ssh_jump_ended(ssh_jump *jump);
/* Stops the thread, closes the channel and the bastion's session; NULL is ignored. */
void ssh_jump_close(ssh_jump *jump);

#endif
