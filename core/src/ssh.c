/* SSH client over libssh2 (see ssh.h and docs/internals/ssh.md).
 *
 * Sessions run non-blocking: every libssh2 call that would block is retried
 * after poll() on the socket in the direction libssh2 is waiting for, in
 * slices of at most 100 ms, so that a deadline or a cancellation is always
 * honoured and no call can hang on a silent peer. */
#define _GNU_SOURCE /* sigabbrev_np */
#include "ssh.h"

#include <errno.h>
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

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
};

/* One bounded operation on a session. */
typedef struct ssh_op {
    int fd;
    LIBSSH2_SESSION *session;
    int64_t deadline;
    long timeout_ms;
    infra_call *call;
    int werr; /* why waiting stopped: INFRA_ETRANSIENT (timeout), INFRA_ECANCELLED */
} ssh_op;

static _Atomic long connect_timeout_ms = SSH_DEFAULT_CONNECT_TIMEOUT_MS;
static _Atomic long handshake_timeout_ms = SSH_DEFAULT_HANDSHAKE_TIMEOUT_MS;
static _Atomic long exec_timeout_ms = SSH_DEFAULT_EXEC_TIMEOUT_MS;

static pthread_once_t ssh_once = PTHREAD_ONCE_INIT;
static int ssh_init_rc;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

/* Client preference; the server picks the first it also has. ssh-dss is
 * left out on purpose, and libssh2 1.10 signs RSA with SHA-1 only, which
 * OpenSSH 8.8+ refuses, so ssh-rsa only helps with old servers. */
static const struct {
    int type;
    const char *name;
    int knownhost;
} hostkey_types[] = {
    {LIBSSH2_HOSTKEY_TYPE_ED25519, "ssh-ed25519", LIBSSH2_KNOWNHOST_KEY_ED25519},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_256, "ecdsa-sha2-nistp256", LIBSSH2_KNOWNHOST_KEY_ECDSA_256},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_384, "ecdsa-sha2-nistp384", LIBSSH2_KNOWNHOST_KEY_ECDSA_384},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_521, "ecdsa-sha2-nistp521", LIBSSH2_KNOWNHOST_KEY_ECDSA_521},
    {LIBSSH2_HOSTKEY_TYPE_RSA, "ssh-rsa", LIBSSH2_KNOWNHOST_KEY_SSHRSA},
};
#define HOSTKEY_TYPES (sizeof(hostkey_types) / sizeof(hostkey_types[0]))

/* Repeat a libssh2 call while it would block; on a timeout or cancellation
 * the result stays LIBSSH2_ERROR_EAGAIN and op->werr says which. */
#define SSH_NB(op, rc, expr)                                                                       \
    do {                                                                                           \
    } while (((rc) = (expr)) == LIBSSH2_ERROR_EAGAIN && op_wait(op))
#define SSH_NB_PTR(op, ptr, expr)                                                                  \
    do {                                                                                           \
    } while (!((ptr) = (expr)) &&                                                                  \
             libssh2_session_last_errno((op)->session) == LIBSSH2_ERROR_EAGAIN && op_wait(op))

