/* Installing what a node lacks, the node side: one inspection that hashes
 * what the node holds, uploads of what differs only, a check of every
 * uploaded copy on the node, and the install as root (see
 * plugin_install.h).
 *
 * The scripts are built here as text so that the tests can read them; every
 * path and name in them is quoted for the shell. */
#include "plugin_install.h"
#include "plugin_remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exit status of the commit script when a copy does not match its hash. */
#define STATUS_MISMATCH 3
/* How long dpkg -i waits for another dpkg (a boot-time upgrade) to finish. */
#define DPKG_LOCK_WAIT_S 300

static const char *bin_dir_or_default(const char *bin_dir)
{
    return bin_dir && *bin_dir ? bin_dir : PU_INSTALL_BIN_DIR;
}

/* Where file i of in ends up on the node. Caller frees. */
static char *dest_path(const pu_install *in, size_t i, const char *bin_dir)
{
    if (in->packages)
        return pu_printf(PU_INSTALL_CACHE_DIR "/%s/%s", in->name, in->files[i].name);
    return pu_printf("%s/%s", bin_dir_or_default(bin_dir), in->name);
}

static char *dest_dir(const pu_install *in, const char *bin_dir)
{
    if (in->packages)
        return pu_printf(PU_INSTALL_CACHE_DIR "/%s", in->name);
    return pu_strdup(bin_dir_or_default(bin_dir));
}

char *pu_install_stage_path(const pu_install *in, size_t i, const char *bin_dir, const char *stage)
{
    if (stage != NULL)
        return pu_printf("%s/%s", stage, in->files[i].name);
    if (in->packages)
        return pu_printf(PU_INSTALL_CACHE_DIR "/%s/.%s.infra-new", in->name, in->files[i].name);
    return pu_printf("%s/.%s.infra-new", bin_dir_or_default(bin_dir), in->name);
}

/* Shell lines that set i=yes when package file "$f" is installed at its
 * version, i=no otherwise. */
static const char installed_test[] =
    "i=no\n"
    "if p=$(dpkg-deb -f \"$f\" Package 2>/dev/null) && v=$(dpkg-deb -f \"$f\" Version "
    "2>/dev/null) &&\n"
    "   [ \"$(dpkg-query -W -f='${Status}|${Version}' \"$p\" 2>/dev/null)\" = \"install ok "
    "installed|$v\" ]; then i=yes; fi\n";

char *pu_install_inspect_script(const pu_install *in, const char *bin_dir)
{
    pu_buf b = {0};
    if (!in->packages) {
        char *f = dest_path(in, 0, bin_dir), *q = pu_shell_quote(f);
        pu_buf_printf(&b,
                      "f=%s\n"
                      "if [ -f \"$f\" ]; then echo \"prog $(stat -c '%%a %%u' \"$f\") "
                      "$(sha256sum <\"$f\" | cut -c1-64)\"; else echo 'prog - - -'; fi\n",
                      q);
        free(q);
        free(f);
        return pu_buf_take(&b);
    }
    pu_buf_puts(&b, "command -v dpkg >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 && "
                    "command -v dpkg-query >/dev/null 2>&1 || echo 'dpkg no'\n");
    for (size_t i = 0; i < in->nfiles; i++) {
        char *f = dest_path(in, i, bin_dir), *q = pu_shell_quote(f),
             *name = pu_shell_quote(in->files[i].name);
        pu_buf_printf(&b,
                      "f=%s\n"
                      "if [ -f \"$f\" ]; then h=$(sha256sum <\"$f\" | cut -c1-64); else h=-; fi\n"
                      "i=no\n"
                      "if [ \"$h\" = %s ]; then\n",
                      q, in->files[i].sha256);
        pu_buf_puts(&b, installed_test);
        pu_buf_printf(&b, "fi\necho \"pkg $h $i\" %s\n", name);
        free(name);
        free(q);
        free(f);
    }
    return pu_buf_take(&b);
}

void pu_install_plan_free(pu_install_plan *plan)
{
    free(plan->upload);
    memset(plan, 0, sizeof(*plan));
}

