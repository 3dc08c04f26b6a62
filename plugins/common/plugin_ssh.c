/* A node over SSH: commands (as root through sudo when the login user is
 * not root), one inspection that learns the init system, programs,
 * services and the mode and hash of every managed file, and writing files
 * (in place as root, or staged and installed with sudo).
 *
 * The host's ABI 1.2 slots run and write_file take the call, so they stop
 * when it is cancelled and say why they failed; they are used whenever the
 * host has them, and exec, exec_sudo and upload otherwise. */
#include "plugin_remote.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void pu_files_add(pu_files *f, const char *path, const char *data, size_t len, int mode,
                  int service, int secret)
{
    f->v = pu_realloc(f->v, (f->n + 1) * sizeof(*f->v));
    pu_file *x = &f->v[f->n++];
    x->path = pu_strdup(path);
    x->data = pu_malloc(len + 1);
    memcpy(x->data, data, len);
    x->data[len] = '\0';
    x->len = len;
    x->mode = mode;
    x->service = service;
    x->secret = secret;
}

void pu_files_add_text(pu_files *f, const char *path, const char *text, int mode, int service,
                       int secret)
{
    pu_files_add(f, path, text, strlen(text), mode, service, secret);
}

const pu_file *pu_files_find(const pu_files *f, const char *path)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].path, path) == 0)
            return &f->v[i];
    return NULL;
}

void pu_files_free(pu_files *f)
{
    for (size_t i = 0; i < f->n; i++) {
        if (f->v[i].secret)
            OPENSSL_cleanse(f->v[i].data, f->v[i].len);
        free(f->v[i].data);
        free(f->v[i].path);
    }
    free(f->v);
    f->v = NULL;
    f->n = 0;
}

int pu_remote_open(infra_call *call, const char *node, const infra_ssh_target *target,
                   int64_t deadline_ms, pu_remote *out)
{
    memset(out, 0, sizeof(*out));
    out->node = pu_strdup(node);
    infra_ssh_target t = *target;
    t.size = sizeof(t);
    t.deadline_ms = (long)(deadline_ms > 0 ? deadline_ms : 1000);
    if (t.host == NULL) {
        pu_diagf(call, "", "node %s has no address to connect to over SSH", node);
        return INFRA_EINVALID;
    }
    int error = pu_host->ssh->connect(call, &t, &out->ssh);
    if (error < 0) {
        pu_diagf(call, "", "node %s (%s): cannot connect over SSH as %s%s", node, t.host,
                 t.user ? t.user : "root",
                 error == INFRA_ETRANSIENT ? ": it did not answer in time" : "");
        return error;
    }
    out->root = t.user == NULL || strcmp(t.user, "root") == 0;
    return 0;
}

void pu_remote_close(pu_remote *r)
{
    if (r->ssh)
        pu_host->ssh->close(r->ssh);
    free(r->node);
    pu_strs_free(&r->paths);
    pu_strs_free(&r->hashes);
    pu_strs_free(&r->names);
    pu_strs_free(&r->found);
    memset(r, 0, sizeof(*r));
}

int pu_remote_exec(infra_call *call, pu_remote *r, const char *cmd, int as_root, int *status,
                   char **out, char **err)
{
    const infra_ssh_api *ssh = pu_host->ssh;
    int st = 0, error;
    char *sout = NULL, *serr = NULL;

    if (INFRA_HAS_SLOT(ssh, run))
        error = ssh->run(call, r->ssh, cmd, as_root, &st, &sout, &serr);
    else if (as_root)
        error = ssh->exec_sudo(r->ssh, cmd, &st, &sout, &serr);
    else
        error = ssh->exec(r->ssh, cmd, &st, &sout, &serr);
    *status = st;
    *out = error == 0 ? pu_strdup(sout ? sout : "") : NULL;
    *err = error == 0 ? pu_strdup(serr ? serr : "") : NULL;
    pu_host->free(sout);
    pu_host->free(serr);
    return error;
}

char *pu_excerpt(const char *text)
{
    pu_buf b = {0};
    int space = 0;
    for (const char *p = text ? text : ""; *p && b.len < 600; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t' || (unsigned char)*p < ' ') {
            if (b.len > 0 && !space)
                pu_buf_puts(&b, *p == '\n' ? " | " : " ");
            space = 1;
        } else {
            pu_buf_put(&b, p, 1);
            space = 0;
        }
    }
    while (b.len >= 3 && strcmp(b.data + b.len - 3, " | ") == 0)
        b.data[b.len -= 3] = '\0';
    if (b.len == 0) {
        free(b.data);
        return pu_strdup("(no output)");
    }
    if (text && strlen(text) > 600 && b.len >= 600)
        pu_buf_puts(&b, "...");
    return pu_buf_take(&b);
}

