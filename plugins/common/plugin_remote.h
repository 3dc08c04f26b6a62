/* What scheduler plugins share to run programs on a cluster's nodes: lists
 * of strings, shell quoting and names, TCP probes, an SSH session to a
 * node (commands as root, files compared by mode and SHA-256, staged
 * uploads through sudo), and services kept running there (systemd units,
 * or a small POSIX sh supervisor on nodes without systemd).
 *
 * A static library (plugin_remote) beside plugin_common, for the plugins
 * that bootstrap nodes; like plugin_common it is hidden inside each plugin
 * that links it and sees only <infra/plugin.h>, the C library and
 * libcrypto (for SHA-256). Every pu_remote_* function that talks to a node
 * reports its failure through host->diag of the call, naming the node. */
#ifndef PLUGIN_REMOTE_H
#define PLUGIN_REMOTE_H

#include "plugin_util.h"

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* plugin_strs.c: string lists, quoting, names                        */

/* A list of owned strings; start it zeroed. */
typedef struct pu_strs {
    char **v;
    size_t n;
} pu_strs;
/* Appends a copy of s. */
void pu_strs_add(pu_strs *l, const char *s);
/* Appends a printf-formatted string. */
void pu_strs_addf(pu_strs *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 1 when l holds s. */
int pu_strs_has(const pu_strs *l, const char *s);
/* "a, b, c", or "none" when l is empty; caller frees. */
char *pu_strs_join(const pu_strs *l);
/* Frees every string and the array; l is empty again. */
void pu_strs_free(pu_strs *l);

/* text quoted for a POSIX shell ('...'); caller frees. */
char *pu_shell_quote(const char *text);
/* 1 when s is non-empty and made of [A-Za-z0-9._-] only. */
int pu_name_ok(const char *s);
/* 1 when s is a program name or an absolute path made of [A-Za-z0-9._/+-]. */
int pu_path_ok(const char *s);
/* 1 when s is an IPv4 or IPv6 address literal. */
int pu_ip_ok(const char *s);
/* Lowercase hex SHA-256 of data into out (65 bytes with the NUL); "" when
 * libcrypto fails. */
void pu_sha256_hex(const void *data, size_t len, char out[65]);

/* ------------------------------------------------------------------ */
/* plugin_net.c: TCP, waiting                                         */

/* 1 when a TCP connection to ip:port opens within timeout_ms. A node
 * behind a bastion is probed, and pu_tcp_exchange talks to it, through the
 * bastion (host->ssh->tunnel). */
int pu_tcp_probe(const char *ip, int port, int timeout_ms);
/* Connects to ip:port, sends request, reads until the peer closes (at most
 * max bytes, within timeout_ms in all) into *out (NUL-terminated, caller
 * frees). 0; INFRA_ETRANSIENT when nothing answered or the time ran out. For
 * line protocols such as ZooKeeper's four-letter words. */
int pu_tcp_exchange(const char *ip, int port, const char *request, size_t max, int timeout_ms,
                    char **out);
/* "host:port" with IPv6 addresses in brackets; caller frees. */
char *pu_host_port(const char *ip, int port);
/* Sleeps ms, never past deadline (a now_ms() instant). INFRA_ECANCELLED
 * when the call was cancelled meanwhile, else 0. */
int pu_sleep_until(infra_call *call, int64_t ms, int64_t deadline);

/* ------------------------------------------------------------------ */
/* plugin_ssh.c: a node over SSH                                      */

/* One file to put on a node. */
typedef struct pu_file {
    char *path;
    char *data;
    size_t len;
    int mode;
    int service; /* index of the service restarted when it changes, or -1 */
    int secret;  /* holds a secret: zeroised when freed */
} pu_file;

/* A set of files; start it zeroed. */
typedef struct pu_files {
    pu_file *v;
    size_t n;
} pu_files;
/* Adds a copy of data (len bytes) as path. */
void pu_files_add(pu_files *f, const char *path, const char *data, size_t len, int mode,
                  int service, int secret);
/* Adds the NUL-terminated text as path. */
void pu_files_add_text(pu_files *f, const char *path, const char *text, int mode, int service,
                       int secret);
/* The file at path, or NULL (borrowed). */
const pu_file *pu_files_find(const pu_files *f, const char *path);
/* Frees the files (zeroising the secret ones); f is empty again. */
void pu_files_free(pu_files *f);

/* An SSH session to one node, and what an inspection learnt of it. */
typedef struct pu_remote {
    infra_ssh *ssh;
    char *node;     /* the node's name, for messages */
    int root;       /* the login user is root: files are written in place */
    int systemd;    /* the node runs systemd (/run/systemd/system exists) */
    pu_strs paths;  /* inspected files ... */
    pu_strs hashes; /* ... "MODE SHA256", "" when missing */
    pu_strs names;  /* inspected programs and services ... */
    pu_strs found;  /* ... a program's absolute path or a service's pid, "" when none */
} pu_remote;

/* Connects to a node (keeping on trying until deadline_ms have passed).
 * 0; INFRA_EAUTH (host key or login refused), INFRA_ETRANSIENT (no answer
 * in time), INFRA_EINVALID (no address), each with a diagnostic naming the
 * node. Close *out with pu_remote_close, also after a failure. */
int pu_remote_open(infra_call *call, const char *node, const infra_ssh_target *target,
                   int64_t deadline_ms, pu_remote *out);
/* Closes the session and frees what the inspection learnt. */
void pu_remote_close(pu_remote *r);

/* Runs cmd on the node, as root when as_root (through "sudo -n" unless the
 * login user is root), with the host's cancellable run slot when it has
 * one: 0 once it ran, with its exit status and its whole stdout and stderr
 * (caller frees both with free()); INFRA_E* when it could not run. */
int pu_remote_exec(infra_call *call, pu_remote *r, const char *cmd, int as_root, int *status,
                   char **out, char **err);
/* A single-line excerpt of a program's output, at most about 600 bytes
 * ("(no output)" when empty); caller frees. */
char *pu_excerpt(const char *text);
/* Runs cmd on the node, as root when as_root (through "sudo -n" unless the
 * login user is root), with the host's cancellable run slot when it has
 * one. With status, the exit status is stored there and any status is 0;
 * without, a non-zero status is INFRA_EINTERNAL with a diagnostic "node N:
 * WHAT failed with status S: STDERR". out (may be NULL) receives stdout,
 * caller frees with free(). */
int pu_remote_run(infra_call *call, pu_remote *r, const char *what, const char *cmd, int as_root,
                  int *status, char **out);

/* One look at the node: its init system, the mode and hash of every path of
 * files and of extra (NULL-terminated, may be NULL), the absolute path of
 * every program of programs (NULL-terminated), and the pid of every service
 * of services (a systemd unit NAME.service, or the supervisor's NAME). */
int pu_remote_inspect(infra_call *call, pu_remote *r, const pu_files *files,
                      const char *const *extra, const char *const *programs,
                      const char *const *services);
/* 1 when the node holds exactly f (same mode and content), per the last
 * inspection. */
int pu_remote_has(const pu_remote *r, const pu_file *f);
/* A program's absolute path or a service's pid text as inspected, or NULL
 * when missing (borrowed). */
const char *pu_remote_found(const pu_remote *r, const char *name);
/* The pid of a service as inspected, 0 when it is not running. */
long pu_remote_pid(const pu_remote *r, const char *service);

/* Makes the directories dirs (NULL-terminated "MODE PATH" entries, e.g.
 * "0755 /etc/zookeeper/conf") and writes files: in place when the login
 * user is root, otherwise staged in a private temporary directory and
 * installed as root with sudo. */
int pu_remote_put(infra_call *call, pu_remote *r, const char *const *dirs, const pu_files *files);

/* ------------------------------------------------------------------ */
/* plugin_service.c: programs kept running on a node                   */

#define PU_TOOL_DIR "/opt/infra"
#define PU_SUPERVISOR PU_TOOL_DIR "/supervise"
#define PU_UNIT_DIR "/etc/systemd/system"

/* One long-running program of a node. */
typedef struct pu_service {
    const char *name;        /* unit and supervisor name, [a-z0-9_-] */
    const char *description; /* the unit's Description= */
    const char *command;     /* absolute program and its arguments, quoted for sh */
    const char *env_file;    /* KEY=VALUE lines read before it starts (mode 0600), or NULL */
    const char *after;       /* units it starts after ("zookeeper.service"), or NULL */
    int keep_children;       /* stopping it leaves its children (KillMode=process) */
    const char *installed;   /* what infra installed for it ("PATH, sha256 HEX"), or NULL;
                                a comment of its files, so that a new version changes
                                them and restarts it */
} pu_service;

/* The supervisor script: start|stop|pid NAME (static text). */
const char *pu_supervisor_script(void);
/* The files that run services on r (units under PU_UNIT_DIR on systemd,
 * else the supervisor and PU_TOOL_DIR/NAME.run), each with its service's
 * index + service_base. who names the installer in their comments. */
void pu_service_files(const pu_remote *r, const pu_service *services, size_t n, int service_base,
                      const char *who, pu_files *out);
/* The paths pu_service_files may write for service name, with or without
 * systemd, so that one inspection covers both. Adds to out. */
void pu_service_paths(const char *name, pu_strs *out);
/* Starts service name, or restarts it when restart (daemon-reload first when
 * units_changed). A service that does not stay up is INFRA_EINVALID with its
 * own last log lines in the diagnostic. */
int pu_service_start(infra_call *call, pu_remote *r, const char *name, int restart,
                     int units_changed);
/* Stops service name (and disables its unit); a missing one is not an error. */
int pu_service_stop(infra_call *call, pu_remote *r, const char *name);

#endif
