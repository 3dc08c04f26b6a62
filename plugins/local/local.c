/* The local provider's descriptor, configure() and the op dispatch.
 *
 * configure() checks what the provider cannot work without (root, Linux
 * namespaces, iproute2) and settles the SSH key; tools only some resource
 * types need (sshd, haproxy, nft) are checked when such a resource is
 * created, so a topology without a load balancer does not need haproxy. */
#define _GNU_SOURCE
#include "local_schema.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOCAL_VERSION "0.1.0"
#define DEFAULT_PREFIX "inf"
#define DEFAULT_RUN_DIR "/var/lib/infra-local"

static int prefix_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > LOCAL_PREFIX_MAX || s[0] < 'a' || s[0] > 'z')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}

static int run_dir_valid(const char *s)
{
    if (s[0] != '/' || strlen(s) > 200)
        return 0;
    for (; *s; s++)
        if (*s <= ' ' || *s == '"' || *s == '\\' || *s == '#')
            return 0;
    return 1;
}

/* Whether this process may create network, mount and UTS namespaces,
 * tried in a throw-away child. */
static int namespaces_usable(int *err)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        *err = errno;
        return 0;
    }
    pid_t pid = fork();
    if (pid < 0) {
        *err = errno;
        close(pfd[0]);
        close(pfd[1]);
        return 0;
    }
    if (pid == 0) {
        int e = 0;
        if (unshare(CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS) < 0)
            e = errno;
        if (write(pfd[1], &e, sizeof(e)) < 0)
            _exit(2);
        _exit(e ? 1 : 0);
    }
    close(pfd[1]);
    int e = 0;
    if (read(pfd[0], &e, sizeof(e)) != (ssize_t)sizeof(e))
        e = ECHILD;
    close(pfd[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    *err = e;
    return e == 0;
}

static char *home_dir(void)
{
    const char *home = getenv("HOME");
    if (home != NULL && home[0] == '/')
        return pu_strdup(home);
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
        return pu_strdup(res->pw_dir);
    return pu_strdup("/root");
}

static char *expand_home(const char *path)
{
    if (strncmp(path, "~/", 2) != 0)
        return pu_strdup(path);
    char *home = home_dir();
    char *out = pu_printf("%s/%s", home, path + 2);
    free(home);
    return out;
}

/* A key pair RUN_DIR/ssh/id_ecdsa(.pub), made once: ECDSA in PEM form,
 * which every libssh2 reads. Generated aside and renamed, the public half
 * last, so a half-made pair is never picked up. */
static int key_generate(infra_provider *p, infra_call *call)
{
    char *dir = pu_printf("%s/ssh", p->run_dir);
    char *tmp = pu_printf("%s/.new-%ld", dir, (long)getpid());
    char *tmp_key = pu_printf("%s/id_ecdsa", tmp);
    char *tmp_pub = pu_printf("%s/id_ecdsa.pub", tmp);
    char *key = pu_printf("%s/id_ecdsa", dir), *pub = pu_printf("%s/id_ecdsa.pub", dir);
    const char *keygen = NULL;
    int fd = -1, error;

    if ((error = local_lock_dir(call, dir, &fd)) < 0)
        goto done;
    if (!local_exists(pub)) {
        if ((error = local_tool_path(p, call, LOCAL_TOOL_SSH_KEYGEN, &keygen)) < 0)
            goto done;
        local_rmtree(call, tmp);
        if ((error = local_mkdirs(call, tmp, 0700)) < 0)
            goto done;
        char *argv[] = {(char *)keygen, "-q", "-t", "ecdsa",       "-b", "256",   "-m", "PEM",
                        "-N",           "",   "-C", "infra-local", "-f", tmp_key, NULL};
        if ((error = local_run(call, "ssh_public_key", argv, NULL, NULL)) < 0)
            goto done;
        if (rename(tmp_key, key) < 0 || rename(tmp_pub, pub) < 0) {
            pu_diagf(call, "ssh_public_key", "cannot install the key pair in %s: %s", dir,
                     strerror(errno));
            error = INFRA_EINTERNAL;
            goto done;
        }
        pu_logf(call, INFRA_LOG_INFO, "generated the SSH key pair %s for the local hosts", key);
    }
    p->public_key = pub;
    p->private_key = key;
    pub = key = NULL;
done:
    if (local_exists(tmp))
        local_rmtree(call, tmp);
    local_unlock(fd);
    free(dir);
    free(tmp);
    free(tmp_key);
    free(tmp_pub);
    free(key);
    free(pub);
    return error;
}

static int key_settle(infra_provider *p, infra_call *call, const char *setting)
{
    if (setting != NULL) {
        p->public_key = expand_home(setting);
        if (!local_exists(p->public_key)) {
            pu_diagf(call, "ssh_public_key", "%s does not exist", p->public_key);
            return INFRA_EINVALID;
        }
    } else {
        static const char *const names[] = {"id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"};
        char *home = home_dir();
        for (size_t i = 0; i < 3 && p->public_key == NULL; i++) {
            char *path = pu_printf("%s/.ssh/%s", home, names[i]);
            if (local_exists(path))
                p->public_key = path;
            else
                free(path);
        }
        free(home);
        if (p->public_key == NULL)
            return key_generate(p, call);
    }
    size_t n = strlen(p->public_key);
    if (n > 4 && strcmp(p->public_key + n - 4, ".pub") == 0) {
        char *priv = pu_printf("%.*s", (int)(n - 4), p->public_key);
        if (local_exists(priv))
            p->private_key = priv;
        else
            free(priv);
    }
    return 0;
}

static void provider_free(infra_provider *p)
{
    if (p == NULL)
        return;
    free(p->prefix);
    free(p->run_dir);
    free(p->base);
    free(p->public_key);
    free(p->private_key);
    for (int i = 0; i < LOCAL_TOOL_COUNT; i++)
        free(p->tools[i]);
    pthread_mutex_destroy(&p->tool_lock);
    free(p);
}

static int local_configure(infra_call *call, const infra_json *settings, infra_provider **out)
{
    int error = 0, err = 0;
    const char *tool = NULL;
    infra_provider *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return INFRA_EINTERNAL;
    pthread_mutex_init(&p->tool_lock, NULL);
    if (settings != NULL && (error = pu_check_attrs(call, &local_schema_table,
                                                    local_schema_table.settings, settings, 0)) < 0)
        goto done;
    const char *prefix = pu_json_str(settings, "prefix");
    const char *run_dir = pu_json_str(settings, "run_dir");
    p->prefix = pu_strdup(prefix ? prefix : DEFAULT_PREFIX);
    p->run_dir = pu_strdup(run_dir ? run_dir : DEFAULT_RUN_DIR);
    while (strlen(p->run_dir) > 1 && p->run_dir[strlen(p->run_dir) - 1] == '/')
        p->run_dir[strlen(p->run_dir) - 1] = '\0';
    if (!prefix_valid(p->prefix)) {
        pu_diagf(call, "prefix",
                 "prefix \"%s\" must be 1 to %d of a-z and 0-9, starting with "
                 "a letter (kernel interface names are short)",
                 p->prefix, LOCAL_PREFIX_MAX);
        error = INFRA_EINVALID;
        goto done;
    }
    if (!run_dir_valid(p->run_dir)) {
        pu_diagf(call, "run_dir",
                 "run_dir \"%s\" must be an absolute path without spaces or "
                 "quotes",
                 p->run_dir);
        error = INFRA_EINVALID;
        goto done;
    }
    p->base = pu_printf("%s/%s", p->run_dir, p->prefix);
    if (geteuid() != 0) {
        pu_diagf(call, "",
                 "the local provider creates namespaces and bridges: run infra as "
                 "root");
        error = INFRA_EAUTH;
        goto done;
    }
    if (!namespaces_usable(&err)) {
        pu_diagf(call, "",
                 "Linux namespaces are unavailable here (unshare: %s): the local "
                 "provider needs a kernel and container that allow network, mount "
                 "and UTS namespaces",
                 strerror(err));
        error = INFRA_ENOTSUP;
        goto done;
    }
    if ((error = local_tool_path(p, call, LOCAL_TOOL_IP, &tool)) < 0 ||
        (error = local_mkdirs(call, p->run_dir, 0755)) < 0 ||
        (error = key_settle(p, call, pu_json_str(settings, "ssh_public_key"))) < 0)
        goto done;
    *out = p;
    p = NULL;
done:
    provider_free(p);
    return error;
}

static int values_differ(const infra_json *a, const infra_json *b)
{
    if (a == NULL || b == NULL)
        return a != b;
    return !LJ->equal(a, b);
}

/* planned = desired, plus the prior computed values (a replacement gets a
 * new object, so then only what is known before apply), plus the target
 * value of status attributes so that drift (a dead sshd) plans an update. */
static int local_plan(infra_provider *self, infra_call *call, const char *type,
                      const infra_json *prior, const infra_json *desired, infra_json **planned,
                      infra_json **requires_replace)
{
    const pu_type *t = NULL;
    infra_json *plan = NULL, *replace = NULL;
    int error = pu_plan_begin(call, &local_schema_table, type, desired, &t, &plan, &replace);

    if (error < 0)
        goto done;
    if (desired == NULL)
        goto out;
    for (size_t i = 0; prior != NULL && i < t->nattrs; i++) {
        const pu_attr *a = &t->attrs[i];
        const infra_json *want = LJ->get(desired, a->name);
        if (!(a->flags & PU_ATTR_FORCE_NEW))
            continue;
        if ((a->flags & PU_ATTR_OPTIONAL_COMPUTED) && want == NULL)
            continue;
        if (values_differ(LJ->get(prior, a->name), want) &&
            (error = LJ->append(replace, LJ->new_string(a->name))) < 0)
            goto done;
    }
    int replacing = LJ->length(replace) > 0;
    for (size_t i = 0; i < t->nattrs; i++) {
        const pu_attr *a = &t->attrs[i];
        const infra_json *old = prior && !replacing ? LJ->get(prior, a->name) : NULL;
        const char *target = local_status_target(t, a->name);
        if (LJ->get(plan, a->name) != NULL)
            continue;
        if (target != NULL)
            error = pu_json_set_str(plan, a->name, target);
        else if ((a->flags & (PU_ATTR_COMPUTED | PU_ATTR_OPTIONAL_COMPUTED)) && old)
            error = LJ->set(plan, a->name, LJ->copy(old));
        if (error < 0)
            goto done;
    }
    /* A record's address follows its target: the address of a new target
     * is known once apply has resolved it, not the one recorded before. */
    if (strcmp(type, "dns_record") == 0 && prior != NULL && !replacing &&
        values_differ(LJ->get(prior, "target"), LJ->get(desired, "target"))) {
        LJ->remove(plan, "address");
        if (INFRA_HAS_SLOT(LJ, new_unknown) &&
            (error = LJ->set(plan, "address", LJ->new_unknown())) < 0)
            goto done;
    }
    /* What is known before the object exists. */
    if (strcmp(type, "instance") == 0 &&
        ((error = pu_json_set_str(plan, "ssh_user", "root")) < 0 ||
         (error = pu_json_set_int(plan, "ssh_port", 22)) < 0 ||
         (self && self->private_key &&
          (error = pu_json_set_str(plan, "ssh_private_key", self->private_key)) < 0)))
        goto done;
out:
    *planned = plan;
    *requires_replace = replace;
    plan = replace = NULL;
done:
    LJ->release(plan);
    LJ->release(replace);
    return error;
}

static int local_apply(infra_provider *self, infra_call *call, const char *type,
                       const infra_json *prior, const infra_json *planned, const void *private_in,
                       size_t private_in_len, infra_json **new_state, void **private_out,
                       size_t *private_out_len)
{
    (void)private_in;
    (void)private_in_len;
    if (private_out != NULL)
        *private_out = NULL;
    if (private_out_len != NULL)
        *private_out_len = 0;
    if (pu_type_find(&local_schema_table, type) == NULL) {
        pu_diagf(call, "", "the local provider has no resource type \"%s\"", type ? type : "");
        return INFRA_ENOTSUP;
    }
    int error = local_check_cancel(self, call);
    if (error < 0)
        return error;
    if (planned == NULL) {
        if (strcmp(type, "network") == 0)
            return local_network_delete(self, call, prior);
        if (strcmp(type, "instance") == 0)
            return local_instance_delete(self, call, prior);
        if (strcmp(type, "firewall") == 0)
            return local_fw_delete(self, call, prior);
        if (strcmp(type, "load_balancer") == 0)
            return local_lb_delete(self, call, prior);
        return local_dns_delete(self, call, prior);
    }
    if (strcmp(type, "network") == 0)
        return local_network_apply(self, call, prior, planned, new_state);
    if (strcmp(type, "instance") == 0)
        return local_instance_apply(self, call, prior, planned, new_state);
    if (strcmp(type, "firewall") == 0)
        return local_fw_apply(self, call, prior, planned, new_state);
    if (strcmp(type, "load_balancer") == 0)
        return local_lb_apply(self, call, prior, planned, new_state);
    return local_dns_apply(self, call, prior, planned, new_state);
}

/* read() of one resource; scan NULL, or that of a batch. */
static int read_one(infra_provider *self, infra_call *call, local_scan *scan, const char *type,
                    const infra_json *state, infra_json **out)
{
    if (strcmp(type ? type : "", "network") == 0)
        return local_network_read(self, call, scan, state, out);
    if (strcmp(type ? type : "", "instance") == 0)
        return local_instance_read(self, call, scan, state, out);
    if (strcmp(type ? type : "", "firewall") == 0)
        return local_fw_read(self, call, scan, state, out);
    if (strcmp(type ? type : "", "load_balancer") == 0)
        return local_lb_read(self, call, scan, state, out);
    if (strcmp(type ? type : "", "dns_record") == 0)
        return local_dns_read(self, call, scan, state, out);
    pu_diagf(call, "", "the local provider has no resource type \"%s\"", type ? type : "");
    return INFRA_ENOTSUP;
}

static int local_read(infra_provider *self, infra_call *call, const char *type,
                      const infra_json *state, const void *private_in, size_t private_in_len,
                      infra_json **out)
{
    (void)private_in;
    (void)private_in_len;
    return read_one(self, call, NULL, type, state, out);
}

/* Every resource of the batch as read() sees it, but what the hosts,
 * links, hosts file and nftables tables are is looked at once for all of
 * them (local_scan.c). */
static int local_read_many(infra_provider *self, infra_call *call, const char *type,
                           infra_read_item *items, size_t count)
{
    if (pu_type_find(&local_schema_table, type) == NULL) {
        pu_diagf(call, "", "the local provider has no resource type \"%s\"", type ? type : "");
        return INFRA_ENOTSUP;
    }
    if (count == 0)
        return 0;
    if (items == NULL || items->size < offsetof(infra_read_item, result) + sizeof(items->result)) {
        pu_diagf(call, "", "read_many was given items of an unknown layout");
        return INFRA_EINVALID;
    }
    local_scan *scan = local_scan_new();
    int error = 0;
    for (size_t i = 0; i < count && error == 0; i++) {
        /* Elements are items->size long: a later host may append fields. */
        infra_read_item *it = (infra_read_item *)((char *)items + i * items->size);
        it->out = NULL;
        if ((error = local_check_cancel(self, call)) < 0)
            break;
        it->result = read_one(self, it->call, scan, type, it->state, &it->out);
    }
    local_scan_free(scan);
    if (error < 0)
        for (size_t i = 0; i < count; i++) {
            infra_read_item *it = (infra_read_item *)((char *)items + i * items->size);
            LJ->release(it->out);
            it->out = NULL;
            it->result = error;
        }
    return error;
}

/* Adopts an object by id: its last saved state, refreshed. */
static int local_import(infra_provider *self, infra_call *call, const char *type, const char *id,
                        infra_json **out)
{
    static const struct {
        const char *type;
        const char *dir;
        char kind;
    } dirs[] = {{"network", "networks", LOCAL_KIND_NETWORK},
                {"instance", "hosts", LOCAL_KIND_INSTANCE},
                {"firewall", "firewalls", LOCAL_KIND_FIREWALL},
                {"load_balancer", "hosts", LOCAL_KIND_LB},
                {"dns_record", "dns", LOCAL_KIND_DNS}};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        if (strcmp(type ? type : "", dirs[i].type) != 0)
            continue;
        if (!local_id_valid(id, dirs[i].kind)) {
            pu_diagf(call, "", "\"%s\" is not the id of a local %s", id ? id : "", type);
            return INFRA_ENOTFOUND;
        }
        char *dir = pu_printf("%s/%s/%s", self->base, dirs[i].dir, id);
        infra_json *saved = NULL;
        int error = local_state_load(call, dir, &saved);
        free(dir);
        if (error < 0)
            return error;
        error = local_read(self, call, type, saved, NULL, 0, out);
        LJ->release(saved);
        return error;
    }
    pu_diagf(call, "", "the local provider has no resource type \"%s\"", type ? type : "");
    return INFRA_ENOTSUP;
}

