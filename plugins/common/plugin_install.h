/* Installing what a node lacks: a program or Debian packages the user
 * keeps on infra's machine, checked there by SHA-256 against the value the
 * topology gives, uploaded over the host's SSH service only when the node
 * does not already hold the same bytes, checked again on the node, and
 * installed (a program to a bin directory with mode 0755, packages with
 * dpkg -i, as root).
 *
 * The settings of one item, under a scheduler's `install:` key:
 *
 *   nomad:  { file: /srv/dist/nomad_1.7.7_linux_amd64.zip, sha256: "<64 hex>" }
 *   consul: { file: /srv/dist/consul_1.17.3-1_amd64.deb,   sha256: "<64 hex>" }
 *   mesos:  { file: /srv/dist/mesos-debs, sha256: { mesos_1.11.0_amd64.deb: "<64 hex>", ... } }
 *
 * `file` is a program (installed as BIN_DIR/NAME, NAME being the item's
 * name), a .zip holding a file called NAME (HashiCorp's releases; the hash
 * is the zip's, the program is taken out here), one .deb, or a directory
 * of .deb files (`sha256` then maps each file's name to its hash, and must
 * name exactly the .deb files there).
 *
 * On the node, packages are kept in PU_INSTALL_CACHE_DIR/NAME/, so that a
 * later run finds them there by hash instead of uploading them again, and
 * dpkg -i runs only when one of them is not installed at its version.
 *
 * A static library (plugin_install) beside plugin_common, for the
 * scheduler plugins; hidden inside each plugin that links it, it sees only
 * <infra/plugin.h>, the C library, libcrypto (SHA-256) and libzip. It
 * talks to a node through host->ssh: the ABI 1.2 slots run and write_file
 * when the host has them, else exec, exec_sudo and upload. */
#ifndef PLUGIN_INSTALL_H
#define PLUGIN_INSTALL_H

#include "plugin_util.h"

#include <pthread.h>
#include <stddef.h>

/* Where a program goes unless the settings say otherwise. */
#define PU_INSTALL_BIN_DIR "/usr/local/bin"
/* Where uploaded packages are kept on a node, one directory per item. */
#define PU_INSTALL_CACHE_DIR "/var/cache/infra/packages"
/* The largest program taken out of a .zip (a guard against zip bombs). */
#define PU_INSTALL_MAX_MEMBER ((size_t)1 << 30)

/* ------------------------------------------------------------------ */
/* plugin_install.c: the local side                                   */

/* One file to put on nodes. */
typedef struct pu_install_file {
    char *name;      /* the program's name, or the package's file name */
    char *data;      /* its bytes (NULL after a PU_INSTALL_CHECK_ONLY load) */
    size_t len;      /* bytes of data */
    char sha256[65]; /* lowercase hex SHA-256 of the bytes put on the node */
} pu_install_file;

/* One item of the install settings, read and checked on this machine. */
typedef struct pu_install {
    char *name;             /* the item: "nomad", also the program's name */
    char *source;           /* the local path given as `file` */
    int packages;           /* 1: Debian packages (dpkg -i); 0: one program */
    pu_install_file *files; /* the program, or the packages sorted by name */
    size_t nfiles;
    char digest[65]; /* what gets installed, as one hash: the program's, or
                        that of the packages' "NAME SHA256\n" lines */
} pu_install;

/* Flags of pu_install_load. */
#define PU_INSTALL_CHECK_ONLY 1u /* hash the files, keep nothing (validate) */

/* 1 when s is 64 hexadecimal digits. */
int pu_install_sha256_ok(const char *s);

/* 1 when the item spec names packages (a directory or a .deb), judged from
 * its `file` alone (a missing path counts as a program unless it ends in
 * .deb); 0 otherwise and when spec is not an item. */
int pu_install_is_packages(const infra_json *spec);

/* Checks the shape of an item spec ({"file", "sha256"}) without reading
 * anything: `file` a non-empty string, `sha256` 64 hex digits or a map of
 * file names to 64 hex digits. attr is the spec's attribute path
 * ("install.nomad") for the diagnostics. 0 or INFRA_EINVALID. */
int pu_install_check_spec(infra_call *call, const char *attr, const infra_json *spec);

/* Reads item name's spec and the files it names, computes their SHA-256
 * here and compares them with the given ones before anything is sent
 * anywhere; a .zip is opened and its program taken out. *out is freed with
 * pu_install_free, also after a failure. 0; INFRA_ENOTFOUND when `file`
 * cannot be read (the diagnostic says why); INFRA_EINVALID for a wrong
 * hash, a zip without the program, a directory without packages. */
