/* The commands over a topology: validate, plan, up, down, status, output,
 * graph, unlock. Exit status: 0 ok, 1 error, 2 `plan` with changes, 130
 * interrupted.
 *
 * Everything printed that comes from the topology, the state or a plugin
 * goes through log_display: secrets and sensitive values masked, control
 * characters escaped; only `output NAME` piped elsewhere than a terminal
 * prints a value as it is, for scripts.
 *
 * Signals during up/down: the first SIGINT/SIGTERM starts nothing new,
 * has every provider's stop op called (engine/contain.c) so that the
 * running operations end soon, and saves the state; the second aborts at
 * once (the state file is always whole: it is replaced atomically). */
#include "cli/cli.h"

#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "engine/engine.h"
#include "engine/engine_apply.h"
#include "engine/graph.h"
#include "engine/import.h"
#include "engine/plan.h"
#include "engine/progress.h"
#include "engine/resource_graph.h"
#include "engine/scheduler.h"
#include "services/log.h"

#define EXIT_INTERRUPTED 130

static volatile sig_atomic_t interrupted;
static volatile int *volatile cancel_flag;

static void write_stderr(const char *text)
{
    ssize_t ignored = write(STDERR_FILENO, text, strlen(text));
    (void)ignored;
}

static void on_signal(int sig)
{
    (void)sig;
    if (interrupted) {
        if (cancel_flag)
            *cancel_flag = 1;
        write_stderr("\ninfra: aborted; the state on disk is consistent, run the command "
                     "again to finish\n");
        _exit(EXIT_INTERRUPTED);
    }
    interrupted = 1;
    write_stderr("\ninfra: interrupted: starting nothing new and asking the operations in "
                 "flight to stop (interrupt again to abort)\n");
}

static void signals_install(engine *e)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a confirmation prompt must see EINTR */
    cancel_flag = &e->cancel;
    e->stop = &interrupted;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Frees e, first taking its cancel flag away from the signal handler, which
 * may run at any moment until the process has exited (also during the
 * exit handlers). */
static void engine_release(engine *e)
{
    if (e && cancel_flag == &e->cancel) {
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &block, &old);
        cancel_flag = NULL;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    engine_free(e);
}

/* Prints diagnostics as log_display shows them. */
static void print_diags(const diag_list *diags)
{
    for (size_t i = 0; i < diags->count; i++) {
        char *line = diag_format(&diags->items[i]);
        char *shown = log_display(line);
        fprintf(stderr, "%s\n", shown);
        free(shown);
        free(line);
    }
}

/* text as log_display shows it, in a buffer of the caller's (freed at the
 * next call with the same slot). */
static const char *shown(char **slot, const char *text)
{
    free(*slot);
    *slot = log_display(text ? text : "");
    return *slot;
}

engine *cli_open_engine(const cli_args *a)
{
    engine_options o = {.topology = a->topology,
                        .environment = a->environment,
                        .vars = a->vars,
                        .var_files = a->var_files,
                        .state_dir = a->state_dir,
                        .backend_config = a->backend_config,
                        .lock_timeout_ms = a->lock_timeout_ms,
                        .secrets_file = a->secrets_file,
                        .parallelism = a->parallelism};
    diag_list diags = {0};
    engine *e = NULL;
    engine_open(&o, &e, &diags);
    print_diags(&diags);
    diag_list_free(&diags);
    return e;
}

/* JSON lines of `up --json` and `down --json` go through this reporter. */
static progress *json_events;

/* Prints and forgets the engine's diagnostics (as "diagnostic" events with
 * --json); returns how many were errors. */
