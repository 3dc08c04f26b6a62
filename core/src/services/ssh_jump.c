/* SSH through a bastion (jump host): an authenticated session to the
 * bastion, checked against its own pinned key, opens a direct-tcpip
 * channel to the target's address, and the target's session runs over
 * that channel, checked against the target's pinned key.
 *
 * The transport is a socketpair and a pump thread, not libssh2's send/recv
 * callbacks. The target's session gets a plain non-blocking socket, so the
 * whole discipline of ssh.c (poll() on the fd in the direction libssh2
 * waits for, deadlines, cancellation, host key retries on fresh
 * connections) stays as it is; with callbacks every wait would have to
 * learn about a second session, and a libssh2 call on the target's session
 * would re-enter the bastion's from inside its own transport layer. Each
 * session is touched by one thread only: the bastion's by its pump, the
 * target's by the caller.
 *
 * Routes: the engine records which targets sit behind which bastion
 * (ssh_route_set), and ssh_connect takes that path on its own, so that
 * scheduler plugins connect to a private node exactly as to any other. */
#include "services/ssh_int.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/util.h"
#include "services/log.h"

#define JUMP_BUF 32768

struct ssh_jump {
    infra_ssh *bastion; /* used by the pump thread only once it runs */
    LIBSSH2_CHANNEL *channel;
    int near_fd; /* the pump's end of the socketpair */
    pthread_t thread;
    int running;
    _Atomic int stop;
    _Atomic int ended; /* the pump has returned: nothing more is carried */
};

/* ------------------------------------------------------------------ */
/* The pump                                                           */

/* Moves bytes both ways between near_fd and the channel until either side
 * ends; then closes near_fd, so that the target's session sees the end. */
static void *jump_pump(void *arg)
{
    ssh_jump *j = arg;
    LIBSSH2_SESSION *s = j->bastion->session;
    char *up = util_malloc(JUMP_BUF), *down = util_malloc(JUMP_BUF);
    size_t up_len = 0, up_off = 0, down_len = 0, down_off = 0;
    int near_eof = 0, far_eof = 0;

    while (!atomic_load(&j->stop)) {
        int progressed = 0;
        ssize_t n;
        if (!near_eof && up_len == 0) {
            n = recv(j->near_fd, up, JUMP_BUF, MSG_DONTWAIT);
            if (n > 0) {
                up_len = (size_t)n;
                up_off = 0;
                progressed = 1;
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                near_eof = 1;
            }
        }
        if (up_off < up_len) {
            n = libssh2_channel_write(j->channel, up + up_off, up_len - up_off);
            if (n > 0) {
                up_off += (size_t)n;
                if (up_off == up_len)
                    up_len = up_off = 0;
                progressed = 1;
            } else if (n != LIBSSH2_ERROR_EAGAIN) {
                break;
            }
        }
        if (near_eof && up_len == 0)
            break; /* the target's session is closed: nothing more to carry */
        if (!far_eof && down_len == 0) {
            n = libssh2_channel_read(j->channel, down, JUMP_BUF);
            if (n > 0) {
                down_len = (size_t)n;
                down_off = 0;
                progressed = 1;
            } else if ((n == 0 || n == LIBSSH2_ERROR_EAGAIN) && libssh2_channel_eof(j->channel)) {
                far_eof = 1;
            } else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
                far_eof = 1;
            }
        }
        if (down_off < down_len) {
            n = send(j->near_fd, down + down_off, down_len - down_off, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0) {
                down_off += (size_t)n;
                if (down_off == down_len)
                    down_len = down_off = 0;
                progressed = 1;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                break;
            }
        }
        if (far_eof && down_len == 0) {
            shutdown(j->near_fd, SHUT_WR); /* the target went away: its session reads EOF */
            if (near_eof)
                break;
        }
        if (progressed)
            continue;
        int dirs = libssh2_session_block_directions(s);
        struct pollfd p[2] = {{.fd = j->bastion->fd, .events = POLLIN},
                              {.fd = j->near_fd, .events = 0}};
        if (dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND)
            p[0].events |= POLLOUT;
        if (!near_eof && up_len == 0)
            p[1].events |= POLLIN;
        if (down_off < down_len)
            p[1].events |= POLLOUT;
        poll(p, 2, SSH_WAIT_SLICE_MS);
    }
    shutdown(j->near_fd, SHUT_RDWR);
    free(up);
    free(down);
    atomic_store(&j->ended, 1);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Opening and closing                                                */

