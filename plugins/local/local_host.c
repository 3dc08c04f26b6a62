/* Namespace hosts: the machinery shared by instances and load balancers.
 *
 * A host is a network namespace made with `ip netns add` (so `ip netns`
 * lists it) plus a mount and a UTS namespace of its own, kept alive by
 * bind-mounting their /proc/PID/ns files under base/ns/. Inside the mount
 * namespace the directories a scheduler writes to are bind mounts of
 * base/hosts/ID/root/..., so a file written on one host is not seen on
 * another, and /etc/hosts is the provider's shared hosts file.
 *
 * The new mount namespace is a slave of infra's: when infra's side
 * unmounts a namespace file (ip netns del), the copy inside every host
 * goes too, so a deleted host is never kept alive by a neighbour. Copies
 * of namespace files that exist when a host is made are detached inside
 * it for the same reason. */
#define _GNU_SOURCE
#include "local.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Directories private to each host, and their modes. */
static const struct {
    const char *path;
    int mode;
} private_dirs[] = {
    {"/etc/ssh/host", 0755},
    {"/opt", 0755},
    {"/etc/nomad.d", 0755},
    {"/etc/consul.d", 0755},
    {"/var/lib/nomad", 0755},
    {"/var/lib/consul", 0755},
    {"/var/lib/zookeeper", 0755},
    {"/etc/zookeeper", 0755},
    {"/var/lib/mesos", 0755},
    {"/etc/marathon", 0755},
    {"/etc/marathon-lb", 0755},
    {"/etc/haproxy-local", 0755},
    {"/var/log", 0755},
    {"/tmp", 01777},
    {"/root", 0700},
    {"/run", 0755},
};
#define N_PRIVATE_DIRS (sizeof(private_dirs) / sizeof(private_dirs[0]))

void local_host_init(infra_provider *p, const char *id, local_host *h)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->id, sizeof(h->id), "%s", id);
    local_ifname(p, 'v', id, h->veth);
    for (size_t i = 0; i < LOCAL_EXTRA_NETS; i++)
        local_ifname(p, (char)('w' + i), id, h->extra_veth[i]);
    h->dir = pu_printf("%s/hosts/%s", p->base, id);
    h->root = pu_printf("%s/root", h->dir);
    h->netns = pu_printf("%s-%s", p->prefix, id);
    h->netns_path = pu_printf("/run/netns/%s", h->netns);
    h->mnt_path = pu_printf("%s/ns/%s.mnt", p->base, id);
    h->uts_path = pu_printf("%s/ns/%s.uts", p->base, id);
}

void local_host_free(local_host *h)
{
    free(h->hostname);
    free(h->token);
    free(h->dir);
    free(h->root);
    free(h->netns);
    free(h->netns_path);
    free(h->mnt_path);
    free(h->uts_path);
    memset(h, 0, sizeof(*h));
}

void local_host_ns(const local_host *h, local_ns *ns)
{
    ns->net = h->netns_path;
    ns->mnt = h->mnt_path;
    ns->uts = h->uts_path;
}

int local_host_load(infra_provider *p, infra_call *call, const char *id, local_host *h)
{
    infra_json *rec = NULL;
    local_host_init(p, id, h);
    char *path = pu_printf("%s/host.json", h->dir);
    int error = local_json_load(call, path, &rec);
    free(path);
    if (error < 0)
        return error;
    const char *kind = pu_json_str(rec, "kind"), *net = pu_json_str(rec, "network");
    const char *addr = pu_json_str(rec, "address"), *name = pu_json_str(rec, "hostname");
    const char *token = pu_json_str(rec, "token");
    snprintf(h->kind, sizeof(h->kind), "%s", kind ? kind : "");
    snprintf(h->network, sizeof(h->network), "%s", net ? net : "");
    snprintf(h->address, sizeof(h->address), "%s", addr ? addr : "");
    h->hostname = name ? pu_strdup(name) : NULL;
    h->token = token ? pu_strdup(token) : NULL;
    h->complete = LJ->boolean(LJ->get(rec, "complete"));
    h->private_net = LJ->boolean(LJ->get(rec, "private"));
    const infra_json *extra = LJ->get(rec, "extra");
    for (size_t i = 0; extra && LJ->type(extra) == INFRA_JSON_ARRAY && i < LJ->length(extra) &&
                       h->n_extra < LOCAL_EXTRA_NETS;
         i++) {
        const char *en = pu_json_str(LJ->at(extra, i), "network");
        const char *ea = pu_json_str(LJ->at(extra, i), "address");
        if (!local_id_valid(en, LOCAL_KIND_NETWORK))
            continue;
        snprintf(h->extra_net[h->n_extra], LOCAL_ID_SIZE, "%s", en);
        snprintf(h->extra_addr[h->n_extra], 16, "%s", ea ? ea : "");
        h->n_extra++;
    }
    LJ->release(rec);
    return 0;
}