static size_t flush_diags(engine *e)
{
    size_t errors = e->diags.errors;
    for (size_t i = 0; json_events && i < e->diags.count; i++) {
        const diag *d = &e->diags.items[i];
        char *line = diag_format(d);
        char *text = log_display(line);
        json_t *ev = json_pack("{s:s, s:s, s:s}", "type", "diagnostic", "severity",
                               d->severity == DIAG_ERROR ? "error" : "warning", "message", text);
        if (d->file)
            json_object_set_new(ev, "file", json_string(d->file));
        if (d->line > 0)
            json_object_set_new(ev, "line", json_integer(d->line));
        if (d->key)
            json_object_set_new(ev, "key", json_string(d->key));
        progress_event(json_events, ev);
        free(text);
        free(line);
    }
    if (!json_events)
        print_diags(&e->diags);
    diag_list_free(&e->diags);
    return errors;
}

static char *lock_owner(const char *command)
{
    const char *user = getenv("USER");
    if (!user || !*user) {
        struct passwd *pw = getpwuid(getuid());
        user = pw ? pw->pw_name : "unknown";
    }
    return util_printf("%s (infra %s)", user, command);
}

int cli_open_state(engine *e, int lock, const char *command)
{
    char *err = NULL;
    char *owner = lock ? lock_owner(command) : NULL;
    int rc = engine_state(e, lock, owner, &err);
    if (rc < 0)
        fprintf(stderr, "infra: %s\n", err ? err : "cannot open the state");
    free(err);
    free(owner);
    return rc;
}

int cli_cmd_validate(const cli_args *a)
{
    engine *e = cli_open_engine(a);
    if (!e)
        return 1;
    printf("%s: valid (%zu resources, %zu providers)\n", a->topology, e->topo->nresources,
           e->topo->nproviders);
    engine_release(e);
    return 0;
}

int cli_cmd_plan(const cli_args *a)
{
    int status = 1;
    plan *p = NULL;
    engine *e = cli_open_engine(a);
    if (!e)
        return 1;
    signals_install(e);
    if (cli_open_state(e, 0, "plan") < 0)
        goto done;
    int rc = plan_build(e, a->refresh, &p);
    flush_diags(e);
    if (interrupted) {
        status = EXIT_INTERRUPTED;
        goto done;
    }
    if (rc < 0)
        goto done;
    if (a->json) {
        json_t *doc = plan_json(p);
        json_dumpf(doc, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(doc);
    } else {
        plan_print(p, stdout, a->color);
    }
    status = plan_changes(p) > 0 ? 2 : 0;
done:
    plan_free(p);
    engine_release(e);
    return status;
}

static void print_outputs(FILE *out, const json_t *outputs)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)outputs, key, value) {
        int sensitive =
            json_is_string(value) && !strcmp(json_string_value(value), ENGINE_SENSITIVE);
        char *text = sensitive ? util_strdup(ENGINE_SENSITIVE)
                               : json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        char *clean = log_display(text ? text : "null"), *name = log_display(key);
        fprintf(out, "%s = %s\n", name, clean);
        free(name);
        free(clean);
        free(text);
    }
}

/* Runs p and reports; shared by up and down. */
static int run_plan(engine *e, plan *p, const cli_args *a, const char *label, int destroy)
{
    engine_apply_summary sum;
    char *err = NULL;
    int status = 0;

    e->progress = json_events ? json_events : progress_new(stdout, isatty(STDOUT_FILENO), a->color);
    engine_apply(e, p, &sum);
    if (!json_events)
        progress_free(e->progress);
    e->progress = NULL;
    engine_outputs(e, p, destroy);
    if (engine_state_close(e, &err) < 0) {
        fprintf(stderr, "infra: %s\n", err ? err : "cannot write the state");
        status = 1;
    }
    free(err);
    if (json_events) {
        progress_event(json_events,
                       json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "type", "summary", "operation",
                                 destroy ? "destroy" : "apply", "done", (json_int_t)sum.done,
                                 "failed", (json_int_t)sum.failed, "skipped",
                                 (json_int_t)sum.skipped, "not_started",
                                 (json_int_t)sum.not_started));
    } else {
        printf("%s: %zu done, %zu failed, %zu skipped%s", label, sum.done, sum.failed, sum.skipped,
               sum.not_started ? "" : ".\n");
        if (sum.not_started)
            printf(", %zu not started.\n", sum.not_started);
        fflush(stdout);
    }
    if (flush_diags(e) > 0 || sum.failed || sum.skipped)
        status = 1;
    if (e->halt) {
        fprintf(stderr, "infra: stopped because a plugin call did not return; the state is "
                        "saved, run the command again once that is fixed\n");
        return 1;
    }
    if (interrupted || sum.not_started) {
        fprintf(stderr, "infra: interrupted; the state is saved, run the command again to "
                        "finish\n");
        return EXIT_INTERRUPTED;
    }
    if (status == 0 && !destroy && json_events) {
        progress_event(json_events, json_pack("{s:s, s:o}", "type", "outputs", "outputs",
                                              state_get_outputs(e->st)));
    } else if (status == 0 && !destroy) {
        json_t *outputs = state_get_outputs(e->st);
        if (json_object_size(outputs) > 0) {
            printf("\nOutputs:\n");
            print_outputs(stdout, outputs);
        }
        json_decref(outputs);
    }
    return status;
}

