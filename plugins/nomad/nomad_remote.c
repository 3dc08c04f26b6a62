/* A node over SSH: what is on it, writing files, starting and stopping the
 * agents (systemd units when the node runs systemd, otherwise a small
 * POSIX sh supervisor, plugins/common/plugin_service.c).
 *
 * Every root command goes through exec_sudo; files are uploaded in place
 * when the login user is root, otherwise staged in a private temporary
 * directory and installed with sudo. */
#include "nomad.h"
#include "plugin_remote.h"

#include <stdlib.h>
#include <string.h>

/* The supervisor is shared with the other scheduler plugins
 * (plugins/common/plugin_service.c). */
const char *nomad_supervisor_script(void)
{
    return pu_supervisor_script();
}

static const char *agent_args(nomad_agent agent)
{
    return agent == NOMAD_AGENT_CONSUL ? "agent -config-dir=" CONSUL_CONFIG_DIR
                                       : "agent -config=" NOMAD_CONFIG_DIR;
}

int nomad_remote_open(infra_scheduler *ctx, infra_call *call, const nomad_node *node,
                      int64_t deadline_ms, nomad_remote *out)
{
    memset(out, 0, sizeof(*out));
    out->node = node;
    infra_ssh_target t = node->ssh;
    t.size = sizeof(t);
    t.deadline_ms = (long)(deadline_ms > 0 ? deadline_ms : 1000);
    if (t.host == NULL) {
        pu_diagf(call, "", "node %s has no address to connect to over SSH", node->name);
        return INFRA_EINVALID;
    }
    int error = pu_host->ssh->connect(call, &t, &out->ssh);
    if (error < 0) {
        pu_diagf(call, "", "node %s (%s): cannot connect over SSH as %s%s", node->name, t.host,
                 t.user ? t.user : "root",
                 error == INFRA_ETRANSIENT ? ": it did not answer in time" : "");
        return error;
    }
    out->root = t.user == NULL || strcmp(t.user, "root") == 0;
    (void)ctx;
    return 0;
}

void nomad_remote_close(nomad_remote *r)
{
    if (r->ssh)
        pu_host->ssh->close(r->ssh);
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++)
        free(r->bin[a]);
    nomad_strs_free(&r->paths);
    nomad_strs_free(&r->hashes);
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++) {
        nomad_strs_free(&r->loaded[a]);
        free(r->want_bin[a]);
        free(r->installed[a]);
    }
    memset(r, 0, sizeof(*r));
}

/* Runs a root command; a non-zero status is INFRA_EINTERNAL with what and
 * the command's stderr, unless status is wanted (then it is returned). */
static int run_root(infra_call *call, nomad_remote *r, const char *what, const char *cmd,
                    int *status, char **out)
{
    int st = 0;
    char *sout = NULL, *serr = NULL;
    int error = pu_host->ssh->exec_sudo(r->ssh, cmd, &st, &sout, &serr);
    if (error < 0) {
        pu_diagf(call, "", "node %s: %s: the SSH command failed", r->node->name, what);
    } else if (status != NULL) {
        *status = st;
    } else if (st != 0) {
        char *tail = serr && *serr ? nomad_api_excerpt(serr) : pu_strdup("(no output)");
        pu_diagf(call, "", "node %s: %s failed with status %d: %s", r->node->name, what, st, tail);
        free(tail);
        error = INFRA_EINTERNAL;
    }
    if (error == 0 && out != NULL) {
        *out = sout;
        sout = NULL;
    }
    if (status != NULL && error == 0 && st != 0 && out == NULL && serr && *serr)
        pu_logf(call, INFRA_LOG_DEBUG, "node %s: %s: %s", r->node->name, what, serr);
    pu_host->free(sout);
    pu_host->free(serr);
    return error;
}