int local_host_adopt(infra_provider *p, infra_call *call, const char *id, const char *kind,
                     const char *what, char *hostname, int check_token, local_host *h)
{
    const char *token = pu_host->call_token(call);
    int error = local_host_load(p, call, id, h);

    if (error == INFRA_ENOTFOUND) {
        snprintf(h->kind, sizeof(h->kind), "%s", kind);
        h->hostname = hostname;
        h->token = token ? pu_strdup(token) : NULL;
        return 0;
    }
    free(hostname);
    if (error == 0 && strcmp(h->kind, kind) != 0) {
        pu_diagf(call, "", "%s is a %s, not %s", id, h->kind, what);
        error = INFRA_ECONFLICT;
    } else if (error == 0 && check_token && h->token && token && strcmp(h->token, token) != 0) {
        pu_diagf(call, "", "host %s already exists for another create", id);
        error = INFRA_ECONFLICT;
    }
    return error;
}

int local_host_save(infra_call *call, const local_host *h)
{
    infra_json *rec = LJ->new_object();
    int error = INFRA_EINTERNAL;
    char *path = pu_printf("%s/host.json", h->dir);

    if (rec != NULL && pu_json_set_str(rec, "id", h->id) == 0 &&
        pu_json_set_str(rec, "kind", h->kind) == 0 &&
        pu_json_set_str(rec, "network", h->network) == 0 &&
        pu_json_set_str(rec, "address", h->address) == 0 &&
        pu_json_set_str(rec, "hostname", h->hostname ? h->hostname : h->id) == 0 &&
        LJ->set(rec, "token", h->token ? LJ->new_string(h->token) : LJ->new_null()) == 0 &&
        LJ->set(rec, "complete", LJ->new_bool(h->complete)) == 0 &&
        LJ->set(rec, "private", LJ->new_bool(h->private_net)) == 0) {
        infra_json *extra = LJ->new_array();
        for (size_t i = 0; extra != NULL && i < h->n_extra; i++) {
            infra_json *e = LJ->new_object();
            int ok = e != NULL && pu_json_set_str(e, "network", h->extra_net[i]) == 0 &&
                     pu_json_set_str(e, "address", h->extra_addr[i]) == 0;
            if (!ok)
                LJ->release(e);
            if (!ok || LJ->append(extra, e) < 0) { /* append takes e, also on failure */
                LJ->release(extra);
                extra = NULL;
            }
        }
        if (extra != NULL && LJ->set(rec, "extra", extra) == 0)
            error = local_json_save(call, path, rec);
    }
    LJ->release(rec);
    free(path);
    return error;
}

int local_base_lock(infra_provider *p, infra_call *call, int *fd)
{
    return local_lock_dir(call, p->base, fd);
}

/* 1 when path is the root of a mount. */
static int is_mount_root(const char *path)
{
    struct statx stx;
    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0)
        return 0;
    return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
           (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* base/ns must be a mount of its own with private propagation: the kernel
 * refuses to bind a mount namespace file onto a shared mount. */
static int ns_dir_ensure(infra_provider *p, infra_call *call)
{
    char *dir = pu_printf("%s/ns", p->base);
    int error = local_mkdirs(call, dir, 0700);
    if (error == 0 && !is_mount_root(dir) && mount(dir, dir, NULL, MS_BIND, NULL) < 0) {
        pu_diagf(call, "", "cannot bind-mount %s on itself: %s", dir, strerror(errno));
        error = INFRA_EINTERNAL;
    }
    if (error == 0 && mount(NULL, dir, NULL, MS_PRIVATE, NULL) < 0) {
        pu_diagf(call, "", "cannot make %s a private mount: %s", dir, strerror(errno));
        error = INFRA_EINTERNAL;
    }
    free(dir);
    return error;
}

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
    char *out = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
}

