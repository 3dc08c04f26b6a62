/* `infra state`: read and change the state without touching what it
 * describes.
 *
 *   infra state list TOPOLOGY                 the addresses it records
 *   infra state show TOPOLOGY ADDRESS         one entry
 *   infra state rm TOPOLOGY ADDRESS...        forget (the objects stay)
 *   infra state mv TOPOLOGY OLD NEW           rename (nothing is recreated)
 *   infra state pull TOPOLOGY                 the document, as JSON
 *   infra state push TOPOLOGY FILE [--force]  replace it by a document
 *
 * rm, mv and push take the state lock (waiting with --lock-timeout) and
 * commit once; list, show and pull read without it. An ADDRESS of the form
 * TYPE.NAME stands for every instance TYPE.NAME[i] too. */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "services/log.h"
#include "base/util.h"

static const char state_usage[] =
    "usage: infra state COMMAND TOPOLOGY [ARGS] [options]\n"
    "\n"
    "  list TOPOLOGY               the addresses the state records (--json: with types, ids)\n"
    "  show TOPOLOGY ADDRESS       one entry as JSON\n"
    "  rm TOPOLOGY ADDRESS...      forget resources without destroying them\n"
    "  mv TOPOLOGY OLD NEW         rename resources without recreating them\n"
    "  pull TOPOLOGY               print the state document (JSON)\n"
    "  push TOPOLOGY FILE          replace the state by a document (\"-\": stdin); refuses\n"
    "                              another lineage or an older serial unless --force\n"
    "\n"
    "An ADDRESS written TYPE.NAME also stands for each instance TYPE.NAME[i].\n"
    "Options: -e ENV, --state-dir, --backend-config K=V, --lock-timeout D, --json, --force.\n";

int cli_parse_duration(const char *text, long *ms)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno || v < 0)
        return -1;
    double scale;
    if (!strcmp(end, "") || !strcmp(end, "s"))
        scale = 1000;
    else if (!strcmp(end, "ms"))
        scale = 1;
    else if (!strcmp(end, "m"))
        scale = 60000;
    else if (!strcmp(end, "h"))
        scale = 3600000;
    else
        return -1;
    if (v * scale > 7 * 24 * 3600000.0)
        return -1;
    *ms = (long)(v * scale);
    return 0;
}

static engine *state_engine(const cli_args *a, const char *topology_file)
{
    engine_options o = {.topology = topology_file,
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
    diag_print(&diags, stderr);
    diag_list_free(&diags);
    return e;
}

static char *owner_of(const char *command)
{
    const char *user = getenv("USER");
    if (!user || !*user) {
        struct passwd *pw = getpwuid(getuid());
        user = pw ? pw->pw_name : "unknown";
    }
    return util_printf("%s (infra state %s)", user, command);
}

/* Opens the state, locked for the commands that change it. */
static int state_engine_open(engine *e, int lock, const char *command)
{
    char *err = NULL;
    char *owner = lock ? owner_of(command) : NULL;
    int rc = engine_state(e, lock, owner, &err);
    if (rc < 0)
        fprintf(stderr, "infra: %s\n", err ? err : "cannot open the state");
    free(err);
    free(owner);
    return rc;
}

/* Commits what the command changed. */
static int state_engine_commit(engine *e)
{
    char *err = NULL;
    int rc = engine_state_close(e, &err);
    if (rc < 0)
        fprintf(stderr, "infra: %s\n", err ? err : "cannot write the state");
    free(err);
    return rc;
}

/* 1 when address is pattern itself or, for a pattern without an index,
 * one of its instances pattern[i]. */
static int address_matches(const char *pattern, const char *address)
{
    size_t n = strlen(pattern);
    if (strncmp(pattern, address, n) != 0)
        return 0;
    if (address[n] == '\0')
        return 1;
    return pattern[n - 1] != ']' && address[n] == '[' && strchr(address + n, ']') &&
           strchr(address + n, ']')[1] == '\0';
}

/* The addresses of the state that pattern names (new array). */
static json_t *matching(state *st, const char *pattern)
{
    json_t *all = state_addresses(st), *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) {
        if (address_matches(pattern, json_string_value(v)))
            json_array_append(out, v);
    }
    json_decref(all);
    return out;
}

/* ------------------------------------------------------------------ */
/* Reading                                                            */

static const char *entry_id(const json_t *entry)
{
    const char *id = json_string_value(json_object_get(json_object_get(entry, "attributes"), "id"));
    return id ? id : "-";
}