int nomad_remote_inspect(infra_scheduler *ctx, infra_call *call, nomad_remote *r,
                         const nomad_strs *paths)
{
    pu_buf b = {0};
    char *out = NULL;
    int error = 0;

    pu_buf_puts(&b, "if [ -d /run/systemd/system ]; then echo init systemd; "
                    "else echo init none; fi\n");
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++) {
        char *q = pu_shell_quote(r->want_bin[a] ? r->want_bin[a] : ctx->s.binary[a]);
        pu_buf_printf(&b, "echo \"bin %s $(command -v %s 2>/dev/null || echo -)\"\n",
                      nomad_agent_name((nomad_agent)a), q);
        free(q);
    }
    for (size_t i = 0; i < paths->n; i++) {
        char *q = pu_shell_quote(paths->v[i]);
        pu_buf_printf(&b,
                      "f=%s; if [ -f \"$f\" ]; then echo \"file $(stat -c %%a \"$f\") "
                      "$(sha256sum <\"$f\" | cut -c1-64) $f\"; else echo \"file - - $f\"; fi\n",
                      q);
        free(q);
    }
    /* every file the agents would load from their directories */
    pu_buf_puts(&b, "for f in " CONSUL_CONFIG_DIR "/*.hcl " CONSUL_CONFIG_DIR "/*.json; do\n"
                    "  [ ! -f \"$f\" ] || echo \"conf consul $f\"\n"
                    "done\n"
                    "for f in " NOMAD_CONFIG_DIR "/*.hcl " NOMAD_CONFIG_DIR "/*.json; do\n"
                    "  [ ! -f \"$f\" ] || echo \"conf nomad $f\"\n"
                    "done\n");
    pu_buf_puts(&b, "for a in consul nomad; do\n"
                    "  if [ -d /run/systemd/system ]; then\n"
                    "    if systemctl is-active --quiet \"$a.service\"; then\n"
                    "      echo \"pid $a $(systemctl show -p MainPID --value \"$a.service\")\"\n"
                    "    else echo \"pid $a 0\"; fi\n"
                    "  else\n"
                    "    p=$(" NOMAD_SUPERVISOR " pid \"$a\" 2>/dev/null) || p=0\n"
                    "    echo \"pid $a ${p:-0}\"\n"
                    "  fi\n"
                    "done\n");
    char *script = pu_buf_take(&b);
    if ((error = run_root(call, r, "inspecting the node", script, NULL, &out)) < 0)
        goto done;
    for (char *line = out, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strncmp(line, "init ", 5) == 0) {
            r->systemd = strcmp(line + 5, "systemd") == 0;
        } else if (strncmp(line, "bin ", 4) == 0) {
            char *name = line + 4, *path = strchr(name, ' ');
            if (path == NULL)
                continue;
            *path++ = '\0';
            int a = strcmp(name, "consul") == 0 ? NOMAD_AGENT_CONSUL : NOMAD_AGENT_NOMAD;
            free(r->bin[a]);
            r->bin[a] = strcmp(path, "-") == 0 ? NULL : pu_strdup(path);
        } else if (strncmp(line, "file ", 5) == 0) {
            char *mode = line + 5, *hash = strchr(mode, ' ');
            char *path = hash ? strchr(hash + 1, ' ') : NULL;
            if (path == NULL)
                continue;
            *hash++ = '\0';
            *path++ = '\0';
            nomad_strs_add(&r->paths, path);
            if (strcmp(mode, "-") == 0)
                nomad_strs_add(&r->hashes, "");
            else
                nomad_strs_addf(&r->hashes, "%s %s", mode, hash);
        } else if (strncmp(line, "conf ", 5) == 0) {
            char *name = line + 5, *path = strchr(name, ' ');
            if (path == NULL)
                continue;
            *path++ = '\0';
            int a = strcmp(name, "consul") == 0 ? NOMAD_AGENT_CONSUL : NOMAD_AGENT_NOMAD;
            nomad_strs_add(&r->loaded[a], path);
        } else if (strncmp(line, "pid ", 4) == 0) {
            char *name = line + 4, *pid = strchr(name, ' ');
            if (pid == NULL)
                continue;
            *pid++ = '\0';
            int a = strcmp(name, "consul") == 0 ? NOMAD_AGENT_CONSUL : NOMAD_AGENT_NOMAD;
            r->pid[a] = strtol(pid, NULL, 10);
        }
    }
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++) {
        if (r->bin[a] == NULL) {
            const char *name = nomad_agent_name((nomad_agent)a);
            pu_diagf(call, "",
                     "node %s: %s binary \"%s\" not found: install %s on the node image (see "
                     "docs/nomad.md, \"Installing the agents\"), or set "
                     "clusters.%s.install.%s: {file: ..., sha256: ...} to have infra install it "
                     "(or %s_binary to where it is)",
                     r->node->name, name, r->want_bin[a] ? r->want_bin[a] : ctx->s.binary[a], name,
                     ctx->cluster, name, name);
            error = INFRA_EINVALID;
            goto done;
        }
        if (!nomad_path_ok(r->bin[a]) || r->bin[a][0] != '/') {
            pu_diagf(call, "", "node %s: %s binary resolves to an unusable path", r->node->name,
                     nomad_agent_name((nomad_agent)a));
            error = INFRA_EINVALID;
            goto done;
        }
    }