int pu_remote_run(infra_call *call, pu_remote *r, const char *what, const char *cmd, int as_root,
                  int *status, char **out)
{
    int st = 0;
    char *sout = NULL, *serr = NULL;
    int error = pu_remote_exec(call, r, cmd, as_root, &st, &sout, &serr);

    if (out != NULL)
        *out = NULL;
    if (error < 0) {
        if (error != INFRA_ECANCELLED)
            pu_diagf(call, "", "node %s: %s: the SSH command failed", r->node, what);
    } else if (status != NULL) {
        *status = st;
        if (st != 0 && *serr)
            pu_logf(call, INFRA_LOG_DEBUG, "node %s: %s: status %d: %s", r->node, what, st, serr);
    } else if (st != 0) {
        char *tail = pu_excerpt(serr);
        pu_diagf(call, "", "node %s: %s failed with status %d: %s", r->node, what, st, tail);
        free(tail);
        error = INFRA_EINTERNAL;
    }
    if (error == 0 && out != NULL) {
        *out = sout;
        sout = NULL;
    }
    free(sout);
    free(serr);
    return error;
}

/* The lines of the inspection script that report one path. */
static void inspect_path(pu_buf *b, const char *path)
{
    char *q = pu_shell_quote(path);
    pu_buf_printf(b,
                  "f=%s; if [ -f \"$f\" ]; then echo \"file $(stat -c %%a \"$f\") "
                  "$(sha256sum <\"$f\" | cut -c1-64) $f\"; else echo \"file - - $f\"; fi\n",
                  q);
    free(q);
}

int pu_remote_inspect(infra_call *call, pu_remote *r, const pu_files *files,
                      const char *const *extra, const char *const *programs,
                      const char *const *services)
{
    pu_buf b = {0};
    char *out = NULL;
    int error = 0;

    pu_buf_puts(&b, "if [ -d /run/systemd/system ]; then echo init systemd; "
                    "else echo init none; fi\n");
    for (size_t i = 0; programs && programs[i]; i++) {
        char *q = pu_shell_quote(programs[i]);
        pu_buf_printf(&b, "echo \"bin %s $(command -v %s 2>/dev/null || echo -)\"\n", programs[i],
                      q);
        free(q);
    }
    for (size_t i = 0; files && i < files->n; i++)
        inspect_path(&b, files->v[i].path);
    for (size_t i = 0; extra && extra[i]; i++)
        inspect_path(&b, extra[i]);
    for (size_t i = 0; services && services[i]; i++)
        pu_buf_printf(&b,
                      "a=%s; if [ -d /run/systemd/system ]; then\n"
                      "  if systemctl is-active --quiet \"$a.service\"; then\n"
                      "    echo \"pid $a $(systemctl show -p MainPID --value \"$a.service\")\"\n"
                      "  else echo \"pid $a 0\"; fi\n"
                      "else p=$(" PU_SUPERVISOR " pid \"$a\" 2>/dev/null) || p=0; "
                      "echo \"pid $a ${p:-0}\"; fi\n",
                      services[i]);
    char *script = pu_buf_take(&b);
    if ((error = pu_remote_run(call, r, "inspecting the node", script, 1, NULL, &out)) < 0)
        goto done;
    for (char *line = out, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strncmp(line, "init ", 5) == 0) {
            r->systemd = strcmp(line + 5, "systemd") == 0;
        } else if (strncmp(line, "bin ", 4) == 0 || strncmp(line, "pid ", 4) == 0) {
            char *name = line + 4, *value = strrchr(name, ' ');
            if (value == NULL)
                continue;
            *value++ = '\0';
            pu_strs_addf(&r->names, "%.3s %s", line, name);
            pu_strs_add(&r->found, strcmp(value, "-") == 0 || strcmp(value, "0") == 0 ? "" : value);
        } else if (strncmp(line, "file ", 5) == 0) {
            char *mode = line + 5, *hash = strchr(mode, ' ');
            char *path = hash ? strchr(hash + 1, ' ') : NULL;
            if (path == NULL)
                continue;
            *hash++ = '\0';
            *path++ = '\0';
            pu_strs_add(&r->paths, path);
            if (strcmp(mode, "-") == 0)
                pu_strs_add(&r->hashes, "");
            else
                pu_strs_addf(&r->hashes, "%s %s", mode, hash);
        }
    }