int pu_install_plan_read(const pu_install *in, const char *output, pu_install_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    plan->upload = pu_calloc(in->nfiles ? in->nfiles : 1, 1);
    size_t seen = 0;
    char *copy = pu_strdup(output ? output : "");
    for (char *line = copy, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strcmp(line, "dpkg no") == 0) {
            plan->no_dpkg = 1;
        } else if (!in->packages && strncmp(line, "prog ", 5) == 0 && in->nfiles == 1) {
            char mode[16], owner[32], hash[80];
            if (sscanf(line + 5, "%15s %31s %79s", mode, owner, hash) != 3)
                break;
            seen++;
            if (strcmp(hash, in->files[0].sha256) != 0) {
                plan->upload[0] = 1;
                plan->nupload = 1;
            } else if (strcmp(mode, "755") != 0 || strcmp(owner, "0") != 0) {
                plan->fix_mode = 1;
            }
        } else if (in->packages && strncmp(line, "pkg ", 4) == 0) {
            char hash[80], inst[8];
            int used = 0;
            if (sscanf(line + 4, "%79s %7s %n", hash, inst, &used) != 2 || used == 0)
                break;
            const char *name = line + 4 + used;
            for (size_t i = 0; i < in->nfiles; i++) {
                if (strcmp(in->files[i].name, name) != 0)
                    continue;
                seen++;
                if (strcmp(hash, in->files[i].sha256) != 0) {
                    plan->upload[i] = 1;
                    plan->nupload++;
                }
                if (strcmp(inst, "yes") != 0)
                    plan->not_installed = 1;
            }
        }
    }
    free(copy);
    if (seen != in->nfiles && !plan->no_dpkg) {
        pu_install_plan_free(plan);
        return INFRA_EINTERNAL;
    }
    return 0;
}

int pu_install_plan_done(const pu_install *in, const pu_install_plan *plan)
{
    (void)in;
    return plan->nupload == 0 && !plan->fix_mode && !plan->not_installed;
}

char *pu_install_commit_script(const pu_install *in, const pu_install_plan *plan,
                               const char *bin_dir, const char *stage)
{
    pu_buf b = {0};
    char *dir = dest_dir(in, bin_dir), *qdir = pu_shell_quote(dir);
    char *qstage = stage ? pu_shell_quote(stage) : NULL;

    /* fail: says why on stderr, drops what was staged, exits */
    pu_buf_puts(&b, "fail() { echo \"$*\" >&2; rm -rf --");
    if (qstage)
        pu_buf_printf(&b, " %s", qstage);
    for (size_t i = 0; i < in->nfiles; i++) {
        if (!plan->upload[i])
            continue;
        char *tmp = pu_install_stage_path(in, i, bin_dir, NULL), *q = pu_shell_quote(tmp);
        pu_buf_printf(&b, " %s", q);
        free(q);
        free(tmp);
    }
    pu_buf_printf(&b, "; exit %d; }\n", STATUS_MISMATCH);
    pu_buf_puts(&b, "check() { h=$(sha256sum <\"$1\" | cut -c1-64) || h=-; [ \"$h\" = \"$2\" ] || "
                    "fail \"$3 has SHA-256 $h, not $2\"; }\n");
    pu_buf_printf(&b, "[ -d %s ] || mkdir -p -m 0755 %s || fail 'cannot make the directory %s'\n",
                  qdir, qdir, dir);
    for (size_t i = 0; i < in->nfiles; i++) {
        const pu_install_file *f = &in->files[i];
        char *dest = dest_path(in, i, bin_dir), *qdest = pu_shell_quote(dest);
        char *staged = pu_install_stage_path(in, i, bin_dir, stage),
             *qstaged = pu_shell_quote(staged);
        char *tmp = pu_install_stage_path(in, i, bin_dir, NULL), *qtmp = pu_shell_quote(tmp);
        int mode = in->packages ? 0644 : 0755;
        if (plan->upload[i]) {
            /* the copy that arrived, then the same bytes moved into place */
            pu_buf_printf(&b, "check %s %s 'the uploaded copy of %s on this node'\n", qstaged,
                          f->sha256, f->name);
            if (stage != NULL)
                pu_buf_printf(&b, "install -m %o -o 0 -g 0 %s %s || fail 'cannot install %s'\n",
                              mode, qstaged, qtmp, dest);
            else
                pu_buf_printf(&b, "chown 0:0 %s && chmod %o %s || fail 'cannot install %s'\n", qtmp,
                              mode, qtmp, dest);
            pu_buf_printf(&b, "mv -f -- %s %s || fail 'cannot install %s'\n", qtmp, qdest, dest);
        } else if (!in->packages && plan->fix_mode) {
            pu_buf_printf(&b, "chown 0:0 %s && chmod %o %s || fail 'cannot set the mode of %s'\n",
                          qdest, mode, qdest, dest);
        }
        pu_buf_printf(&b, "check %s %s %s\n", qdest, f->sha256, qdest);
        free(qtmp);
        free(tmp);
        free(qstaged);
        free(staged);
        free(qdest);
        free(dest);
    }
    if (in->packages) {
        /* older packages of this item go; the others are its set */
        pu_buf_printf(&b, "for f in %s/*.deb; do\n  case ${f##*/} in\n  ", qdir);
        for (size_t i = 0; i < in->nfiles; i++) {
            char *q = pu_shell_quote(in->files[i].name);
            pu_buf_printf(&b, "%s%s", i ? "|" : "", q);
            free(q);
        }
        pu_buf_puts(&b, ") ;;\n  *) rm -f -- \"$f\" ;;\n  esac\ndone\nall=yes\nfor f in");
        for (size_t i = 0; i < in->nfiles; i++) {
            char *dest = dest_path(in, i, bin_dir), *q = pu_shell_quote(dest);
            pu_buf_printf(&b, " %s", q);
            free(q);
            free(dest);
        }
        pu_buf_printf(&b, "; do\n%s[ \"$i\" = yes ] || all=no\ndone\n", installed_test);
        /* one dpkg -i for the whole set resolves their dependencies on each
         * other; a dpkg busy elsewhere (a boot-time upgrade) is waited for */
        pu_buf_printf(&b, "if [ \"$all\" = no ]; then\n"
                          "  log=$(mktemp) || fail 'cannot make a temporary file'\n"
                          "  n=0\n"
                          "  until DEBIAN_FRONTEND=noninteractive dpkg -i --force-confdef "
                          "--force-confold");
        for (size_t i = 0; i < in->nfiles; i++) {
            char *dest = dest_path(in, i, bin_dir), *q = pu_shell_quote(dest);
            pu_buf_printf(&b, " %s", q);
            free(q);
            free(dest);
        }
        pu_buf_printf(&b,
                      " </dev/null >\"$log\" 2>&1; do\n"
                      "    if grep -q 'locked by another process' \"$log\" && [ $n -lt %d ]; then "
                      "n=$((n + 5)); sleep "
                      "5; continue; fi\n"
                      "    tail -n 20 \"$log\" >&2; rm -f \"$log\"; fail 'dpkg -i refused the "
                      "packages'\n"
                      "  done\n"
                      "  rm -f \"$log\"\n"
                      "  echo dpkg-ran\n"
                      "fi\n",
                      DPKG_LOCK_WAIT_S);
    }
    if (qstage)
        pu_buf_printf(&b, "rm -rf %s\n", qstage);
    free(qstage);
    free(qdir);
    free(dir);
    return pu_buf_take(&b);
}