int cli_cmd_up(const cli_args *a)
{
    int status = 1;
    plan *p = NULL;
    engine *e = cli_open_engine(a);
    if (!e)
        return 1;
    signals_install(e);
    if (a->json)
        json_events = progress_new_json(stdout);
    if (cli_open_state(e, 1, "up") < 0)
        goto done;
    int rc = plan_build(e, a->refresh, &p);
    flush_diags(e);
    if (interrupted) {
        status = EXIT_INTERRUPTED;
        goto done;
    }
    if (rc < 0)
        goto done;
    if (json_events) {
        progress_event(json_events,
                       json_pack("{s:s, s:o}", "type", "plan", "changes", plan_json(p)));
    } else {
        plan_print(p, stdout, a->color);
        fputc('\n', stdout);
        fflush(stdout);
    }
    status = run_plan(e, p, a, "Apply", 0);
done:
    progress_free(json_events);
    json_events = NULL;
    plan_free(p);
    engine_release(e);
    return status;
}

/* Asks on the terminal; 1 only for "yes". */
static int confirm(const char *question)
{
    char line[64];
    fprintf(stderr, "%s ", question);
    fflush(stderr);
    if (!fgets(line, sizeof(line), stdin))
        return 0;
    line[strcspn(line, "\r\n")] = '\0';
    return strcmp(line, "yes") == 0;
}

int cli_cmd_down(const cli_args *a)
{
    int status = 1;
    plan *p = NULL;
    engine *e = cli_open_engine(a);
    if (!e)
        return 1;
    signals_install(e);
    if (a->json)
        json_events = progress_new_json(stdout);
    if (cli_open_state(e, 1, "down") < 0)
        goto done;
    int rc = plan_destroy(e, &p);
    flush_diags(e);
    if (rc < 0)
        goto done;
    size_t n = p->ndelete;
    if (n == 0 && json_events) {
        progress_event(json_events,
                       json_pack("{s:s, s:s}", "type", "message", "message", "nothing to destroy"));
    } else if (n == 0) {
        printf("Nothing to destroy in %s (%s).\n", e->topo->name, e->env);
    } else if (!a->yes) {
        char *question = util_printf("Destroy %zu resources of %s (%s)? Only 'yes' will be "
                                     "accepted:",
                                     n, e->topo->name, e->env);
        int tty = isatty(STDIN_FILENO);
        int ok = tty && confirm(question);
        free(question);
        if (!tty) {
            fprintf(stderr,
                    "infra: refusing to destroy %zu resources of %s (%s) without confirmation: "
                    "stdin is not a terminal; pass --yes\n",
                    n, e->topo->name, e->env);
            goto done;
        }
        if (!ok || interrupted) {
            fprintf(stderr, "infra: destroy cancelled\n");
            goto done;
        }
    }
    status = run_plan(e, p, a, "Destroy", 1);
    if (status == 0) {
        /* Nothing left that the generated secrets could open; a file the
         * user named (--secrets-file) is theirs to remove. */
        json_t *left = state_addresses(e->st), *intents = state_intent_addresses(e->st);
        if (json_array_size(left) == 0 && json_array_size(intents) == 0 && e->secrets_path &&
            !e->secrets_file)
            unlink(e->secrets_path);
        json_decref(left);
        json_decref(intents);
    }
done:
    progress_free(json_events);
    json_events = NULL;
    plan_free(p);
    engine_release(e);
    return status;
}

