/* Tunnels to a node behind a bastion: a listener on 127.0.0.1, port chosen
 * by the kernel, whose every connection is carried over a direct-tcpip
 * channel of a session to the node's bastion (ssh_jump.c: the bastion's
 * pinned key checked on each session). One listener per node address and
 * port, made on first use and kept until ssh_tunnels_close at the end of
 * the run, so that the HTTP service's pooled connections and a plugin's
 * repeated probes find the same port.
 *
 * A listener is simpler than handing curl one end of a socketpair per
 * connection (CURLOPT_OPENSOCKETFUNCTION): curl keeps connecting, reusing
 * and closing its connections as for any other address, and with
 * CURLOPT_CONNECT_TO the URL keeps the node's name, so TLS is verified
 * against the node's certificate exactly as without a bastion. The
 * listener is on loopback only; anyone on this machine able to connect to
 * it could reach the node, as they could with `ssh -L`.
 *
 * One thread per listener accepts and opens each connection's jump (its
 * own bastion session and pump thread), so that one session is only ever
 * touched by one thread, as ssh_jump.c requires. */
#define _GNU_SOURCE
#include "services/ssh_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/util.h"
#include "services/log.h"

/* How long the bastion may take to open one connection. */
#define TUNNEL_OPEN_MS 15000

typedef struct tunnel {
    char *host;
    int port;
    infra_ssh_target via; /* strings in via_block */
    char *via_block;
    int listen_fd;
    int local_port;
    pthread_t thread;
    _Atomic int stop;
    ssh_jump **jumps; /* the connections being carried; the accept thread's own */
    size_t njumps;
} tunnel;

static pthread_mutex_t tunnels_lock = PTHREAD_MUTEX_INITIALIZER;
static tunnel **tunnels;
static size_t ntunnels;

/* Closes the jumps whose connection ended; all of them when all is set. */
static void tunnel_reap(tunnel *t, int all)
{
    size_t kept = 0;
    for (size_t i = 0; i < t->njumps; i++) {
        if (all || ssh_jump_ended(t->jumps[i]))
            ssh_jump_close(t->jumps[i]);
        else
            t->jumps[kept++] = t->jumps[i];
    }
    t->njumps = kept;
}