/* ------------------------------------------------------------------ */
/* Talking to the node                                                */

/* Runs cmd (as root when as_root), with the cancellable run slot when the
 * host has it. 0 once it ran, with its status and outputs (caller frees
 * both with free()). */
static int node_run(infra_call *call, const pu_install_node *n, const char *cmd, int as_root,
                    int *status, char **out, char **err)
{
    const infra_ssh_api *ssh = pu_host->ssh;
    char *sout = NULL, *serr = NULL;
    int st = 0, error;
    if (INFRA_HAS_SLOT(ssh, run))
        error = ssh->run(call, n->ssh, cmd, as_root, &st, &sout, &serr);
    else if (as_root && !n->root && INFRA_HAS_SLOT(ssh, exec_sudo))
        error = ssh->exec_sudo(n->ssh, cmd, &st, &sout, &serr);
    else
        error = ssh->exec(n->ssh, cmd, &st, &sout, &serr);
    *status = st;
    *out = error == 0 ? pu_strdup(sout ? sout : "") : NULL;
    *err = error == 0 ? pu_strdup(serr ? serr : "") : NULL;
    pu_host->free(sout);
    pu_host->free(serr);
    return error;
}

static int node_write(infra_call *call, const pu_install_node *n, const char *path,
                      const pu_install_file *f, int mode)
{
    const infra_ssh_api *ssh = pu_host->ssh;
    if (INFRA_HAS_SLOT(ssh, write_file))
        return ssh->write_file(call, n->ssh, path, f->data, f->len, mode);
    return ssh->upload(n->ssh, path, f->data, f->len, mode);
}

/* Runs cmd; a failure to run or a non-zero status is an error with a
 * diagnostic "node N: ATTR: WHAT: ...". */
static int node_step(infra_call *call, const pu_install_node *n, const char *attr, const char *what,
                     const char *cmd, int as_root, char **out)
{
    int status = 0;
    char *sout = NULL, *serr = NULL;
    int error = node_run(call, n, cmd, as_root, &status, &sout, &serr);
    if (error < 0) {
        if (error != INFRA_ECANCELLED)
            pu_diagf(call, "", "node %s: %s: %s: the SSH command failed", n->name, attr, what);
    } else if (status != 0) {
        char *tail = pu_excerpt(serr);
        if (status == STATUS_MISMATCH) /* the script says why */
            pu_diagf(call, "", "node %s: %s: %s failed: %s", n->name, attr, what, tail);
        else
            pu_diagf(call, "", "node %s: %s: %s failed with status %d: %s", n->name, attr, what,
                     status, tail);
        free(tail);
        error = INFRA_EINVALID;
    }
    if (error == 0 && out) {
        *out = sout;
        sout = NULL;
    }
    free(sout);
    free(serr);
    return error;
}

