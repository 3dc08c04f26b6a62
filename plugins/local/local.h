/* The "local" provider: instances are Linux namespace hosts on bridges in
 * this machine, each running its own OpenSSH sshd, with nftables firewalls,
 * an haproxy load balancer and a shared hosts file for DNS.
 *
 * Shared between the plugin's files only; the plugin sees nothing of infra
 * but <infra/plugin.h>. Everything it creates is recorded under
 * RUN_DIR/PREFIX (the "base" directory):
 *   hosts/ID/       one namespace host (instance or load balancer)
 *   networks/ID/    one bridge, with its address leases
 *   firewalls/ID/   one firewall (rules applied inside the target hosts)
 *   dns/ID/         one hosts-file record
 *   ns/             private mount holding the hosts' mount and UTS ns files
 *   hosts           the file bind-mounted over /etc/hosts in every host
 * See docs/local-provider.md. */
#ifndef LOCAL_H
#define LOCAL_H

#include <infra/plugin.h>

#include "plugin_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The host's JSON service (pu_host is the host table, plugin_util.h). */
#define LJ (pu_host->json)

/* Object ids: one letter for the kind, then LOCAL_ID_HEX hex digits. */
#define LOCAL_ID_HEX 10
#define LOCAL_ID_SIZE (LOCAL_ID_HEX + 2)
#define LOCAL_KIND_NETWORK 'n'
#define LOCAL_KIND_INSTANCE 'h'
#define LOCAL_KIND_LB 'l'
#define LOCAL_KIND_FIREWALL 'f'
#define LOCAL_KIND_DNS 'd'

/* Kernel interface names are at most 15 characters. */
#define LOCAL_IFNAME_SIZE 16
#define LOCAL_PREFIX_MAX 8

/* External programs, resolved lazily so that a topology without a load
 * balancer does not need haproxy. */
typedef enum local_tool {
    LOCAL_TOOL_IP = 0,
    LOCAL_TOOL_SSHD,
    LOCAL_TOOL_SSH_KEYGEN,
    LOCAL_TOOL_NFT,
    LOCAL_TOOL_HAPROXY,
    LOCAL_TOOL_SH,
    LOCAL_TOOL_COUNT
} local_tool;

struct infra_provider {
    char *prefix;      /* short name prefix of every kernel object */
    char *run_dir;     /* RUN_DIR */
    char *base;        /* RUN_DIR/PREFIX */
    char *public_key;  /* the user's SSH public key file */
    char *private_key; /* its private half, or NULL when not beside it */
    atomic_int stopped;
    pthread_mutex_t tool_lock; /* guards tools[] */
    char *tools[LOCAL_TOOL_COUNT];
};

/* Namespaces a spawned program enters: paths of ns files, or NULL. */
typedef struct local_ns {
    const char *net;
    const char *mnt;
    const char *uts;
} local_ns;

/* A network as recorded in networks/ID/network.json. */
typedef struct local_net {
    char id[LOCAL_ID_SIZE];
    char bridge[LOCAL_IFNAME_SIZE];
    uint32_t network; /* host byte order */
    int prefixlen;
    uint32_t gateway;
    char cidr[20];
    int private_net; /* no address on the bridge, unreachable from this machine */
    char *dir;       /* base/networks/ID */
} local_net;

/* Networks a host is on besides its first: eth1, eth2. */
#define LOCAL_EXTRA_NETS 2

/* A namespace host: an instance or a load balancer. */
typedef struct local_host {
    char id[LOCAL_ID_SIZE];
    char kind[16];                /* "instance" or "load_balancer" */
    char veth[LOCAL_IFNAME_SIZE]; /* host end of the veth pair, on the bridge */
    char network[LOCAL_ID_SIZE];  /* network id */
    char address[16];             /* eth0 address, "" until leased */
    int private_net;              /* the network of eth0 is private */
    size_t n_extra;               /* further networks: eth1... */
    char extra_net[LOCAL_EXTRA_NETS][LOCAL_ID_SIZE];
    char extra_addr[LOCAL_EXTRA_NETS][16]; /* "" until leased */
    char extra_veth[LOCAL_EXTRA_NETS][LOCAL_IFNAME_SIZE];
    char *hostname;
    char *token;      /* create token, or NULL */
    char *dir;        /* base/hosts/ID */
    char *root;       /* base/hosts/ID/root: sources of the private mounts */
    char *netns;      /* PREFIX-ID, the `ip netns` name */
    char *netns_path; /* /run/netns/PREFIX-ID */
    char *mnt_path;   /* base/ns/ID.mnt */
    char *uts_path;   /* base/ns/ID.uts */
    int complete;     /* every create step finished at least once */
} local_host;

