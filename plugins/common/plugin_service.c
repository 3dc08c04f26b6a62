/* Programs kept running on a node: systemd units where the node runs
 * systemd, otherwise a small POSIX sh supervisor (uploaded as
 * PU_SUPERVISOR) that restarts a program when it exits, keeps pidfiles
 * under /run and its log under /var/log, and runs detached from the SSH
 * session. Both start a program and check that it stays up: one that
 * refuses its configuration exits at once, and its own last log lines are
 * the message. */
#include "plugin_remote.h"

#include <stdlib.h>
#include <string.h>

/* Restarts with a backoff, pidfiles under /run, log under /var/log; started
 * in a session of its own so that it outlives the SSH session. Runs the
 * program's command from /opt/infra/NAME.run. */
static const char supervisor_script[] =
    "#!/bin/sh\n"
    "# Keeps one agent running on a node without systemd: restarts it when it\n"
    "# exits, after 1 s doubling to 30 s (1 s again once it ran for a minute).\n"
    "# Installed by infra on nodes without systemd.\n"
    "#\n"
    "#   supervise start NAME   start NAME's supervisor, detached, unless it runs\n"
    "#   supervise stop NAME    stop the supervisor and the agent\n"
    "#   supervise pid NAME     print the agent's pid; status 1 when it is not running\n"
    "#\n"
    "# The agent's command is /opt/infra/NAME.run; pidfiles /run/infra-NAME.pid\n"
    "# and /run/infra-NAME.supervisor.pid; log /var/log/NAME.log.\n"
    "set -u\n"
    "cmd=${1:-}\n"
    "name=${2:-}\n"
    "case $name in ''|*[!a-z0-9_-]*) echo 'usage: supervise start|stop|pid NAME' >&2; exit 2 ;; "
    "esac\n"
    "run=/opt/infra/$name.run\n"
    "apid=/run/infra-$name.pid\n"
    "spid=/run/infra-$name.supervisor.pid\n"
    "log=/var/log/$name.log\n"
    "\n"
    "readpid() { p=$(cat \"$1\" 2>/dev/null) || p=; case $p in ''|*[!0-9]*) p= ;; esac; echo "
    "\"$p\"; }\n"
    "alive() { [ -n \"$1\" ] && kill -0 \"$1\" 2>/dev/null; }\n"
    "\n"
    "supervise() {\n"
    "    echo $$ >\"$spid\"\n"
    "    child= stopping=0 delay=1\n"
    "    trap 'stopping=1; [ -z \"$child\" ] || kill -TERM \"$child\" 2>/dev/null' TERM INT HUP\n"
    "    while [ \"$stopping\" -eq 0 ]; do\n"
    "        started=$(date +%s)\n"
    "        \"$run\" &\n"
    "        child=$!\n"
    "        echo \"$child\" >\"$apid\"\n"
    "        status=0\n"
    "        wait \"$child\" || status=$?\n"
    "        # a trapped signal ends the wait early: wait for the agent itself\n"
    "        while alive \"$child\"; do wait \"$child\" || status=$?; done\n"
    "        child=\n"
    "        [ \"$stopping\" -eq 0 ] || break\n"
    "        [ $(( $(date +%s) - started )) -lt 60 ] || delay=1\n"
    "        echo \"supervise: $name exited with status $status; restarting in ${delay}s\"\n"
    "        sleep \"$delay\" & wait $! || :\n"
    "        delay=$((delay * 2)); [ \"$delay\" -le 30 ] || delay=30\n"
    "    done\n"
    "    rm -f \"$apid\" \"$spid\"\n"
    "}\n"
    "\n"
    "case $cmd in\n"
    "start)\n"
    "    p=$(readpid \"$spid\")\n"
    "    if alive \"$p\"; then exit 0; fi\n"
    "    [ -x \"$run\" ] || { echo \"supervise: $run is missing\" >&2; exit 1; }\n"
    "    a=$(readpid \"$apid\")\n"
    "    if alive \"$a\"; then kill -TERM \"$a\"; sleep 1; fi\n"
    "    rm -f \"$apid\"\n"
    "    mark=$(wc -c <\"$log\" 2>/dev/null || echo 0)\n"
    "    setsid \"$0\" _run \"$name\" </dev/null >>\"$log\" 2>&1 &\n"
    "    i=0 a=\n"
    "    while [ $i -lt 50 ]; do\n"
    "        a=$(readpid \"$apid\")\n"
    "        if alive \"$a\"; then break; fi\n"
    "        sleep 0.1; i=$((i + 1))\n"
    "    done\n"
    "    # it must stay up: an agent refusing its configuration exits at once\n"
    "    sleep 2\n"
    "    if alive \"$a\" && [ \"$a\" = \"$(readpid \"$apid\")\" ]; then exit 0; fi\n"
    "    echo \"$name did not stay up; its log says:\" >&2\n"
    "    tail -c +$((mark + 1)) \"$log\" | grep -v '^supervise:' | tail -n 20 >&2\n"
    "    exit 1 ;;\n"
    "stop)\n"
    "    p=$(readpid \"$spid\") a=$(readpid \"$apid\")\n"
    "    if alive \"$p\"; then kill -TERM \"$p\" 2>/dev/null; elif alive \"$a\"; then kill -TERM "
    "\"$a\" 2>/dev/null; fi\n"
    "    i=0\n"
    "    while { alive \"$p\" || alive \"$a\"; } && [ $i -lt 150 ]; do\n"
    "        [ $i -ne 100 ] || { ! alive \"$a\" || kill -TERM \"$a\" 2>/dev/null; }\n"
    "        sleep 0.1; i=$((i + 1))\n"
    "    done\n"
    "    for x in \"$p\" \"$a\"; do ! alive \"$x\" || kill -KILL \"$x\" 2>/dev/null; done\n"
    "    rm -f \"$apid\" \"$spid\"\n"
    "    exit 0 ;;\n"
    "pid)\n"
    "    p=$(readpid \"$spid\") a=$(readpid \"$apid\")\n"
    "    if alive \"$p\" && alive \"$a\"; then echo \"$a\"; exit 0; fi\n"
    "    exit 1 ;;\n"
    "_run) supervise ;;\n"
    "*) echo 'usage: supervise start|stop|pid NAME' >&2; exit 2 ;;\n"
    "esac\n";