done:
    free(script);
    free(out);
    return error;
}

int pu_remote_has(const pu_remote *r, const pu_file *f)
{
    char hash[65];
    for (size_t i = 0; i < r->paths.n; i++) {
        if (strcmp(r->paths.v[i], f->path) != 0)
            continue;
        pu_sha256_hex(f->data, f->len, hash);
        char *want = pu_printf("%o %s", f->mode, hash);
        int same = strcmp(r->hashes.v[i], want) == 0;
        free(want);
        return same;
    }
    return 0;
}

static const char *found(const pu_remote *r, const char *kind, const char *name)
{
    size_t klen = strlen(kind);
    for (size_t i = 0; i < r->names.n; i++)
        if (strncmp(r->names.v[i], kind, klen) == 0 && r->names.v[i][klen] == ' ' &&
            strcmp(r->names.v[i] + klen + 1, name) == 0)
            return *r->found.v[i] ? r->found.v[i] : NULL;
    return NULL;
}

const char *pu_remote_found(const pu_remote *r, const char *name)
{
    return found(r, "bin", name);
}

long pu_remote_pid(const pu_remote *r, const char *service)
{
    const char *pid = found(r, "pid", service);
    return pid ? strtol(pid, NULL, 10) : 0;
}

static int write_file(infra_call *call, pu_remote *r, const char *path, const void *data,
                      size_t len, int mode)
{
    const infra_ssh_api *ssh = pu_host->ssh;
    int error = INFRA_HAS_SLOT(ssh, write_file)
                    ? ssh->write_file(call, r->ssh, path, data, len, mode)
                    : ssh->upload(r->ssh, path, data, len, mode);
    if (error < 0 && error != INFRA_ECANCELLED)
        pu_diagf(call, "", "node %s: cannot write %s", r->node, path);
    return error;
}

/* Writes files as the login user into a private directory, then installs
 * them as root in one sudo command. */
static int put_staged(infra_call *call, pu_remote *r, const pu_files *files)
{
    int error = 0;
    char *dir = NULL;
    pu_buf cmd = {0};

    if ((error = pu_remote_run(call, r, "making a staging directory", "mktemp -d", 0, NULL, &dir)) <
        0)
        goto done;
    dir[strcspn(dir, "\n")] = '\0';
    if (dir[0] != '/') {
        pu_diagf(call, "", "node %s: mktemp -d did not name a directory", r->node);
        error = INFRA_EINTERNAL;
        goto done;
    }
    for (size_t i = 0; i < files->n; i++) {
        const pu_file *f = &files->v[i];
        char *stage = pu_printf("%s/f%zu", dir, i);
        error = write_file(call, r, stage, f->data, f->len, 0600);
        char *qs = pu_shell_quote(stage), *qd = pu_shell_quote(f->path);
        pu_buf_printf(&cmd,
                      "install -m %o -o root -g root %s %s.infra-new && mv -f %s.infra-new %s\n",
                      f->mode, qs, qd, qd, qd);
        free(qs);
        free(qd);
        free(stage);
        if (error < 0)
            goto done;
    }
    char *qdir = pu_shell_quote(dir);
    pu_buf_printf(&cmd, "rm -rf %s\n", qdir);
    free(qdir);
    char *script = pu_buf_take(&cmd);
    error = pu_remote_run(call, r, "installing the configuration", script, 1, NULL, NULL);
    free(script);
done:
    free(cmd.data);
    free(dir);
    return error;
}

int pu_remote_put(infra_call *call, pu_remote *r, const char *const *dirs, const pu_files *files)
{
    int error = 0;
    pu_buf b = {0};
    for (size_t i = 0; dirs && dirs[i]; i++) {
        const char *path = strchr(dirs[i], ' ');
        if (path == NULL)
            continue;
        char *q = pu_shell_quote(path + 1);
        pu_buf_printf(&b, "mkdir -p %s && chmod %.*s %s\n", q, (int)(path - dirs[i]), dirs[i], q);
        free(q);
    }
    if (b.len > 0) {
        char *script = pu_buf_take(&b);
        error = pu_remote_run(call, r, "creating the directories", script, 1, NULL, NULL);
        free(script);
    }
    free(b.data);
    if (error < 0 || files->n == 0)
        return error;
    if (!r->root)
        return put_staged(call, r, files);
    for (size_t i = 0; i < files->n && error == 0; i++)
        error = write_file(call, r, files->v[i].path, files->v[i].data, files->v[i].len,
                           files->v[i].mode);
    return error;
}