/* Mount points of namespace files in this mount namespace, which a new
 * host must not keep alive: NULL-terminated, caller frees each and all. */
static char **nsfs_mounts(void)
{
    char *text = NULL;
    size_t n = 0;
    char **list = pu_malloc(sizeof(*list));
    list[0] = NULL;
    if (pu_read_file("/proc/self/mountinfo", 0, &text, NULL) < 0)
        return list;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sep = strstr(line, " - ");
        char point[4096], fstype[64];
        if (sep == NULL || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 ||
            sscanf(sep + 3, "%63s", fstype) != 1 || strcmp(fstype, "nsfs") != 0)
            continue;
        unescape(point);
        char **grown = pu_realloc(list, (n + 2) * sizeof(*list));
        list = grown;
        list[n++] = pu_strdup(point);
        list[n] = NULL;
    }
    free(text);
    return list;
}

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* What the namespace child does, prepared before fork. */
typedef struct ns_plan {
    char **detach; /* mount points to detach inside the new namespace */
    const char *src[N_PRIVATE_DIRS + 2];
    const char *dst[N_PRIVATE_DIRS + 2];
    size_t nbind;
    const char *hostname;
} ns_plan;

/* "/proc/self/fd/N" into out (32 bytes) without stdio: async-signal-safe. */
static void fd_path(char *out, int fd)
{
    static const char head[] = "/proc/self/fd/";
    char digits[12];
    int n = 0;
    memcpy(out, head, sizeof(head) - 1);
    do {
        digits[n++] = (char)('0' + fd % 10);
        fd /= 10;
    } while (fd > 0 && n < 11);
    for (int i = 0; i < n; i++)
        out[sizeof(head) - 1 + i] = digits[n - 1 - i];
    out[sizeof(head) - 1 + n] = '\0';
}

/* Failure codes the child reports in msg[0]. */
#define NS_FAIL_UNSHARE (-1)
#define NS_FAIL_SLAVE (-2)
#define NS_FAIL_HOSTNAME (-3)
#define NS_FAIL_OPEN 1000 /* + index of the source that cannot be opened */

/* The child: new mount + UTS namespaces, set up, then held open until the
 * parent has bound their files. Only async-signal-safe calls. The sources
 * are opened before the first mount: a mount over /tmp would otherwise
 * hide a run_dir below it. */
