/* `infra ssh [TOPOLOGY] ADDRESS [-- CMD...]`: the system ssh client (exec)
 * logged in to an instance or a cluster node as the state records it:
 * its user, key and port, and the host key pinned at create.
 *
 * The state holds the host key's SHA256 fingerprint, not the key: the
 * host's keys are read with ssh-keyscan and only the one whose fingerprint
 * is the pinned one is written to a known_hosts file of this host alone
 * (STATE_DIR/NAME.ENV.files/known_hosts.ADDRESS, under an alias, so that
 * neither the user's known_hosts nor another address is involved); ssh
 * then runs with StrictHostKeyChecking=yes against that file only, and so
 * proves the host holds that key. A host whose key does not match is
 * refused before ssh runs.
 *
 * Addresses: instance.web[0], cluster.main.europe.dc-a.server[0] (as the
 * state names them), and cluster.main.europe.servers[0] /
 * .clients[N] (the region's servers across its datacenters, in the order
 * ${cluster.main.europe.servers[*]} lists them).
 *
 * An instance the topology puts behind a bastion (meta key bastion) is
 * reached at its private address through the bastion: the bastion's key
 * is read with ssh-keyscan as above, the target's through the bastion over
 * libssh2 (which checks it against the pinned fingerprint on the way), and
 * both go into the one known_hosts file. ssh then runs with a ProxyCommand
 * "ssh -W %h:%p" that carries the bastion's own options (its user, key,
 * alias and that file): options on the command line reach the target only,
 * never the hops of a ProxyJump. An instance whose state attributes give
 * ssh_bastion ("[user@]host[:port]") is reached through it with ssh -J. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/file.h"
#include "base/util.h"
#include "cli/cli.h"
#include "engine/engine.h"
#include "engine/scheduler.h"
#include "engine/ssh_login.h"
#include "services/ssh.h"

/* How to log in to a node (strings borrowed). */
typedef struct ssh_target {
    const char *host;
    long port;
    const char *user;
    const char *key;
    const char *fingerprint; /* "SHA256:..." */
    const char *bastion;
} ssh_target;

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : NULL;
}

/* The state address of a region-wide cluster.C.R.servers[N] / clients[N],
 * or NULL (caller frees). */
static char *region_wide(const engine *e, const char *address)
{
    for (size_t i = 0; i < e->topo->nclusters; i++) {
        const topo_cluster *c = &e->topo->clusters[i];
        for (size_t r = 0; r < c->nregions; r++) {
            const topo_region *reg = &c->regions[r];
            for (int server = 0; server < 2; server++) {
                char *prefix = util_printf("cluster.%s.%s.%s[", c->name, reg->name,
                                           server ? "servers" : "clients");
                size_t n = strlen(prefix);
                int match = !strncmp(address, prefix, n);
                free(prefix);
                char *end = NULL;
                long want = match ? strtol(address + n, &end, 10) : -1;
                if (!match || want < 0 || end == address + n || strcmp(end, "]"))
                    continue;
                for (size_t d = 0; d < reg->ndatacenters; d++) {
                    const topo_datacenter *dc = &reg->datacenters[d];
                    int count = server ? dc->servers : dc->clients;
                    if (want < count)
                        return util_printf("cluster.%s.%s.%s.%s[%ld]", c->name, reg->name, dc->name,
                                           server ? "server" : "client", want);
                    want -= count;
                }
                return NULL;
            }
        }
    }
    return NULL;
}

/* The node's "ssh" object in the cluster JSON the scheduler would get
 * (state attributes with the cluster's ssh_user/ssh_private_key as
 * fallbacks); NULL when address is no node. New reference. */
static json_t *node_ssh(engine *e, const char *address)
{
    for (size_t i = 0; i < e->nproviders; i++) {
        if (!e->providers[i].bridge)
            continue;
        json_t *cj = scheduler_cluster_json(e, i), *found = NULL;
        const char *rname, *dname;
        json_t *reg, *dc;
        json_object_foreach(json_object_get(cj, "regions"), rname, reg)
        {
            json_object_foreach(json_object_get(reg, "datacenters"), dname, dc)
            {
                for (int role = 0; role < 2 && !found; role++) {
                    size_t k;
                    json_t *node;
                    json_array_foreach(
                        json_object_get(dc, role ? "clients" : "servers"), k,
                        node) if (!found &&
                                  !strcmp(str(node, "address") ? str(node, "address") : "",
                                          address)) found =
                        json_incref(json_object_get(node, "ssh"));
                }
            }
        }
        json_decref(cj);
        if (found)
            return found;
    }
    return NULL;
}

/* "SHA256:..." of a base64 key blob as ssh-keygen -l prints it; caller
 * frees; NULL when blob is no base64. */
