/* What the tests of the local provider plugin share: the plugin loaded from
 * the build tree with dlopen like the host does, driven through its ops
 * with the real host table, and a world of real namespaces made once per
 * test program (local_world_setup) and removed by the tokens of what its
 * tests may have made; shell commands, connections from inside a
 * namespace, and listeners in one. Every object lives on a bridge and
 * subnet the test makes; nothing else on the machine is touched.
 *
 * Include after cmocka.h, in one test file per executable. */
#ifndef LOCAL_WORLD_H
#define LOCAL_WORLD_H

#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "plugin/host.h"

#define PLUGIN_PATH INFRA_BUILD_DIR "/plugins/local.so"
#define TOKEN_NET "0a000000000000000000000000000000"
#define TOKEN_A "0b000000000000000000000000000000"
#define TOKEN_B "0c000000000000000000000000000000"
#define TOKEN_FW "0d000000000000000000000000000000"
#define TOKEN_LB "0e000000000000000000000000000000"
#define TOKEN_DNS "0f000000000000000000000000000000"

static void *handle;
static const infra_provider_ops *ops;

/* The world the tests share: one provider, one network, up to two hosts. */
static struct {
    int skip;
    char tmp[128];
    char run_dir[256];
    char prefix[16];
    infra_provider *prov;
    json_t *net;
    json_t *host[2];
    json_t *config[2];
    char netns_path[2][128];
    char mnt_path[2][PATH_MAX];
    char uts_path[2][PATH_MAX];
} w;

typedef struct diags {
    int n;
    char text[2048];
} diags;

static inline void collect(void *ud, infra_call *call, int severity, const char *attr,
                           const char *message)
{
    diags *d = ud;
    (void)call;
    (void)severity;
    d->n++;
    size_t len = strlen(d->text);
    snprintf(d->text + len, sizeof(d->text) - len, "[%s] %s\n", attr, message);
}

static inline void call_setup(infra_call *call, const char *address, const char *token, diags *d)
{
    host_call_init(call, address, "local");
    call->token = token;
    memset(d, 0, sizeof(*d));
    call->diag = collect;
    call->diag_ud = d;
}

/* plan + apply like the engine; returns the new state or fails the test. */
static inline json_t *converge(const char *type, const char *address, const char *token,
                               json_t *prior, json_t *config, int *error_out)
{
    infra_call call;
    diags d;
    infra_json *planned = NULL, *replace = NULL, *out = NULL;
    void *priv = NULL;
    size_t priv_len = 0;

    call_setup(&call, address, token, &d);
    int error =
        ops->plan(w.prov, &call, type, host_json(prior), host_json(config), &planned, &replace);
    if (error == 0)
        error = ops->apply(w.prov, &call, type, host_json(prior), planned, NULL, 0, &out, &priv,
                           &priv_len);
    if (error != 0 && error_out == NULL)
        fail_msg("%s %s: error %d: %s", type, address, error, d.text);
    if (error != 0)
        print_error("%s %s: error %d: %s", type, address, error, d.text);
    if (error_out != NULL)
        *error_out = error;
    json_decref(host_jansson(planned));
    json_decref(host_jansson(replace));
    host_call_clear(&call);
    return host_jansson(out);
}

static inline int destroy(const char *type, json_t *prior)
{
    infra_call call;
    diags d;
    call_setup(&call, type, NULL, &d);
    int error = ops->apply(w.prov, &call, type, host_json(prior), NULL, NULL, 0, NULL, NULL, NULL);
    if (error != 0 && error != INFRA_ENOTFOUND && error != INFRA_ECONFLICT)
        print_error("delete %s: %d: %s", type, error, d.text);
    host_call_clear(&call);
    return error;
}

static inline json_t *do_read(const char *type, const char *token, json_t *state, int *error)
{
    infra_call call;
    diags d;
    infra_json *out = NULL;
    call_setup(&call, "", token, &d);
    *error = ops->read(w.prov, &call, type, host_json(state), NULL, 0, &out);
    host_call_clear(&call);
    return host_jansson(out);
}