/* ------------------------------------------------------------------ */
/* local_util.c: files, JSON files, locks, ids, addresses             */

/* INFRA_ECANCELLED when the call was cancelled or the provider stopped. */
int local_check_cancel(infra_provider *p, infra_call *call);

/* Replaces path atomically (temp file, fsync, rename). 0 or INFRA_EINTERNAL
 * with a diagnostic. */
int local_write_file(infra_call *call, const char *path, const char *data, size_t len, int mode);
/* Loads / saves a JSON file through the host's JSON service. Load gives
 * INFRA_ENOTFOUND when missing; *out is a new value. */
int local_json_load(infra_call *call, const char *path, infra_json **out);
int local_json_save(infra_call *call, const char *path, const infra_json *value);
/* mkdir -p with mode for the missing components. 0 or INFRA_EINTERNAL. */
int local_mkdirs(infra_call *call, const char *path, int mode);
/* rm -rf that never crosses into another file system (a mount). */
int local_rmtree(infra_call *call, const char *path);
/* 1 when path exists (lstat). */
int local_exists(const char *path);
/* 1 when the directory has no entries (or does not exist). */
int local_dir_empty(const char *path);

/* Takes an exclusive flock on directory path (created if missing) and
 * returns its descriptor in *fd; if the directory is removed while
 * waiting, retries on the new one. Release with local_unlock. */
int local_lock_dir(infra_call *call, const char *path, int *fd);
void local_unlock(int fd);

/* The id of the object a create makes: kind letter + 10 hex digits derived
 * from the call's idempotency token, random without one. */
void local_id_for_call(infra_call *call, char kind, char out[LOCAL_ID_SIZE]);
/* 1 when id is a well-formed id of kind (0 = any kind). */
int local_id_valid(const char *id, char kind);

/* Kernel interface name PREFIX + letter + hex digits of id, <= 15 chars. */
void local_ifname(const infra_provider *p, char letter, const char *id,
                  char out[LOCAL_IFNAME_SIZE]);

/* IPv4 helpers (host byte order). */
int local_ip_parse(const char *text, uint32_t *out);
void local_ip_format(uint32_t ip, char out[16]);
/* "a.b.c.d/n"; *network is the address with host bits cleared. */
int local_cidr_parse(const char *text, uint32_t *network, int *prefixlen);
uint32_t local_mask(int prefixlen);

/* ------------------------------------------------------------------ */
/* local_exec.c: running programs, inside namespaces or not            */

/* The absolute path of tool in *path (borrowed from p). INFRA_ENOTSUP with
 * a diagnostic naming the Debian package when it is not installed. */
int local_tool_path(infra_provider *p, infra_call *call, local_tool tool, const char **path);

/* Runs argv (argv[0] an absolute path) after entering ns (may be NULL),
 * with a minimal environment and no inherited descriptors. Captures stdout
 * and stderr into *out / *err when not NULL (caller frees). *status is the
 * exit status (128+N for signal N). 0 when the program ran, whatever its
 * status; INFRA_EINTERNAL with a diagnostic when it could not be started
 * or outlived timeout_ms (then killed). */
int local_exec(infra_call *call, char *const *argv, const local_ns *ns, int timeout_ms, int *status,
               char **out, char **err);

/* local_exec that expects exit status 0; any other status is reported as
 * "COMMAND: STDERR" at attr and gives INFRA_EINTERNAL. */
int local_run(infra_call *call, const char *attr, char *const *argv, const local_ns *ns,
              char **out);

/* local_run without a diagnostic for a non-zero status (INFRA_EINTERNAL):
 * for steps that may have been done by an interrupted run meanwhile. */
