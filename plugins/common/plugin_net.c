/* TCP from infra's machine to a node: a probe (does the port answer?) and
 * one request/answer exchange for protocols that are a few bytes each way
 * and close the connection (ZooKeeper's four-letter words). Readiness polls
 * probe first so that a port still closed while a program starts is not
 * reported as an error by the HTTP service. */
#include "plugin_remote.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* For a node behind a bastion, the host's tunnel (ABI 1.3): 1 with
 * *local_port when ip:port accepted a connection through the bastion, -1
 * when it did not, 0 when ip has no bastion (or the host has no tunnels):
 * connect directly. */
static int tunnel_of(const char *ip, int port, int *local_port)
{
    if (!ip || !INFRA_HAS_SLOT(pu_host->ssh, tunnel))
        return 0;
    int rc = pu_host->ssh->tunnel(NULL, ip, port, local_port);
    return rc == 0 ? 1 : rc == INFRA_ENOTFOUND ? 0 : -1;
}

/* A non-blocking socket connected to ip:port within timeout_ms, or -1;
 * through the node's bastion when it has one. */
static int tcp_connect(const char *ip, int port, int timeout_ms)
{
    struct addrinfo hints = {0}, *res = NULL;
    char service[16];
    int fd = -1;

    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    hints.ai_socktype = SOCK_STREAM;
    int local = 0, via = tunnel_of(ip, port, &local);
    if (via < 0)
        return -1;
    if (via > 0) {
        ip = "127.0.0.1";
        port = local;
    }
    snprintf(service, sizeof(service), "%d", port);
    if (ip == NULL || getaddrinfo(ip, service, &hints, &res) != 0)
        return -1;
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t len = sizeof(err);
        if (errno != EINPROGRESS || poll(&p, 1, timeout_ms) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

int pu_tcp_probe(const char *ip, int port, int timeout_ms)
{
    int local = 0, via = tunnel_of(ip, port, &local);
    if (via != 0)
        return via > 0; /* the bastion connected to the port: it is open */
    int fd = tcp_connect(ip, port, timeout_ms);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

int pu_tcp_exchange(const char *ip, int port, const char *request, size_t max, int timeout_ms,
                    char **out)
{
    int64_t deadline = pu_host->now_ms() + timeout_ms;
    pu_buf b = {0};
    int error = INFRA_ETRANSIENT;
    *out = NULL;
    int fd = tcp_connect(ip, port, timeout_ms);
    if (fd < 0)
        return INFRA_ETRANSIENT;
    size_t sent = 0, len = strlen(request);
    while (sent < len) {
        ssize_t n = send(fd, request + sent, len - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int64_t left = deadline - pu_host->now_ms();
        if ((n < 0 && errno != EAGAIN && errno != EINTR) || left <= 0 ||
            (poll(&p, 1, (int)left) < 0 && errno != EINTR))
            goto done;
    }
    for (;;) {
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n == 0)
            break;
        if (n > 0) {
            if (b.len + (size_t)n > max)
                goto done;
            pu_buf_put(&b, chunk, (size_t)n);
            continue;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - pu_host->now_ms();
        if ((errno != EAGAIN && errno != EINTR) || left <= 0 ||
            (poll(&p, 1, (int)left) < 0 && errno != EINTR))
            goto done;
    }
    *out = pu_buf_take(&b);
    error = 0;
done:
    free(b.data);
    close(fd);
    return error;
}

char *pu_host_port(const char *ip, int port)
{
    int v6 = ip != NULL && strchr(ip, ':') != NULL;
    return pu_printf("%s%s%s:%d", v6 ? "[" : "", ip ? ip : "", v6 ? "]" : "", port);
}

int pu_sleep_until(infra_call *call, int64_t ms, int64_t deadline)
{
    int64_t left = deadline - pu_host->now_ms();
    if (left <= 0)
        return pu_host->cancelled(call) ? INFRA_ECANCELLED : 0;
    return pu_host->sleep_ms(call, ms < left ? ms : left);
}
