/* SSH client over libssh2: the infra_ssh_api handed to plugins, also used by
 * core code to bootstrap hosts. Host keys are always checked (a pinned
 * SHA-256 fingerprint, else ~/.ssh/known_hosts; an unknown host is refused),
 * every wait is bounded by a deadline, and nothing reads key material or
 * command output into logs above debug level. See docs/internals/ssh.md.
 *
 * Thread safety: any number of threads may connect at once, but one
 * infra_ssh is used by one thread at a time. */
#ifndef INFRA_SSH_H
#define INFRA_SSH_H

#include <infra/plugin.h>
#include <stddef.h>

#include "plugin/host.h"

#define SSH_DEFAULT_PORT 22
#define SSH_BACKOFF_FIRST_MS 100                /* pause after the first failed attempt */
#define SSH_BACKOFF_MAX_MS 2000                 /* the pause doubles up to this */
#define SSH_DEFAULT_CONNECT_TIMEOUT_MS 10000L   /* one TCP connect */
#define SSH_DEFAULT_HANDSHAKE_TIMEOUT_MS 30000L /* SSH handshake, host key check and login */
#define SSH_DEFAULT_EXEC_TIMEOUT_MS 600000L     /* one exec or one upload */
#define SSH_STDERR_TAIL_LINES 20                /* lines of stderr quoted by ssh_run */

/* The table handed to plugins (static storage, every slot filled). */
const infra_ssh_api *ssh_api(void);

/* Opens an authenticated session to target (see infra_ssh_api.connect).
 * TCP connects are retried with backoff (100 ms doubling to 2 s) until
 * target->deadline_ms has passed. Returns 0 with *out set (free with
 * ssh_close); INFRA_EAUTH when the host key is wrong or unknown or the login
 * is refused (nothing has been sent to the server's shell then);
 * INFRA_ETRANSIENT when no SSH server answered before the deadline;
 * INFRA_ECANCELLED when call's cancel flag was raised; INFRA_EINVALID for a
 * malformed target. Every failure but the cancellation is reported through
 * call (its diag callback, else the log); call may be NULL. */
int ssh_connect(infra_call *call, const infra_ssh_target *target, infra_ssh **out);

/* Runs command through the login user's shell, reading stdout and stderr to
 * the end. Returns 0 when the command ran, whatever its exit status, with
 * *exit_status set (128 + N when killed by signal N) and *out_stdout /
 * *out_stderr set to NUL-terminated malloc'd text (any of the three may be
 * NULL). Returns INFRA_ETRANSIENT when the connection broke or the exec
 * timeout (10 minutes by default) passed, INFRA_EINVALID for NULL
 * arguments, INFRA_EINTERNAL otherwise; ssh_last_error tells why. */
int ssh_exec(infra_ssh *ssh, const char *command, int *exit_status, char **out_stdout,
             char **out_stderr);

/* Like ssh_exec but as root: the command runs unchanged when the login user
 * is root, otherwise as `sudo -n -- sh -c 'COMMAND'` (-n: fail at once
 * rather than wait for a password nobody will type). */
int ssh_exec_sudo(infra_ssh *ssh, const char *command, int *exit_status, char **out_stdout,
                  char **out_stderr);

/* The command line ssh_exec_sudo runs for a login user; caller frees. */
char *ssh_sudo_command(const char *user, const char *command);

/* command quoted for a POSIX shell ('...' with embedded quotes escaped);
 * caller frees. */
char *ssh_shell_quote(const char *text);

/* Runs command and requires exit status 0. Returns 0 with *out set to its
 * stdout (malloc'd; out may be NULL). A non-zero exit status gives
 * INFRA_EINTERNAL and the diagnostic "command failed with exit code N on
 * HOST: COMMAND" followed by the last 20 lines of stderr; a transport
 * failure gives ssh_exec's code and reason. Diagnostics go through call
 * (may be NULL), whose cancel flag also interrupts the wait. */
int ssh_run(infra_call *call, infra_ssh *ssh, const char *command, char **out);

/* Writes len bytes to path with permission bits mode, atomically: the data
 * goes to PATH.tmp, which then replaces PATH, so a reader sees the old file
 * or the whole new one. Parent directories must exist. Returns 0;
 * INFRA_ENOTFOUND when the directory is missing, INFRA_EAUTH when not
 * permitted, INFRA_EINVALID when path is a directory, INFRA_ETRANSIENT on a
 * broken connection or timeout, INFRA_EINTERNAL otherwise (ssh_last_error). */