static void ns_child(const ns_plan *plan, int ready_w, int ack_r)
{
    int msg[2] = {0, 0};
    char src[N_PRIVATE_DIRS + 2][32];

    local_child_reset_signals();
    local_child_close_fds(ready_w, ack_r);
    if (unshare(CLONE_NEWNS | CLONE_NEWUTS) < 0) {
        msg[0] = NS_FAIL_UNSHARE;
        goto fail;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
        msg[0] = NS_FAIL_SLAVE;
        goto fail;
    }
    for (size_t i = 0; i < plan->nbind; i++) {
        int fd = open(plan->src[i], O_PATH | O_CLOEXEC);
        if (fd < 0) {
            msg[0] = NS_FAIL_OPEN + (int)i + 1;
            goto fail;
        }
        fd_path(src[i], fd);
    }
    for (size_t i = 0; plan->detach[i] != NULL; i++)
        umount2(plan->detach[i], MNT_DETACH); /* gone already is fine */
    for (size_t i = 0; i < plan->nbind; i++) {
        if (mount(src[i], plan->dst[i], NULL, MS_BIND, NULL) < 0) {
            msg[0] = (int)i + 1;
            goto fail;
        }
    }
    if (sethostname(plan->hostname, strlen(plan->hostname)) < 0) {
        msg[0] = NS_FAIL_HOSTNAME;
        goto fail;
    }
    if (write(ready_w, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
        _exit(1);
    char c;
    while (read(ack_r, &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
fail:
    msg[1] = errno;
    if (write(ready_w, msg, sizeof(msg)) < 0) {
        /* the parent sees the exit status */
    }
    _exit(1);
}

static int bind_ns_file(infra_call *call, pid_t pid, const char *kind, const char *path)
{
    char src[64];
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    snprintf(src, sizeof(src), "/proc/%ld/ns/%s", (long)pid, kind);
    if (mount(src, path, NULL, MS_BIND, NULL) < 0) {
        pu_diagf(call, "", "cannot keep the host's %s namespace at %s: %s", kind, path,
                 strerror(errno));
        return INFRA_EINTERNAL;
    }
    return 0;
}

static void ns_files_release(const local_host *h)
{
    umount2(h->mnt_path, MNT_DETACH);
    umount2(h->uts_path, MNT_DETACH);
    unlink(h->mnt_path);
    unlink(h->uts_path);
}

/* Creates h's mount and UTS namespaces; the caller holds the base lock. */
static int ns_create(infra_provider *p, infra_call *call, const local_host *h)
{
    int error = 0;
    int ready[2] = {-1, -1}, ack[2] = {-1, -1};
    ns_plan plan;
    char *srcs[N_PRIVATE_DIRS + 2] = {NULL};
    char *hosts = local_hosts_file_path(p);
    char *hostname_file = pu_printf("%s/hostname", h->dir);

    memset(&plan, 0, sizeof(plan));
    plan.detach = nsfs_mounts();
    {
        /* base/ns itself too: the new namespace has no use for it. */
        size_t n = 0;
        while (plan.detach[n] != NULL)
            n++;
        char **grown = pu_realloc(plan.detach, (n + 2) * sizeof(char *));
        plan.detach = grown;
        plan.detach[n] = pu_printf("%s/ns", p->base);
        plan.detach[n + 1] = NULL;
    }
    for (size_t i = 0; i < N_PRIVATE_DIRS; i++) {
        srcs[plan.nbind] = pu_printf("%s%s", h->root, private_dirs[i].path);
        plan.src[plan.nbind] = srcs[plan.nbind];
        plan.dst[plan.nbind++] = private_dirs[i].path;
    }
    plan.src[plan.nbind] = hosts;
    plan.dst[plan.nbind++] = "/etc/hosts";
    if (local_exists("/etc/hostname")) {
        plan.src[plan.nbind] = hostname_file;
        plan.dst[plan.nbind++] = "/etc/hostname";
    }
    plan.hostname = h->hostname ? h->hostname : h->id;

    ns_files_release(h);
    if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(ack, O_CLOEXEC) < 0) {
        pu_diagf(call, "", "cannot create a pipe: %s", strerror(errno));
        error = INFRA_EINTERNAL;
        goto done;
    }
    pid_t pid = fork();
    if (pid < 0) {
        pu_diagf(call, "", "cannot fork: %s", strerror(errno));
        error = INFRA_EINTERNAL;
        goto done;
    }
    if (pid == 0)
        ns_child(&plan, ready[1], ack[0]);
    close(ready[1]);
    close(ack[0]);
    ready[1] = ack[0] = -1;
    int msg[2] = {0, 0};
    ssize_t r;
    while ((r = read(ready[0], msg, sizeof(msg))) < 0 && errno == EINTR) {
    }
    if (r != (ssize_t)sizeof(msg) || msg[0] != 0) {
        if (r != (ssize_t)sizeof(msg))
            pu_diagf(call, "", "the namespace helper of host %s died", h->id);
        else if (msg[0] == NS_FAIL_UNSHARE)
            pu_diagf(call, "",
                     "cannot create mount and UTS namespaces: %s (the local "
                     "provider needs Linux namespaces: run infra as root on a "
                     "host or container that allows them)",
                     strerror(msg[1]));
        else if (msg[0] == NS_FAIL_SLAVE)
            pu_diagf(call, "", "cannot make the host's mounts slaves: %s", strerror(msg[1]));
        else if (msg[0] == NS_FAIL_HOSTNAME)
            pu_diagf(call, "hostname", "cannot set hostname \"%s\": %s", plan.hostname,
                     strerror(msg[1]));
        else if (msg[0] > NS_FAIL_OPEN)
            pu_diagf(call, "", "cannot open %s: %s", plan.src[msg[0] - NS_FAIL_OPEN - 1],
                     strerror(msg[1]));
        else
            pu_diagf(call, "", "cannot bind %s over %s inside the host: %s", plan.src[msg[0] - 1],
                     plan.dst[msg[0] - 1], strerror(msg[1]));
        error = INFRA_EINTERNAL;
    } else if ((error = bind_ns_file(call, pid, "uts", h->uts_path)) < 0 ||
               (error = bind_ns_file(call, pid, "mnt", h->mnt_path)) < 0) {
        ns_files_release(h);
    }
    close(ack[1]); /* lets the child go */
    ack[1] = -1;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
done:
    for (int i = 0; i < 2; i++) {
        if (ready[i] >= 0)
            close(ready[i]);
        if (ack[i] >= 0)
            close(ack[i]);
    }
    for (size_t i = 0; i < N_PRIVATE_DIRS + 2; i++)
        free(srcs[i]);
    strv_free(plan.detach);
    free(hosts);
    free(hostname_file);
    return error;
}

/* The directories every host mounts over, created in this file system when
 * missing; and the host's private sources under its root/. */
static int dirs_ensure(infra_call *call, const local_host *h)
{
    int error = 0;
    for (size_t i = 0; i < N_PRIVATE_DIRS && error == 0; i++) {
        char *src = pu_printf("%s%s", h->root, private_dirs[i].path);
        if (!local_exists(private_dirs[i].path))
            error = local_mkdirs(call, private_dirs[i].path, 0755);
        if (error == 0 && !local_exists(src)) {
            if ((error = local_mkdirs(call, src, 0755)) == 0 &&
                chmod(src, (mode_t)private_dirs[i].mode) < 0)
                error = INFRA_EINTERNAL;
        }
        free(src);
    }
    if (error == 0) {
        char *sshd_dir = pu_printf("%s/run/sshd", h->root);
        error = local_mkdirs(call, sshd_dir, 0755); /* sshd's privilege separation dir */
        free(sshd_dir);
    }
    return error;
}

static int netns_ensure(infra_provider *p, infra_call *call, const local_host *h)
{
    const char *ip = NULL;
    int error;
    if (local_ns_inode(h->netns_path) != 0)
        return 0;
    if ((error = local_tool_path(p, call, LOCAL_TOOL_IP, &ip)) < 0)
        return error;
    if (local_exists(h->netns_path))
        unlink(h->netns_path); /* left by an `ip netns add` that was killed midway */
    char *add[] = {(char *)ip, "netns", "add", h->netns, NULL};
    if (local_run_quiet(call, add, NULL) == 0 || local_ns_inode(h->netns_path) != 0)
        return 0;
    if (local_exists(h->netns_path) && local_ns_inode(h->netns_path) == 0)
        unlink(h->netns_path);
    return local_run(call, "", add, NULL, NULL);
}

int local_host_ensure(infra_provider *p, infra_call *call, local_host *h, const char *net_id,
                      const infra_json *initial)
{
    int error = 0, fd = -1;
    local_net net;

    memset(&net, 0, sizeof(net));
    if (h->network[0] != '\0' && strcmp(h->network, net_id) != 0) {
        pu_diagf(call, "network", "host %s is already on network %s", h->id, h->network);
        return INFRA_ECONFLICT;
    }
    if ((error = local_net_load(p, call, "network", net_id, &net)) < 0)
        return error;
    snprintf(h->network, sizeof(h->network), "%s", net_id);
    h->private_net = net.private_net;
    if (h->hostname == NULL)
        h->hostname = pu_strdup(h->id);

    /* The directory and the record first, under the base lock, so that a
     * concurrent garbage collection never sees an empty hosts/. */
    if ((error = local_base_lock(p, call, &fd)) < 0)
        goto done;
    if ((error = local_mkdirs(call, h->dir, 0755)) < 0 || (error = local_host_save(call, h)) < 0)
        goto done;
    char *state_path = pu_printf("%s/state.json", h->dir);
    if (initial != NULL && !local_exists(state_path))
        error = local_state_save(call, h->dir, initial);
    free(state_path);
    if (error < 0)
        goto done;
    local_unlock(fd);
    fd = -1;
    if ((error = dirs_ensure(call, h)) < 0 || (error = local_check_cancel(p, call)) < 0)
        goto done;
    if (h->address[0] == '\0') {
        if ((error = local_lease(p, call, &net, h->id, h->address)) < 0 ||
            (error = local_host_save(call, h)) < 0)
            goto done;
    }
    char *hostname_file = pu_printf("%s/hostname", h->dir);
    char *line = pu_printf("%s\n", h->hostname);
    error = local_write_file(call, hostname_file, line, strlen(line), 0644);
    free(hostname_file);
    free(line);
    if (error < 0 || (error = local_bridge_ensure(p, call, &net, 1)) < 0 ||
        (error = netns_ensure(p, call, h)) < 0 ||
        (error = local_veth_ensure(p, call, h, &net, h->veth, "eth0", h->address)) < 0 ||
        (error = local_hosts_file_update(p, call, 0)) < 0 ||
        (error = local_check_cancel(p, call)) < 0)
        goto done;
    if (local_ns_inode(h->mnt_path) == 0 || local_ns_inode(h->uts_path) == 0) {
        if ((error = local_base_lock(p, call, &fd)) < 0 || (error = ns_dir_ensure(p, call)) < 0 ||
            (error = ns_create(p, call, h)) < 0)
            goto done;
    }
done:
    local_unlock(fd);
    local_net_free(&net);
    return error;
}

int local_host_extra_ensure(infra_provider *p, infra_call *call, local_host *h,
                            const infra_json *extra)
{
    size_t n = extra != NULL && LJ->type(extra) == INFRA_JSON_ARRAY ? LJ->length(extra) : 0;
    int error = 0;

    if (n > LOCAL_EXTRA_NETS) {
        pu_diagf(call, "extra_networks", "a host is on at most %d further networks",
                 LOCAL_EXTRA_NETS);
        return INFRA_EINVALID;
    }
    for (size_t i = 0; i < n; i++) {
        const char *id = LJ->string(LJ->at(extra, i));
        char attr[48];
        snprintf(attr, sizeof(attr), "extra_networks[%zu]", i);
        int dup = id != NULL && strcmp(id, h->network) == 0;
        for (size_t j = 0; j < i && !dup; j++)
            dup = id != NULL && strcmp(id, h->extra_net[j]) == 0;
        if (dup) {
            pu_diagf(call, attr, "host %s is already on network %s", h->id, id);
            return INFRA_EINVALID;
        }
        if (i < h->n_extra && (id == NULL || strcmp(id, h->extra_net[i]) != 0)) {
            pu_diagf(call, attr, "host %s is on network %s there; its networks do not change",
                     h->id, h->extra_net[i]);
            return INFRA_ECONFLICT;
        }
    }
    if (h->n_extra > n) {
        pu_diagf(call, "extra_networks", "host %s is on %zu further networks; they do not change",
                 h->id, h->n_extra);
        return INFRA_ECONFLICT;
    }
    for (size_t i = 0; i < n && error == 0; i++) {
        const char *id = LJ->string(LJ->at(extra, i));
        char attr[48], dev[24];
        local_net net;
        snprintf(attr, sizeof(attr), "extra_networks[%zu]", i);
        snprintf(dev, sizeof(dev), "eth%zu", i + 1);
        if ((error = local_net_load(p, call, attr, id, &net)) < 0)
            return error;
        if (i == h->n_extra) { /* recorded before it is leased: a delete releases it */
            snprintf(h->extra_net[i], LOCAL_ID_SIZE, "%s", id);
            h->extra_addr[i][0] = '\0';
            h->n_extra++;
            error = local_host_save(call, h);
        }
        if (error == 0 && h->extra_addr[i][0] == '\0' &&
            (error = local_lease(p, call, &net, h->id, h->extra_addr[i])) == 0)
            error = local_host_save(call, h);
        if (error == 0 && (error = local_bridge_ensure(p, call, &net, 1)) == 0)
            error = local_veth_ensure(p, call, h, &net, h->extra_veth[i], dev, h->extra_addr[i]);
        local_net_free(&net);
    }
    return error;
}

int local_host_alive_scan(infra_provider *p, local_scan *scan, const char *id)
{
    local_host h;
    local_host_init(p, id, &h);
    int r = !local_exists(h.dir) ? INFRA_ENOTFOUND : local_scan_ns_inode(scan, h.netns_path) != 0;
    local_host_free(&h);
    return r;
}

int local_host_alive(infra_provider *p, const char *id)
{
    return local_host_alive_scan(p, NULL, id);
}

int local_host_destroy(infra_provider *p, infra_call *call, const char *id)
{
    local_host h;
    int error = 0, found;
    const char *ip = NULL;

    if (local_host_load(p, call, id, &h) == INFRA_EINTERNAL)
        return INFRA_EINTERNAL;
    found = local_exists(h.dir) || local_exists(h.netns_path) || local_exists(h.mnt_path);
    if (!found) {
        local_host_free(&h);
        return INFRA_ENOTFOUND;
    }
    if ((error = local_tool_path(p, call, LOCAL_TOOL_IP, &ip)) < 0)
        goto done;
    if ((error = local_kill_ns_processes(p, call, local_ns_inode(h.netns_path),
                                         local_ns_inode(h.mnt_path))) < 0)
        goto done;
    ns_files_release(&h);
    char path[64];
    for (size_t i = 0; i <= LOCAL_EXTRA_NETS; i++) {
        char *veth = i == 0 ? h.veth : h.extra_veth[i - 1];
        snprintf(path, sizeof(path), "/sys/class/net/%s", veth);
        if (local_exists(path)) {
            char *del[] = {(char *)ip, "link", "del", veth, NULL};
            if ((error = local_run(call, "", del, NULL, NULL)) < 0)
                goto done;
        }
    }
    if (local_ns_inode(h.netns_path) != 0) {
        char *del[] = {(char *)ip, "netns", "del", h.netns, NULL};
        if ((error = local_run(call, "", del, NULL, NULL)) < 0)
            goto done;
    } else if (local_exists(h.netns_path)) {
        unlink(h.netns_path);
    }
    if (h.network[0] != '\0' && (error = local_lease_release(p, call, h.network, h.id)) < 0)
        goto done;
    for (size_t i = 0; i < h.n_extra; i++)
        if ((error = local_lease_release(p, call, h.extra_net[i], h.id)) < 0)
            goto done;
    if ((error = local_rmtree(call, h.dir)) < 0)
        goto done;
    error = local_hosts_file_update(p, call, 0);
    local_gc(p, call);
done:
    local_host_free(&h);
    return error;
}

void local_gc(infra_provider *p, infra_call *call)
{
    int fd = -1;
    static const char *const kinds[] = {"hosts", "networks", "firewalls", "dns"};

    if (!local_exists(p->base) || local_base_lock(p, call, &fd) < 0)
        return;
    char *hosts = pu_printf("%s/hosts", p->base);
    char *dns = pu_printf("%s/dns", p->base);
    if (local_dir_empty(hosts)) {
        char *ns = pu_printf("%s/ns", p->base);
        if (is_mount_root(ns))
            umount2(ns, MNT_DETACH);
        if (local_dir_empty(ns))
            rmdir(ns);
        free(ns);
        if (local_dir_empty(dns)) {
            char *file = local_hosts_file_path(p);
            unlink(file);
            free(file);
        }
    }
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        char *dir = pu_printf("%s/%s", p->base, kinds[i]);
        if (local_exists(dir) && local_dir_empty(dir))
            rmdir(dir);
        free(dir);
    }
    if (local_dir_empty(p->base))
        rmdir(p->base);
    free(hosts);
    free(dns);
    local_unlock(fd);
}