done:
    free(script);
    pu_host->free(out);
    return error;
}

int nomad_remote_has(const nomad_remote *r, const nomad_file *f)
{
    char hash[65];
    for (size_t i = 0; i < r->paths.n; i++) {
        if (strcmp(r->paths.v[i], f->path) != 0)
            continue;
        nomad_sha256_hex(f->data, f->len, hash);
        char *want = pu_printf("%o %s", f->mode, hash);
        int same = strcmp(r->hashes.v[i], want) == 0;
        free(want);
        return same;
    }
    return 0;
}

int nomad_remote_service_files(infra_scheduler *ctx, const nomad_remote *r, nomad_files *out)
{
    (void)ctx;
    if (!r->systemd)
        nomad_files_add(out, NOMAD_SUPERVISOR, pu_supervisor_script(),
                        strlen(pu_supervisor_script()), 0755, -1, 0);
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++) {
        const char *name = nomad_agent_name((nomad_agent)a);
        char *path, *text;
        if (r->systemd) {
            path = pu_printf(NOMAD_UNIT_DIR "/%s.service", name);
            text = pu_printf("# Installed by infra's nomad plugin.\n"
                             "%s%s%s"
                             "[Unit]\n"
                             "Description=%s agent\n"
                             "Wants=network-online.target%s\n"
                             "After=network-online.target%s\n"
                             "\n"
                             "[Service]\n"
                             "ExecStart=%s %s\n"
                             "ExecReload=/bin/kill -HUP $MAINPID\n"
                             /* Nomad's tasks outlive an agent restart */
                             "KillMode=process\n"
                             "Restart=on-failure\n"
                             "RestartSec=2\n"
                             "LimitNOFILE=65536\n"
                             "\n"
                             "[Install]\n"
                             "WantedBy=multi-user.target\n",
                             r->installed[a] ? "# Program: " : "",
                             r->installed[a] ? r->installed[a] : "", r->installed[a] ? "\n" : "",
                             a == NOMAD_AGENT_CONSUL ? "Consul" : "Nomad",
                             a == NOMAD_AGENT_NOMAD ? " consul.service" : "",
                             a == NOMAD_AGENT_NOMAD ? " consul.service" : "", r->bin[a],
                             agent_args((nomad_agent)a));
            nomad_files_add(out, path, text, strlen(text), 0644, a, 0);
        } else {
            path = pu_printf(NOMAD_TOOL_DIR "/%s.run", name);
            text = pu_printf("#!/bin/sh\n"
                             "# The command the supervisor keeps running; infra's nomad plugin.\n"
                             "%s%s%s"
                             "exec %s %s\n",
                             r->installed[a] ? "# Program: " : "",
                             r->installed[a] ? r->installed[a] : "", r->installed[a] ? "\n" : "",
                             r->bin[a], agent_args((nomad_agent)a));
            nomad_files_add(out, path, text, strlen(text), 0755, a, 0);
        }
        free(path);
        free(text);
    }
    return 0;
}

static int put_staged(infra_call *call, nomad_remote *r, const nomad_files *files)
{
    int error = 0, st = 0;
    char *dir = NULL, *serr = NULL;
    pu_buf cmd = {0};

    if ((error = pu_host->ssh->exec(r->ssh, "mktemp -d", &st, &dir, &serr)) < 0 || st != 0 ||
        dir == NULL || dir[0] != '/') {
        pu_diagf(call, "", "node %s: cannot make a staging directory", r->node->name);
        error = error < 0 ? error : INFRA_EINTERNAL;
        goto done;
    }
    dir[strcspn(dir, "\n")] = '\0';
    for (size_t i = 0; i < files->n; i++) {
        const nomad_file *f = &files->v[i];
        char *stage = pu_printf("%s/f%zu", dir, i);
        error = pu_host->ssh->upload(r->ssh, stage, f->data, f->len, 0600);
        char *qs = pu_shell_quote(stage), *qd = pu_shell_quote(f->path);
        pu_buf_printf(&cmd,
                      "install -m %o -o root -g root %s %s.infra-new && mv -f %s.infra-new %s\n",
                      f->mode, qs, qd, qd, qd);
        free(qs);
        free(qd);
        free(stage);
        if (error < 0) {
            pu_diagf(call, "", "node %s: cannot upload %s", r->node->name, f->path);
            goto done;
        }
    }
    char *qdir = pu_shell_quote(dir);
    pu_buf_printf(&cmd, "rm -rf %s\n", qdir);
    free(qdir);
    char *script = pu_buf_take(&cmd);
    error = run_root(call, r, "installing the configuration", script, NULL, NULL);
    free(script);
done:
    free(cmd.data);
    pu_host->free(dir);
    pu_host->free(serr);
    return error;
}