static const char *text_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_object(v))
        return text_of(v, "status");
    return "-";
}

/* The scheduler's view of every cluster: {NAME: status} (new value);
 * errors are noted on stderr and the cluster is left out. */
static json_t *clusters_status(engine *e)
{
    json_t *all = json_object();
    for (size_t i = 0; i < e->nproviders; i++) {
        if (!e->providers[i].bridge)
            continue;
        const char *name = e->providers[i].decl->name + strlen("cluster.");
        json_t *st = NULL;
        char *err = NULL;
        int rc = scheduler_cluster_status(e, i, &st, &err);
        if (rc == 0 && st)
            json_object_set_new(all, name, st);
        else if (rc < 0 && rc != INFRA_ENOTSUP)
            fprintf(stderr, "infra: cluster %s: %s\n", name, err ? err : "no status");
        free(err);
    }
    return all;
}

/* What a scheduler plugin reported, escaped. */
static void print_clusters(const json_t *clusters)
{
    const char *name, *region;
    json_t *st, *r;
    char *s[4] = {NULL, NULL, NULL, NULL};
    json_object_foreach((json_t *)clusters, name, st) {
        printf("\nCluster %s:\n", shown(&s[0], name));
        json_object_foreach(json_object_get(st, "regions"), region, r) {
            const char *leader = json_string_value(json_object_get(r, "leader"));
            printf("  region %s: leader %s\n", shown(&s[0], region),
                   shown(&s[1], leader && *leader ? leader : "(none)"));
            size_t k;
            json_t *x;
            json_array_foreach(json_object_get(r, "servers"), k, x)
                printf("    server %-36s %-16s %s\n", shown(&s[0], text_of(x, "name")),
                       shown(&s[1], text_of(x, "address")), shown(&s[2], text_of(x, "status")));
            json_array_foreach(json_object_get(r, "clients"), k, x)
                printf("    client %-36s %-16s %s %s\n", shown(&s[0], text_of(x, "name")),
                       shown(&s[1], text_of(x, "datacenter")), shown(&s[2], text_of(x, "status")),
                       shown(&s[3], text_of(x, "eligibility")));
            json_array_foreach(json_object_get(r, "jobs"), k, x)
                printf("    job    %-36s %-16s deployment %s\n", shown(&s[0], text_of(x, "id")),
                       shown(&s[1], text_of(x, "status")), shown(&s[2], text_of(x, "deployment")));
            /* a federated region: where its ACLs come from */
            const json_t *rep = json_object_get(r, "replication");
            if (json_is_object(rep)) {
                const json_t *tr = json_object_get(rep, "tokens_replicated");
                const char *err = json_string_value(
                    json_object_get(json_object_get(rep, "consul"), "last_error"));
                printf("    acl    %s of %s%s%s%s\n", shown(&s[0], text_of(rep, "role")),
                       shown(&s[1], text_of(rep, "primary")),
                       tr ? (json_is_true(tr) ? ", tokens replicated" : ", tokens NOT replicated")
                          : "",
                       err ? "; consul: " : "", err ? shown(&s[2], err) : "");
            }
        }
    }
    for (size_t i = 0; i < 4; i++)
        free(s[i]);
}

