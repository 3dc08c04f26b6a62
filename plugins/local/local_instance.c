/* The instance resource: a namespace host running its own OpenSSH sshd
 * (root login with the user's key only), and a user_data script run once
 * after sshd starts, like cloud-init. */
#include "local.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SSHD_WAIT_MS 60000
#define HOST_KEY "/etc/ssh/host/ssh_host_ecdsa_key"
#define SSHD_CONFIG "/etc/ssh/host/sshd_config"
#define SSHD_LOG "/var/log/sshd.log"
#define USER_DATA_LOG "/var/log/user-data.log"
/* Paths inside the host; the run directory may be hidden there (under /tmp). */
#define SSHD_PID "/run/sshd.pid"
#define USER_DATA_SCRIPT "/run/infra/user-data.sh"
/* Made by the host's shell just before it runs the script: mkdir is atomic,
 * so of two starts (one cut short by a crash, then a retry's) one runs it. */
#define USER_DATA_ONCE "/run/infra/user-data.once"

/* A hostname from the resource address: "instance.web[0]" -> "web-0". */
static char *default_hostname(infra_call *call, const char *id)
{
    const char *addr = pu_host->call_address(call);
    const char *dot = addr ? strchr(addr, '.') : NULL;
    pu_buf b = {0};

    for (const char *s = dot ? dot + 1 : ""; *s && b.len < 63; s++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            pu_buf_put(&b, &c, 1);
        else if (c != ']' && b.len > 0 && b.data[b.len - 1] != '-')
            pu_buf_put(&b, "-", 1);
    }
    while (b.len > 0 && b.data[b.len - 1] == '-')
        b.data[--b.len] = '\0';
    if (b.len == 0) {
        free(b.data);
        return pu_strdup(id);
    }
    return b.data;
}

static char *host_path(const local_host *h, const char *inside)
{
    return pu_printf("%s%s", h->root, inside);
}

static int host_key_ensure(infra_provider *p, infra_call *call, const local_host *h)
{
    const char *keygen = NULL;
    char *key = host_path(h, HOST_KEY);
    char *pub = pu_printf("%s.pub", key);
    char *comment = pu_printf("infra-local-%s", h->id);
    int error = 0;

    /* The pair is made under other names and renamed into place, the
     * public half last: a .pub in place means the pair is whole, however
     * an earlier run was interrupted. */
    char *tmp = pu_printf("%s.new", key);
    char *tmp_pub = pu_printf("%s.new.pub", key);
    if (local_exists(key) && local_exists(pub))
        goto done;
    unlink(key); /* half a pair from an interrupted run */
    unlink(pub);
    unlink(tmp);
    unlink(tmp_pub);
    if ((error = local_tool_path(p, call, LOCAL_TOOL_SSH_KEYGEN, &keygen)) < 0)
        goto done;
    char *argv[] = {(char *)keygen, "-q",    "-t", "ecdsa", "-b", "256", "-N", "",
                    "-C",           comment, "-f", tmp,     NULL};
    if ((error = local_run(call, "", argv, NULL, NULL)) < 0)
        goto done;
    if (rename(tmp, key) < 0 || rename(tmp_pub, pub) < 0) {
        pu_diagf(call, "", "cannot put the host key %s in place: %s", key, strerror(errno));
        error = INFRA_EINTERNAL;
    }
done:
    free(tmp);
    free(tmp_pub);
    free(key);
    free(pub);
    free(comment);
    return error;
}

/* The "SHA256:..." fingerprint of the host key, as `ssh-keygen -lf` prints it. */
static int host_key_fingerprint(infra_provider *p, infra_call *call, const local_host *h,
                                char **out)
{
    const char *keygen = NULL;
    char *pub = host_path(h, HOST_KEY ".pub");
    char *text = NULL;
    int error;

    if ((error = local_tool_path(p, call, LOCAL_TOOL_SSH_KEYGEN, &keygen)) == 0) {
        char *argv[] = {(char *)keygen, "-l", "-f", pub, NULL};
        error = local_run(call, "", argv, NULL, &text);
    }
    if (error == 0) {
        char fp[128];
        if (sscanf(text, "%*s %127s", fp) == 1 && strncmp(fp, "SHA256:", 7) == 0) {
            *out = pu_strdup(fp);
        } else {
            pu_diagf(call, "", "unexpected ssh-keygen -lf output for %s", pub);
            error = INFRA_EINTERNAL;
        }
    }
    free(text);
    free(pub);
    return error;
}

