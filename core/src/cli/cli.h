/* Command line: argument parsing and the commands. Each command returns the
 * process exit status (0 ok, 1 error, 2 for `plan` with changes). */
#ifndef INFRA_CLI_H
#define INFRA_CLI_H

#include <stddef.h>

typedef struct cli_args {
    const char *command;      /* "plan", "up", ... */
    const char *topology;     /* first positional argument, or NULL */
    const char **positionals; /* further positional arguments */
    size_t npositionals;
    const char *environment;  /* -e / --env */
    const char **vars;        /* --var k=v, NULL-terminated */
    const char **var_files;   /* --var-file F, NULL-terminated */
    const char *state_dir;    /* --state-dir */
    const char **backend_config; /* --backend-config k=v, NULL-terminated */
    long lock_timeout_ms;     /* --lock-timeout DURATION (default 0: do not wait) */
    const char *secrets_file; /* --secrets-file */
    int parallelism;          /* --parallelism N (default 10) */
    int json;                 /* --json */
    int yes;                  /* --yes / -y */
    int refresh;              /* --refresh=false sets 0 (default 1) */
    int force;                /* --force */
    int verbose;              /* -v */
    int color;                /* 1 on a TTY without NO_COLOR */
    const char *region;       /* --region R */
    const char *const *rest;  /* what follows "--" (borrowed from argv), or NULL */
    size_t nrest;
} cli_args;

int cli_main(int argc, char **argv);

/* Commands over a topology (cli_engine.c). */
int cli_cmd_validate(const cli_args *args);
int cli_cmd_plan(const cli_args *args);
int cli_cmd_up(const cli_args *args);
int cli_cmd_down(const cli_args *args);
int cli_cmd_status(const cli_args *args);
int cli_cmd_output(const cli_args *args);
int cli_cmd_graph(const cli_args *args);
int cli_cmd_unlock(const cli_args *args);
int cli_cmd_import(const cli_args *args);

/* State commands (cli_state.c): `infra state list|show|rm|mv|pull|push`. */
int cli_cmd_state(const cli_args *args);
/* "5m", "30s", "1h", "250ms", "0" into milliseconds. 0, or -1 for text
 * that is not a duration. */
int cli_parse_duration(const char *text, long *ms);

/* Shared by the commands (cli_engine.c): the engine of args' topology with
 * its diagnostics printed (NULL on errors), and its state opened (with the
 * lock when lock is set; 0, or < 0 with the error printed). */
struct engine;
struct engine *cli_open_engine(const cli_args *args);
int cli_open_state(struct engine *e, int lock, const char *command);

/* The topology of a command whose topology is optional (env, ssh): the
 * first positional when it names a .yaml/.yml file (and then *used is 1),
 * else $INFRA_TOPOLOGY, else infra.yaml in the working directory, else the
 * only *.yaml or *.yml file there. NULL with a message on stderr. */
const char *cli_find_topology(const cli_args *args, int *used);

/* `infra env [CLUSTER] [--region R] [--json]` (cli_env.c). */
int cli_cmd_env(const cli_args *args);
/* `infra ssh ADDRESS [-- CMD...]` (cli_ssh.c). */
int cli_cmd_ssh(const cli_args *args);
/* `infra schema [--output FILE]` (cli_schema.c). */
int cli_cmd_schema(const cli_args *args);

/* Plugin commands (cli_plugins.c): `infra plugins`, `infra plugin check FILE`. */
int cli_cmd_plugins(const cli_args *args);
int cli_cmd_plugin_check(const cli_args *args);

/* `infra plugin test FILE.so FIXTURE.yaml` (cli_kit.c): 0 when every check
 * of the conformance kit passed, 1 otherwise. */
int cli_cmd_plugin_test(const cli_args *args);

#endif