static void *tunnel_accept(void *arg)
{
    tunnel *t = arg;
    while (!atomic_load(&t->stop)) {
        tunnel_reap(t, 0);
        struct pollfd p = {.fd = t->listen_fd, .events = POLLIN};
        if (poll(&p, 1, SSH_WAIT_SLICE_MS) <= 0)
            continue;
        int fd = accept4(t->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        ssh_jump *j = NULL;
        char *reason = NULL;
        /* No call: a bastion that refuses is logged, and the client sees
         * its connection closed. */
        int error = ssh_jump_carry(NULL, &t->via, t->host, t->port, ssh_now_ms() + TUNNEL_OPEN_MS,
                                   fd, &j, &reason);
        if (error < 0) {
            log_msg(LOG_WARN, "tunnel to %s:%d through the bastion %s: %s", t->host, t->port,
                    t->via.host, reason ? reason : "the bastion refused the session");
            free(reason);
            continue;
        }
        t->jumps = util_realloc(t->jumps, (t->njumps + 1) * sizeof(*t->jumps));
        t->jumps[t->njumps++] = j;
    }
    tunnel_reap(t, 1);
    return NULL;
}

static void tunnel_free(tunnel *t)
{
    if (!t)
        return;
    if (t->listen_fd >= 0)
        close(t->listen_fd);
    free(t->jumps);
    free(t->host);
    free(t->via_block);
    free(t);
}

/* A new listener for host:port through via (strings in via_block, taken). */
static int tunnel_start(const char *host, int port, const infra_ssh_target *via, char *via_block,
                        tunnel **out)
{
    tunnel *t = util_calloc(1, sizeof(*t));
    t->host = util_strdup(host);
    t->port = port;
    t->via = *via;
    t->via_block = via_block;
    t->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(a);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (t->listen_fd < 0 || bind(t->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(t->listen_fd, 16) < 0 ||
        getsockname(t->listen_fd, (struct sockaddr *)&a, &len) < 0) {
        log_msg(LOG_WARN, "tunnel to %s:%d: no loopback listener: %s", host, port, strerror(errno));
        tunnel_free(t);
        return INFRA_EINTERNAL;
    }
    t->local_port = ntohs(a.sin_port);
    if (pthread_create(&t->thread, NULL, tunnel_accept, t) != 0) {
        tunnel_free(t);
        return INFRA_EINTERNAL;
    }
    log_msg(LOG_DEBUG, "tunnel: 127.0.0.1:%d to %s:%d through the bastion %s:%d", t->local_port,
            host, port, via->host, via->port > 0 ? via->port : SSH_DEFAULT_PORT);
    *out = t;
    return 0;
}

/* The listener of host:port, started when missing; 0 with *local_port,
 * INFRA_ENOTFOUND when host has no bastion. *via / *via_block (caller
 * frees) are the bastion when via is not NULL. */
static int tunnel_get(const char *host, int port, int *local_port, infra_ssh_target *via,
                      char **via_block)
{
    infra_ssh_target b;
    char *block = NULL;
    int error = 0;

    if (!ssh_route_of_host(host, &b, &block))
        return INFRA_ENOTFOUND;
    pthread_mutex_lock(&tunnels_lock);
    tunnel *t = NULL;
    for (size_t i = 0; i < ntunnels && !t; i++) {
        tunnel *c = tunnels[i];
        /* A bastion replaced at the same address has another pinned key:
         * another listener. */
        if (!strcmp(c->host, host) && c->port == port && !strcmp(c->via.host, b.host) &&
            c->via.port == b.port &&
            !strcmp(c->via.host_key_sha256 ? c->via.host_key_sha256 : "",
                    b.host_key_sha256 ? b.host_key_sha256 : ""))
            t = c;
    }
    if (!t) {
        char *copy = NULL;
        infra_ssh_target again;
        if (!ssh_route_of_host(host, &again, &copy)) /* the listener's own copy */
            error = INFRA_ENOTFOUND;
        else if ((error = tunnel_start(host, port, &again, copy, &t)) == 0) {
            tunnels = util_realloc(tunnels, (ntunnels + 1) * sizeof(*tunnels));
            tunnels[ntunnels++] = t;
        }
    }
    if (t)
        *local_port = t->local_port;
    pthread_mutex_unlock(&tunnels_lock);
    if (via && error == 0) {
        *via = b;
        *via_block = block;
    } else {
        free(block);
    }
    return error;
}

int ssh_tunnel_port(const char *host, int port, char **via_text)
{
    int local_port = 0;
    infra_ssh_target via;
    char *block = NULL;
    if (via_text)
        *via_text = NULL;
    if (!host || port <= 0 || tunnel_get(host, port, &local_port, &via, &block) < 0)
        return 0;
    if (via_text)
        *via_text = util_printf("%s:%d", via.host, via.port > 0 ? via.port : SSH_DEFAULT_PORT);
    free(block);
    return local_port;
}

int ssh_tunnel(infra_call *call, const char *host, int port, int *local_port)
{
    infra_ssh_target via;
    char *block = NULL, *reason = NULL;
    ssh_jump *j = NULL;
    int fd = -1, error = 0;

    if (!host || !*host || port <= 0 || port > 65535 || !local_port)
        return INFRA_EINVALID;
    *local_port = 0;
    if ((error = tunnel_get(host, port, local_port, &via, &block)) < 0)
        return error;
    /* Whether host:port takes a connection now: the bastion opens the
     * channel only once the node accepted it. */
    error = ssh_jump_open(call, &via, host, port, ssh_now_ms() + TUNNEL_OPEN_MS, &j, &fd, &reason);
    if (reason)
        log_msg(LOG_DEBUG, "tunnel: %s", reason);
    if (fd >= 0)
        close(fd);
    ssh_jump_close(j);
    free(reason);
    free(block);
    return error;
}

void ssh_tunnels_close(void)
{
    pthread_mutex_lock(&tunnels_lock);
    for (size_t i = 0; i < ntunnels; i++) {
        atomic_store(&tunnels[i]->stop, 1);
        pthread_join(tunnels[i]->thread, NULL);
        tunnel_free(tunnels[i]);
    }
    free(tunnels);
    tunnels = NULL;
    ntunnels = 0;
    pthread_mutex_unlock(&tunnels_lock);
}