static int sshd_files_write(infra_provider *p, infra_call *call, const local_host *h)
{
    char *key = NULL, *auth = host_path(h, "/etc/ssh/host/authorized_keys");
    char *cfg_path = host_path(h, SSHD_CONFIG);
    size_t len = 0;
    int error = pu_read_file(p->public_key, 0, &key, &len);

    if (error < 0) {
        pu_diagf(call, "", "cannot read the SSH public key %s", p->public_key);
        goto done;
    }
    if ((error = local_write_file(call, auth, key, len, 0600)) < 0)
        goto done;
    pu_buf listen = {0}; /* every address of the host: a bastion is on two networks */
    pu_buf_printf(&listen, "ListenAddress %s:22\n", h->address);
    for (size_t i = 0; i < h->n_extra; i++)
        pu_buf_printf(&listen, "ListenAddress %s:22\n", h->extra_addr[i]);
    char *cfg = pu_printf("# Written by infra's local provider for host %s.\n"
                          "%s"
                          "HostKey " HOST_KEY "\n"
                          "PidFile " SSHD_PID "\n"
                          "AuthorizedKeysFile /etc/ssh/host/authorized_keys\n"
                          "PermitRootLogin prohibit-password\n"
                          "PasswordAuthentication no\n"
                          "KbdInteractiveAuthentication no\n"
                          "UsePAM no\n"
                          "UseDNS no\n"
                          "PrintMotd no\n"
                          "MaxStartups 100:30:200\n"
                          "Subsystem sftp internal-sftp\n",
                          h->id, listen.data);
    error = local_write_file(call, cfg_path, cfg, strlen(cfg), 0644);
    free(cfg);
    free(listen.data);
done:
    free(key);
    free(auth);
    free(cfg_path);
    return error;
}

static int sshd_running(local_scan *scan, const local_host *h)
{
    char *pidfile = host_path(h, SSHD_PID);
    int alive = local_pidfile_alive(pidfile, local_scan_ns_inode(scan, h->netns_path)) > 0;
    free(pidfile);
    return alive;
}

static int sshd_ensure(infra_provider *p, infra_call *call, const local_host *h)
{
    const char *sshd = NULL;
    local_ns ns;
    int error;

    local_host_ns(h, &ns);
    if ((error = local_tool_path(p, call, LOCAL_TOOL_SSHD, &sshd)) < 0)
        return error;
    if (!sshd_running(NULL, h)) {
        char *test[] = {(char *)sshd, "-t", "-f", SSHD_CONFIG, NULL};
        char *start[] = {(char *)sshd, "-f", SSHD_CONFIG, "-E", SSHD_LOG, NULL};
        if ((error = local_run(call, "", test, &ns, NULL)) < 0 ||
            (error = local_start_daemon(call, "", start, &ns, SSHD_LOG)) < 0)
            return error;
    }
    /* A firewall may refuse the gateway; then ask from inside the host. A
     * host on a private network is asked from inside only: this machine
     * has no way to it. */
    char *fw = pu_printf("%s/firewall.nft", h->dir);
    const char *fallback = local_exists(fw) || h->private_net ? h->netns_path : NULL;
    if (h->private_net)
        error = local_wait_port_in(p, call, h->address, 22, h->netns_path, SSHD_WAIT_MS);
    else
        error = local_wait_port(p, call, h->address, 22, fallback, SSHD_WAIT_MS);
    free(fw);
    if (error == INFRA_ETRANSIENT)
        pu_diagf(call, "",
                 "sshd of host %s did not accept connections on %s:22 within %d s "
                 "(its log: %s%s)",
                 h->id, h->address, SSHD_WAIT_MS / 1000, h->root, SSHD_LOG);
    return error;
}