static inline const char *str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

/* Runs a shell command line (the test's own strings) and returns its
 * first output line in out; the exit status. */
static inline int sh(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int sh(char *out, size_t len, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    FILE *f = popen(cmd, "r");
    if (f == NULL)
        return -1;
    char line[1024] = "";
    if (fgets(line, sizeof(line), f) == NULL)
        line[0] = '\0';
    line[strcspn(line, "\n")] = '\0';
    while (fgets((char[256]){0}, 256, f) != NULL) {
    }
    int st = pclose(f);
    if (out != NULL)
        snprintf(out, len, "%s", line);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A TCP connection to ip:port made from inside netns (NULL = here). */
static inline int can_connect(const char *netns, const char *ip, int port, int timeout_ms)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (netns != NULL) {
            int fd = open(netns, O_RDONLY);
            if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
                _exit(2);
        }
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        inet_pton(AF_INET, ip, &sa.sin_addr);
        int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            _exit(0);
        struct pollfd p = {s, POLLOUT, 0};
        int err = 1;
        socklen_t l = sizeof(err);
        if (errno == EINPROGRESS && poll(&p, 1, timeout_ms) == 1)
            getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &l);
        _exit(err == 0 ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* A process inside netns accepting connections on port until killed. */
static inline pid_t listen_in(const char *netns, int port)
{
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(netns, O_RDONLY);
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
            _exit(2);
        int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 16) < 0)
            _exit(3);
        if (write(ready[1], "x", 1) != 1)
            _exit(4);
        for (;;) {
            int c = accept(s, NULL, NULL);
            if (c >= 0)
                close(c);
        }
    }
    char c;
    close(ready[1]);
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    return pid;
}