int local_run_quiet(infra_call *call, char *const *argv, const local_ns *ns);

/* Starts a program that daemonises itself (sshd, haproxy -D) inside ns,
 * its stdout and stderr appended to log_path (a path inside the mount
 * namespace). Waits for the launching process; its non-zero status is an
 * error naming the log's tail. */
int local_start_daemon(infra_call *call, const char *attr, char *const *argv, const local_ns *ns,
                       const char *log_path);

/* Starts argv inside ns in a new session, detached (not waited for),
 * stdout and stderr appended to log_path (inside the mount namespace). */
int local_start_detached(infra_call *call, char *const *argv, const local_ns *ns,
                         const char *log_path);

/* In a child after fork: default signals, empty mask. Async-signal-safe. */
void local_child_reset_signals(void);
/* In a child after fork: closes every descriptor >= 3 except keep_a and
 * keep_b (-1 = none). Async-signal-safe. */
void local_child_close_fds(int keep_a, int keep_b);

/* The inode of the namespace bound at path, 0 when path is not a bound
 * namespace file. */
uint64_t local_ns_inode(const char *path);

/* SIGKILLs every process whose net namespace is net_ino or whose mount
 * namespace is mnt_ino (0 = ignore), until none is left. */
int local_kill_ns_processes(infra_provider *p, infra_call *call, uint64_t net_ino,
                            uint64_t mnt_ino);

/* The pid in pidfile when that process is alive and in net namespace
 * net_ino; 0 otherwise. */
pid_t local_pidfile_alive(const char *pidfile, uint64_t net_ino);

/* 1 when a TCP connection to addr:port succeeds within timeout_ms, made
 * from inside net namespace netns_path when it is not NULL. */
int local_tcp_probe(const char *addr, int port, const char *netns_path, int timeout_ms);

/* Waits until addr:port accepts TCP connections from this namespace, or
 * (when fallback_netns is not NULL) from inside that namespace, polling for
 * at most timeout_ms. 0, INFRA_ETRANSIENT on timeout, INFRA_ECANCELLED. */
int local_wait_port(infra_provider *p, infra_call *call, const char *addr, int port,
                    const char *fallback_netns, int64_t timeout_ms);
/* Waits until addr:port accepts TCP connections from inside net namespace
 * netns only (a host on a private network). Same results. */
int local_wait_port_in(infra_provider *p, infra_call *call, const char *addr, int port,
                       const char *netns, int64_t timeout_ms);

/* ------------------------------------------------------------------ */
/* local_scan.c: what a batched refresh looks at once                  */

/* Taken when first asked for, for every resource of a read_many call; a
 * NULL scan (read()) asks each question directly. */
typedef struct local_scan local_scan;
local_scan *local_scan_new(void);
void local_scan_free(local_scan *s);
/* local_ns_inode(path), from one read of /proc/self/mountinfo. */
uint64_t local_scan_ns_inode(local_scan *s, const char *path);
/* 1 when the kernel has a link called name (one listing of /sys/class/net). */
int local_scan_link(local_scan *s, const char *name);
/* 1 when the shared hosts file holds "address<TAB>fqdn" as a line (read once). */
int local_scan_hosts_line(local_scan *s, infra_provider *p, const char *address, const char *fqdn);
/* What `nft list table inet infra` shows in host host_id's namespace
 * (owned by s; one listing per host), or NULL when the host is down or
 * has no such table. s is not NULL. */
const char *local_scan_fw_table(local_scan *s, infra_provider *p, infra_call *call,
                                const char *host_id);

/* ------------------------------------------------------------------ */
/* local_net.c: networks, bridges, leases, veth pairs                  */

int local_network_apply(infra_provider *p, infra_call *call, const infra_json *prior,
                        const infra_json *planned, infra_json **new_state);
int local_network_delete(infra_provider *p, infra_call *call, const infra_json *prior);
/* read of a network; scan NULL, or that of a batch */
int local_network_read(infra_provider *p, infra_call *call, local_scan *scan,
                       const infra_json *state, infra_json **out);

/* Loads network id into *net (free with local_net_free). INFRA_ENOTFOUND
 * with a diagnostic at attr when it does not exist. */