int pu_install_load(infra_call *call, const char *attr, const char *name, const infra_json *spec,
                    unsigned flags, pu_install *out);
void pu_install_free(pu_install *in);

/* ------------------------------------------------------------------ */
/* plugin_install_node.c: the node side                               */

/* The node to install on: an open session, borrowed. */
typedef struct pu_install_node {
    infra_ssh *ssh;
    const char *name; /* the node's name, for messages */
    int root;         /* the login user is root: no sudo, uploads in place */
} pu_install_node;

/* What a node holds of an item, from one inspection. */
typedef struct pu_install_plan {
    int no_dpkg;           /* packages, and the node has no dpkg */
    unsigned char *upload; /* per file of the item: 1 when its copy differs */
    size_t nupload;        /* how many files must be uploaded */
    int fix_mode;          /* the program is there but not root's with mode 0755 */
    int not_installed;     /* a package is not installed at its version */
} pu_install_plan;

/* What pu_install_apply did. */
typedef struct pu_install_result {
    int changed;     /* the program was replaced or dpkg -i ran: restart its users */
    size_t uploaded; /* files uploaded */
    size_t bytes;    /* bytes uploaded */
    char *path;      /* a program's installed path (caller frees), NULL for packages */
} pu_install_result;

/* The shell script (run as root) that reports what the node holds of in:
 * for a program "prog MODE OWNER SHA256" of BIN_DIR/NAME; for packages
 * "pkg SHA256 yes|no NAME" per package of the cache (installed at its
 * version or not), after "dpkg no" when dpkg is missing. "-" stands for a
 * missing file. Caller frees. */
char *pu_install_inspect_script(const pu_install *in, const char *bin_dir);
/* Reads the inspection's output into *plan (free with
 * pu_install_plan_free). 0, or INFRA_EINTERNAL when the output is not the
 * script's. */
int pu_install_plan_read(const pu_install *in, const char *output, pu_install_plan *plan);
void pu_install_plan_free(pu_install_plan *plan);
/* 1 when the node needs nothing of in. */
int pu_install_plan_done(const pu_install *in, const pu_install_plan *plan);
/* Where file i of in is uploaded to: in stage (a directory of the login
 * user's) or, with stage NULL (a root login), beside its destination.
 * Caller frees. */
char *pu_install_stage_path(const pu_install *in, size_t i, const char *bin_dir, const char *stage);
/* The shell script (run as root) that checks every uploaded copy against
 * its hash, puts it in place, checks the result again, and for packages
 * runs dpkg -i unless all are installed at their versions already
 * (printing "dpkg-ran" when it did). stage is as for
 * pu_install_stage_path and is removed. Caller frees. */
char *pu_install_commit_script(const pu_install *in, const pu_install_plan *plan,
                               const char *bin_dir, const char *stage);

/* Installs in on node: one inspection; when the node already holds the
 * same bytes (and, for packages, has them installed) nothing is uploaded
 * and nothing run; otherwise the files that differ are uploaded, checked
 * on the node by SHA-256, and installed as root. bin_dir (NULL = the
 * default) is where a program goes. attr names the settings in
 * diagnostics. 0 with *out set (free with pu_install_result_free);
 * INFRA_EINVALID when the node cannot take what in is (no dpkg), its copy
 * does not match after the upload, or dpkg refuses the packages (quoting
 * dpkg); the SSH service's errors otherwise. */
int pu_install_apply(infra_call *call, const pu_install_node *node, const pu_install *in,
                     const char *bin_dir, const char *attr, pu_install_result *out);
void pu_install_result_free(pu_install_result *r);

/* ------------------------------------------------------------------ */
/* plugin_install_set.c: a scheduler's install settings               */

/* The key of the install settings that is not an item. */
#define PU_INSTALL_BIN_DIR_KEY "bin_dir"

/* One item a scheduler's install settings take. */
typedef struct pu_install_item {
    const char *name;           /* the key: "nomad", "mesos" */
    const char *programs[3];    /* the programs of a .zip, NULL-terminated; none: one, named
                                   name. With two, the item cannot be a bare program. */
    const char *binary_keys[3]; /* per program, the setting that would name another
                                   program instead ("nomad_binary"), or NULL */
    int packages_only;          /* only Debian packages (a .deb or a directory of them) */
} pu_install_item;

