/* The part of an image build that is the same on every cloud: the steps
 * (checked, hashed, run over SSH) and the generations kept. The provider
 * owns the machine the steps run on and the image made of it. */
#include "plugin_bake.h"
#include "plugin_remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define J (pu_host->json)

static const char *const step_keys[] = {"upload", "to",          "mode",          "run",
                                        "sudo",   "upload_path", "upload_sha256", NULL};

static int in_list(const char *const *list, const char *key)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(list[i], key) == 0)
            return 1;
    return 0;
}

int pu_bake_mode(const infra_json *v, int *out)
{
    if (v == NULL) {
        *out = 0644;
        return 0;
    }
    if (J->type(v) == INFRA_JSON_INT) {
        int64_t n = J->integer(v);
        if (n < 0 || n > 07777)
            return INFRA_EINVALID;
        *out = (int)n;
        return 0;
    }
    const char *s = J->string(v);
    if (s == NULL || *s == '\0' || strlen(s) > 5)
        return INFRA_EINVALID;
    int m = 0;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '7')
            return INFRA_EINVALID;
        m = m * 8 + (*c - '0');
    }
    if (m > 07777)
        return INFRA_EINVALID;
    *out = m;
    return 0;
}

int pu_bake_has_text(const infra_json *obj, const char *key)
{
    const infra_json *v = J->get(obj, key);
    return v != NULL && (pu_is_unknown(v) || (J->string(v) != NULL && *J->string(v)));
}

static int check_upload(infra_call *call, const char *attr, const infra_json *step)
{
    char at[96];
    int error = 0;
    snprintf(at, sizeof(at), "%s.upload", attr);
    if (!pu_bake_has_text(step, "upload")) {
        pu_diagf(call, at, "upload must name a file (relative to the topology's directory)");
        error = INFRA_EINVALID;
    }
    snprintf(at, sizeof(at), "%s.to", attr);
    const char *to = pu_json_str(step, "to");
    if (!pu_bake_has_text(step, "to")) {
        pu_diagf(call, at, "an upload needs to: the absolute path on the machine");
        error = INFRA_EINVALID;
    } else if (to != NULL && to[0] != '/') {
        pu_diagf(call, at, "to must be an absolute path, not \"%s\"", to);
        error = INFRA_EINVALID;
    }
    int mode;
    const infra_json *m = J->get(step, "mode");
    snprintf(at, sizeof(at), "%s.mode", attr);
    if (m != NULL && !pu_is_unknown(m) && pu_bake_mode(m, &mode) < 0) {
        pu_diagf(call, at, "mode must be octal digits such as \"0644\" or \"0755\"");
        error = INFRA_EINVALID;
    }
    if (J->get(step, "sudo") != NULL) {
        snprintf(at, sizeof(at), "%s.sudo", attr);
        pu_diagf(call, at, "sudo belongs to a run step (uploads are installed as root)");
        error = INFRA_EINVALID;
    }
    return error;
}

static int check_run(infra_call *call, const char *attr, const infra_json *step)
{
    char at[96];
    int error = 0, b;
    snprintf(at, sizeof(at), "%s.run", attr);
    if (!pu_bake_has_text(step, "run")) {
        pu_diagf(call, at, "run must be a command");
        error = INFRA_EINVALID;
    }
    const infra_json *s = J->get(step, "sudo");
    snprintf(at, sizeof(at), "%s.sudo", attr);
    if (s != NULL && !pu_is_unknown(s) && pu_json_to_bool(s, &b) < 0) {
        pu_diagf(call, at, "sudo must be true or false");
        error = INFRA_EINVALID;
    }
    for (const char *const *k = (const char *const[]){"to", "mode", NULL}; *k; k++) {
        if (J->get(step, *k) != NULL) {
            snprintf(at, sizeof(at), "%s.%s", attr, *k);
            pu_diagf(call, at, "%s belongs to an upload step", *k);
            error = INFRA_EINVALID;
        }
    }
    return error;
}

