/* Small helpers of the local provider beyond plugin_util.h: files
 * written atomically, JSON files, directory locks, ids and IPv4. */
#include "local.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int local_check_cancel(infra_provider *p, infra_call *call)
{
    if ((p != NULL && atomic_load(&p->stopped)) || pu_host->cancelled(call))
        return INFRA_ECANCELLED;
    return 0;
}

int local_write_file(infra_call *call, const char *path, const char *data, size_t len, int mode)
{
    int error = 0;
    char *tmp = pu_printf("%s.tmp.%ld.%lx", path, (long)getpid(), (unsigned long)pthread_self());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

    if (fd < 0 || pu_write_all(fd, data, len) < 0 || fchmod(fd, (mode_t)mode) < 0 ||
        fsync(fd) < 0) {
        pu_diagf(call, "", "cannot write %s: %s", tmp, strerror(errno));
        error = INFRA_EINTERNAL;
        goto done;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        fd = -1;
        pu_diagf(call, "", "cannot write %s: %s", path, strerror(errno));
        error = INFRA_EINTERNAL;
        goto done;
    }
    fd = -1;
done:
    if (fd >= 0)
        close(fd);
    if (error < 0)
        unlink(tmp);
    free(tmp);
    return error;
}

int local_json_load(infra_call *call, const char *path, infra_json **out)
{
    char *text = NULL;
    size_t len = 0;
    int error = pu_read_file(path, 0, &text, &len);
    if (error == INFRA_ENOTFOUND)
        return error;
    if (error < 0) {
        pu_diagf(call, "", "cannot read %s: %s", path, strerror(errno));
        return error;
    }
    *out = LJ->parse(text, len);
    free(text);
    if (*out == NULL) {
        pu_diagf(call, "", "%s is not JSON: remove the object's directory by hand", path);
        return INFRA_EINTERNAL;
    }
    return 0;
}

int local_json_save(infra_call *call, const char *path, const infra_json *value)
{
    char *text = LJ->dump(value);
    if (text == NULL)
        return INFRA_EINTERNAL;
    int error = local_write_file(call, path, text, strlen(text), 0600);
    pu_host->free(text);
    return error;
}

int local_mkdirs(infra_call *call, const char *path, int mode)
{
    char *copy = pu_strdup(path);
    int error = 0;

    for (char *s = copy + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(copy, (mode_t)mode) < 0 && errno != EEXIST) {
            pu_diagf(call, "", "cannot create directory %s: %s", copy, strerror(errno));
            error = INFRA_EINTERNAL;
            break;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    free(copy);
    return error;
}

/* Removes the entries of the directory open as dfd, staying on device dev. */
static int rmtree_at(int dfd, dev_t dev)
{
    DIR *d = fdopendir(dfd);
    int error = 0;

    if (d == NULL) {
        close(dfd);
        return -1;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (st.st_dev != dev) { /* a mount point: never delete across it */
                error = -1;
                continue;
            }
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0 || rmtree_at(sub, dev) < 0 ||
                unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) < 0)
                error = -1;
        } else if (unlinkat(dirfd(d), e->d_name, 0) < 0) {
            error = -1;
        }
    }
    closedir(d);
    return error;
}

int local_rmtree(infra_call *call, const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : INFRA_EINTERNAL;
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0) {
            pu_diagf(call, "", "cannot remove %s: %s", path, strerror(errno));
            return INFRA_EINTERNAL;
        }
        return 0;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || rmtree_at(fd, st.st_dev) < 0 || rmdir(path) < 0) {
        pu_diagf(call, "", "cannot remove %s completely: %s", path, strerror(errno));
        return INFRA_EINTERNAL;
    }
    return 0;
}

int local_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int local_dir_empty(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return 1;
    int empty = 1;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = 0;
            break;
        }
    }
    closedir(d);
    return empty;
}

int local_lock_dir(infra_call *call, const char *path, int *fd)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        int error = local_mkdirs(call, path, 0755);
        if (error < 0)
            return error;
        int lfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lfd < 0) {
            if (errno == ENOENT)
                continue;
            pu_diagf(call, "", "cannot open %s: %s", path, strerror(errno));
            return INFRA_EINTERNAL;
        }
        while (flock(lfd, LOCK_EX) < 0) {
            if (errno != EINTR) {
                pu_diagf(call, "", "cannot lock %s: %s", path, strerror(errno));
                close(lfd);
                return INFRA_EINTERNAL;
            }
        }
        /* The directory may have been removed by whoever held the lock. */
        struct stat a, b;
        if (fstat(lfd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev) {
            *fd = lfd;
            return 0;
        }
        close(lfd);
    }
    pu_diagf(call, "", "cannot lock %s: it keeps being removed", path);
    return INFRA_EINTERNAL;
}

void local_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

void local_id_for_call(infra_call *call, char kind, char out[LOCAL_ID_SIZE])
{
    const char *token = pu_host->call_token(call);
    char hex[LOCAL_ID_HEX + 1];
    int direct = token != NULL && strlen(token) >= LOCAL_ID_HEX;

    for (int i = 0; direct && i < LOCAL_ID_HEX; i++)
        if (!((token[i] >= '0' && token[i] <= '9') || (token[i] >= 'a' && token[i] <= 'f')))
            direct = 0;
    if (direct) {
        memcpy(hex, token, LOCAL_ID_HEX);
    } else {
        uint64_t h;
        if (token != NULL) {
            h = pu_fnv1a(token, strlen(token));
        } else {
            const char *addr = pu_host->call_address(call);
            int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
            if (fd < 0 || read(fd, &h, sizeof(h)) != (ssize_t)sizeof(h))
                h = pu_fnv1a(addr, strlen(addr)) ^ (uint64_t)pu_host->now_ms() ^ (uint64_t)getpid();
            if (fd >= 0)
                close(fd);
        }
        snprintf(hex, sizeof(hex), "%010llx", (unsigned long long)(h & 0xffffffffffull));
    }
    hex[LOCAL_ID_HEX] = '\0';
    out[0] = kind;
    memcpy(out + 1, hex, LOCAL_ID_HEX + 1);
}

