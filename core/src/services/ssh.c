/* SSH client over libssh2 (see ssh.h and docs/internals/ssh.md).
 *
 * Sessions run non-blocking: every libssh2 call that would block is retried
 * after poll() on the socket in the direction libssh2 is waiting for, in
 * slices of at most 100 ms, so that a deadline or a cancellation is always
 * honoured and no call can hang on a silent peer. */
#include "services/ssh_int.h"

#include <errno.h>
#include <libssh2.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "services/log.h"
#include "base/util.h"

static _Atomic long connect_timeout_ms = SSH_DEFAULT_CONNECT_TIMEOUT_MS;
static _Atomic long handshake_timeout_ms = SSH_DEFAULT_HANDSHAKE_TIMEOUT_MS;
static _Atomic long exec_timeout_ms = SSH_DEFAULT_EXEC_TIMEOUT_MS;

static pthread_once_t ssh_once = PTHREAD_ONCE_INIT;
static int ssh_init_rc;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local char *report_prefix; /* which hop of a jump is connecting */

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

static void ssh_global_init(void)
{
    ssh_init_rc = libssh2_init(0);
}

int64_t ssh_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ssh_cancelled(const infra_call *call)
{
    return host_call_cancelled(call);
}

long ssh_exec_timeout_ms(void)
{
    return exec_timeout_ms;
}

void ssh_set_timeouts(long connect_ms, long handshake_ms, long exec_ms)
{
    connect_timeout_ms = connect_ms > 0 ? connect_ms : SSH_DEFAULT_CONNECT_TIMEOUT_MS;
    handshake_timeout_ms = handshake_ms > 0 ? handshake_ms : SSH_DEFAULT_HANDSHAKE_TIMEOUT_MS;
    exec_timeout_ms = exec_ms > 0 ? exec_ms : SSH_DEFAULT_EXEC_TIMEOUT_MS;
}

/* An error diagnostic on call, counted like the host's own diag does, with
 * registered secrets removed. */