static int check_step(infra_call *call, size_t i, const infra_json *step)
{
    char attr[64];
    int error = 0;
    snprintf(attr, sizeof(attr), "build.steps[%zu]", i);
    if (pu_is_unknown(step))
        return 0;
    if (J->type(step) != INFRA_JSON_OBJECT) {
        pu_diagf(call, attr,
                 "a step is {upload: FILE, to: PATH, mode: \"0644\"} or "
                 "{run: COMMAND, sudo: BOOL}");
        return INFRA_EINVALID;
    }
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    while (J->next(step, &iter, &key, &value)) {
        if (!in_list(step_keys, key)) {
            char at[96];
            snprintf(at, sizeof(at), "%s.%s", attr, key);
            pu_diagf(call, at, "unknown key \"%s\" in a step (upload, to, mode; or run, sudo)",
                     key);
            error = INFRA_EINVALID;
        }
    }
    int upload = J->get(step, "upload") != NULL, run = J->get(step, "run") != NULL;
    if (upload == run) {
        pu_diagf(call, attr, "a step either uploads a file (upload, to) or runs a command (run)");
        return INFRA_EINVALID;
    }
    if ((upload ? check_upload(call, attr, step) : check_run(call, attr, step)) < 0)
        error = INFRA_EINVALID;
    return error;
}

int pu_bake_check_steps(infra_call *call, const infra_json *steps)
{
    int error = 0;
    if (steps == NULL ||
        (!pu_is_unknown(steps) && (J->type(steps) != INFRA_JSON_ARRAY || J->length(steps) == 0))) {
        pu_diagf(call, "build.steps", "a build needs steps: a list of uploads and commands");
        return INFRA_EINVALID;
    }
    if (pu_is_unknown(steps))
        return 0;
    for (size_t i = 0; i < J->length(steps); i++)
        if (check_step(call, i, J->at(steps, i)) < 0)
            error = INFRA_EINVALID;
    return error;
}

int pu_bake_check_keep(infra_call *call, const infra_json *config)
{
    const infra_json *keep = J->get(config, "keep");
    long n;
    if (keep != NULL && !pu_is_unknown(keep) &&
        (pu_json_to_int(keep, &n) < 0 || n < 1 || n > 100)) {
        pu_diagf(call, "keep", "keep must be a number of generations from 1 to 100");
        return INFRA_EINVALID;
    }
    return 0;
}

long pu_bake_keep(const infra_json *config)
{
    long n = 3;
    const infra_json *keep = J->get(config, "keep");
    if (keep != NULL && (pu_json_to_int(keep, &n) < 0 || n < 1))
        n = 3;
    return n;
}

int pu_bake_set_unknown(infra_json *plan, const char *keys)
{
    char names[160];
    int error = 0;
    snprintf(names, sizeof(names), "%s", keys);
    for (char *save = NULL, *k = strtok_r(names, " ", &save); k && error == 0;
         k = strtok_r(NULL, " ", &save))
        error = INFRA_HAS_SLOT(J, new_unknown) ? J->set(plan, k, J->new_unknown())
                                               : (J->remove(plan, k), 0);
    return error;
}

int pu_bake_plan_hash(infra_json *plan, const infra_json *prior, const char *prior_id,
                      const char *hash, const char *base_id, const char *new_keys)
{
    int error;
    if ((error = pu_json_set_str(plan, "build_hash", hash)) < 0 ||
        (error = pu_json_set_str(plan, "base_id", base_id)) < 0)
        return error;
    const char *had = pu_json_str(prior, "build_hash");
    if (prior == NULL || had == NULL || strcmp(had, hash) != 0 || prior_id == NULL)
        return pu_bake_set_unknown(plan, new_keys);
    if (pu_bake_keep(plan) != pu_bake_keep(prior))
        return pu_bake_set_unknown(plan, "generations");
    return 0;
}

