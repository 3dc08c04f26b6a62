/* Command line parsing and dispatch. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "services/log.h"
#include "services/ssh.h"
#include "base/util.h"

static const char usage_text[] =
    "usage: infra COMMAND [TOPOLOGY.yaml] [options]\n"
    "\n"
    "commands:\n"
    "  validate TOPOLOGY     check syntax, schema and references (no network)\n"
    "  plan TOPOLOGY         show what would change (exit 0 none, 2 changes, 1 error)\n"
    "  up TOPOLOGY           plan and apply\n"
    "  down TOPOLOGY         destroy everything the state records\n"
    "  status TOPOLOGY       what exists and whether it is healthy\n"
    "  output TOPOLOGY [NAME] outputs as text, or --json\n"
    "  graph TOPOLOGY        the resource graph in DOT\n"
    "  unlock TOPOLOGY       remove a lock left by a dead process\n"
    "  import TOPOLOGY ADDRESS ID   adopt an existing object as the resource ADDRESS\n"
    "  state list|show|rm|mv|pull|push TOPOLOGY ...\n"
    "                        read and change the state (see infra state help)\n"
    "  env [TOPOLOGY] [CLUSTER]     exports for the cluster tools: eval \"$(infra env)\"\n"
    "  ssh [TOPOLOGY] ADDRESS [-- CMD...]  log in to an instance or cluster node\n"
    "  schema                JSON Schema of topology files, for editors\n"
    "  plugins               list loadable plugins and refused files\n"
    "  plugin check FILE.so  run the loader's checks on one file\n"
    "  plugin test FILE.so FIXTURE.yaml   run the conformance kit on a provider plugin\n"
    "  version               print the version\n"
    "\n"
    "options:\n"
    "  -e, --env NAME        environment overlay (int, test, prod...)\n"
    "  --var K=V             set a variable (repeatable)\n"
    "  --var-file FILE       YAML file of variables (repeatable)\n"
    "  --state-dir DIR       where state lives (default: .infra beside the topology)\n"
    "  --backend-config K=V  a setting of the topology's backend (repeatable)\n"
    "  --lock-timeout D      wait up to D (30s, 5m) for another run's state lock\n"
    "  --secrets-file FILE   the generated secrets (default: beside the local state)\n"
    "  --parallelism N       concurrent operations (default 10)\n"
    "  --refresh=false       plan without reading the real objects first\n"
    "  --json                machine-readable output (up, down: one JSON event a line)\n"
    "  --region R            with env: the region (default: the cluster's first)\n"
    "  -y, --yes             do not ask for confirmation\n"
    "  --force               with unlock: remove even a live lock\n"
    "  -v, --verbose         debug logging\n";

typedef struct cli_command {
    const char *name;
    int (*run)(const cli_args *args);
    int needs_topology;
} cli_command;

static const cli_command commands[] = {
    {"validate", cli_cmd_validate, 1}, {"plan", cli_cmd_plan, 1},
    {"up", cli_cmd_up, 1},             {"apply", cli_cmd_up, 1},
    {"down", cli_cmd_down, 1},         {"destroy", cli_cmd_down, 1},
    {"status", cli_cmd_status, 1},     {"output", cli_cmd_output, 1},
    {"graph", cli_cmd_graph, 1},       {"unlock", cli_cmd_unlock, 1},
    {"import", cli_cmd_import, 1},     {"state", cli_cmd_state, 0},
    {"env", cli_cmd_env, 0},           {"ssh", cli_cmd_ssh, 0},
    {"schema", cli_cmd_schema, 0},     {"plugins", cli_cmd_plugins, 0},
};

static int parse_int(const char *opt, const char *text, int *out)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < 1 || v > 100000) {
        fprintf(stderr, "infra: %s: expected a positive number, got \"%s\"\n", opt, text);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Appends to a NULL-terminated array of borrowed strings. */
static void push(const char ***list, size_t *n, const char *value)
{
    *list = util_realloc(*list, (*n + 2) * sizeof(**list));
    (*list)[(*n)++] = value;
    (*list)[*n] = NULL;
}