static void ssh_global_init(void)
{
    ssh_init_rc = libssh2_init(0);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cancelled(const infra_call *call)
{
    return call && call->cancel && *call->cancel != 0;
}

void ssh_set_timeouts(long connect_ms, long handshake_ms, long exec_ms)
{
    connect_timeout_ms = connect_ms > 0 ? connect_ms : SSH_DEFAULT_CONNECT_TIMEOUT_MS;
    handshake_timeout_ms = handshake_ms > 0 ? handshake_ms : SSH_DEFAULT_HANDSHAKE_TIMEOUT_MS;
    exec_timeout_ms = exec_ms > 0 ? exec_ms : SSH_DEFAULT_EXEC_TIMEOUT_MS;
}

/* An error diagnostic on call, counted like the host's own diag does, with
 * registered secrets removed. */
static void report(infra_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(infra_call *call, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *raw = util_vprintf(fmt, ap);
    va_end(ap);
    char *msg = log_redact(raw);
    if (call) {
        pthread_mutex_lock(&report_lock);
        call->errors++;
        if (!call->first_error)
            call->first_error = util_strdup(msg);
        pthread_mutex_unlock(&report_lock);
    }
    if (call && call->diag)
        call->diag(call->diag_ud, call, INFRA_DIAG_ERROR, "", msg);
    else
        log_msg(LOG_ERROR, "%s", msg);
    free(msg);
    free(raw);
}

static void set_error(infra_ssh *ssh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(infra_ssh *ssh, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = util_vprintf(fmt, ap);
    va_end(ap);
    free(ssh->error);
    ssh->error = msg;
}

static const char *session_error(LIBSSH2_SESSION *session)
{
    char *msg = NULL;
    libssh2_session_last_error(session, &msg, NULL, 0);
    return msg && *msg ? msg : "unknown error";
}

/* "1.5" for 1500 ms, "30" for 30000 ms. */
static const char *seconds(long ms, char buf[32])
{
    snprintf(buf, 32, "%g", (double)ms / 1000.0);
    return buf;
}

static ssh_op op_start(infra_ssh *ssh, infra_call *call, long timeout_ms)
{
    ssh_op op = {ssh->fd, ssh->session, now_ms() + timeout_ms, timeout_ms, call, 0};
    return op;
}

/* Waits for the socket in the direction libssh2 is blocked on; 1 to try
 * again, 0 with op->werr set when the deadline passed or call was cancelled. */
static int op_wait(ssh_op *op)
{
    int dirs = libssh2_session_block_directions(op->session);
    struct pollfd p = {.fd = op->fd, .events = 0};
    if (dirs & LIBSSH2_SESSION_BLOCK_INBOUND)
        p.events |= POLLIN;
    if (dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND)
        p.events |= POLLOUT;
    if (!p.events)
        p.events = POLLIN;
    if (cancelled(op->call)) {
        op->werr = INFRA_ECANCELLED;
        return 0;
    }
    int64_t left = op->deadline - now_ms();
    if (left <= 0) {
        op->werr = INFRA_ETRANSIENT;
        return 0;
    }
    poll(&p, 1, (int)(left < SSH_WAIT_SLICE_MS ? left : SSH_WAIT_SLICE_MS));
    return 1; /* EINTR or a slice elapsed: libssh2 simply gets another go */
}

/* Category of a failed libssh2 call: a lost connection is worth a retry. */
static int classify(ssh_op *op, int rc)
{
    if (rc == LIBSSH2_ERROR_EAGAIN)
        return op->werr ? op->werr : INFRA_ETRANSIENT;
    switch (rc) {
    case LIBSSH2_ERROR_SOCKET_NONE:
    case LIBSSH2_ERROR_SOCKET_SEND:
    case LIBSSH2_ERROR_SOCKET_RECV:
    case LIBSSH2_ERROR_SOCKET_DISCONNECT:
    case LIBSSH2_ERROR_SOCKET_TIMEOUT:
    case LIBSSH2_ERROR_TIMEOUT:
    case LIBSSH2_ERROR_CHANNEL_CLOSED:
        return INFRA_ETRANSIENT;
    default:
        return INFRA_EINTERNAL;
    }
}

/* Records on ssh why step failed and returns its category. */
static int op_fail(ssh_op *op, infra_ssh *ssh, int rc, const char *step)
{
    char buf[32];
    int error = classify(op, rc);
    if (rc == LIBSSH2_ERROR_EAGAIN && error == INFRA_ECANCELLED)
        set_error(ssh, "%s on %s: cancelled", step, ssh->host);
    else if (rc == LIBSSH2_ERROR_EAGAIN)
        set_error(ssh, "%s on %s: timed out after %s s", step, ssh->host,
                  seconds(op->timeout_ms, buf));
    else
        set_error(ssh, "%s on %s: %s", step, ssh->host, session_error(op->session));
    return error;
}

/* ------------------------------------------------------------------ */
/* Fingerprints                                                       */

/* "SHA256:<base64 without padding>" of a digest, as ssh-keygen -l prints. */
static void fingerprint_format(const unsigned char *digest, char out[SSH_FP_LEN])
{
    unsigned char b64[48];
    int n = EVP_EncodeBlock(b64, digest, 32);
    while (n > 0 && b64[n - 1] == '=')
        n--;
    snprintf(out, SSH_FP_LEN, "SHA256:%.*s", n, (const char *)b64);
}

/* Fingerprint of a base64 key blob as stored in known_hosts; 0 or -1. */
static int fingerprint_of_base64(const char *b64, char out[SSH_FP_LEN])
{
    size_t len = strlen(b64);
    unsigned char *blob = util_malloc(len / 4 * 3 + 3);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    int n = len % 4 == 0 ? EVP_DecodeBlock(blob, (const unsigned char *)b64, (int)len) : -1;
    if (n >= 0) {
        for (size_t i = len; i > 0 && b64[i - 1] == '='; i--)
            n--; /* EVP_DecodeBlock counts padding as zero bytes */
        if (EVP_Digest(blob, (size_t)n, digest, &dlen, EVP_sha256(), NULL) == 1)
            fingerprint_format(digest, out);
        else
            n = -1;
    }
    free(blob);
    return n < 0 ? -1 : 0;
}

/* The server's key fingerprint and its index in hostkey_types (or -1). */
static int session_fingerprint(LIBSSH2_SESSION *session, char out[SSH_FP_LEN])
{
    size_t len = 0;
    int type = LIBSSH2_HOSTKEY_TYPE_UNKNOWN;
    const char *hash = libssh2_hostkey_hash(session, LIBSSH2_HOSTKEY_HASH_SHA256);
    libssh2_session_hostkey(session, &len, &type);
    if (hash)
        fingerprint_format((const unsigned char *)hash, out);
    else
        snprintf(out, SSH_FP_LEN, "SHA256:?");
    for (size_t i = 0; i < HOSTKEY_TYPES; i++)
        if (hostkey_types[i].type == type)
            return (int)i;
    return -1;
}

/* ------------------------------------------------------------------ */
/* Connecting                                                         */

/* A non-blocking TCP connection to host:port within deadline. */
static int tcp_connect(infra_call *call, const char *host, int port, int64_t deadline, int *out_fd,
                       char **reason)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char service[16];
    int error = INFRA_ETRANSIENT;

    snprintf(service, sizeof(service), "%d", port);
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0) {
        *reason = util_printf("cannot resolve %s: %s", host, gai_strerror(gai));
        return INFRA_ETRANSIENT;
    }
    for (struct addrinfo *ai = res; ai && error < 0; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        int soerr = fd < 0 ? errno : 0;
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
            soerr = errno;
        while (soerr == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int64_t left = deadline - now_ms();
            if (cancelled(call)) {
                error = INFRA_ECANCELLED;
                break;
            }
            if (left <= 0) {
                soerr = ETIMEDOUT;
                break;
            }
            if (poll(&p, 1, (int)(left < SSH_WAIT_SLICE_MS ? left : SSH_WAIT_SLICE_MS)) > 0) {
                socklen_t sl = sizeof(soerr);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
                    soerr = errno;
            }
        }
        if (soerr == 0 && error != INFRA_ECANCELLED) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            *out_fd = fd;
            error = 0;
            break;
        }
        if (fd >= 0)
            close(fd);
        if (error == INFRA_ECANCELLED)
            break;
        free(*reason);
        *reason = util_printf("connect: %s", strerror(soerr));
    }
    freeaddrinfo(res);
    return error;
}

