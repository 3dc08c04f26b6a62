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

/* A non-blocking socket connected to ip:port within timeout_ms, or -1. */
static int tcp_connect(const char *ip, int port, int timeout_ms)
{
    struct addrinfo hints = {0}, *res = NULL;
    char service[16];
    int fd = -1;

    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    hints.ai_socktype = SOCK_STREAM;
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