/* ssh_jump_open, carried to near_fd (taken) when it is not -1, else to a
 * new socketpair whose other end goes to *out_fd. */
static int jump_open(infra_call *call, const infra_ssh_target *bastion, const char *host, int port,
                     int64_t deadline, int near_fd, ssh_jump **out, int *out_fd, char **reason)
{
    ssh_jump *j = util_calloc(1, sizeof(*j));
    int fds[2] = {-1, -1};
    int error = 0, rc;

    *out = NULL;
    if (out_fd)
        *out_fd = -1;
    j->near_fd = near_fd;
    infra_ssh_target b = *bastion;
    b.size = sizeof(b);
    int64_t left = deadline - ssh_now_ms();
    b.deadline_ms = left > 1000 ? (long)left : 1000;
    int bport = b.port > 0 ? b.port : SSH_DEFAULT_PORT;

    char *prefix = util_printf("bastion %s:%d (for %s:%d): ", b.host, bport, host, port);
    char *saved = ssh_report_prefix_swap(prefix);
    error = ssh_connect_direct(call, &b, &j->bastion);
    ssh_report_prefix_swap(saved);
    free(prefix);
    if (error < 0)
        goto done; /* reported, naming the bastion; no *reason: no other attempt */
    ssh_op op = ssh_op_start(j->bastion, call, left > 1000 ? (long)left : 1000);
    SSH_NB_PTR(&op, j->channel,
               libssh2_channel_direct_tcpip_ex(j->bastion->session, host, port, "127.0.0.1", 22));
    if (!j->channel) {
        rc = libssh2_session_last_errno(j->bastion->session);
        if (rc == LIBSSH2_ERROR_EAGAIN && op.werr == INFRA_ECANCELLED) {
            error = INFRA_ECANCELLED;
        } else {
            *reason =
                util_printf("the bastion %s:%d cannot open a connection to %s:%d (%s)", b.host,
                            bport, host, port,
                            rc == LIBSSH2_ERROR_EAGAIN ? "no answer in time"
                                                       : ssh_session_error(j->bastion->session));
            error = INFRA_ETRANSIENT;
        }
        goto done;
    }
    if (j->near_fd < 0) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) {
            *reason = util_printf("socketpair: %s", strerror(errno));
            error = INFRA_EINTERNAL;
            goto done;
        }
        j->near_fd = fds[0];
    }
    if (pthread_create(&j->thread, NULL, jump_pump, j) != 0) {
        *reason = util_strdup("cannot start the bastion's forwarding thread");
        error = INFRA_EINTERNAL;
        goto done;
    }
    j->running = 1;
    log_msg(LOG_DEBUG, "ssh: %s:%d through the bastion %s:%d", host, port, b.host, bport);
    if (out_fd)
        *out_fd = fds[1];
    fds[1] = -1;
    *out = j;
    j = NULL;
done:
    if (fds[1] >= 0)
        close(fds[1]);
    ssh_jump_close(j);
    return error;
}

int ssh_jump_open(infra_call *call, const infra_ssh_target *bastion, const char *host, int port,
                  int64_t deadline, ssh_jump **out, int *out_fd, char **reason)
{
    return jump_open(call, bastion, host, port, deadline, -1, out, out_fd, reason);
}

int ssh_jump_carry(infra_call *call, const infra_ssh_target *bastion, const char *host, int port,
                   int64_t deadline, int fd, ssh_jump **out, char **reason)
{
    if (fd < 0)
        return INFRA_EINVALID;
    return jump_open(call, bastion, host, port, deadline, fd, out, NULL, reason);
}

int ssh_jump_ended(ssh_jump *jump)
{
    return jump && atomic_load(&jump->ended);
}

void ssh_jump_close(ssh_jump *j)
{
    if (!j)
        return;
    if (j->running) {
        atomic_store(&j->stop, 1);
        pthread_join(j->thread, NULL);
    }
    if (j->near_fd >= 0)
        close(j->near_fd);
    if (j->channel) {
        ssh_op op = ssh_op_start(j->bastion, NULL, SSH_CLEANUP_MS);
        int rc;
        SSH_NB(&op, rc, libssh2_channel_free(j->channel));
        (void)rc;
    }
    ssh_close(j->bastion);
    free(j);
}

/* ------------------------------------------------------------------ */
/* Routes                                                             */