/* The first line the server at ip:port sends after request (may be NULL). */
static inline int talk(const char *ip, int port, const char *request, char *out, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {5, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(s);
        return -1;
    }
    if (request != NULL && write(s, request, strlen(request)) < 0) {
        close(s);
        return -1;
    }
    size_t got = 0;
    ssize_t n;
    while (got + 1 < len && (n = read(s, out + got, len - got - 1)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(s);
    return (int)got;
}

static inline json_t *host_config(const char *net_id, const char *user_data)
{
    json_t *c =
        json_pack("{s:s, s:s, s:s}", "network", net_id, "image", "debian-12", "size", "small");
    if (user_data != NULL)
        json_object_set_new(c, "user_data", json_string(user_data));
    return c;
}

static inline int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Loads the plugin and makes the world: a provider, a network and as many
 * hosts as asked (0 or 2); 0, or -1 when it cannot. Not root or no sshd:
 * w.skip, and the tests skip. */
static inline int local_world_setup(int hosts)
{
    memset(&w, 0, sizeof(w));
    if (geteuid() != 0 || access("/usr/sbin/sshd", X_OK) != 0) {
        w.skip = 1;
        return 0;
    }
    handle = dlopen(PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        fprintf(stderr, "cannot load %s: %s\n", PLUGIN_PATH, dlerror());
        return -1;
    }
    infra_plugin_entry_fn entry;
    const infra_plugin *plugin;
    *(void **)&entry = dlsym(handle, INFRA_PLUGIN_ENTRY_SYMBOL);
    if (entry == NULL || entry(host_table(), &plugin) != 0)
        return -1;
    ops = plugin->provider;

    snprintf(w.tmp, sizeof(w.tmp), "/tmp/infra-local-test.XXXXXX");
    if (mkdtemp(w.tmp) == NULL)
        return -1;
    snprintf(w.run_dir, sizeof(w.run_dir), "%s/run", w.tmp);
    snprintf(w.prefix, sizeof(w.prefix), "u%05d", (int)(getpid() % 100000));
    setenv("HOME", w.tmp, 1); /* no ~/.ssh key: the provider generates one */

    json_t *settings = json_pack("{s:s, s:s}", "prefix", w.prefix, "run_dir", w.run_dir);
    infra_call call;
    diags d;
    call_setup(&call, "", NULL, &d);
    int error = ops->configure(&call, host_json(settings), &w.prov);
    json_decref(settings);
    host_call_clear(&call);
    if (error != 0) {
        fprintf(stderr, "configure: %d %s\n", error, d.text);
        return -1;
    }
    /* A subnet of our own: the provider refuses one that overlaps a route. */
    for (int i = 0; i < 40 && w.net == NULL; i++) {
        char cidr[32];
        snprintf(cidr, sizeof(cidr), "10.213.%d.0/24", 200 + (int)((getpid() + i) % 50));
        json_t *c = json_pack("{s:s, s:s}", "cidr", cidr, "name", "test");
        w.net = converge("network", "network.main", TOKEN_NET, NULL, c, &error);
        json_decref(c);
    }
    if (w.net == NULL)
        return -1;
    const char *tokens[2] = {TOKEN_A, TOKEN_B};
    const char *addresses[2] = {"instance.web[0]", "instance.web[1]"};
    for (int i = 0; i < hosts; i++) {
        w.config[i] = host_config(str(w.net, "id"), NULL);
        w.host[i] = converge("instance", addresses[i], tokens[i], NULL, w.config[i], &error);
        if (w.host[i] == NULL) {
            fprintf(stderr, "instance create failed: %d\n", error);
            return -1;
        }
        snprintf(w.netns_path[i], sizeof(w.netns_path[i]), "/run/netns/%s",
                 str(w.host[i], "netns"));
        snprintf(w.mnt_path[i], sizeof(w.mnt_path[i]), "%s/%s/ns/%s.mnt", w.run_dir, w.prefix,
                 str(w.host[i], "id"));
        snprintf(w.uts_path[i], sizeof(w.uts_path[i]), "%s/%s/ns/%s.uts", w.run_dir, w.prefix,
                 str(w.host[i], "id"));
    }
    return 0;
}

/* Removes everything the world and its tests made, by token. */
static inline int local_world_teardown(void **state)
{
    (void)state;
    if (w.skip)
        return 0;
    /* By the ids the tokens give, so a half-made object goes too. */
    static const struct {
        const char *type;
        char kind;
        const char *token;
    } made[] = {{"dns_record", 'd', TOKEN_DNS}, {"load_balancer", 'l', TOKEN_LB},
                {"firewall", 'f', TOKEN_FW},    {"instance", 'h', TOKEN_A},
                {"instance", 'h', TOKEN_B},     {"instance", 'h', "c0"},
                {"instance", 'h', "c1"},        {"instance", 'h', "c2"},
                {"instance", 'h', "d0"},        {"instance", 'h', "d1"},
                {"instance", 'h', "d2"},        {"instance", 'h', "d3"},
                {"network", 'n', TOKEN_NET}};
    for (size_t i = 0; w.prov != NULL && i < sizeof(made) / sizeof(made[0]); i++) {
        char id[12] = {made[i].kind, '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '\0'};
        memcpy(id + 1, made[i].token, strlen(made[i].token) < 10 ? strlen(made[i].token) : 10);
        json_t *st = json_pack("{s:s}", "id", id);
        destroy(made[i].type, st);
        json_decref(st);
    }
    for (int i = 0; i < 2; i++) {
        json_decref(w.host[i]);
        json_decref(w.config[i]);
    }
    json_decref(w.net);
    if (w.prov != NULL)
        ops->close(w.prov);
    if (w.tmp[0] != '\0')
        nftw(w.tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (handle != NULL)
        dlclose(handle);
    return 0;
}

static inline int count_netns(void)
{
    char out[64];
    sh(out, sizeof(out), "ip netns list | grep -c '^%s-'", w.prefix);
    return atoi(out);
}

#define SKIP_UNLESS_ROOT()                                                                         \
    do {                                                                                           \
        if (w.skip)                                                                                \
            skip();                                                                                \
    } while (0)

#endif