static int user_data_start(infra_provider *p, infra_call *call, const local_host *h,
                           const char *script)
{
    const char *sh = NULL;
    local_ns ns;
    /* where hosts made by earlier versions marked the start */
    char *marker = pu_printf("%s/user-data.started", h->dir);
    char *once = host_path(h, USER_DATA_ONCE);
    char *path = host_path(h, USER_DATA_SCRIPT);
    char *path_dir = host_path(h, "/run/infra");
    int error = 0;

    /* Exactly once per host: until the host's shell has claimed the run, a
     * retry after a crash starts it again; once claimed, never again. */
    if (script == NULL || *script == '\0' || local_exists(once) || local_exists(marker))
        goto done;
    local_host_ns(h, &ns);
    if ((error = local_tool_path(p, call, LOCAL_TOOL_SH, &sh)) < 0 ||
        (error = local_mkdirs(call, path_dir, 0700)) < 0 ||
        (error = local_write_file(call, path, script, strlen(script), 0700)) < 0)
        goto done;
    char *argv[] = {(char *)sh, "-c",
                    "mkdir " USER_DATA_ONCE " 2>/dev/null || exit 0; exec \"$0\" " USER_DATA_SCRIPT,
                    (char *)sh, NULL};
    error = local_start_detached(call, argv, &ns, USER_DATA_LOG);
done:
    free(marker);
    free(once);
    free(path);
    free(path_dir);
    return error;
}

/* The state: base (planned or prior) plus what the host computes. */
static int instance_state(infra_provider *p, const local_host *h, const infra_json *base,
                          const char *fingerprint, int running, infra_json **out)
{
    infra_json *st = base ? LJ->copy(base) : LJ->new_object();
    int error = st ? 0 : INFRA_EINTERNAL;

    if (error == 0 &&
        ((error = pu_json_set_str(st, "id", h->id)) < 0 ||
         (error = pu_json_set_str(st, "hostname", h->hostname ? h->hostname : h->id)) < 0 ||
         (error = pu_json_set_str(st, "ssh_user", "root")) < 0 ||
         (error = pu_json_set_int(st, "ssh_port", 22)) < 0 ||
         (error = pu_json_set_str(st, "netns", h->netns)) < 0 ||
         (error = pu_json_set_str(st, "sshd", running ? "running" : "stopped")) < 0))
        goto done;
    if (h->network[0] != '\0' && LJ->get(st, "network") == NULL &&
        (error = pu_json_set_str(st, "network", h->network)) < 0)
        goto done;
    /* A host on a private network has no address this machine reaches:
     * no public_ip (SSH goes through a bastion to private_ip). */
    if (h->address[0] != '\0' &&
        ((error = pu_json_set_str(st, "private_ip", h->address)) < 0 ||
         (!h->private_net && (error = pu_json_set_str(st, "public_ip", h->address)) < 0)))
        goto done;
    if (h->n_extra > 0) {
        infra_json *ips = LJ->new_array();
        for (size_t i = 0; ips != NULL && i < h->n_extra; i++)
            if (LJ->append(ips, LJ->new_string(h->extra_addr[i])) < 0) {
                LJ->release(ips);
                ips = NULL;
            }
        if (ips == NULL || LJ->set(st, "extra_ips", ips) < 0) {
            error = INFRA_EINTERNAL;
            goto done;
        }
    }
    if (fingerprint != NULL &&
        (error = pu_json_set_str(st, "ssh_host_key_fingerprint", fingerprint)) < 0)
        goto done;
    if (p->private_key != NULL &&
        (error = pu_json_set_str(st, "ssh_private_key", p->private_key)) < 0)
        goto done;
done:
    if (error < 0)
        LJ->release(st);
    else
        *out = st;
    return error;
}