static void session_close(infra_ssh *conn)
{
    if (conn->session) {
        /* Blocking with a short timeout: a polite goodbye, never a hang. */
        libssh2_session_set_blocking(conn->session, 1);
        libssh2_session_set_timeout(conn->session, SSH_CLEANUP_MS);
        if (conn->handshaken)
            libssh2_session_disconnect(conn->session, "closing");
        libssh2_session_free(conn->session);
        conn->session = NULL;
    }
    if (conn->fd >= 0)
        close(conn->fd);
    conn->fd = -1;
    conn->handshaken = 0;
}

/* TCP connection (until tcp_deadline) and SSH handshake; hostkey_prefs
 * limits or orders the host key algorithms (NULL: hostkey_types order). */
static int session_open(infra_call *call, const char *host, int port, const char *hostkey_prefs,
                        int64_t tcp_deadline, infra_ssh *conn, char **reason)
{
    char buf[32];
    int error = 0, rc;

    conn->fd = -1;
    if ((error = tcp_connect(call, host, port, tcp_deadline, &conn->fd, reason)) < 0)
        return error;
    conn->session = libssh2_session_init();
    if (!conn->session) {
        *reason = util_strdup("cannot create an SSH session");
        error = INFRA_EINTERNAL;
        goto done;
    }
    libssh2_session_set_blocking(conn->session, 0);
    if (!hostkey_prefs) {
        util_buf all = {0};
        for (size_t i = 0; i < HOSTKEY_TYPES; i++)
            util_buf_printf(&all, "%s%s", i ? "," : "", hostkey_types[i].name);
        libssh2_session_method_pref(conn->session, LIBSSH2_METHOD_HOSTKEY, all.data);
        util_buf_free(&all);
    } else {
        libssh2_session_method_pref(conn->session, LIBSSH2_METHOD_HOSTKEY, hostkey_prefs);
    }
    ssh_op op = op_start(conn, call, handshake_timeout_ms);
    SSH_NB(&op, rc, libssh2_session_handshake(conn->session, conn->fd));
    if (rc == LIBSSH2_ERROR_EAGAIN && op.werr == INFRA_ECANCELLED) {
        error = INFRA_ECANCELLED;
    } else if (rc == LIBSSH2_ERROR_EAGAIN) {
        free(*reason);
        *reason = util_printf("no SSH handshake within %s s", seconds(op.timeout_ms, buf));
        error = INFRA_ETRANSIENT;
    } else if (rc != 0) {
        free(*reason);
        *reason = util_printf("SSH handshake failed: %s", session_error(conn->session));
        error = INFRA_ETRANSIENT;
    } else {
        conn->handshaken = 1;
    }
done:
    if (error < 0)
        session_close(conn);
    return error;
}

