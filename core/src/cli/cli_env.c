/* `infra env [TOPOLOGY] [CLUSTER] [--region R] [--json]`: the environment
 * variables of a cluster's own command line tools (nomad, consul,
 * marathon...), as shell exports for `eval "$(infra env)"` or as JSON.
 *
 * The core knows no scheduler: each region of the scheduler plugin's
 * cluster_status may carry "env" (plugin.h), whose variables are plain
 * values, secrets given by name (looked up here, never in the status), or
 * secrets written to files of their own: those go, mode 0600, under
 * STATE_DIR/NAME.ENV.files/ (a 0700 directory), the variable naming the
 * file. A secret value is printed only on stdout, for the shell. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "base/util.h"
#include "cli/cli.h"
#include "engine/engine.h"
#include "engine/scheduler.h"
#include "services/secrets.h"

/* The cluster provider named by name (NULL: the only cluster), or -1 with
 * a message. */
static int find_cluster(const engine *e, const char *name)
{
    int found = -1;
    size_t n = 0;
    util_buf names = {0};
    for (size_t i = 0; i < e->nproviders; i++) {
        if (!e->providers[i].bridge)
            continue;
        const char *cname = e->providers[i].decl->name + strlen("cluster.");
        util_buf_printf(&names, "%s%s", n++ ? ", " : "", cname);
        if (name ? !strcmp(cname, name) : n == 1)
            found = (int)i;
    }
    if (n == 0)
        fprintf(stderr, "infra: env: %s declares no cluster\n", e->topo->file);
    else if (name && found < 0)
        fprintf(stderr, "infra: env: no cluster named \"%s\" in %s (clusters: %s)\n", name,
                e->topo->file, names.data);
    else if (!name && n > 1) {
        fprintf(stderr, "infra: env: %s has several clusters (%s): name one\n", e->topo->file,
                names.data);
        found = -1;
    }
    util_buf_free(&names);
    return found;
}

/* The region to describe: --region, else the cluster's first; NULL with a
 * message when the cluster has no such region. */
static const char *pick_region(const topo_cluster *c, const char *wanted)
{
    if (!wanted)
        return c->nregions ? c->regions[0].name : NULL;
    const char **names = util_calloc(c->nregions + 1, sizeof(*names));
    for (size_t r = 0; r < c->nregions; r++) {
        if (!strcmp(c->regions[r].name, wanted)) {
            free(names);
            return wanted;
        }
        names[r] = c->regions[r].name;
    }
    const char *guess = util_did_you_mean(wanted, names);
    fprintf(stderr, "infra: env: cluster %s has no region \"%s\"%s%s%s\n", c->name, wanted,
            guess ? " (did you mean \"" : "", guess ? guess : "", guess ? "\"?)" : "");
    free(names);
    return NULL;
}

/* Writes the secret named name to DIR/NAME.ENV.files/NAME (0600); 0 with
 * *path (caller frees) or -1 with a message. */
static int secret_file(const engine *e, const char *name, const char *value, char **path)
{
    char *err = NULL;
    char *dir = util_printf("%s/%s.%s.files", e->state_dir, e->topo->name, e->env);
    int rc = -1;
    if (strchr(name, '/') || name[0] == '.') {
        fprintf(stderr, "infra: env: refusing the secret file name \"%s\"\n", name);
        goto done;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "infra: env: cannot create %s: %s\n", dir, strerror(errno));
        goto done;
    }
    if (chmod(dir, 0700) < 0 || util_dir_check_private(dir, "directory", &err) < 0) {
        fprintf(stderr, "infra: env: %s\n", err ? err : strerror(errno));
        goto done;
    }
    /* absolute: the variable is used from any directory */
    char *real = realpath(dir, NULL);
    if (!real) {
        fprintf(stderr, "infra: env: %s: %s\n", dir, strerror(errno));
        goto done;
    }
    *path = util_printf("%s/%s", real, name);
    free(real);
    if (util_file_replace(*path, "secret file", value, strlen(value), 0, 0600, NULL, NULL, &err) <
        0) {
        fprintf(stderr, "infra: env: %s\n", err ? err : "cannot write a secret file");
        free(*path);
        *path = NULL;
        goto done;
    }
    rc = 0;
done:
    free(err);
    free(dir);
    return rc;
}