int cli_cmd_status(const cli_args *a)
{
    int status = 1;
    plan *p = NULL;
    engine *e = cli_open_engine(a);
    if (!e)
        return 1;
    signals_install(e);
    if (cli_open_state(e, 0, "status") < 0)
        goto done;
    /* Judged as a plan judges: by what the providers plan for the objects
     * as they are now, never by comparing with what was last recorded. */
    int rc = plan_build(e, 1, &p);
    json_t *rows = json_array();
    size_t pending = 0;
    for (size_t k = 0; p->order && k < p->nitems; k++) {
        const plan_item *it = &p->items[p->order[k]];
        if (!it->entry) {
            pending += it->intent != NULL;
            continue;
        }
        char *owned = NULL;
        const char *st = plan_item_status(it, &owned);
        const json_t *attrs = json_object_get(it->entry, "attributes");
        const char *provider = json_string_value(json_object_get(it->entry, "provider"));
        const char *id = json_string_value(json_object_get(attrs, "id"));
        json_array_append_new(
            rows, json_pack("{s:s, s:s, s:s, s:s, s:s}", "address", it->address, "type",
                            it->type ? it->type : "", "provider", provider ? provider : "-",
                            "id", id ? id : "-", "status", st));
        if (!a->json) {
            /* The table shows the row as a terminal may print it. */
            json_t *row = json_array_get(rows, json_array_size(rows) - 1);
            const char *col;
            json_t *cell;
            json_object_foreach(row, col, cell) {
                char *clean = log_display(json_string_value(cell));
                json_object_set_new(row, col, json_string(clean));
                free(clean);
            }
        }
        free(owned);
    }
    json_t *outputs = state_get_outputs(e->st);
    json_t *clusters = clusters_status(e);
    if (a->json) {
        json_t *doc = json_pack("{s:s, s:s, s:O, s:O, s:I, s:O}", "topology", e->topo->name,
                                "environment", e->env, "resources", rows, "outputs", outputs,
                                "interrupted_creates", (json_int_t)pending, "clusters", clusters);
        json_dumpf(doc, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(doc);
    } else {
        char *topo_name = log_display(e->topo->name), *env_name = log_display(e->env);
        printf("%s (%s): %zu resources\n", topo_name, env_name, json_array_size(rows));
        free(topo_name);
        free(env_name);
        static const char *const cols[] = {"address", "type", "provider", "id"};
        int width[4] = {7, 4, 8, 2}; /* the headers' lengths */
        size_t k;
        json_t *row;
        json_array_foreach(rows, k, row) {
            for (int c = 0; c < 4; c++) {
                int n = (int)strlen(json_string_value(json_object_get(row, cols[c])));
                if (n > width[c])
                    width[c] = n;
            }
        }
        if (json_array_size(rows) > 0)
            printf("  %-*s  %-*s  %-*s  %-*s  %s\n", width[0], "ADDRESS", width[1], "TYPE",
                   width[2], "PROVIDER", width[3], "ID", "STATUS");
        json_array_foreach(rows, k, row) {
            printf("  %-*s  %-*s  %-*s  %-*s  %s\n", width[0],
                   json_string_value(json_object_get(row, "address")), width[1],
                   json_string_value(json_object_get(row, "type")), width[2],
                   json_string_value(json_object_get(row, "provider")), width[3],
                   json_string_value(json_object_get(row, "id")),
                   json_string_value(json_object_get(row, "status")));
        }
        if (pending)
            printf("%zu creates did not finish (interrupted or failed): run infra up to finish "
                   "them\n",
                   pending);
        print_clusters(clusters);
        if (json_object_size(outputs) > 0) {
            printf("\nOutputs:\n");
            print_outputs(stdout, outputs);
        }
    }
    json_decref(clusters);
    json_decref(outputs);
    json_decref(rows);
    status = flush_diags(e) > 0 || rc < 0 ? 1 : 0;
    if (interrupted)
        status = EXIT_INTERRUPTED;
done:
    plan_free(p);
    engine_release(e);
    return status;
}

int cli_cmd_output(const cli_args *a)
{
    int status = 1;
    engine *e = cli_open_engine(a);
    if (!e)
        return 1;
    if (cli_open_state(e, 0, "output") < 0)
        goto done;
    json_t *outputs = state_get_outputs(e->st);
    if (a->npositionals > 0) {
        const char *name = a->positionals[0];
        json_t *value = json_object_get(outputs, name);
        if (!value) {
            util_buf b = {0};
            const char *key;
            json_t *v;
            json_object_foreach(outputs, key, v)
                util_buf_printf(&b, "%s%s", b.len ? ", " : "", key);
            fprintf(stderr, "infra: no output named \"%s\" (available: %s)\n", name,
                    b.len ? b.data : "none");
            util_buf_free(&b);
        } else {
            if (json_is_string(value) && !a->json) {
                /* Raw for a script (a PEM keeps its lines), escaped for a terminal. */
                char *text = isatty(STDOUT_FILENO) ? log_display(json_string_value(value))
                                                   : util_strdup(json_string_value(value));
                printf("%s\n", text);
                free(text);
            } else {
                json_dumpf(value, stdout, JSON_ENCODE_ANY | (a->json ? JSON_INDENT(2) : JSON_COMPACT));
                fputc('\n', stdout);
            }
            status = 0;
        }
    } else {
        if (a->json) {
            json_dumpf(outputs, stdout, JSON_INDENT(2));
            fputc('\n', stdout);
        } else {
            print_outputs(stdout, outputs);
        }
        status = 0;
    }
    json_decref(outputs);
done:
    engine_release(e);
    return status;
}

typedef struct dot_style {
    const engine *e;
    const graph *g;
} dot_style;

static const char *graph_style(void *ud, size_t node)
{
    dot_style *s = ud;
    const char *address = graph_address(s->g, node);
    const topo_resource *r = topology_resource(s->e->topo, address);
    if (topology_is_group(address))
        return "shape=diamond, tooltip=\"the group as a whole: what depends on it waits for "
               "every member\"";
    if (!r)
        return "style=dashed, color=red, tooltip=\"in the state only: to delete\"";
    if (r->data)
        return "shape=ellipse";
    return NULL;
}

int cli_cmd_graph(const cli_args *a)
{
    int status = 1;
    engine *e = cli_open_engine(a);
    if (!e)
        return 1;
    if (cli_open_state(e, 0, "graph") < 0)
        goto done;
    graph *g = NULL;
    diag_list diags = {0};
    int rc = rgraph_build(e, e->st, 1, &g, &diags);
    diag_print(&diags, stderr);
    diag_list_free(&diags);
    if (rc == 0) {
        dot_style style = {e, g};
        graph_write_dot(g, stdout, e->topo->name, graph_style, &style);
        status = 0;
    }
    graph_free(g);
done:
    engine_release(e);
    return status;
}

int cli_cmd_import(const cli_args *a)
{
    if (a->npositionals != 2) {
        fprintf(stderr, "infra: usage: infra import TOPOLOGY.yaml ADDRESS ID [options]\n");
        return 1;
    }
    int status = 1;
    engine *e = cli_open_engine(a);
    if (!e)
        return 1;
    signals_install(e);
    if (cli_open_state(e, 1, "import") < 0)
        goto done;
    char *err = NULL;
    const char *address = a->positionals[0], *id = a->positionals[1];
    if (engine_import(e, address, id, &err) < 0) {
        fprintf(stderr, "infra: %s\n", err ? err : "import failed");
    } else {
        char *werr = NULL;
        if (engine_state_close(e, &werr) < 0)
            fprintf(stderr, "infra: %s\n", werr ? werr : "cannot write the state");
        else
            status = 0;
        free(werr);
        if (status == 0)
            printf("Imported %s as %s; run infra plan to see what differs from the topology.\n",
                   id, address);
    }
    free(err);
done:
    engine_release(e);
    return status;
}

int cli_cmd_unlock(const cli_args *a)
{
    engine *e = cli_open_engine(a);
    if (!e)
        return 1;
    char *err = NULL;
    int rc = engine_backend(e, &err);
    if (rc == 0)
        rc = state_backend_break_lock(e->backend, a->force, &err);
    if (rc < 0)
        fprintf(stderr, "infra: %s\n", err ? err : "cannot unlock");
    else
        printf("Unlocked %s (%s).\n", e->topo->name, e->env);
    free(err);
    engine_release(e);
    return rc < 0 ? 1 : 0;
}