static char *fingerprint_of(const char *blob)
{
    void *raw = NULL;
    size_t len = 0;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (engine_base64_decode(blob, &raw, &len) < 0 || len == 0 ||
        !EVP_Digest(raw, len, digest, &dlen, EVP_sha256(), NULL)) {
        free(raw);
        return NULL;
    }
    free(raw);
    unsigned char text[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    int n = EVP_EncodeBlock(text, digest, (int)dlen);
    while (n > 0 && text[n - 1] == '=')
        text[--n] = '\0';
    return util_printf("SHA256:%s", (const char *)text);
}

/* The host's key lines ("TYPE BASE64") whose fingerprint is t->fingerprint,
 * read with ssh-keyscan; caller frees; NULL with a message. */
static char *pinned_keys(const ssh_target *t, const char *address)
{
    int fds[2];
    char port[24];
    snprintf(port, sizeof(port), "%ld", t->port);
    if (pipe(fds) < 0)
        return NULL;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDERR_FILENO);
        execlp("ssh-keyscan", "ssh-keyscan", "-T", "15", "-p", port, "--", t->host, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    util_buf got = {0}, keep = {0};
    char chunk[4096];
    ssize_t n;
    while (pid > 0 && (n = read(fds[0], chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        util_buf_put(&got, chunk, (size_t)n);
    }
    close(fds[0]);
    int wstatus = 0;
    if (pid > 0)
        waitpid(pid, &wstatus, 0);
    size_t nkeys = 0;
    for (char *line = got.data, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char host[256], type[64], blob[16384];
        if (line[0] == '#' || sscanf(line, "%255s %63s %16383s", host, type, blob) != 3)
            continue;
        nkeys++;
        char *fp = fingerprint_of(blob);
        if (fp && !strcmp(fp, t->fingerprint))
            util_buf_printf(&keep, "%s %s\n", type, blob);
        free(fp);
    }
    util_buf_free(&got);
    if (keep.len)
        return util_buf_take(&keep);
    if (pid < 0 || (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 127))
        fprintf(stderr, "infra: ssh: cannot run ssh-keyscan (install openssh-client)\n");
    else if (nkeys == 0)
        fprintf(stderr, "infra: ssh: %s: no host key could be read from %s port %ld\n", address,
                t->host, t->port);
    else
        fprintf(stderr,
                "infra: ssh: %s: the host at %s offers no key with the fingerprint %s recorded "
                "when it was created; refusing to connect (the host was replaced, or this is not "
                "it)\n",
                address, t->host, t->fingerprint);
    util_buf_free(&keep);
    return NULL;
}

/* Writes the known_hosts file of alias (0600) with keys ("TYPE BASE64"
 * lines) under alias, and more (whole lines, may be NULL); its path
 * (caller frees) or NULL. */
static char *known_hosts(const engine *e, const char *alias, const char *keys, const char *more)
{
    char *err = NULL, *path = NULL;
    char *dir = util_printf("%s/%s.%s.files", e->state_dir, e->topo->name, e->env);
    if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || chmod(dir, 0700) < 0 ||
        util_dir_check_private(dir, "directory", &err) < 0) {
        fprintf(stderr, "infra: ssh: %s\n", err ? err : strerror(errno));
        goto done;
    }
    path = util_printf("%s/known_hosts.%s", dir, alias);
    util_buf b = {0};
    for (const char *line = keys; *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        util_buf_printf(&b, "%s %.*s\n", alias, (int)n, line);
        line += n + (end != NULL);
    }
    if (more)
        util_buf_puts(&b, more);
    if (util_file_replace(path, "known_hosts file", b.data, b.len, 0, 0600, NULL, NULL, &err) < 0) {
        fprintf(stderr, "infra: ssh: %s\n", err ? err : "cannot write the known_hosts file");
        free(path);
        path = NULL;
    }
    util_buf_free(&b);
done:
    free(err);
    free(dir);
    return path;
}

/* An alias for known_hosts and HostKeyAlias: "infra-" and address with
 * anything but [A-Za-z0-9._-] as "_"; caller frees. */
static char *alias_of(const char *address)
{
    char *alias = util_printf("infra-%s", address);
    for (char *p = alias; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.' || *p == '_'))
            *p = '_';
    return alias;
}

/* text shell-quoted for a ProxyCommand, "%" doubled (ssh expands %
 * tokens there); caller frees. */
static char *proxy_quote(const char *text)
{
    char *quoted = ssh_shell_quote(text);
    util_buf b = {0};
    for (const char *p = quoted; *p; p++)
        util_buf_puts(&b, *p == '%' ? "%%" : (char[2]){*p, 0});
    free(quoted);
    return util_buf_take(&b);
}

/* For t behind the bastion jump ({"host", "port", ...} of bastion_addr):
 * the known_hosts file with both pinned keys (*kh) and the ProxyCommand
 * option (*proxy) that reaches t through the bastion; 0, or -1 with a
 * message. The target's key is read through the bastion over libssh2,
 * which accepts it only when it is the pinned one. */
static int jump_prepare(const engine *e, const ssh_target *t, const json_t *jump,
                        const char *target, const char *bastion_addr, const char *alias, char **kh,
                        char **proxy)
{
    ssh_target b = {.host = str(jump, "host"),
                    .port = (long)json_integer_value(json_object_get(jump, "port")),
                    .user = str(jump, "user"),
                    .key = str(jump, "private_key"),
                    .fingerprint = str(jump, "host_key_sha256")};
    char *bkeys = NULL, *balias = alias_of(bastion_addr), *tline = NULL;
    util_buf more = {0};
    infra_ssh *conn = NULL;
    int error = -1;

    if (b.port <= 0)
        b.port = 22;
    if (!b.host || !b.fingerprint) {
        fprintf(stderr,
                "infra: ssh: %s: its bastion %s has no %s in the state; refusing to connect\n",
                target, bastion_addr, b.host ? "host key fingerprint" : "address");
        goto done;
    }
    if (!(bkeys = pinned_keys(&b, bastion_addr)))
        goto done;
    infra_ssh_target via = {.size = sizeof(via),
                            .host = b.host,
                            .port = (int)b.port,
                            .user = b.user ? b.user : "root",
                            .private_key = b.key,
                            .host_key_sha256 = b.fingerprint};
    infra_ssh_target to = {.size = sizeof(to),
                           .host = t->host,
                           .port = (int)t->port,
                           .user = t->user ? t->user : "root",
                           .private_key = t->key,
                           .host_key_sha256 = t->fingerprint,
                           .deadline_ms = 30000};
    if (ssh_connect_via(NULL, &to, &via, &conn) < 0 || !(tline = ssh_host_key_line(conn))) {
        fprintf(stderr,
                "infra: ssh: %s: its host key could not be verified through the bastion "
                "%s; refusing to connect\n",
                target, bastion_addr);
        goto done;
    }
    for (const char *line = bkeys; *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        util_buf_printf(&more, "%s %.*s\n", balias, (int)n, line);
        line += n + (end != NULL);
    }
    if (!(*kh = known_hosts(e, alias, tline, more.data)))
        goto done;
    char *q_kh = proxy_quote(*kh), *q_host = proxy_quote(b.host);
    char *q_user = b.user ? proxy_quote(b.user) : NULL, *q_key = b.key ? proxy_quote(b.key) : NULL;
    char *user_opt = q_user ? util_printf(" -l %s", q_user) : util_strdup("");
    char *key_opt = q_key ? util_printf(" -i %s -o IdentitiesOnly=yes", q_key) : util_strdup("");
    *proxy = util_printf("ProxyCommand=ssh -o StrictHostKeyChecking=yes -o "
                         "UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null -o "
                         "HostKeyAlias=%s -o UpdateHostKeys=no -p %ld%s%s -W %%h:%%p -- %s",
                         q_kh, balias, b.port, user_opt, key_opt, q_host);
    free(user_opt);
    free(key_opt);
    free(q_kh);
    free(q_host);
    free(q_user);
    free(q_key);
    error = 0;
done:
    ssh_close(conn);
    util_buf_free(&more);
    free(tline);
    free(bkeys);
    free(balias);
    return error;
}

/* The addresses of the state, as a hint; caller frees. */
static char *available(engine *e)
{
    json_t *all = state_addresses(e->st);
    util_buf b = {0};
    size_t k;
    json_t *a;
    json_array_foreach(all, k, a)
    {
        const char *s = json_string_value(a);
        if (!strncmp(s, "instance.", 9) || (!strncmp(s, "cluster.", 8) && strchr(s, '[')))
            util_buf_printf(&b, "%s%s", b.len ? ", " : "", s);
    }
    json_decref(all);
    return b.len ? util_buf_take(&b) : util_strdup("none");
}

int cli_cmd_ssh(const cli_args *a)
{
    int used = 0, status = 1;
    const char *topo_path = cli_find_topology(a, &used);
    if (!topo_path)
        return 1;
    const char *address = a->topology && !used ? a->topology : NULL;
    size_t noperands = (address != NULL) + a->npositionals;
    if (!address && a->npositionals)
        address = a->positionals[0];
    if (noperands != 1) {
        fprintf(stderr, "infra: usage: infra ssh [TOPOLOGY.yaml] ADDRESS [-- COMMAND...]\n");
        return 1;
    }
    cli_args b = *a;
    b.topology = topo_path;
    engine *e = cli_open_engine(&b);
    json_t *entry = NULL, *ssh = NULL;
    char *resolved = NULL, *keys = NULL, *kh = NULL, *alias = NULL, *proxy = NULL;
    if (!e)
        return 1;
    if (cli_open_state(e, 0, "ssh") < 0)
        goto done;
    resolved = region_wide(e, address);
    const char *target = resolved ? resolved : address;
    entry = state_get(e->st, target);
    if (!entry) {
        char *list = available(e);
        fprintf(stderr, "infra: ssh: %s is not in the state of %s (%s); addresses: %s\n", address,
                e->topo->name, e->env, list);
        free(list);
        goto done;
    }
    const json_t *attrs = json_object_get(entry, "attributes");
    ssh_target t = {0};
    ssh = node_ssh(e, target);
    if (!ssh) {
        ssh = ssh_login_json(e, target, attrs, NULL);
        if (!str(attrs, "ssh_user"))
            json_object_del(ssh, "user"); /* the user's own ssh configuration decides */
    }
    t.host = str(ssh, "host");
    t.port = (long)json_integer_value(json_object_get(ssh, "port"));
    t.user = str(ssh, "user");
    t.key = str(ssh, "private_key");
    t.fingerprint = str(ssh, "host_key_sha256");
    t.bastion = str(attrs, "ssh_bastion");
    const json_t *jump = json_object_get(ssh, "bastion");
    const topo_resource *res = topology_resource(e->topo, target);
    if (jump) {
        t.bastion = NULL;
        if (!json_is_object(jump)) {
            fprintf(stderr, "infra: ssh: %s: its bastion %s is not in the state; run infra up\n",
                    target, res && res->bastion ? res->bastion : "?");
            goto done;
        }
    }
    if (t.port <= 0)
        t.port = 22;
    if (!t.host) {
        fprintf(stderr, "infra: ssh: %s has no address in the state (no public_ip or private_ip)\n",
                target);
        goto done;
    }
    if (!t.fingerprint) {
        fprintf(stderr,
                "infra: ssh: %s: no host key fingerprint is recorded "
                "(ssh_host_key_fingerprint), so the host cannot be verified; refusing to connect\n",
                target);
        goto done;
    }
    alias = alias_of(target);
    if (jump) {
        if (jump_prepare(e, &t, jump, target, res && res->bastion ? res->bastion : "bastion", alias,
                         &kh, &proxy) < 0)
            goto done;
    } else if (!(keys = pinned_keys(&t, target)) || !(kh = known_hosts(e, alias, keys, NULL))) {
        goto done;
    }

    const char **argv = util_calloc(32 + a->nrest, sizeof(*argv));
    size_t n = 0;
    char *port = util_printf("%ld", t.port);
    char *o_known = util_printf("UserKnownHostsFile=%s", kh);
    char *o_alias = util_printf("HostKeyAlias=%s", alias);
    argv[n++] = "ssh";
    argv[n++] = "-o";
    argv[n++] = "StrictHostKeyChecking=yes";
    argv[n++] = "-o";
    argv[n++] = o_known;
    argv[n++] = "-o";
    argv[n++] = "GlobalKnownHostsFile=/dev/null";
    argv[n++] = "-o";
    argv[n++] = o_alias;
    argv[n++] = "-o";
    argv[n++] = "UpdateHostKeys=no";
    argv[n++] = "-p";
    argv[n++] = port;
    if (t.user) {
        argv[n++] = "-l";
        argv[n++] = t.user;
    }
    if (t.key) {
        argv[n++] = "-i";
        argv[n++] = t.key;
        argv[n++] = "-o";
        argv[n++] = "IdentitiesOnly=yes";
    }
    if (t.bastion) {
        argv[n++] = "-J";
        argv[n++] = t.bastion;
    }
    if (proxy) {
        argv[n++] = "-o";
        argv[n++] = proxy;
    }
    if (a->nrest == 0 && isatty(STDIN_FILENO))
        argv[n++] = "-t";
    argv[n++] = "--";
    argv[n++] = t.host;
    for (size_t i = 0; i < a->nrest; i++)
        argv[n++] = a->rest[i];
    argv[n] = NULL;
    fflush(NULL);
    engine_free(e); /* the state is not held while the session lasts */
    e = NULL;
    execvp("ssh", (char *const *)argv);
    fprintf(stderr, "infra: ssh: cannot run ssh: %s (install openssh-client)\n", strerror(errno));
    status = 127;
    free(argv);
    free(port);
    free(o_known);
    free(o_alias);
done:
    json_decref(entry);
    json_decref(ssh);
    free(resolved);
    free(keys);
    free(kh);
    free(alias);
    free(proxy);
    engine_free(e);
    return status;
}