void ssh_report(infra_call *call, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *raw = util_vprintf(fmt, ap);
    va_end(ap);
    if (report_prefix) {
        char *whole = util_printf("%s%s", report_prefix, raw);
        free(raw);
        raw = whole;
    }
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

char *ssh_report_prefix_swap(char *prefix)
{
    char *old = report_prefix;
    report_prefix = prefix;
    return old;
}

void ssh_set_error(infra_ssh *ssh, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = util_vprintf(fmt, ap);
    va_end(ap);
    free(ssh->error);
    ssh->error = msg;
}

const char *ssh_session_error(LIBSSH2_SESSION *session)
{
    char *msg = NULL;
    libssh2_session_last_error(session, &msg, NULL, 0);
    return msg && *msg ? msg : "unknown error";
}

/* "1.5" for 1500 ms, "30" for 30000 ms. */
const char *ssh_seconds(long ms, char buf[32])
{
    snprintf(buf, 32, "%g", (double)ms / 1000.0);
    return buf;
}

ssh_op ssh_op_start(infra_ssh *ssh, infra_call *call, long timeout_ms)
{
    ssh_op op = {ssh->fd, ssh->session, ssh_now_ms() + timeout_ms, timeout_ms, call, 0};
    return op;
}

/* Waits for the socket in the direction libssh2 is blocked on; 1 to try
 * again, 0 with op->werr set when the deadline passed or call was cancelled. */
int ssh_op_wait(ssh_op *op)
{
    int dirs = libssh2_session_block_directions(op->session);
    struct pollfd p = {.fd = op->fd, .events = 0};
    if (dirs & LIBSSH2_SESSION_BLOCK_INBOUND)
        p.events |= POLLIN;
    if (dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND)
        p.events |= POLLOUT;
    if (!p.events)
        p.events = POLLIN;
    if (ssh_cancelled(op->call)) {
        op->werr = INFRA_ECANCELLED;
        return 0;
    }
    int64_t left = op->deadline - ssh_now_ms();
    if (left <= 0) {
        op->werr = INFRA_ETRANSIENT;
        return 0;
    }
    poll(&p, 1, (int)(left < SSH_WAIT_SLICE_MS ? left : SSH_WAIT_SLICE_MS));
    return 1; /* EINTR or a slice elapsed: libssh2 simply gets another go */
}

/* Category of a failed libssh2 call: a lost connection is worth a retry. */
int ssh_classify(ssh_op *op, int rc)
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

const char *ssh_stop_reason(const ssh_op *op)
{
    if (op->call && op->call->deadline_ms > 0 && ssh_now_ms() >= op->call->deadline_ms)
        return "stopped: the call's deadline passed";
    return "cancelled";
}

/* Records on ssh why step failed and returns its category. */
int ssh_op_fail(ssh_op *op, infra_ssh *ssh, int rc, const char *step)
{
    char buf[32];
    int error = ssh_classify(op, rc);
    if (rc == LIBSSH2_ERROR_EAGAIN && error == INFRA_ECANCELLED)
        ssh_set_error(ssh, "%s on %s: %s", step, ssh->host, ssh_stop_reason(op));
    else if (rc == LIBSSH2_ERROR_EAGAIN)
        ssh_set_error(ssh, "%s on %s: timed out after %s s", step, ssh->host,
                      ssh_seconds(op->timeout_ms, buf));
    else
        ssh_set_error(ssh, "%s on %s: %s", step, ssh->host, ssh_session_error(op->session));
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
            int64_t left = deadline - ssh_now_ms();
            if (ssh_cancelled(call)) {
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
    ssh_jump_close(conn->jump); /* after the fd: the pump sees the end of the stream */
    conn->jump = NULL;
}

/* TCP connection (until tcp_deadline) and SSH handshake; hostkey_prefs
 * limits or orders the host key algorithms (NULL: hostkey_types order). */
static int session_open(infra_call *call, const char *host, int port, const char *hostkey_prefs,
                        int64_t tcp_deadline, infra_ssh *conn, char **reason)
{
    char buf[32];
    int error = 0, rc;

    conn->fd = -1;
    if (conn->via)
        error = ssh_jump_open(call, conn->via, host, port, tcp_deadline, &conn->jump, &conn->fd,
                              reason);
    else
        error = tcp_connect(call, host, port, tcp_deadline, &conn->fd, reason);
    if (error < 0)
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
    ssh_op op = ssh_op_start(conn, call, handshake_timeout_ms);
    SSH_NB(&op, rc, libssh2_session_handshake(conn->session, conn->fd));
    if (rc == LIBSSH2_ERROR_EAGAIN && op.werr == INFRA_ECANCELLED) {
        error = INFRA_ECANCELLED;
    } else if (rc == LIBSSH2_ERROR_EAGAIN) {
        free(*reason);
        *reason = util_printf("no SSH handshake within %s s", ssh_seconds(op.timeout_ms, buf));
        error = INFRA_ETRANSIENT;
    } else if (rc != 0) {
        free(*reason);
        *reason = util_printf("SSH handshake failed: %s", ssh_session_error(conn->session));
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
        infra_ssh alt = {.fd = -1, .via = conn->via};
        char *reason = NULL;
        error = session_open(call, host, port, hostkey_types[i].name,
                             ssh_now_ms() + connect_timeout_ms, &alt, &reason);
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
            conn->jump = alt.jump;
            error = 0;
            goto done;
        }
        util_buf_printf(&got, " or %s", fp);
        session_close(&alt);
    }
    ssh_report(call, "host key mismatch for %s:%d: expected %s, got %s (refusing to connect)", host,
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
        ssh_report(call, "host key of %s:%d has an unsupported type (refusing to connect)", host,
                   port);
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
        ssh_report(call,
                   "host key mismatch for %s:%d: expected %s, got %s (refusing to connect; "
                   "the expected key is from %s)",
                   host, port, want, fp, path);
        return INFRA_EAUTH;
    case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
        ssh_report(
            call,
            "host key of %s:%d is not in %s (the server offers %s %s); add it there or pin it "
            "with host_key_sha256 (refusing to connect)",
            host, port, path, hostkey_types[idx].name, fp);
        return INFRA_EAUTH;
    default:
        ssh_report(call, "cannot check the host key of %s:%d against %s (refusing to connect)",
                   host, port, path);
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
    ssh_op op = ssh_op_start(conn, call, handshake_timeout_ms);
    int rc = -1, tried = 0;
    const char *key = t->private_key && *t->private_key ? t->private_key : NULL;
    char *method = key ? util_printf("public key %s", key) : NULL;

    if (key && access(key, R_OK) != 0) {
        ssh_report(call, "authentication failed for %s@%s:%d: cannot read private key %s: %s",
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
        ssh_report(call, "authentication for %s@%s:%d with %s timed out after %s s", conn->user,
                   conn->host, conn->port, method, ssh_seconds(op.timeout_ms, buf));
        error = INFRA_ETRANSIENT;
    } else if (rc != 0) {
        ssh_report(call, "authentication failed for %s@%s:%d with %s: %s", conn->user, conn->host,
                   conn->port, method,
                   key ? ssh_session_error(conn->session) : "no key was accepted");
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
    int64_t tcp_ms = deadline - ssh_now_ms();
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
    if ((error = session_open(call, conn->host, conn->port, prefs, ssh_now_ms() + tcp_ms, conn,
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
    int64_t end = ssh_now_ms() + ms;
    for (;;) {
        if (ssh_cancelled(call))
            return INFRA_ECANCELLED;
        int64_t left = end - ssh_now_ms();
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
    infra_ssh_target bastion;
    char *owned = NULL;
    int routed = 0;
    if (target && target->host && target->size >= offsetof(infra_ssh_target, deadline_ms))
        routed = ssh_route_get(target->host, target->port > 0 ? target->port : SSH_DEFAULT_PORT,
                               target->host_key_sha256, &bastion, &owned);
    int error = ssh_connect_via(call, target, routed ? &bastion : NULL, out);
    free(owned);
    return error;
}

int ssh_connect_direct(infra_call *call, const infra_ssh_target *target, infra_ssh **out)
{
    return ssh_connect_via(call, target, NULL, out);
}

int ssh_connect_via(infra_call *call, const infra_ssh_target *target,
                    const infra_ssh_target *bastion, infra_ssh **out)
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
        ssh_report(call, "ssh: the target needs a host and a user");
        return INFRA_EINVALID;
    }
    int port = target->port > 0 ? target->port : SSH_DEFAULT_PORT;
    if (target->host_key_sha256 && !(pin = normalise_pin(target->host_key_sha256))) {
        ssh_report(call,
                   "ssh: host key fingerprint for %s:%d must look like SHA256:<base64>, got %s",
                   target->host, port, target->host_key_sha256);
        return INFRA_EINVALID;
    }
    pthread_once(&ssh_once, ssh_global_init);
    if (ssh_init_rc != 0) {
        ssh_report(call, "ssh: libssh2 failed to initialise");
        free(pin);
        return INFRA_EINTERNAL;
    }

    infra_ssh_target t = *target;
    t.host_key_sha256 = pin;
    long deadline_ms = target->deadline_ms > 0 ? target->deadline_ms : 0;
    int64_t deadline = ssh_now_ms() + deadline_ms;
    conn = util_calloc(1, sizeof(*conn));
    conn->fd = -1;
    conn->host = util_strdup(target->host);
    conn->port = port;
    conn->user = util_strdup(target->user);
    conn->via = bastion;
    log_msg(LOG_DEBUG, "ssh: connecting to %s@%s:%d%s%s", conn->user, conn->host, port,
            bastion ? " through " : "", bastion ? bastion->host : "");
    char *prefix = NULL, *saved = NULL;
    if (bastion) {
        prefix = util_printf("%s:%d through the bastion %s:%d: ", conn->host, port, bastion->host,
                             bastion->port > 0 ? bastion->port : SSH_DEFAULT_PORT);
        saved = ssh_report_prefix_swap(prefix);
    }

    for (;;) {
        free(reason);
        reason = NULL;
        error = connect_once(call, &t, deadline, conn, &reason);
        if (error == 0 || error != INFRA_ETRANSIENT || reason == NULL)
            break;
        int64_t left = deadline - ssh_now_ms();
        log_msg(LOG_DEBUG, "ssh: %s:%d: %s", conn->host, port, reason);
        if (left <= 0) {
            ssh_report(call, "ssh: %s:%d did not answer within %s s (last error: %s)", conn->host,
                       port, ssh_seconds(deadline_ms, buf), reason);
            break;
        }
        if ((error = backoff_sleep(call, backoff < left ? backoff : left)) < 0)
            break;
        backoff = backoff * 2 > SSH_BACKOFF_MAX_MS ? SSH_BACKOFF_MAX_MS : backoff * 2;
    }
    if (error == INFRA_EINTERNAL && reason)
        ssh_report(call, "ssh: %s:%d: %s", conn->host, port, reason);
    if (bastion) {
        ssh_report_prefix_swap(saved);
        free(prefix);
    }
    conn->via = NULL;
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

char *ssh_host_key_line(const infra_ssh *ssh)
{
    size_t len = 0;
    int type = 0;
    const char *key =
        ssh && ssh->session ? libssh2_session_hostkey(ssh->session, &len, &type) : NULL;
    for (size_t i = 0; key && len > 0 && len < 65536 && i < HOSTKEY_TYPES; i++) {
        if (hostkey_types[i].type != type)
            continue;
        unsigned char *b64 = util_malloc(4 * ((len + 2) / 3) + 1);
        EVP_EncodeBlock(b64, (const unsigned char *)key, (int)len);
        char *line = util_printf("%s %s", hostkey_types[i].name, (const char *)b64);
        free(b64);
        return line;
    }
    return NULL;
}

const char *ssh_last_error(const infra_ssh *ssh)
{
    return ssh && ssh->error ? ssh->error : "";
}
