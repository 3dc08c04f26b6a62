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
    int parallelism;          /* --parallelism N (default 10) */
    int json;                 /* --json */
    int yes;                  /* --yes / -y */
    int refresh;              /* --refresh=false sets 0 (default 1) */
    int force;                /* --force */
    int verbose;              /* -v */
    int color;                /* 1 on a TTY without NO_COLOR */
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
int cli_cmd_state(const cli_args *args);

/* Plugin commands (cli_plugins.c): `infra plugins`, `infra plugin check FILE`. */
int cli_cmd_plugins(const cli_args *args);
int cli_cmd_plugin_check(const cli_args *args);

#endif