int local_instance_apply(infra_provider *p, infra_call *call, const infra_json *prior,
                         const infra_json *planned, infra_json **new_state)
{
    char id[LOCAL_ID_SIZE];
    const char *net_id = pu_json_str(planned, "network");
    const char *tool = NULL;
    local_host h;
    infra_json *initial = NULL, *state = NULL;
    char *fingerprint = NULL;
    int error;

    memset(&h, 0, sizeof(h));
    if ((error = local_apply_id(call, prior, LOCAL_KIND_INSTANCE, id)) < 0)
        return error;
    if (net_id == NULL) {
        pu_diagf(call, "network",
                 "an instance needs network: the id of a local network "
                 "(\"${network.NAME.id}\")");
        return INFRA_EINVALID;
    }
    /* Fail before building anything when a tool is missing. */
    if ((error = local_tool_path(p, call, LOCAL_TOOL_IP, &tool)) < 0 ||
        (error = local_tool_path(p, call, LOCAL_TOOL_SSHD, &tool)) < 0 ||
        (error = local_tool_path(p, call, LOCAL_TOOL_SSH_KEYGEN, &tool)) < 0)
        return error;
    /* On a create, a host made under another token is not this resource's. */
    const char *name = pu_json_str(planned, "hostname");
    if ((error = local_host_adopt(p, call, id, "instance", "an instance",
                                  name ? pu_strdup(name) : default_hostname(call, id),
                                  prior == NULL, &h)) < 0)
        goto done;
    if ((error = instance_state(p, &h, planned, NULL, 0, &initial)) < 0 ||
        (error = local_host_ensure(p, call, &h, net_id, initial)) < 0 ||
        (error = local_host_extra_ensure(p, call, &h, LJ->get(planned, "extra_networks"))) < 0 ||
        (error = host_key_ensure(p, call, &h)) < 0 ||
        (error = host_key_fingerprint(p, call, &h, &fingerprint)) < 0 ||
        (error = sshd_files_write(p, call, &h)) < 0 || (error = sshd_ensure(p, call, &h)) < 0 ||
        (error = user_data_start(p, call, &h, pu_json_str(planned, "user_data"))) < 0)
        goto done;
    h.complete = 1;
    if ((error = local_host_save(call, &h)) < 0 ||
        (error = instance_state(p, &h, planned, fingerprint, 1, &state)) < 0 ||
        (error = local_state_save(call, h.dir, state)) < 0)
        goto done;
    *new_state = state;
    state = NULL;
done:
    LJ->release(initial);
    LJ->release(state);
    free(fingerprint);
    local_host_free(&h);
    return error;
}

int local_instance_read(infra_provider *p, infra_call *call, local_scan *scan,
                        const infra_json *state, infra_json **out)
{
    char id[LOCAL_ID_SIZE];
    local_host h;
    infra_json *saved = NULL;
    int error;

    if ((error = local_read_id(call, state, LOCAL_KIND_INSTANCE, id)) < 0)
        return error;
    int alive = local_host_alive_scan(p, scan, id);
    if (alive < 0)
        return alive;
    if (alive == 0 && state != NULL) {
        /* The network namespace is gone: the host is, and what is left of
         * it (address, directory, mounts) is released so nothing leaks. */
        pu_logf(call, INFRA_LOG_WARN, "host %s lost its network namespace; releasing the rest", id);
        error = local_host_destroy(p, call, id);
        return error == 0 || error == INFRA_ENOTFOUND ? INFRA_ENOTFOUND : error;
    }
    if ((error = local_host_load(p, call, id, &h)) < 0) {
        local_host_free(&h);
        if (error == INFRA_ENOTFOUND && state == NULL) /* killed before its record */
            return local_partial_state(id, "sshd", "stopped", out);
        return error;
    }
    if (state == NULL && (error = local_state_load(call, h.dir, &saved)) == INFRA_EINTERNAL)
        goto done;
    const infra_json *base = state ? state : saved;
    const char *fp = pu_json_str(base, "ssh_host_key_fingerprint");
    char *fingerprint = fp ? pu_strdup(fp) : NULL;
    char *pub = host_path(&h, HOST_KEY ".pub");
    if (fingerprint == NULL && local_exists(pub))
        host_key_fingerprint(p, call, &h, &fingerprint);
    free(pub);
    int running = alive == 1 && h.complete && sshd_running(scan, &h);
    error = instance_state(p, &h, base, fingerprint, running, out);
    free(fingerprint);
done:
    LJ->release(saved);
    local_host_free(&h);
    return error;
}

int local_instance_delete(infra_provider *p, infra_call *call, const infra_json *prior)
{
    const char *id = local_state_id(prior, LOCAL_KIND_INSTANCE);
    if (id == NULL)
        return INFRA_ENOTFOUND;
    return local_host_destroy(p, call, id);
}