int local_id_valid(const char *id, char kind)
{
    if (id == NULL || strlen(id) != LOCAL_ID_HEX + 1)
        return 0;
    if (kind != 0 ? id[0] != kind : (id[0] < 'a' || id[0] > 'z'))
        return 0;
    for (int i = 1; i <= LOCAL_ID_HEX; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return 1;
}

void local_ifname(const infra_provider *p, char letter, const char *id, char out[LOCAL_IFNAME_SIZE])
{
    size_t plen = strlen(p->prefix);
    size_t room = LOCAL_IFNAME_SIZE - 1 - plen - 1;
    if (room > LOCAL_ID_HEX)
        room = LOCAL_ID_HEX;
    snprintf(out, LOCAL_IFNAME_SIZE, "%s%c%.*s", p->prefix, letter, (int)room, id + 1);
}

int local_ip_parse(const char *text, uint32_t *out)
{
    struct in_addr in;
    if (text == NULL || inet_pton(AF_INET, text, &in) != 1)
        return INFRA_EINVALID;
    *out = ntohl(in.s_addr);
    return 0;
}

void local_ip_format(uint32_t ip, char out[16])
{
    struct in_addr in = {htonl(ip)};
    inet_ntop(AF_INET, &in, out, 16);
}

uint32_t local_mask(int prefixlen)
{
    return prefixlen <= 0 ? 0 : 0xffffffffu << (32 - prefixlen);
}

int local_cidr_parse(const char *text, uint32_t *network, int *prefixlen)
{
    char addr[16];
    const char *slash = text ? strchr(text, '/') : NULL;
    uint32_t ip;
    char *end = NULL;

    if (slash == NULL || (size_t)(slash - text) >= sizeof(addr) || slash[1] < '0' || slash[1] > '9')
        return INFRA_EINVALID;
    memcpy(addr, text, (size_t)(slash - text));
    addr[slash - text] = '\0';
    if (local_ip_parse(addr, &ip) < 0)
        return INFRA_EINVALID;
    long n = strtol(slash + 1, &end, 10);
    if (*end != '\0' || n < 0 || n > 32)
        return INFRA_EINVALID;
    *prefixlen = (int)n;
    *network = ip & local_mask((int)n);
    return 0;
}

int local_state_load(infra_call *call, const char *dir, infra_json **state)
{
    char *path = pu_printf("%s/state.json", dir);
    int error = local_json_load(call, path, state);
    free(path);
    return error;
}

int local_state_save(infra_call *call, const char *dir, const infra_json *state)
{
    char *path = pu_printf("%s/state.json", dir);
    int error = local_json_save(call, path, state);
    free(path);
    return error;
}

int local_record_read(infra_call *call, const char *dir, const char *id, const infra_json *state,
                      infra_json **rec, infra_json **saved, infra_json **out)
{
    char *path = pu_printf("%s/record.json", dir);
    int error = local_json_load(call, path, rec);
    free(path);
    *saved = NULL;
    if (error < 0) {
        if (error == INFRA_ENOTFOUND && state == NULL && local_exists(dir)) /* killed early */
            return local_partial_state(id, "status", "incomplete", out) < 0 ? INFRA_EINTERNAL : 1;
        return error;
    }
    /* Without a state (a lookup by token), the one saved beside the record. */
    if (state == NULL && local_state_load(call, dir, saved) == INFRA_EINTERNAL)
        return INFRA_EINTERNAL;
    return 0;
}

int local_partial_state(const char *id, const char *status_attr, const char *value,
                        infra_json **out)
{
    infra_json *st = LJ->new_object();
    if (st == NULL || pu_json_set_str(st, "id", id) < 0 ||
        pu_json_set_str(st, status_attr, value) < 0) {
        LJ->release(st);
        return INFRA_EINTERNAL;
    }
    *out = st;
    return 0;
}

const char *local_state_id(const infra_json *state, char kind)
{
    const char *id = pu_json_str(state, "id");
    return local_id_valid(id, kind) ? id : NULL;
}

int local_apply_id(infra_call *call, const infra_json *prior, char kind, char out[LOCAL_ID_SIZE])
{
    if (prior == NULL) {
        local_id_for_call(call, kind, out);
        return 0;
    }
    const char *id = local_state_id(prior, kind);
    if (id == NULL) {
        pu_diagf(call, "id", "the state holds no valid id for this object (\"%s\")",
                 pu_json_str(prior, "id") ? pu_json_str(prior, "id") : "");
        return INFRA_EINVALID;
    }
    memcpy(out, id, LOCAL_ID_SIZE);
    return 0;
}

int local_read_id(infra_call *call, const infra_json *state, char kind, char out[LOCAL_ID_SIZE])
{
    if (state == NULL) {
        local_id_for_call(call, kind, out);
        return 0;
    }
    const char *id = local_state_id(state, kind);
    if (id == NULL)
        return INFRA_ENOTFOUND;
    memcpy(out, id, LOCAL_ID_SIZE);
    return 0;
}
