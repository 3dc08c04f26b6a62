/* Real OpenSSH servers for the tests that speak SSH (test_ssh,
 * test_ssh_hostkeys, test_ssh_jump, install/test_plugin_install): a
 * temporary directory with the client's keys and authorized_keys, host
 * keys and their fingerprints, sshd configurations, and servers started in
 * a mount namespace of their own (in a network namespace when asked) that
 * are stopped when the fixture is freed. Also the shell and file helpers
 * these tests share, and the diagnostics of one call collected as text.
 *
 * Every function that can fail calls cmocka's fail_msg: use them inside a
 * test or a group setup. Include after cmocka.h. */
#ifndef SSHD_FIXTURE_H
#define SSHD_FIXTURE_H

#include <stdint.h>
#include <sys/types.h>

#include "base/util.h"
#include "plugin/host.h"
#include "services/ssh.h"

#define SSHD_FIXTURE_SSHD "/usr/sbin/sshd"

/* sshd_fixture_init flags. */
#define SSHD_FIXTURE_ECDSA 1 /* a second host key, ECDSA P-256 */

typedef struct sshd_fixture {
    char *dir;         /* mkdtemp; removed with all it holds by sshd_fixture_free */
    char *user_key;    /* the client's private key, listed in DIR/authorized_keys */
    char *other_key;   /* a client key no server knows */
    char *host_key;    /* the ed25519 host key, the one the servers prefer */
    char *host_ecdsa;  /* the ECDSA host key (SSHD_FIXTURE_ECDSA), else NULL */
    char *fingerprint; /* of host_key, as ssh-keygen -lf prints it: "SHA256:..." */
    char *log;         /* DIR/sshd.log: where servers started here write stderr */
    int port;          /* of the server sshd_fixture_start put on 127.0.0.1 */
    pid_t children[8]; /* processes stopped by sshd_fixture_free even when a
                          test fails half-way */
} sshd_fixture;

/* One sshd configuration (sshd_fixture_config). */
typedef struct sshd_fixture_conf {
    const char *listen;       /* ListenAddress; NULL: every address */
    int port;                 /* Port */
    const char *host_keys[3]; /* HostKey lines, NULL-terminated */
    const char *path_dir;     /* sessions' PATH starts with DIR/path_dir; NULL: sshd's */
    int no_forwarding;        /* AllowTcpForwarding no */
} sshd_fixture_conf;

/* Creates DIR (/tmp/infra-test-NAME-XXXXXX) with user_key, other_key,
 * authorized_keys, host_key (and host_ecdsa when flags has
 * SSHD_FIXTURE_ECDSA) and fingerprint; sshd's privilege separation
 * directory too. Fails the test on an error; free with sshd_fixture_free. */
void sshd_fixture_init(sshd_fixture *fx, const char *name, int flags);

/* Generates DIR/name, a key of type "ed25519" or "ecdsa" (P-256) without
 * passphrase; returns its path (caller frees). */
char *sshd_fixture_keygen(const sshd_fixture *fx, const char *name, const char *type);

/* "SHA256:..." of the public half (KEY.pub) of key; caller frees. */
char *sshd_fixture_fingerprint(const char *key);

/* Writes DIR/name from conf; returns its path (caller frees). Servers on it
 * write their pid to DIR/name.pid. */
char *sshd_fixture_config(const sshd_fixture *fx, const char *name, const sshd_fixture_conf *conf);

/* Starts sshd -D on config after delay_s seconds, inside network namespace
 * netns (NULL: this one), stderr appended to fx->log. The server runs in a
 * mount namespace of its own where /root is an empty directory: the login
 * shells of its root sessions must not read this machine's own ~/.bashrc.
 * Returns its pid, stopped by sshd_fixture_free or sshd_fixture_stop. */
pid_t sshd_fixture_spawn(sshd_fixture *fx, const char *netns, const char *config, int delay_s);

/* Waits (at most 15 s) until the server on config has written its pid file,
 * which sshd does once it listens; 0, or -1 with fx->log on stderr. */
int sshd_fixture_wait(const sshd_fixture *fx, const char *config);

/* The usual server: on 127.0.0.1 at a free port (fx->port), with fx's host
 * keys, sessions' PATH starting with DIR/path_dir (NULL: sshd's); checked
 * with sshd -t, started and listening. 0, or -1 when it does not come up. */
int sshd_fixture_start(sshd_fixture *fx, const char *path_dir);

/* Skips the test unless sshd_fixture_start brought fx's server up. */
#define SSHD_FIXTURE_REQUIRE(fx)                                                                   \
    do {                                                                                           \
        if ((fx)->port == 0)                                                                       \
            skip();                                                                                \
    } while (0)

/* Stops one process started through the fixture and waits for it. */
void sshd_fixture_stop(sshd_fixture *fx, pid_t pid);

/* Keeps pid to be stopped by sshd_fixture_free; returns it. */
pid_t sshd_fixture_remember(sshd_fixture *fx, pid_t pid);

/* Stops every process, removes DIR, frees and clears fx. */
void sshd_fixture_free(sshd_fixture *fx);

/* A target for root at host:port logging in with key, pinning pin. */
infra_ssh_target sshd_fixture_target(const char *host, int port, const char *pin, const char *key,
                                     long deadline_ms);

/* A session as root to the server of sshd_fixture_start, its host key
 * pinned; fails the test when it cannot connect. Close with ssh_close. */
infra_ssh *sshd_fixture_session(const sshd_fixture *fx);

/* Runs command on ssh and returns its stdout (caller frees); fails the test
 * unless it exits 0. */
char *sshd_fixture_remote(infra_ssh *ssh, const char *command);

/* A port on 127.0.0.1 that nobody listens on (the kernel picked it). */
int sshd_fixture_free_port(void);

/* Whether a TCP connection to 127.0.0.1:port is accepted. */
int sshd_fixture_port_accepts(int port);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t sshd_fixture_now_ms(void);

/* Runs a shell command; fails the test unless it exits 0. */
void sshd_fixture_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs a shell command and returns its stdout (caller frees); fails the
 * test unless it exits 0. */
char *sshd_fixture_sh_output(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The first line of a shell command's stdout, without its newline (caller
 * frees); fails the test unless the command exits 0. */
char *sshd_fixture_sh_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs a shell command; its exit status (-1 when it did not exit). */
int sshd_fixture_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The content of path, "" when it cannot be read; caller frees. */
char *sshd_fixture_read_file(const char *path);

/* Writes text to path; fails the test on an error. */
void sshd_fixture_write_file(const char *path, const char *text);

/* Removes path and everything below it. */
void sshd_fixture_remove_tree(const char *path);

/* Diagnostics received on a call, every one an error. */
typedef struct sshd_fixture_diags {
    util_buf text; /* the messages, one a line */
    int count;
} sshd_fixture_diags;

/* Sets call up with its diagnostics going to d; end with sshd_fixture_call_end. */
void sshd_fixture_call_begin(infra_call *call, sshd_fixture_diags *d);

/* Clears call and frees what d holds. */
void sshd_fixture_call_end(infra_call *call, sshd_fixture_diags *d);

/* The text of d, "" when nothing came (borrowed). */
const char *sshd_fixture_diag_text(const sshd_fixture_diags *d);

#endif