/* Checks an install map (a cluster's `install:`, or a datacenter's
 * node_settings.install) at attr: the keys of items[0..nitems) and
 * bin_dir, each item with file and sha256 (pu_install_check_spec). With
 * files, also reads the files and compares their SHA-256 with the given
 * ones (a file that cannot be read now is only a warning: node_bootstrap
 * needs it, `infra down` does not). 0 or INFRA_EINVALID. */
int pu_install_check_map(infra_call *call, const char *attr, const infra_json *install,
                         const pu_install_item *items, size_t nitems, int files);

/* What the nodes of one datacenter get for one item. */
typedef struct pu_install_choice {
    const infra_json *spec; /* the item's settings (borrowed), NULL: nothing to install */
    const char *bin_dir;    /* where a program goes (borrowed or static) */
    char *attr;             /* the settings' full attribute path, for messages (owned) */
} pu_install_choice;

/* The choice for item on the nodes of datacenter dc of region of cluster:
 * dc_install's item (a datacenter's node_settings.install, may be NULL)
 * over cluster_install's; bin_dir likewise, then PU_INSTALL_BIN_DIR. Free
 * with pu_install_choice_free. */
void pu_install_choose(const infra_json *cluster_install, const infra_json *dc_install,
                       const char *cluster, const char *region, const char *dc, const char *item,
                       pu_install_choice *out);
void pu_install_choice_free(pu_install_choice *ch);
/* The path program runs from when ch installs it (a program, not
 * packages), else NULL. Caller frees. */
char *pu_install_choice_path(const pu_install_choice *ch, const char *program);
/* A setting (key, such as "nomad_binary") naming another program than the
 * one ch installs as program: INFRA_EINVALID with a diagnostic at key, as
 * it would name a second program. 0 when it is absent, is program's bare
 * name, or is the installed path. */
int pu_install_binary_conflict(infra_call *call, const infra_json *settings, const char *key,
                               const char *program, const pu_install_choice *ch);

/* Checks the install settings of the host's cluster JSON at validate:
 * settings.install (at "install") and every datacenter's
 * node_settings.install (at "regions.R.datacenters.D.node_settings.install"),
 * reading the files, and that no binary_keys setting names another program
 * than the one installed. 0 or INFRA_EINVALID. */
int pu_install_check_cluster(infra_call *call, const infra_json *cluster,
                             const pu_install_item *items, size_t nitems);

/* Items read and checked once per run, shared by the nodes of the run. */
typedef struct pu_install_cache {
    pthread_mutex_t lock;
    struct pu_install_cached *v;
    size_t n;
} pu_install_cache;
void pu_install_cache_init(pu_install_cache *c);
void pu_install_cache_free(pu_install_cache *c);

/* What pu_install_on_node did. */
typedef struct pu_install_done {
    int changed;   /* the program was replaced or dpkg -i ran: restart its users */
    char *path;    /* a program's installed path, NULL for packages (owned) */
    char *summary; /* "PATH, sha256 HEX" or "N packages of SOURCE, sha256 HEX", for
                      the files of the services that use it, so that a new file
                      changes them (owned) */
} pu_install_done;

/* Installs ch's item on node: as program (a bare program or a .zip's
 * member) or as Debian packages, reading the files through cache (the
 * first node that needs an item reads it, the others wait). Logs what it
 * did ("node N: ITEM: uploaded 1 file (B bytes) of SOURCE; installed",
 * "already installed (sha256 ...); nothing uploaded"). 0 with *out set
 * (free with pu_install_done_free), or the error of pu_install_load or
 * pu_install_apply with its diagnostic. */
int pu_install_on_node(pu_install_cache *cache, infra_call *call, const pu_install_node *node,
                       const char *item, const char *program, const pu_install_choice *ch,
                       pu_install_done *out);
void pu_install_done_free(pu_install_done *d);

/* ------------------------------------------------------------------ */
/* plugin_rolling.c: restarts one node of a group at a time           */

/* The groups (regions) with a node restarting in this run. */
typedef struct pu_rolling {
    pthread_mutex_t lock;
    pthread_cond_t done;
    char **busy;
    size_t nbusy;
} pu_rolling;
void pu_rolling_init(pu_rolling *r);
void pu_rolling_free(pu_rolling *r);
/* Waits until no other node of group is restarting in this run, then
 * marks group busy. 0 or INFRA_ECANCELLED (the call was cancelled while
 * it waited). */
int pu_rolling_begin(pu_rolling *r, infra_call *call, const char *group);
/* Marks group free again and wakes the nodes waiting for it. */
void pu_rolling_end(pu_rolling *r, const char *group);

#endif