int ssh_upload(infra_ssh *ssh, const char *path, const void *data, size_t len, int mode);

/* host->ssh->run: runs command (as root through "sudo -n" when as_root and
 * the login user is not root) as part of call, so that call's cancel
 * flag and deadline stop it with INFRA_ECANCELLED. Returns 0 once the
 * command ran, whatever its exit status, with the outputs like ssh_exec.
 * Every failure is reported through call's diagnostics with its reason:
 * the transport's (libssh2's text, or the deadline) followed by the last
 * lines the command wrote to stderr; a refusal of sudo itself ("sudo: a
 * password is required") is INFRA_EAUTH quoting sudo. */
int ssh_call_run(infra_call *call, infra_ssh *ssh, const char *command, int as_root,
                 int *exit_status, char **out_stdout, char **out_stderr);

/* host->ssh->write_file: ssh_upload as part of call (cancellable, bounded
 * by its deadline), the reason of a failure reported through call. */
int ssh_call_write_file(infra_call *call, infra_ssh *ssh, const char *path, const void *data,
                        size_t len, int mode);

/* Why the last ssh_exec, ssh_exec_sudo or ssh_upload on ssh failed
 * (borrowed until the next call on ssh), or "" after a success. */
const char *ssh_last_error(const infra_ssh *ssh);

/* Like ssh_connect, through bastion when it is not NULL: a session to
 * the bastion checked against its own pinned key (or known_hosts), a
 * direct-tcpip channel from there to target->host:port, and target's
 * session over that channel, checked against target's key. A failure is
 * reported naming the hop: "bastion B:P (for H:P): ..." for the bastion
 * (unreachable, key mismatch, login refused), "H:P through the bastion
 * B:P: ..." for the target (unreachable from the bastion, key mismatch).
 * Returns as ssh_connect. */
int ssh_connect_via(infra_call *call, const infra_ssh_target *target,
                    const infra_ssh_target *bastion, infra_ssh **out);

/* Records that host:port whose pinned key is pin (NULL: none) is reached
 * through bastion (copied; NULL removes the route): ssh_connect then goes
 * through it, for the host and for plugins alike. Thread-safe. */
void ssh_route_set(const char *host, int port, const char *pin, const infra_ssh_target *bastion);

/* The bastion recorded for host:port and pin: 1 with *bastion filled and
 * *owned the block holding its strings (caller frees), else 0. */
int ssh_route_get(const char *host, int port, const char *pin, infra_ssh_target *bastion,
                  char **owned);

/* Forgets every route. */
void ssh_routes_clear(void);

/* The bastion of the first route recorded for host, whatever its SSH port
 * and key (a node's other ports go through the same bastion): 1 with
 * *bastion filled and *owned its strings (caller frees), else 0. */
int ssh_route_of_host(const char *host, infra_ssh_target *bastion, char **owned);

/* host->ssh->tunnel (ssh_tunnel.c): the loopback port of the tunnel to
 * host:port through host's bastion, started on first use and kept until
 * ssh_tunnels_close. 0 with *local_port once host:port accepted a
 * connection through the bastion just now; INFRA_ENOTFOUND when host has
 * no route (nothing reported: connect directly); INFRA_ETRANSIENT when the
 * bastion cannot reach host:port (logged at debug level only: a probe of a
 * port still closed is no error); a refusal of the bastion itself
 * (INFRA_EAUTH, INFRA_ETRANSIENT) reported through call. */
int ssh_tunnel(infra_call *call, const char *host, int port, int *local_port);

/* The loopback port of the tunnel to host:port (started on first use, not
 * checked), or 0 when host has no route. *via_text (caller frees; may be
 * NULL) names the bastion, "B:P", for messages. */
int ssh_tunnel_port(const char *host, int port, char **via_text);

/* Stops every tunnel: listeners, their threads and the connections they
 * carry. Call at the end of the run; tunnels asked for later start anew. */
void ssh_tunnels_close(void);

/* The session's host key as a known_hosts line without the host name
 * ("ssh-ed25519 AAAA..."); caller frees; NULL when it has none. */
char *ssh_host_key_line(const infra_ssh *ssh);

/* Disconnects and frees; NULL is ignored. */
void ssh_close(infra_ssh *ssh);

/* Process-wide limits for a TCP connect attempt, the handshake + host key
 * check + login of one attempt, and one exec or upload; 0 restores the
 * default. Meant for tests and start-up: call it while no session is being
 * opened or used. */
void ssh_set_timeouts(long connect_ms, long handshake_ms, long exec_ms);

#endif