int local_net_load(infra_provider *p, infra_call *call, const char *attr, const char *id,
                   local_net *net);
void local_net_free(local_net *net);

/* The address leased to host_id on net: the existing lease, or the lowest
 * free address after the gateway. Safe across threads and processes. */
int local_lease(infra_provider *p, infra_call *call, const local_net *net, const char *host_id,
                char out[16]);
/* Releases host_id's lease; a missing network or lease is not an error. */
int local_lease_release(infra_provider *p, infra_call *call, const char *net_id,
                        const char *host_id);
/* The host holding address ip on net, in out; INFRA_ENOTFOUND. */
int local_lease_owner(infra_call *call, const local_net *net, const char *ip,
                      char out[LOCAL_ID_SIZE]);

/* Creates net's bridge with the gateway address, up; with quick, only when
 * the bridge is missing (gone with a reboot: hosts bring it back). */
int local_bridge_ensure(infra_provider *p, infra_call *call, const local_net *net, int quick);

/* Creates (or completes) a veth pair of h: host end veth on net's bridge,
 * peer as dev inside h's netns with address addr, lo up; on eth0 of a
 * network that is not private, the default route via its gateway. */
int local_veth_ensure(infra_provider *p, infra_call *call, const local_host *h,
                      const local_net *net, const char *veth, const char *dev, const char *addr);

/* ------------------------------------------------------------------ */
/* local_host.c: namespace hosts                                       */

/* Fills the paths of host id (no I/O). Free with local_host_free. */
void local_host_init(infra_provider *p, const char *id, local_host *h);
void local_host_free(local_host *h);
/* Loads hosts/ID/host.json into h. INFRA_ENOTFOUND when the host is unknown. */
int local_host_load(infra_provider *p, infra_call *call, const char *id, local_host *h);
int local_host_save(infra_call *call, const local_host *h);
/* The host an apply builds: host id as it was recorded, or a new one of
 * kind ("instance", "load_balancer") named hostname (taken, also on
 * failure) and carrying the call's token. INFRA_ECONFLICT with a
 * diagnostic when id is a host of another kind ("... not WHAT"), or,
 * with check_token, one made by a create with another token. Free h with
 * local_host_free in every case. */
int local_host_adopt(infra_provider *p, infra_call *call, const char *id, const char *kind,
                     const char *what, char *hostname, int check_token, local_host *h);
/* The namespaces of h to enter. */
void local_host_ns(const local_host *h, local_ns *ns);

/* Builds or completes h on network net_id: directories, address, netns,
 * veth, mount and UTS namespaces with private directories and the shared
 * hosts file, hostname. Every step first checks whether it is done.
 * initial (may be NULL) is saved as the host's state.json when it has
 * none yet, so that a lookup by token after a crash knows the config. */
int local_host_ensure(infra_provider *p, infra_call *call, local_host *h, const char *net_id,
                      const infra_json *initial);
/* After local_host_ensure: puts h on the further networks extra (array of
 * network ids, may be NULL) as eth1..., leasing an address on each. The
 * networks of a host do not change (INFRA_ECONFLICT). */
int local_host_extra_ensure(infra_provider *p, infra_call *call, local_host *h,
                            const infra_json *extra);

/* Removes host id completely: processes, mounts, veth, netns, lease,
 * directory. INFRA_ENOTFOUND when nothing of it exists. */
int local_host_destroy(infra_provider *p, infra_call *call, const char *id);

/* Host id's existence: 1 when its directory exists and its netns is
 * mounted, 0 when the directory exists without a netns, INFRA_ENOTFOUND.
 * With a scan, the netns is looked for in it. */
int local_host_alive(infra_provider *p, const char *id);
int local_host_alive_scan(infra_provider *p, local_scan *scan, const char *id);

/* Takes the provider-wide lock (base directory). */
int local_base_lock(infra_provider *p, infra_call *call, int *fd);

/* Removes directories and files left when the last object is gone: the ns
 * mount, the hosts file, empty kind directories, the base directory. */
void local_gc(infra_provider *p, infra_call *call);