typedef struct ssh_route {
    char *host;
    int port;
    char *pin; /* the target's pinned key, "" for none: private addresses repeat across networks */
    infra_ssh_target via;
    char *via_host, *via_user, *via_key, *via_pin;
} ssh_route;

static pthread_mutex_t routes_lock = PTHREAD_MUTEX_INITIALIZER;
static ssh_route *routes;
static size_t nroutes;

static void route_clear(ssh_route *r)
{
    free(r->host);
    free(r->pin);
    free(r->via_host);
    free(r->via_user);
    free(r->via_key);
    free(r->via_pin);
}

static char *dup_or_null(const char *s)
{
    return s && *s ? util_strdup(s) : NULL;
}

void ssh_route_set(const char *host, int port, const char *pin, const infra_ssh_target *bastion)
{
    if (!host || !*host)
        return;
    if (port <= 0)
        port = SSH_DEFAULT_PORT;
    pthread_mutex_lock(&routes_lock);
    size_t i = 0;
    for (; i < nroutes; i++)
        if (!strcmp(routes[i].host, host) && routes[i].port == port &&
            !strcmp(routes[i].pin, pin ? pin : ""))
            break;
    if (i < nroutes) {
        route_clear(&routes[i]);
        routes[i] = routes[--nroutes];
    }
    if (bastion && bastion->host && *bastion->host) {
        routes = util_realloc(routes, (nroutes + 1) * sizeof(*routes));
        ssh_route *r = &routes[nroutes++];
        memset(r, 0, sizeof(*r));
        r->host = util_strdup(host);
        r->port = port;
        r->pin = util_strdup(pin ? pin : "");
        r->via_host = util_strdup(bastion->host);
        r->via_user = dup_or_null(bastion->user);
        r->via_key = dup_or_null(bastion->private_key);
        r->via_pin = dup_or_null(bastion->host_key_sha256);
        r->via = (infra_ssh_target){.size = sizeof(infra_ssh_target),
                                    .host = r->via_host,
                                    .port = bastion->port,
                                    .user = r->via_user,
                                    .private_key = r->via_key,
                                    .host_key_sha256 = r->via_pin};
    }
    pthread_mutex_unlock(&routes_lock);
}

void ssh_routes_clear(void)
{
    pthread_mutex_lock(&routes_lock);
    for (size_t i = 0; i < nroutes; i++)
        route_clear(&routes[i]);
    free(routes);
    routes = NULL;
    nroutes = 0;
    pthread_mutex_unlock(&routes_lock);
}

/* The route of host:port and pin; port 0 and pin NULL: the first route of
 * host, whatever its SSH port and key (what a tunnel to another port of
 * the same node goes through). */
static int route_find(const char *host, int port, const char *pin, infra_ssh_target *bastion,
                      char **owned)
{
    int found = 0;
    *owned = NULL;
    pthread_mutex_lock(&routes_lock);
    for (size_t i = 0; i < nroutes && !found; i++) {
        ssh_route *r = &routes[i];
        if (strcmp(r->host, host) || (port && r->port != port) ||
            (port && strcmp(r->pin, pin ? pin : "")))
            continue;
        /* One block holds the strings, so the caller frees one pointer. */
        size_t lh = strlen(r->via_host) + 1, lu = r->via_user ? strlen(r->via_user) + 1 : 0,
               lk = r->via_key ? strlen(r->via_key) + 1 : 0,
               lp = r->via_pin ? strlen(r->via_pin) + 1 : 0;
        char *block = util_malloc(lh + lu + lk + lp), *p = block;
        *bastion = r->via;
        bastion->host = memcpy(p, r->via_host, lh);
        p += lh;
        bastion->user = lu ? memcpy(p, r->via_user, lu) : NULL;
        p += lu;
        bastion->private_key = lk ? memcpy(p, r->via_key, lk) : NULL;
        p += lk;
        bastion->host_key_sha256 = lp ? memcpy(p, r->via_pin, lp) : NULL;
        *owned = block;
        found = 1;
    }
    pthread_mutex_unlock(&routes_lock);
    return found;
}

int ssh_route_get(const char *host, int port, const char *pin, infra_ssh_target *bastion,
                  char **owned)
{
    return route_find(host, port > 0 ? port : SSH_DEFAULT_PORT, pin, bastion, owned);
}

int ssh_route_of_host(const char *host, infra_ssh_target *bastion, char **owned)
{
    *owned = NULL;
    return host && *host ? route_find(host, 0, NULL, bastion, owned) : 0;
}