static int parse_args(int argc, char **argv, cli_args *a, size_t *nvars, size_t *nfiles,
                      size_t *nbackend)
{
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
#define NEED_VALUE()                                                                      \
    do {                                                                                  \
        if (i + 1 >= argc) {                                                              \
            fprintf(stderr, "infra: %s needs a value\n", arg);                            \
            return -1;                                                                    \
        }                                                                                 \
        value = argv[++i];                                                                \
    } while (0)
        if (!strcmp(arg, "--")) {
            a->rest = (const char *const *)argv + i + 1;
            a->nrest = (size_t)(argc - i - 1);
            break;
        } else if (!strcmp(arg, "-e") || !strcmp(arg, "--env")) {
            NEED_VALUE();
            a->environment = value;
        } else if (!strncmp(arg, "--env=", 6)) {
            a->environment = arg + 6;
        } else if (!strcmp(arg, "--var")) {
            NEED_VALUE();
            if (!strchr(value, '=')) {
                fprintf(stderr, "infra: --var %s: expected NAME=VALUE\n", value);
                return -1;
            }
            push(&a->vars, nvars, value);
        } else if (!strcmp(arg, "--var-file")) {
            NEED_VALUE();
            push(&a->var_files, nfiles, value);
        } else if (!strcmp(arg, "--state-dir")) {
            NEED_VALUE();
            a->state_dir = value;
        } else if (!strncmp(arg, "--state-dir=", 12)) {
            a->state_dir = arg + 12;
        } else if (!strcmp(arg, "--backend-config") || !strncmp(arg, "--backend-config=", 17)) {
            if (arg[16] == '=')
                value = arg + 17;
            else
                NEED_VALUE();
            if (!strchr(value, '=')) {
                fprintf(stderr, "infra: --backend-config %s: expected KEY=VALUE\n", value);
                return -1;
            }
            push(&a->backend_config, nbackend, value);
        } else if (!strcmp(arg, "--lock-timeout") || !strncmp(arg, "--lock-timeout=", 15)) {
            if (arg[14] == '=')
                value = arg + 15;
            else
                NEED_VALUE();
            if (cli_parse_duration(value, &a->lock_timeout_ms) < 0) {
                fprintf(stderr, "infra: --lock-timeout %s: expected a duration such as 30s or "
                                "5m\n",
                        value);
                return -1;
            }
        } else if (!strcmp(arg, "--secrets-file") || !strncmp(arg, "--secrets-file=", 15)) {
            if (arg[14] == '=')
                value = arg + 15;
            else
                NEED_VALUE();
            a->secrets_file = value;
        } else if (!strcmp(arg, "--parallelism")) {
            NEED_VALUE();
            if (parse_int(arg, value, &a->parallelism) < 0)
                return -1;
        } else if (!strncmp(arg, "--parallelism=", 14)) {
            if (parse_int("--parallelism", arg + 14, &a->parallelism) < 0)
                return -1;
        } else if (!strcmp(arg, "--refresh=false") || !strcmp(arg, "--no-refresh")) {
            a->refresh = 0;
        } else if (!strcmp(arg, "--refresh=true") || !strcmp(arg, "--refresh")) {
            a->refresh = 1;
        } else if (!strcmp(arg, "--region")) {
            NEED_VALUE();
            a->region = value;
        } else if (!strncmp(arg, "--region=", 9)) {
            a->region = arg + 9;
        } else if (!strcmp(arg, "--json")) {
            a->json = 1;
        } else if (!strcmp(arg, "-y") || !strcmp(arg, "--yes") ||
                   !strcmp(arg, "--auto-approve")) {
            a->yes = 1;
        } else if (!strcmp(arg, "--force")) {
            a->force = 1;
        } else if (!strcmp(arg, "-v") || !strcmp(arg, "--verbose")) {
            a->verbose = 1;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "infra: unknown option %s (see infra help)\n", arg);
            return -1;
        } else if (!a->topology) {
            a->topology = arg;
        } else {
            a->positionals = util_realloc(a->positionals,
                                          (a->npositionals + 1) * sizeof(*a->positionals));
            a->positionals[a->npositionals++] = arg;
        }
#undef NEED_VALUE
    }
    return 0;
}

int cli_main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "-h")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("infra %s\n", INFRA_VERSION);
        return 0;
    }

    cli_args a = {0};
    a.command = argv[1];
    a.parallelism = 10;
    a.refresh = 1;
    a.color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
    size_t nvars = 0, nfiles = 0, nbackend = 0;
    int status = 1;

    if (parse_args(argc, argv, &a, &nvars, &nfiles, &nbackend) < 0)
        goto done;
    if (a.verbose)
        log_set_level(LOG_DEBUG);

    if (!strcmp(a.command, "plugin")) {
        if (a.topology && !strcmp(a.topology, "check") && a.npositionals == 1)
            status = cli_cmd_plugin_check(&a);
        else if (a.topology && !strcmp(a.topology, "test") && a.npositionals == 2)
            status = cli_cmd_plugin_test(&a);
        else
            fprintf(stderr, "infra: usage: infra plugin check FILE.so\n"
                            "       infra plugin test FILE.so FIXTURE.yaml [--json]\n");
        goto done;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, a.command))
            continue;
        if (commands[i].needs_topology && !a.topology) {
            fprintf(stderr, "infra: usage: infra %s TOPOLOGY.yaml [options]\n", a.command);
            goto done;
        }
        status = commands[i].run(&a);
        goto done;
    }
    {
        const char *names[sizeof(commands) / sizeof(commands[0]) + 1];
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
            names[i] = commands[i].name;
        names[sizeof(commands) / sizeof(commands[0])] = NULL;
        const char *guess = util_did_you_mean(a.command, names);
        if (guess)
            fprintf(stderr, "infra: unknown command \"%s\" (did you mean \"%s\"?)\n", a.command,
                    guess);
        else
            fprintf(stderr, "infra: unknown command \"%s\" (see infra help)\n", a.command);
    }
done:
    ssh_tunnels_close(); /* the run is over: no plugin call needs a node's port any more */
    free(a.vars);
    free(a.var_files);
    free(a.backend_config);
    free(a.positionals);
    return status;
}