void pu_install_result_free(pu_install_result *r)
{
    free(r->path);
    memset(r, 0, sizeof(*r));
}

int pu_install_apply(infra_call *call, const pu_install_node *node, const pu_install *in,
                     const char *bin_dir, const char *attr, pu_install_result *out)
{
    pu_install_plan plan = {0};
    char *script = NULL, *output = NULL, *stage = NULL, *dir = NULL;
    int error = 0;

    memset(out, 0, sizeof(*out));
    if (!in->packages)
        out->path = dest_path(in, 0, bin_dir);
    for (size_t i = 0; i < in->nfiles; i++)
        if (in->files[i].data == NULL && in->files[i].len > 0) {
            pu_diagf(call, "", "%s: the files were only checked, not loaded", attr);
            error = INFRA_EINTERNAL;
            goto done;
        }
    script = pu_install_inspect_script(in, bin_dir);
    if ((error = node_step(call, node, attr, "looking at what it holds", script, 1, &output)) < 0)
        goto done;
    if (pu_install_plan_read(in, output, &plan) < 0) {
        char *tail = pu_excerpt(output);
        pu_diagf(call, "", "node %s: %s: unexpected answer while looking at what it holds: %s",
                 node->name, attr, tail);
        free(tail);
        error = INFRA_EINTERNAL;
        goto done;
    }
    if (plan.no_dpkg) {
        pu_diagf(call, "",
                 "node %s: %s gives Debian packages (%s), but the node has no dpkg: give the "
                 "program itself, or its .zip",
                 node->name, attr, in->source);
        error = INFRA_EINVALID;
        goto done;
    }
    if (pu_install_plan_done(in, &plan))
        goto done;
    if (plan.nupload > 0) {
        if (!node->root) {
            /* a directory only the login user can write, installed from by root */
            free(output);
            output = NULL;
            if ((error = node_step(call, node, attr, "making a staging directory", "mktemp -d", 0,
                                   &output)) < 0)
                goto done;
            output[strcspn(output, "\n")] = '\0';
            if (output[0] != '/') {
                pu_diagf(call, "", "node %s: %s: mktemp -d printed no directory", node->name, attr);
                error = INFRA_EINTERNAL;
                goto done;
            }
            stage = output;
            output = NULL;
        } else {
            dir = dest_dir(in, bin_dir);
            char *q = pu_shell_quote(dir),
                 *cmd = pu_printf("[ -d %s ] || mkdir -p -m 0755 %s", q, q);
            error = node_step(call, node, attr, "making its directory", cmd, 1, NULL);
            free(cmd);
            free(q);
            if (error < 0)
                goto done;
        }
        for (size_t i = 0; i < in->nfiles; i++) {
            if (!plan.upload[i])
                continue;
            char *path = pu_install_stage_path(in, i, bin_dir, stage);
            int mode = stage ? 0600 : in->packages ? 0644 : 0755;
            error = node_write(call, node, path, &in->files[i], mode);
            if (error < 0 && error != INFRA_ECANCELLED)
                pu_diagf(call, "", "node %s: %s: cannot upload %s (%zu bytes) to %s", node->name,
                         attr, in->files[i].name, in->files[i].len, path);
            free(path);
            if (error < 0)
                goto done;
            out->uploaded++;
            out->bytes += in->files[i].len;
        }
    }
    free(script);
    script = pu_install_commit_script(in, &plan, bin_dir, stage);
    free(output);
    output = NULL;
    if ((error = node_step(call, node, attr, "installing", script, 1, &output)) < 0)
        goto done;
    out->changed = in->packages ? strstr(output, "dpkg-ran") != NULL : plan.nupload > 0;
done:
    if (error < 0 && stage != NULL) {
        /* the commit script removes it; after a failed upload it is ours */
        char *q = pu_shell_quote(stage), *cmd = pu_printf("rm -rf %s", q);
        int st = 0;
        char *o = NULL, *e = NULL;
        node_run(call, node, cmd, 0, &st, &o, &e);
        free(o);
        free(e);
        free(cmd);
        free(q);
    }
    pu_install_plan_free(&plan);
    free(dir);
    free(stage);
    free(output);
    free(script);
    if (error < 0)
        pu_install_result_free(out);
    return error;
}