int nomad_remote_put(infra_call *call, nomad_remote *r, const nomad_files *files)
{
    int error = run_root(call, r, "creating the directories",
                         "mkdir -p -m 0755 " NOMAD_CONFIG_DIR "/tls " CONSUL_CONFIG_DIR
                         "/tls " NOMAD_TOOL_DIR " " NOMAD_DATA_DIR " && mkdir -p " CONSUL_DATA_DIR
                         " && chmod 0700 " CONSUL_DATA_DIR,
                         NULL, NULL);
    if (error < 0 || files->n == 0)
        return error;
    if (!r->root)
        return put_staged(call, r, files);
    for (size_t i = 0; i < files->n; i++) {
        const nomad_file *f = &files->v[i];
        if ((error = pu_host->ssh->upload(r->ssh, f->path, f->data, f->len, f->mode)) < 0) {
            pu_diagf(call, "", "node %s: cannot upload %s", r->node->name, f->path);
            return error;
        }
    }
    return 0;
}

int nomad_remote_disable(infra_call *call, nomad_remote *r, const nomad_strs *paths)
{
    pu_buf b = {0};
    for (size_t i = 0; i < paths->n; i++) {
        char *q = pu_shell_quote(paths->v[i]);
        pu_buf_printf(&b, "mv -f -- %s %s" NOMAD_DISABLED_SUFFIX "\n", q, q);
        free(q);
    }
    if (b.data == NULL)
        return 0;
    char *script = pu_buf_take(&b);
    int error = run_root(call, r, "moving aside configuration files infra did not write", script,
                         NULL, NULL);
    free(script);
    return error;
}

int nomad_remote_start(infra_call *call, nomad_remote *r, nomad_agent agent, int restart,
                       int units_changed)
{
    const char *name = nomad_agent_name(agent);
    char *cmd;
    if (r->systemd)
        cmd =
            pu_printf("%s systemctl enable %s.service >/dev/null 2>&1; systemctl %s %s.service && "
                      "sleep 2 && systemctl is-active --quiet %s.service || "
                      "{ echo '%s did not stay up; its journal says:' >&2; "
                      "journalctl -u %s.service -n 20 --no-pager >&2; exit 1; }",
                      units_changed ? "systemctl daemon-reload;" : "", name,
                      restart ? "restart" : "start", name, name, name, name);
    else if (restart)
        cmd = pu_printf(NOMAD_SUPERVISOR " stop %s && " NOMAD_SUPERVISOR " start %s", name, name);
    else
        cmd = pu_printf(NOMAD_SUPERVISOR " start %s", name);
    int status = 0;
    char *sout = NULL, *serr = NULL;
    int error = pu_host->ssh->exec_sudo(r->ssh, cmd, &status, &sout, &serr);
    free(cmd);
    if (error < 0) {
        pu_diagf(call, "", "node %s: starting %s: the SSH command failed", r->node->name, name);
    } else if (status != 0) {
        /* The agent's own words: it names the configuration it refused. */
        char *excerpt = nomad_api_excerpt(serr && *serr ? serr : "(no output)");
        pu_diagf(call, "", "node %s: the %s agent did not start: %s", r->node->name, name, excerpt);
        free(excerpt);
        error = INFRA_EINVALID;
    } else {
        pu_logf(call, INFRA_LOG_INFO, "node %s: %s %s", r->node->name, name,
                restart ? "restarted" : "started");
    }
    pu_host->free(sout);
    pu_host->free(serr);
    return error;
}

int nomad_remote_stop(infra_call *call, nomad_remote *r, nomad_agent agent)
{
    const char *name = nomad_agent_name(agent);
    char *cmd =
        r->systemd
            ? pu_printf("systemctl disable --now %s.service 2>/dev/null || "
                        "systemctl stop %s.service",
                        name, name)
            : pu_printf("[ ! -x " NOMAD_SUPERVISOR " ] || " NOMAD_SUPERVISOR " stop %s", name);
    int error = run_root(call, r, "stopping an agent", cmd, NULL, NULL);
    free(cmd);
    if (error == 0)
        pu_logf(call, INFRA_LOG_INFO, "node %s: %s stopped", r->node->name, name);
    return error;
}