static int state_list(engine *e, const cli_args *a)
{
    json_t *addresses = state_addresses(e->st), *intents = state_intent_addresses(e->st);
    size_t i;
    json_t *v;
    if (a->json) {
        json_t *rows = json_array();
        json_array_foreach(addresses, i, v) {
            json_t *entry = state_get(e->st, json_string_value(v));
            const char *type = json_string_value(json_object_get(entry, "type"));
            json_array_append_new(rows, json_pack("{s:O, s:s, s:s}", "address", v, "type",
                                                  type ? type : "-", "id", entry_id(entry)));
            json_decref(entry);
        }
        json_t *doc = json_pack("{s:o, s:O, s:I}", "resources", rows, "interrupted_creates",
                                intents, "serial", (json_int_t)state_serial(e->st));
        json_dumpf(doc, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(doc);
    } else {
        json_array_foreach(addresses, i, v) printf("%s\n", json_string_value(v));
        if (json_array_size(intents) > 0)
            fprintf(stderr,
                    "infra: %zu creates did not finish (not listed): run infra up to finish "
                    "them\n",
                    json_array_size(intents));
    }
    json_decref(addresses);
    json_decref(intents);
    return 0;
}

static int state_show(engine *e, const char *address)
{
    json_t *entry = state_get(e->st, address);
    if (!entry) {
        json_t *near = matching(e->st, address);
        if (json_array_size(near) > 0) {
            fprintf(stderr, "infra: %s is not one entry: it names %zu (first: %s)\n", address,
                    json_array_size(near), json_string_value(json_array_get(near, 0)));
        } else {
            fprintf(stderr, "infra: the state of %s (%s) has no %s\n", e->topo->name, e->env,
                    address);
        }
        json_decref(near);
        return 1;
    }
    json_dumpf(entry, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(entry);
    return 0;
}

static int state_pull(engine *e)
{
    json_t *doc = state_export(e->st);
    int rc = json_dumpf(doc, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(doc);
    if (rc < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "infra: cannot write the state to stdout: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Changing                                                           */

static int state_rm(engine *e, const char *const *patterns, size_t n)
{
    json_t *gone = json_array();
    for (size_t k = 0; k < n; k++) {
        json_t *found = matching(e->st, patterns[k]);
        json_t *intent = state_intent_get(e->st, patterns[k]);
        if (json_array_size(found) == 0 && !intent) {
            fprintf(stderr, "infra: the state of %s (%s) has no %s; nothing was removed\n",
                    e->topo->name, e->env, patterns[k]);
            json_decref(found);
            json_decref(gone);
            return 1;
        }
        json_decref(intent);
        json_array_extend(gone, found);
        json_array_append_new(gone, json_string(patterns[k]));
        json_decref(found);
    }
    size_t i;
    json_t *v;
    size_t removed = 0;
    json_array_foreach(gone, i, v) {
        const char *address = json_string_value(v);
        json_t *entry = state_get(e->st, address);
        json_t *intent = state_intent_get(e->st, address);
        if (entry) {
            state_remove(e->st, address);
            printf("Removed %s (%s)\n", address, entry_id(entry));
            removed++;
        }
        if (intent) {
            state_intent_remove(e->st, address);
            printf("Removed the unfinished create of %s\n", address);
        }
        json_decref(entry);
        json_decref(intent);
    }
    json_decref(gone);
    if (state_engine_commit(e) < 0)
        return 1;
    printf("%zu resources forgotten; what they describe still exists.\n", removed);
    return 0;
}

static const char *type_of(const char *address, size_t *len)
{
    const char *dot = strchr(address, '.');
    *len = dot ? (size_t)(dot - address) : strlen(address);
    return address;
}

/* deps lists of every entry naming from now name to. */
static void rename_deps(state *st, const char *from, const char *to)
{
    json_t *all = state_addresses(st);
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) {
        json_t *entry = state_get(st, json_string_value(v));
        json_t *deps = json_object_get(entry, "deps");
        int touched = 0;
        size_t k;
        json_t *d;
        json_array_foreach(deps, k, d) {
            if (json_is_string(d) && !strcmp(json_string_value(d), from))
                touched = 1;
        }
        if (touched) {
            json_t *copy = json_deep_copy(entry);
            json_t *copy_deps = json_object_get(copy, "deps");
            json_array_foreach(copy_deps, k, d) {
                if (json_is_string(d) && !strcmp(json_string_value(d), from))
                    json_array_set_new(copy_deps, k, json_string(to));
            }
            state_put(st, json_string_value(v), copy);
        }
        json_decref(entry);
    }
    json_decref(all);
}

static int state_mv(engine *e, const char *from, const char *to)
{
    size_t flen, tlen;
    type_of(from, &flen);
    type_of(to, &tlen);
    if (flen != tlen || strncmp(from, to, flen) != 0 || !strchr(from, '.') || !strchr(to, '.')) {
        fprintf(stderr,
                "infra: cannot move %s to %s: both must be addresses of the same type "
                "(TYPE.NAME or TYPE.NAME[i])\n",
                from, to);
        return 1;
    }
    json_t *found = matching(e->st, from);
    if (json_array_size(found) == 0) {
        fprintf(stderr, "infra: the state of %s (%s) has no %s; nothing was moved\n", e->topo->name,
                e->env, from);
        json_decref(found);
        return 1;
    }
    /* OLD without an index moves each instance to the same index of NEW. */
    json_t *pairs = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(found, i, v) {
        const char *address = json_string_value(v);
        const char *suffix = address + strlen(from);
        char *dest = util_printf("%s%s", to, suffix);
        json_t *there = state_get(e->st, dest);
        if (there) {
            fprintf(stderr, "infra: cannot move %s to %s: the state already has %s\n", address,
                    dest, dest);
            json_decref(there);
            free(dest);
            json_decref(pairs);
            json_decref(found);
            return 1;
        }
        json_array_append_new(pairs, json_pack("[s, s]", address, dest));
        free(dest);
    }
    json_array_foreach(pairs, i, v) {
        const char *old = json_string_value(json_array_get(v, 0));
        const char *dest = json_string_value(json_array_get(v, 1));
        json_t *entry = state_get(e->st, old);
        json_t *intent = state_intent_get(e->st, old);
        state_remove(e->st, old);
        state_put(e->st, dest, entry);
        if (intent) {
            state_intent_remove(e->st, old);
            state_intent_put(e->st, dest, intent);
        }
        rename_deps(e->st, old, dest);
        printf("Moved %s to %s\n", old, dest);
    }
    size_t n = json_array_size(pairs);
    json_decref(pairs);
    json_decref(found);
    if (state_engine_commit(e) < 0)
        return 1;
    printf("%zu resources renamed; nothing was recreated.\n", n);
    return 0;
}

static int state_push(engine *e, const char *file, int force)
{
    json_t *doc = NULL;
    char *err = NULL;
    int status = 1;

    if (!strcmp(file, "-")) {
        json_error_t jerr;
        doc = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc)
            fprintf(stderr, "infra: the state on stdin does not parse: line %d, column %d: %s\n",
                    jerr.line, jerr.column, jerr.text);
    } else if (state_file_read(file, NULL, 0, &doc, &err) < 0) {
        fprintf(stderr, "infra: %s\n", err);
    } else if (!doc) {
        fprintf(stderr, "infra: cannot read %s: %s\n", file, strerror(ENOENT));
    }
    if (!doc)
        goto done;
    if (state_import(e->st, doc, !strcmp(file, "-") ? "the state on stdin" : file, force, &err) <
        0) {
        fprintf(stderr, "infra: %s\n", err);
        goto done;
    }
    printf("Pushed %s to %s (serial %lld).\n", file, state_path(e->st), state_serial(e->st));
    status = 0;
done:
    json_decref(doc);
    free(err);
    return status;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                           */

int cli_cmd_state(const cli_args *a)
{
    const char *sub = a->topology;
    if (!sub || !strcmp(sub, "help")) {
        fputs(state_usage, sub ? stdout : stderr);
        return sub ? 0 : 1;
    }
    static const struct {
        const char *name;
        size_t min, max; /* arguments after TOPOLOGY */
        int lock;
    } subs[] = {{"list", 0, 0, 0}, {"show", 1, 1, 0}, {"rm", 1, 1000, 1},
                {"mv", 2, 2, 1},   {"pull", 0, 0, 0}, {"push", 1, 1, 1}};
    size_t k = 0;
    while (k < sizeof(subs) / sizeof(subs[0]) && strcmp(subs[k].name, sub))
        k++;
    if (k == sizeof(subs) / sizeof(subs[0])) {
        fprintf(stderr, "infra: unknown state command \"%s\"\n%s", sub, state_usage);
        return 1;
    }
    if (a->npositionals < 1 + subs[k].min || a->npositionals > 1 + subs[k].max) {
        fprintf(stderr, "infra: wrong number of arguments for infra state %s\n%s", sub,
                state_usage);
        return 1;
    }
    const char *const *args = a->positionals + 1;
    size_t nargs = a->npositionals - 1;
    engine *e = state_engine(a, a->positionals[0]);
    if (!e)
        return 1;
    int status = 1;
    if (state_engine_open(e, subs[k].lock, sub) < 0)
        goto done;
    if (!strcmp(sub, "list"))
        status = state_list(e, a);
    else if (!strcmp(sub, "show"))
        status = state_show(e, args[0]);
    else if (!strcmp(sub, "rm"))
        status = state_rm(e, args, nargs);
    else if (!strcmp(sub, "mv"))
        status = state_mv(e, args[0], args[1]);
    else if (!strcmp(sub, "pull"))
        status = state_pull(e);
    else
        status = state_push(e, args[0], a->force);
done:
    engine_free(e);
    return status;
}