int pu_bake_generations(const infra_json *prior, const infra_json *planned, const char *id,
                        pu_bake_drop_fn drop, void *ctx, infra_json *st)
{
    const infra_json *had = J->get(prior, "generations");
    infra_json *kept = J->new_array();
    long keep = pu_bake_keep(planned);
    size_t n = 1;
    int error = 0;

    J->append(kept, J->new_string(id));
    for (size_t i = 0; had != NULL && J->type(had) == INFRA_JSON_ARRAY && i < J->length(had); i++) {
        const char *g = J->string(J->at(had, i));
        int seen = g == NULL;
        for (size_t k = 0; !seen && k < J->length(kept); k++)
            seen = strcmp(J->string(J->at(kept, k)), g) == 0;
        if (seen)
            continue;
        if ((long)n >= keep && error == 0 && (error = drop(ctx, g)) == 0)
            continue;
        J->append(kept, J->new_string(g)); /* kept, or dropped by the next run */
        n++;
    }
    int rc = pu_json_set(st, "generations", kept);
    return error < 0 ? error : rc;
}

int pu_bake_hash(const char *base_id, const infra_json *steps, char out[65])
{
    pu_buf b = {0};
    pu_buf_printf(&b, "infra image build 1\nbase %s\n", base_id);
    for (size_t i = 0; i < J->length(steps); i++) {
        const infra_json *step = J->at(steps, i);
        const char *run = pu_json_str(step, "run");
        if (run != NULL) {
            int sudo = -1;
            const infra_json *s = J->get(step, "sudo");
            if (s != NULL && pu_json_to_bool(s, &sudo) < 0)
                sudo = -1;
            pu_buf_printf(&b, "run %d %zu:%s\n", sudo, strlen(run), run);
            continue;
        }
        const char *to = pu_json_str(step, "to"), *sha = pu_json_str(step, "upload_sha256");
        int mode;
        if (to == NULL || sha == NULL || pu_bake_mode(J->get(step, "mode"), &mode) < 0) {
            free(pu_buf_take(&b));
            return INFRA_EINVALID;
        }
        pu_buf_printf(&b, "upload %04o %s %zu:%s\n", mode, sha, strlen(to), to);
    }
    char *text = pu_buf_take(&b);
    pu_sha256_hex(text, strlen(text), out);
    free(text);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Provisioning                                                       */

typedef struct run_ctx {
    infra_call *call;
    infra_ssh *ssh;
    const char *image;
    const char *hash;
    int root; /* the login user is root */
} run_ctx;

/* Reports a failing step with the end of what it printed. */
static void step_failed(const run_ctx *r, size_t i, const char *what, int status, const char *out,
                        const char *err)
{
    char attr[64];
    pu_buf text = {0};
    if (out != NULL)
        pu_buf_puts(&text, out);
    if (err != NULL && *err)
        pu_buf_printf(&text, "%s%s", text.len && text.data[text.len - 1] != '\n' ? "\n" : "", err);
    char *all = pu_buf_take(&text);
    size_t len = all ? strlen(all) : 0;
    while (len > 0 && (all[len - 1] == '\n' || all[len - 1] == ' '))
        all[--len] = '\0';
    const char *tail = len > PU_BAKE_OUTPUT_TAIL ? all + len - PU_BAKE_OUTPUT_TAIL : all ? all : "";
    snprintf(attr, sizeof(attr), "build.steps[%zu]", i);
    pu_diagf(r->call, attr, "image %s: step %zu (%s) exited with status %d%s%s%s", r->image, i + 1,
             what, status, *tail ? ":\n" : "", len > PU_BAKE_OUTPUT_TAIL ? "..." : "", tail);
    free(all);
}

/* Runs command (as root when as_root), failing step i when it fails. */
static int run_command(const run_ctx *r, size_t i, const char *what, const char *command,
                       int as_root)
{
    int status = -1;
    char *out = NULL, *err = NULL;
    int error =
        pu_host->ssh->run(r->call, r->ssh, command, as_root && !r->root, &status, &out, &err);
    if (error == 0 && status != 0) {
        step_failed(r, i, what, status, out, err);
        error = INFRA_EINVALID;
    } else if (error < 0) {
        char attr[64];
        snprintf(attr, sizeof(attr), "build.steps[%zu]", i);
        pu_diagf(r->call, attr, "image %s: step %zu (%s) could not run over SSH%s", r->image, i + 1,
                 what, as_root && !r->root ? " through sudo -n" : "");
    }
    pu_host->free(out);
    pu_host->free(err);
    return error;
}

static int upload_step(const run_ctx *r, size_t i, const infra_json *step)
{
    const char *path = pu_json_str(step, "upload_path");
    const char *want = pu_json_str(step, "upload_sha256");
    const char *to = pu_json_str(step, "to");
    char attr[64], sha[65];
    char *data = NULL;
    size_t len = 0;
    int mode = 0644;
    int error;

    snprintf(attr, sizeof(attr), "build.steps[%zu].upload", i);
    pu_bake_mode(J->get(step, "mode"), &mode);
    if (path == NULL || want == NULL || to == NULL) {
        pu_diagf(r->call, attr, "the upload's file was not read when the topology was loaded");
        return INFRA_EINVALID;
    }
    if (pu_read_file(path, 0, &data, &len) < 0) {
        pu_diagf(r->call, attr, "cannot read %s", path);
        return INFRA_EINVALID;
    }
    pu_sha256_hex(data, len, sha);
    if (strcmp(sha, want) != 0) {
        pu_diagf(r->call, attr, "%s changed since the plan: run infra up again", path);
        free(data);
        return INFRA_EINVALID;
    }
    char *tmp = pu_printf("/tmp/.infra-build-%.16s-%zu", r->hash, i);
    error = pu_host->ssh->write_file(r->call, r->ssh, tmp, data, len, 0600);
    free(data);
    if (error < 0) {
        pu_diagf(r->call, attr, "image %s: step %zu: uploading %s failed", r->image, i + 1, path);
    } else {
        /* install(1) makes the parent directories and sets the mode,
         * as root, wherever the login user may write. */
        char *qt = pu_shell_quote(tmp), *qto = pu_shell_quote(to);
        char *command = pu_printf("install -D -m %04o %s %s && rm -f %s", mode, qt, qto, qt);
        char *what = pu_printf("upload to %s", to);
        error = run_command(r, i, what, command, 1);
        free(what);
        free(command);
        free(qt);
        free(qto);
    }
    free(tmp);
    return error;
}

int pu_bake_provision(infra_call *call, const infra_ssh_target *t, const char *image,
                      const char *hash, const infra_json *steps)
{
    run_ctx r = {.call = call, .image = image, .hash = hash};
    int error;

    if (!INFRA_HAS_SLOT(pu_host, ssh) || pu_host->ssh == NULL ||
        !INFRA_HAS_SLOT(pu_host->ssh, write_file)) {
        pu_diagf(call, "build", "building an image needs SSH from infra 1.2 or newer");
        return INFRA_ENOTSUP;
    }
    r.root = t->user == NULL || strcmp(t->user, "root") == 0;
    pu_logf(call, INFRA_LOG_INFO, "image %s: provisioning %s as %s", image, t->host,
            t->user ? t->user : "root");
    if ((error = pu_host->ssh->connect(call, t, &r.ssh)) < 0) {
        pu_diagf(call, "build", "cannot log in to the build machine %s as %s%s", t->host,
                 t->user ? t->user : "root",
                 error == INFRA_ETRANSIENT ? ": it did not answer in time" : "");
        return error;
    }
    for (size_t i = 0; error == 0 && i < J->length(steps); i++) {
        const infra_json *step = J->at(steps, i);
        const char *run = pu_json_str(step, "run");
        if (run == NULL) {
            error = upload_step(&r, i, step);
            continue;
        }
        int sudo = !r.root;
        const infra_json *s = J->get(step, "sudo");
        if (s != NULL)
            pu_json_to_bool(s, &sudo);
        pu_logf(call, INFRA_LOG_INFO, "image %s: step %zu: %s", image, i + 1, run);
        error = run_command(&r, i, run, run, sudo);
    }
    pu_host->ssh->close(r.ssh);
    return error;
}