const char *pu_supervisor_script(void)
{
    return supervisor_script;
}

void pu_service_paths(const char *name, pu_strs *out)
{
    pu_strs_add(out, PU_SUPERVISOR);
    pu_strs_addf(out, PU_TOOL_DIR "/%s.run", name);
    pu_strs_addf(out, PU_UNIT_DIR "/%s.service", name);
}

static char *unit_text(const pu_service *s, const char *who)
{
    pu_buf b = {0};
    pu_buf_printf(&b, "# Installed by infra's %s.\n", who);
    if (s->installed)
        pu_buf_printf(&b, "# Program: %s\n", s->installed);
    pu_buf_printf(&b,
                  "[Unit]\n"
                  "Description=%s\n"
                  "Wants=network-online.target%s%s\n"
                  "After=network-online.target%s%s\n"
                  "\n"
                  "[Service]\n",
                  s->description, s->after ? " " : "", s->after ? s->after : "",
                  s->after ? " " : "", s->after ? s->after : "");
    if (s->env_file)
        pu_buf_printf(&b, "EnvironmentFile=%s\n", s->env_file);
    pu_buf_printf(&b, "ExecStart=%s\n", s->command);
    if (s->keep_children)
        pu_buf_puts(&b, "KillMode=process\n");
    pu_buf_puts(&b, "Restart=on-failure\n"
                    "RestartSec=2\n"
                    "LimitNOFILE=65536\n"
                    "\n"
                    "[Install]\n"
                    "WantedBy=multi-user.target\n");
    return pu_buf_take(&b);
}

static char *run_text(const pu_service *s, const char *who)
{
    pu_buf b = {0};
    pu_buf_printf(&b,
                  "#!/bin/sh\n"
                  "# The command the supervisor keeps running; installed by infra's %s.\n",
                  who);
    if (s->installed)
        pu_buf_printf(&b, "# Program: %s\n", s->installed);
    if (s->env_file)
        pu_buf_printf(&b, "set -a; . %s; set +a\n", s->env_file);
    pu_buf_printf(&b, "exec %s\n", s->command);
    return pu_buf_take(&b);
}

void pu_service_files(const pu_remote *r, const pu_service *services, size_t n, int service_base,
                      const char *who, pu_files *out)
{
    if (!r->systemd && n > 0)
        pu_files_add_text(out, PU_SUPERVISOR, supervisor_script, 0755, -1, 0);
    for (size_t i = 0; i < n; i++) {
        const pu_service *s = &services[i];
        char *path, *text;
        if (r->systemd) {
            path = pu_printf(PU_UNIT_DIR "/%s.service", s->name);
            text = unit_text(s, who);
            pu_files_add_text(out, path, text, 0644, service_base + (int)i, 0);
        } else {
            path = pu_printf(PU_TOOL_DIR "/%s.run", s->name);
            text = run_text(s, who);
            pu_files_add_text(out, path, text, 0755, service_base + (int)i, 0);
        }
        free(path);
        free(text);
    }
}

int pu_service_start(infra_call *call, pu_remote *r, const char *name, int restart,
                     int units_changed)
{
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
        cmd = pu_printf(PU_SUPERVISOR " stop %s && " PU_SUPERVISOR " start %s", name, name);
    else
        cmd = pu_printf(PU_SUPERVISOR " start %s", name);
    int status = 0;
    char *sout = NULL, *serr = NULL;
    int error = pu_remote_exec(call, r, cmd, 1, &status, &sout, &serr);
    free(cmd);
    if (error < 0) {
        if (error != INFRA_ECANCELLED)
            pu_diagf(call, "", "node %s: starting %s: the SSH command failed", r->node, name);
    } else if (status != 0) {
        /* the program's own words: it names the setting it refused */
        char *tail = pu_excerpt(serr);
        pu_diagf(call, "", "node %s: %s did not start: %s", r->node, name, tail);
        free(tail);
        error = INFRA_EINVALID;
    } else {
        pu_logf(call, INFRA_LOG_INFO, "node %s: %s %s", r->node, name,
                restart ? "restarted" : "started");
    }
    free(sout);
    free(serr);
    return error;
}

int pu_service_stop(infra_call *call, pu_remote *r, const char *name)
{
    char *cmd = r->systemd
                    ? pu_printf("systemctl disable --now %s.service 2>/dev/null || "
                                "systemctl stop %s.service 2>/dev/null || true",
                                name, name)
                    : pu_printf("[ ! -x " PU_SUPERVISOR " ] || " PU_SUPERVISOR " stop %s", name);
    char *what = pu_printf("stopping %s", name);
    int error = pu_remote_run(call, r, what, cmd, 1, NULL, NULL);
    free(cmd);
    free(what);
    if (error == 0)
        pu_logf(call, INFRA_LOG_INFO, "node %s: %s stopped", r->node, name);
    return error;
}