/* {NAME: TEXT} from a region's "env" (plugin.h); NULL with a message. */
static json_t *resolve(const engine *e, const json_t *spec)
{
    json_t *vars = json_object();
    const char *var;
    json_t *how;
    json_object_foreach((json_t *)spec, var, how)
    {
        const char *value = json_string_value(json_object_get(how, "value"));
        const char *secret = json_string_value(json_object_get(how, "secret"));
        const char *file = json_string_value(json_object_get(how, "secret_file"));
        infra_secret *s = NULL;
        if (value) {
            json_object_set_new(vars, var, json_string(value));
            continue;
        }
        if (!secret && !file) {
            fprintf(stderr, "infra: env: the scheduler describes %s without a value\n", var);
            goto fail;
        }
        if (secrets_lookup(secret ? secret : file, &s) < 0) {
            fprintf(stderr, "infra: env: %s: the secret %s is in neither %s nor the environment\n",
                    var, secret ? secret : file, e->secrets_path);
            goto fail;
        }
        if (secret) {
            json_object_set_new(vars, var, json_string(secrets_value(s)));
        } else {
            char *path = NULL;
            int rc = secret_file(e, file, secrets_value(s), &path);
            if (rc == 0)
                json_object_set_new(vars, var, json_string(path));
            free(path);
            if (rc < 0) {
                secrets_free(s);
                goto fail;
            }
        }
        secrets_free(s);
    }
    return vars;
fail:
    json_decref(vars);
    return NULL;
}

/* text quoted for a POSIX shell: 'it'\''s'. */
static void print_quoted(const char *text)
{
    fputc('\'', stdout);
    for (const char *p = text; *p; p++) {
        if (*p == '\'')
            fputs("'\\''", stdout);
        else
            fputc(*p, stdout);
    }
    fputc('\'', stdout);
}

int cli_cmd_env(const cli_args *a)
{
    int used = 0, status = 1;
    const char *topo_path = cli_find_topology(a, &used);
    if (!topo_path)
        return 1;
    /* the operand left once the topology is found: the cluster */
    const char *cluster = a->topology && !used ? a->topology : NULL;
    size_t noperands = (cluster != NULL) + a->npositionals;
    if (!cluster && a->npositionals)
        cluster = a->positionals[0];
    if (noperands > 1) {
        fprintf(stderr,
                "infra: usage: infra env [TOPOLOGY.yaml] [CLUSTER] [--region R] [--json]\n");
        return 1;
    }
    cli_args b = *a;
    b.topology = topo_path;
    engine *e = cli_open_engine(&b);
    json_t *st = NULL, *vars = NULL;
    char *err = NULL;
    if (!e)
        return 1;
    if (cli_open_state(e, 0, "env") < 0)
        goto done;
    int i = find_cluster(e, cluster);
    if (i < 0)
        goto done;
    const topo_cluster *c = &e->topo->clusters[e->providers[i].decl->cluster];
    const char *region = pick_region(c, a->region);
    if (!region)
        goto done;
    int rc = scheduler_cluster_status(e, (size_t)i, &st, &err);
    if (rc < 0) {
        fprintf(stderr, "infra: env: cluster %s: %s\n", c->name,
                rc == INFRA_ENOTSUP ? "its scheduler plugin gives no status"
                : err               ? err
                                    : "no status");
        goto done;
    }
    const json_t *spec =
        json_object_get(json_object_get(json_object_get(st, "regions"), region), "env");
    if (json_object_size(spec) == 0) {
        fprintf(stderr,
                "infra: env: cluster %s, region %s: nothing to reach yet (no server is recorded; "
                "run infra up)\n",
                c->name, region);
        goto done;
    }
    if (!(vars = resolve(e, spec)))
        goto done;
    if (a->json) {
        json_dumpf(vars, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        const char *var;
        json_t *value;
        json_object_foreach(vars, var, value)
        {
            printf("export %s=", var);
            print_quoted(json_string_value(value));
            fputc('\n', stdout);
        }
    }
    status = 0;
done:
    /* the tokens held here are wiped before the memory is given back */
    if (vars) {
        const char *var;
        json_t *value;
        json_object_foreach(vars, var, value)
            util_zero((char *)json_string_value(value), strlen(json_string_value(value)));
    }
    json_decref(vars);
    json_decref(st);
    free(err);
    engine_free(e);
    return status;
}