static char *known_hosts_path(void)
{
    const char *home = getenv("HOME");
    struct passwd pw, *found = NULL;
    char buf[4096];
    if ((!home || !*home) && getpwuid_r(getuid(), &pw, buf, sizeof(buf), &found) == 0 && found)
        home = found->pw_dir;
    return util_printf("%s/.ssh/known_hosts", home && *home ? home : "");
}

/* Host key algorithms with those known_hosts holds for host:port first, so
 * that a server with several keys presents one the file can vouch for. A
 * probe with a one-byte key answers MISMATCH exactly when an entry of that
 * type exists for the host. */
static char *known_hosts_prefs(LIBSSH2_KNOWNHOSTS *hosts, const char *host, int port)
{
    util_buf known = {0}, other = {0};
    for (size_t i = 0; i < HOSTKEY_TYPES; i++) {
        int check =
            libssh2_knownhost_checkp(hosts, host, port, "?", 1,
                                     LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
                                         hostkey_types[i].knownhost,
                                     NULL);
        util_buf *b = check == LIBSSH2_KNOWNHOST_CHECK_MISMATCH ? &known : &other;
        util_buf_printf(b, "%s%s", b->len ? "," : "", hostkey_types[i].name);
    }
    if (other.len)
        util_buf_printf(&known, "%s%s", known.len ? "," : "", other.data);
    util_buf_free(&other);
    return util_buf_take(&known);
}

/* Pinned fingerprint: the first handshake offers our preferred types; the
 * server answers with the first it has, so only types after that one can
 * hold the pinned key, and each is tried on a fresh connection. */
static int verify_pinned(infra_call *call, const char *host, int port, const char *expected,
                         infra_ssh *conn)
{
    char fp[SSH_FP_LEN];
    util_buf got = {0};
    int error = 0;
    int first = session_fingerprint(conn->session, fp);

    if (strcmp(fp, expected) == 0)
        return 0;
    util_buf_puts(&got, fp);
    for (size_t i = first < 0 ? HOSTKEY_TYPES : (size_t)first + 1; i < HOSTKEY_TYPES; i++) {
        infra_ssh alt = {.fd = -1};
        char *reason = NULL;
        error = session_open(call, host, port, hostkey_types[i].name, now_ms() + connect_timeout_ms,
                             &alt, &reason);
        free(reason);
        if (error == INFRA_ECANCELLED)
            goto done;
        if (error < 0)
            continue; /* the server has no key of this type */
        session_fingerprint(alt.session, fp);
        if (strcmp(fp, expected) == 0) {
            session_close(conn);
            conn->fd = alt.fd;
            conn->session = alt.session;
            conn->handshaken = alt.handshaken;
            error = 0;
            goto done;
        }
        util_buf_printf(&got, " or %s", fp);
        session_close(&alt);
    }
    report(call, "host key mismatch for %s:%d: expected %s, got %s (refusing to connect)", host,
           port, expected, got.data);
    error = INFRA_EAUTH;
done:
    util_buf_free(&got);
    return error;
}