static int local_upgrade_state(infra_provider *self, infra_call *call, const char *type,
                               int from_version, const infra_json *state, infra_json **out)
{
    (void)self;
    (void)call;
    (void)type;
    (void)from_version;
    return (*out = LJ->copy(state)) == NULL ? INFRA_EINTERNAL : 0;
}

static void local_stop(infra_provider *self)
{
    if (self != NULL)
        atomic_store(&self->stopped, 1);
}

static void local_close(infra_provider *self)
{
    provider_free(self);
}

static const infra_provider_ops local_ops = {
    .size = sizeof(infra_provider_ops),
    .schema = local_schema,
    .validate = local_validate,
    .configure = local_configure,
    .plan = local_plan,
    .apply = local_apply,
    .read = local_read,
    .import = local_import,
    .upgrade_state = local_upgrade_state,
    .stop = local_stop,
    .close = local_close,
    .read_many = local_read_many,
};

static const infra_plugin local_plugin = {
    .magic = INFRA_PLUGIN_MAGIC,
    .abi_major = INFRA_ABI_MAJOR,
    .abi_minor = INFRA_ABI_MINOR,
    .size = sizeof(infra_plugin),
    .kind = INFRA_PLUGIN_PROVIDER,
    .name = "local",
    .version = LOCAL_VERSION,
    .build = INFRA_BUILD_SIG_INIT,
    .capabilities =
        INFRA_CAP_IMPORT | INFRA_CAP_TOKEN_CREATE | INFRA_CAP_READ_BY_TOKEN | INFRA_CAP_CONCURRENT,
    .provider = &local_ops,
    .scheduler = NULL,
};

INFRA_PLUGIN_EXPORT int infra_plugin_entry(const infra_host *host, const infra_plugin **out)
{
    if (host == NULL || out == NULL || host->abi_major != INFRA_ABI_MAJOR ||
        !INFRA_HAS_SLOT(host, json) ||
        host->json->size < offsetof(infra_json_api, equal) + sizeof(host->json->equal))
        return INFRA_ENOTSUP;
    pu_init(host, "local provider");
    *out = &local_plugin;
    return 0;
}