/* ------------------------------------------------------------------ */
/* local_instance.c, local_lb.c, local_fw.c, local_dns.c: resource types */

int local_instance_apply(infra_provider *p, infra_call *call, const infra_json *prior,
                         const infra_json *planned, infra_json **new_state);
int local_instance_read(infra_provider *p, infra_call *call, local_scan *scan,
                        const infra_json *state, infra_json **out);
int local_instance_delete(infra_provider *p, infra_call *call, const infra_json *prior);

int local_lb_apply(infra_provider *p, infra_call *call, const infra_json *prior,
                   const infra_json *planned, infra_json **new_state);
int local_lb_read(infra_provider *p, infra_call *call, local_scan *scan, const infra_json *state,
                  infra_json **out);
int local_lb_delete(infra_provider *p, infra_call *call, const infra_json *prior);
/* The "lb-ID.local" name of load balancer id (caller frees). */
char *local_lb_dns_name(const char *id);

int local_fw_apply(infra_provider *p, infra_call *call, const infra_json *prior,
                   const infra_json *planned, infra_json **new_state);
int local_fw_read(infra_provider *p, infra_call *call, local_scan *scan, const infra_json *state,
                  infra_json **out);
int local_fw_delete(infra_provider *p, infra_call *call, const infra_json *prior);
/* Offline checks of a firewall's allow list; diagnostics at "allow[i]...". */
int local_fw_validate_allow(infra_call *call, const infra_json *allow);
/* Offline checks of a load balancer's health and backend_port, and of a
 * dns_record's zone, name and target: what apply would refuse. Unknown
 * values pass. 0 or INFRA_EINVALID, one diagnostic per problem. */
int local_lb_validate(infra_call *call, const infra_json *config);
int local_dns_validate(infra_call *call, const infra_json *config);

int local_dns_apply(infra_provider *p, infra_call *call, const infra_json *prior,
                    const infra_json *planned, infra_json **new_state);
int local_dns_read(infra_provider *p, infra_call *call, local_scan *scan, const infra_json *state,
                   infra_json **out);
int local_dns_delete(infra_provider *p, infra_call *call, const infra_json *prior);

/* The path of the shared hosts file (caller frees). */
char *local_hosts_file_path(infra_provider *p);
/* Rewrites the shared hosts file from the records (hosts, load balancers,
 * dns records) in place: same inode, so every bind mount sees it. Creates
 * it when missing. Takes the base lock itself unless locked is 1. */
int local_hosts_file_update(infra_provider *p, infra_call *call, int locked);

/* Loads the last state saved in DIR/state.json and the completion flag.
 * Helpers shared by the resource files. */
int local_state_load(infra_call *call, const char *dir, infra_json **state);
int local_state_save(infra_call *call, const char *dir, const infra_json *state);

/* The id for apply: from prior state on update, from the token on create.
 * INFRA_EINVALID with a diagnostic when prior holds no valid id. */
int local_apply_id(infra_call *call, const infra_json *prior, char kind, char out[LOCAL_ID_SIZE]);

/* The id for read: from state when there is one, else the id a create
 * under the call's token made. INFRA_ENOTFOUND when state holds no valid
 * id of kind. */
int local_read_id(infra_call *call, const infra_json *state, char kind, char out[LOCAL_ID_SIZE]);

/* {"id": id, status_attr: value}: what a lookup by token reports for an
 * object whose create was interrupted before its record was written, so
 * that the engine deletes (or completes) it rather than forget it. */
int local_partial_state(const char *id, const char *status_attr, const char *value,
                        infra_json **out);

/* Loads DIR/record.json of a firewall or DNS record for read() into *rec
 * (new) and, without a state, the state saved beside it into *saved (new,
 * or NULL). 0; 1 when a create was killed before writing the record (the
 * directory exists) and *out is a partial state reporting the object
 * incomplete; INFRA_ENOTFOUND; INFRA_EINTERNAL with a diagnostic. */
int local_record_read(infra_call *call, const char *dir, const char *id, const infra_json *state,
                      infra_json **rec, infra_json **saved, infra_json **out);

/* The string id of state (validated for kind), or NULL. */
const char *local_state_id(const infra_json *state, char kind);

#endif