static int verify_known_hosts(infra_call *call, const char *host, int port, const char *path,
                              LIBSSH2_KNOWNHOSTS *hosts, infra_ssh *conn)
{
    char fp[SSH_FP_LEN], want[SSH_FP_LEN];
    size_t len = 0;
    int type = 0;
    struct libssh2_knownhost *entry = NULL;
    const char *key = libssh2_session_hostkey(conn->session, &len, &type);
    int idx = session_fingerprint(conn->session, fp);

    if (!key || idx < 0) {
        report(call, "host key of %s:%d has an unsupported type (refusing to connect)", host, port);
        return INFRA_EAUTH;
    }
    int check = libssh2_knownhost_checkp(
        hosts, host, port, key, len,
        LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | hostkey_types[idx].knownhost,
        &entry);
    switch (check) {
    case LIBSSH2_KNOWNHOST_CHECK_MATCH:
        return 0;
    case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
        if (!entry || !entry->key || fingerprint_of_base64(entry->key, want) < 0)
            snprintf(want, sizeof(want), "the key in %s", path);
        report(call,
               "host key mismatch for %s:%d: expected %s, got %s (refusing to connect; "
               "the expected key is from %s)",
               host, port, want, fp, path);
        return INFRA_EAUTH;
    case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
        report(call,
               "host key of %s:%d is not in %s (the server offers %s %s); add it there or pin it "
               "with host_key_sha256 (refusing to connect)",
               host, port, path, hostkey_types[idx].name, fp);
        return INFRA_EAUTH;
    default:
        report(call, "cannot check the host key of %s:%d against %s (refusing to connect)", host,
               port, path);
        return INFRA_EAUTH;
    }
}

static int auth_agent(ssh_op *op, const char *user, int *tried)
{
    struct libssh2_agent_publickey *id = NULL, *prev = NULL;
    LIBSSH2_AGENT *agent = libssh2_agent_init(op->session);
    int rc = -1;

    if (!agent)
        return -1;
    if (libssh2_agent_connect(agent) == 0 && libssh2_agent_list_identities(agent) == 0) {
        while (libssh2_agent_get_identity(agent, &id, prev) == 0) {
            (*tried)++;
            SSH_NB(op, rc, libssh2_agent_userauth(agent, user, id));
            if (rc == 0 || rc == LIBSSH2_ERROR_EAGAIN)
                break;
            prev = id;
        }
        libssh2_agent_disconnect(agent);
    }
    libssh2_agent_free(agent);
    return rc;
}

/* Public key from the key file, else every identity the ssh-agent holds. */
static int authenticate(infra_call *call, const infra_ssh_target *t, infra_ssh *conn)
{
    char buf[32];
    ssh_op op = op_start(conn, call, handshake_timeout_ms);
    int rc = -1, tried = 0;
    const char *key = t->private_key && *t->private_key ? t->private_key : NULL;
    char *method = key ? util_printf("public key %s", key) : NULL;

    if (key && access(key, R_OK) != 0) {
        report(call, "authentication failed for %s@%s:%d: cannot read private key %s: %s",
               conn->user, conn->host, conn->port, key, strerror(errno));
        free(method);
        return INFRA_EAUTH;
    }
    if (key) {
        SSH_NB(&op, rc,
               libssh2_userauth_publickey_fromfile_ex(
                   conn->session, conn->user, (unsigned)strlen(conn->user), NULL, key, NULL));
    } else {
        rc = auth_agent(&op, conn->user, &tried);
        method = util_printf("the ssh-agent (%d key%s tried%s)", tried, tried == 1 ? "" : "s",
                             getenv("SSH_AUTH_SOCK") ? "" : ", SSH_AUTH_SOCK is not set");
    }
    int error = 0;
    if (rc == LIBSSH2_ERROR_EAGAIN && op.werr == INFRA_ECANCELLED) {
        error = INFRA_ECANCELLED;
    } else if (rc == LIBSSH2_ERROR_EAGAIN) {
        report(call, "authentication for %s@%s:%d with %s timed out after %s s", conn->user,
               conn->host, conn->port, method, seconds(op.timeout_ms, buf));
        error = INFRA_ETRANSIENT;
    } else if (rc != 0) {
        report(call, "authentication failed for %s@%s:%d with %s: %s", conn->user, conn->host,
               conn->port, method, key ? session_error(conn->session) : "no key was accepted");
        error = INFRA_EAUTH;
    }
    free(method);
    return error;
}

/* One attempt: connect, check the host key, log in. ETRANSIENT (with
 * *reason) is worth another attempt; anything else is final and reported.
 * A TCP connect may outlast the retry deadline by at most a second, so an
 * address that drops packets cannot stretch a short deadline to the full
 * connect timeout. */
static int connect_once(infra_call *call, const infra_ssh_target *t, int64_t deadline,
                        infra_ssh *conn, char **reason)
{
    int64_t tcp_ms = deadline - now_ms();
    if (tcp_ms < 1000)
        tcp_ms = 1000;
    if (tcp_ms > connect_timeout_ms)
        tcp_ms = connect_timeout_ms;
    const char *pin = t->host_key_sha256;
    char *path = NULL, *prefs = NULL;
    LIBSSH2_SESSION *scratch = NULL;
    LIBSSH2_KNOWNHOSTS *hosts = NULL;
    int error = 0;

    if (!pin) {
        /* The known_hosts reader needs a session; a scratch one serves both
         * the algorithm order and the check that follows. */
        path = known_hosts_path();
        scratch = libssh2_session_init();
        hosts = scratch ? libssh2_knownhost_init(scratch) : NULL;
        if (!hosts) {
            *reason = util_strdup("cannot create a known_hosts reader");
            error = INFRA_EINTERNAL;
            goto done;
        }
        /* A missing file holds no host: every host is then refused below. */
        libssh2_knownhost_readfile(hosts, path, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
        prefs = known_hosts_prefs(hosts, conn->host, conn->port);
    }
    if ((error = session_open(call, conn->host, conn->port, prefs, now_ms() + tcp_ms, conn,
                              reason)) < 0)
        goto done;
    if (pin)
        error = verify_pinned(call, conn->host, conn->port, pin, conn);
    else
        error = verify_known_hosts(call, conn->host, conn->port, path, hosts, conn);
    if (error < 0 || (error = authenticate(call, t, conn)) < 0)
        session_close(conn);
done:
    if (hosts)
        libssh2_knownhost_free(hosts);
    if (scratch)
        libssh2_session_free(scratch);
    free(prefs);
    free(path);
    return error;
}

/* Sleeps ms in slices, watching call's cancel flag. */
static int backoff_sleep(infra_call *call, int64_t ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        if (cancelled(call))
            return INFRA_ECANCELLED;
        int64_t left = end - now_ms();
        if (left <= 0)
            return 0;
        if (left > SSH_WAIT_SLICE_MS)
            left = SSH_WAIT_SLICE_MS;
        struct timespec ts = {0, (long)left * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* "SHA256:..." with surrounding blanks and base64 padding removed; NULL
 * when text is not a SHA-256 fingerprint. Caller frees. */
static char *normalise_pin(const char *text)
{
    while (*text == ' ' || *text == '\t')
        text++;
    if (strncmp(text, "SHA256:", 7) != 0)
        return NULL;
    size_t n = strlen(text);
    while (n > 7 && strchr(" \t\r\n=", text[n - 1]))
        n--;
    return n > 7 ? util_strndup(text, n) : NULL;
}

int ssh_connect(infra_call *call, const infra_ssh_target *target, infra_ssh **out)
{
    char buf[32];
    char *reason = NULL, *pin = NULL;
    infra_ssh *conn = NULL;
    int error = 0;
    int64_t backoff = SSH_BACKOFF_FIRST_MS;

    if (out)
        *out = NULL;
    if (!out || !target ||
        target->size < offsetof(infra_ssh_target, deadline_ms) + sizeof(target->deadline_ms) ||
        !target->host || !*target->host || !target->user || !*target->user) {
        report(call, "ssh: the target needs a host and a user");
        return INFRA_EINVALID;
    }
    int port = target->port > 0 ? target->port : SSH_DEFAULT_PORT;
    if (target->host_key_sha256 && !(pin = normalise_pin(target->host_key_sha256))) {
        report(call, "ssh: host key fingerprint for %s:%d must look like SHA256:<base64>, got %s",
               target->host, port, target->host_key_sha256);
        return INFRA_EINVALID;
    }
    pthread_once(&ssh_once, ssh_global_init);
    if (ssh_init_rc != 0) {
        report(call, "ssh: libssh2 failed to initialise");
        free(pin);
        return INFRA_EINTERNAL;
    }

    infra_ssh_target t = *target;
    t.host_key_sha256 = pin;
    long deadline_ms = target->deadline_ms > 0 ? target->deadline_ms : 0;
    int64_t deadline = now_ms() + deadline_ms;
    conn = util_calloc(1, sizeof(*conn));
    conn->fd = -1;
    conn->host = util_strdup(target->host);
    conn->port = port;
    conn->user = util_strdup(target->user);
    log_msg(LOG_DEBUG, "ssh: connecting to %s@%s:%d", conn->user, conn->host, port);

    for (;;) {
        free(reason);
        reason = NULL;
        error = connect_once(call, &t, deadline, conn, &reason);
        if (error == 0 || error != INFRA_ETRANSIENT || reason == NULL)
            break;
        int64_t left = deadline - now_ms();
        log_msg(LOG_DEBUG, "ssh: %s:%d: %s", conn->host, port, reason);
        if (left <= 0) {
            report(call, "ssh: %s:%d did not answer within %s s (last error: %s)", conn->host, port,
                   seconds(deadline_ms, buf), reason);
            break;
        }
        if ((error = backoff_sleep(call, backoff < left ? backoff : left)) < 0)
            break;
        backoff = backoff * 2 > SSH_BACKOFF_MAX_MS ? SSH_BACKOFF_MAX_MS : backoff * 2;
    }
    if (error == INFRA_EINTERNAL && reason)
        report(call, "ssh: %s:%d: %s", conn->host, port, reason);
    if (error == 0) {
        *out = conn;
        conn = NULL;
    }
    ssh_close(conn);
    free(reason);
    free(pin);
    return error;
}

void ssh_close(infra_ssh *ssh)
{
    if (!ssh)
        return;
    session_close(ssh);
    free(ssh->host);
    free(ssh->user);
    free(ssh->error);
    free(ssh);
}

const char *ssh_last_error(const infra_ssh *ssh)
{
    return ssh && ssh->error ? ssh->error : "";
}

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
    op->deadline = now_ms() + SSH_CLEANUP_MS;
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

static int exec_run(infra_call *call, infra_ssh *ssh, const char *command, int *exit_status,
                    char **out_stdout, char **out_stderr)
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
        set_error(ssh, "no open session to %s", ssh->host);
        return INFRA_EINVALID;
    }
    ssh_op op = op_start(ssh, call, exec_timeout_ms);
    log_msg(LOG_DEBUG, "ssh: %s@%s:%d: exec: %s", ssh->user, ssh->host, ssh->port, command);

    SSH_NB_PTR(&op, ch, libssh2_channel_open_session(ssh->session));
    if (!ch) {
        rc = libssh2_session_last_errno(ssh->session);
        error = op_fail(&op, ssh, rc, "opening a channel");
        goto done;
    }
    SSH_NB(&op, rc, libssh2_channel_exec(ch, command));
    if (rc == 0) /* nothing to say on stdin: a command reading it sees EOF */
        SSH_NB(&op, rc, libssh2_channel_send_eof(ch));
    if (rc != 0) {
        error = op_fail(&op, ssh, rc, "starting a command");
        goto done;
    }
    /* Both streams are drained in turn: a command filling its stderr window
     * while we wait on stdout would otherwise stall forever. */
    for (;;) {
        int progressed = 0;
        if ((n = drain(ch, 0, &out, &progressed)) < 0 ||
            (n = drain(ch, SSH_EXTENDED_DATA_STDERR, &err, &progressed)) < 0) {
            error = op_fail(&op, ssh, (int)n, "reading command output");
            goto done;
        }
        if (libssh2_channel_eof(ch))
            break;
        if (!progressed && !op_wait(&op)) {
            error = op_fail(&op, ssh, LIBSSH2_ERROR_EAGAIN, "waiting for a command");
            goto done;
        }
    }
    SSH_NB(&op, rc, libssh2_channel_close(ch));
    if (rc == 0)
        SSH_NB(&op, rc, libssh2_channel_wait_closed(ch));
    if (rc != 0) {
        error = op_fail(&op, ssh, rc, "closing a channel");
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
    util_buf_free(&out);
    util_buf_free(&err);
    return error;
}

int ssh_exec(infra_ssh *ssh, const char *command, int *exit_status, char **out_stdout,
             char **out_stderr)
{
    return exec_run(NULL, ssh, command, exit_status, out_stdout, out_stderr);
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
        return exec_run(NULL, ssh, command, exit_status, out_stdout, out_stderr);
    char *line = ssh_sudo_command(ssh->user, command);
    int error = exec_run(NULL, ssh, line, exit_status, out_stdout, out_stderr);
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
    if ((error = exec_run(call, ssh, command, &status, &stdout_text, &stderr_text)) < 0) {
        if (error != INFRA_ECANCELLED)
            report(call, "ssh: %s", ssh ? ssh_last_error(ssh) : "no session");
        goto done;
    }
    if (status != 0) {
        size_t len;
        const char *tail = tail_lines(stderr_text, &len, SSH_STDERR_TAIL_LINES);
        report(call, "command failed with exit code %d on %s: %s\n%.*s", status, ssh->host, command,
               (int)len, tail);
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
        int error = classify(op, rc);
        if (rc == LIBSSH2_ERROR_EAGAIN && error == INFRA_ECANCELLED)
            set_error(ssh, "%s %s on %s: cancelled", step, path, ssh->host);
        else if (rc == LIBSSH2_ERROR_EAGAIN)
            set_error(ssh, "%s %s on %s: timed out after %s s", step, path, ssh->host,
                      seconds(op->timeout_ms, buf));
        else
            set_error(ssh, "%s %s on %s: %s", step, path, ssh->host, session_error(ssh->session));
        return error;
    }
    unsigned long code = libssh2_sftp_last_error(sftp);
    set_error(ssh, "%s %s on %s: %s (SFTP status %lu)", step, path, ssh->host,
              session_error(ssh->session), code);
    return sftp_category(code);
}

/* OpenSSH's sftp-server speaks SFTP v3, whose rename refuses an existing
 * target; mv -f renames over it with rename(2), which is atomic. */
static int replace_with_mv(infra_ssh *ssh, const char *tmp, const char *path)
{
    char *qtmp = ssh_shell_quote(tmp), *qpath = ssh_shell_quote(path);
    char *line = util_printf("mv -f -- %s %s", qtmp, qpath);
    char *errtext = NULL;
    int status = -1;
    int error = exec_run(NULL, ssh, line, &status, NULL, &errtext);
    if (error == 0 && status != 0) {
        size_t len;
        const char *tail = tail_lines(errtext, &len, 3);
        set_error(ssh, "renaming %s to %s on %s: %.*s", tmp, path, ssh->host, (int)len, tail);
        error = INFRA_EINTERNAL;
    }
    free(errtext);
    free(line);
    free(qpath);
    free(qtmp);
    return error;
}

int ssh_upload(infra_ssh *ssh, const char *path, const void *data, size_t len, int mode)
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
        set_error(ssh, "no open session to %s", ssh->host);
        return INFRA_EINVALID;
    }
    ssh_op op = op_start(ssh, NULL, exec_timeout_ms);
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
        set_error(ssh, "uploading to %s on %s: it is a directory", path, ssh->host);
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
        error = replace_with_mv(ssh, tmp, path);
    } else if (rc != 0) {
        error = sftp_fail(&op, ssh, sftp, rc, "renaming", tmp);
    }
done:
    op.deadline = now_ms() + SSH_CLEANUP_MS;
    if (file)
        SSH_NB(&op, rc, libssh2_sftp_close_handle(file));
    if (error < 0 && sftp && error != INFRA_ETRANSIENT)
        SSH_NB(&op, rc, libssh2_sftp_unlink_ex(sftp, tmp, (unsigned)strlen(tmp)));
    if (sftp)
        SSH_NB(&op, rc, libssh2_sftp_shutdown(sftp));
    free(tmp);
    return error;
}

static const infra_ssh_api ssh_table = {
    .size = sizeof(infra_ssh_api),
    .connect = ssh_connect,
    .exec = ssh_exec,
    .upload = ssh_upload,
    .close = ssh_close,
    .exec_sudo = ssh_exec_sudo,
};

const infra_ssh_api *ssh_api(void)
{
    return &ssh_table;
}
