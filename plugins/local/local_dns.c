/* DNS of the local provider: one hosts file per provider prefix,
 * RUN_DIR/hosts.PREFIX, bind-mounted over /etc/hosts in every host. It is
 * regenerated from the records (instances' hostnames, load balancers'
 * names, dns_record resources) and rewritten in place, never renamed: a
 * bind mount pins the inode, so a new file would be invisible inside the
 * hosts. */
#include "local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *local_hosts_file_path(infra_provider *p)
{
    return pu_printf("%s/hosts.%s", p->run_dir, p->prefix);
}

/* One name -> address line of the hosts file. */
typedef struct name_entry {
    char address[16];
    char *name;
} name_entry;

typedef struct name_list {
    name_entry *v;
    size_t n;
} name_list;

static void names_add(name_list *l, const char *address, const char *name)
{
    name_entry *grown = pu_realloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v = grown;
    snprintf(l->v[l->n].address, sizeof(l->v[l->n].address), "%s", address);
    l->v[l->n].name = pu_strdup(name);
    l->n++;
}

static void names_free(name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* Every name the provider knows, in a stable order: hosts, then records. */
static void names_collect(infra_provider *p, infra_call *call, name_list *out)
{
    static const char *const kinds[] = {"hosts", "dns"};
    for (size_t k = 0; k < 2; k++) {
        char *dir = pu_printf("%s/%s", p->base, kinds[k]);
        struct dirent **ents = NULL;
        int n = scandir(dir, &ents, NULL, alphasort);
        for (int i = 0; i < n; i++) {
            const char *id = ents[i]->d_name;
            infra_json *rec = NULL;
            if (local_id_valid(id, 0)) {
                char *path = pu_printf("%s/%s/%s", dir, id, k == 0 ? "host.json" : "record.json");
                if (local_json_load(call, path, &rec) == 0) {
                    const char *addr = pu_json_str(rec, "address");
                    const char *name = pu_json_str(rec, k == 0 ? "hostname" : "fqdn");
                    const char *kind = pu_json_str(rec, "kind");
                    uint32_t ip;
                    if (addr != NULL && local_ip_parse(addr, &ip) == 0) {
                        if (k == 0 && kind != NULL && strcmp(kind, "load_balancer") == 0) {
                            char *lb = local_lb_dns_name(id);
                            names_add(out, addr, lb);
                            free(lb);
                        } else if (name != NULL && *name != '\0') {
                            names_add(out, addr, name);
                        }
                    }
                }
                free(path);
            }
            LJ->release(rec);
            free(ents[i]);
        }
        free(ents);
        free(dir);
    }
}

static int write_in_place(infra_call *call, const char *path, const char *data, size_t len)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    int error = 0;
    size_t done = 0;

    if (fd < 0) {
        pu_diagf(call, "", "cannot open %s: %s", path, strerror(errno));
        return INFRA_EINTERNAL;
    }
    /* Content first, then the length: a reader never sees an empty file. */
    while (done < len) {
        ssize_t n = pwrite(fd, data + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            error = INFRA_EINTERNAL;
            break;
        }
        done += (size_t)n;
    }
    if (error == 0 && (ftruncate(fd, (off_t)len) < 0 || fsync(fd) < 0))
        error = INFRA_EINTERNAL;
    if (error < 0)
        pu_diagf(call, "", "cannot write %s: %s", path, strerror(errno));
    close(fd);
    return error;
}

int local_hosts_file_update(infra_provider *p, infra_call *call, int locked)
{
    int fd = -1, error = 0;
    name_list names = {0};
    pu_buf b = {0};
    char *path = local_hosts_file_path(p);

    if (!locked && (error = local_base_lock(p, call, &fd)) < 0)
        goto done;
    names_collect(p, call, &names);
    pu_buf_printf(&b,
                  "# Written by infra's local provider (%s/%s); edits are lost.\n"
                  "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
                  p->run_dir, p->prefix);
    for (size_t i = 0; i < names.n; i++)
        pu_buf_printf(&b, "%s\t%s\n", names.v[i].address, names.v[i].name);
    error = write_in_place(call, path, b.data, b.len);
done:
    local_unlock(fd);
    names_free(&names);
    free(b.data);
    free(path);
    return error;
}

/* ------------------------------------------------------------------ */
/* dns_record                                                          */

static int name_valid(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 253)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '.' || *s == '_'))
            return 0;
    return 1;
}

/* name.zone without a trailing dot; "@" is the zone itself. NULL when
 * the result is not a name a hosts file can hold. */
static char *make_fqdn(const char *name, const char *zone)
{
    if (name == NULL || zone == NULL)
        return NULL;
    size_t zlen = strlen(zone);
    while (zlen > 0 && zone[zlen - 1] == '.')
        zlen--;
    char *fqdn = strcmp(name, "@") == 0 ? pu_printf("%.*s", (int)zlen, zone)
                                        : pu_printf("%s.%.*s", name, (int)zlen, zone);
    if (!name_valid(fqdn)) {
        free(fqdn);
        return NULL;
    }
    return fqdn;
}

int local_dns_validate(infra_call *call, const infra_json *config)
{
    int error = 0;
    const char *name = pu_json_str(config, "name"), *zone = pu_json_str(config, "zone");
    const char *target = pu_json_str(config, "target");
    if (zone != NULL) {
        char *bare = pu_printf("%s", zone);
        size_t n = strlen(bare);
        while (n > 0 && bare[n - 1] == '.')
            bare[--n] = '\0';
        if (!name_valid(bare)) {
            pu_diagf(call, "zone", "zone must be a domain name of letters, digits, '-', '_' and '.'");
            error = INFRA_EINVALID;
        }
        free(bare);
    }
    if (error == 0 && name != NULL && zone != NULL && strchr(name, '*') == NULL) {
        char *fqdn = make_fqdn(name, zone);
        if (fqdn == NULL) {
            pu_diagf(call, "name",
                     "name and zone must form a host name of letters, digits, '-', '_' and '.'");
            error = INFRA_EINVALID;
        }
        free(fqdn);
    }
    uint32_t ip;
    if (target != NULL && local_ip_parse(target, &ip) < 0 && !name_valid(target)) {
        pu_diagf(call, "target", "target must be an IPv4 address or a host name");
        error = INFRA_EINVALID;
    }
    return error;
}

/* The address target stands for: an IPv4 address, or a name in the hosts
 * file (a load balancer's dns_name, a hostname, another record). */
static int resolve_target(infra_provider *p, infra_call *call, const char *target, char out[16])
{
    uint32_t ip;
    if (target == NULL || *target == '\0') {
        pu_diagf(call, "target",
                 "a dns_record needs a target: an IPv4 address or a name "
                 "this provider knows");
        return INFRA_EINVALID;
    }
    if (local_ip_parse(target, &ip) == 0) {
        local_ip_format(ip, out);
        return 0;
    }
    name_list names = {0};
    int error = INFRA_EINVALID;
    names_collect(p, call, &names);
    for (size_t i = 0; i < names.n && error < 0; i++) {
        if (strcmp(names.v[i].name, target) == 0) {
            memcpy(out, names.v[i].address, 16);
            error = 0;
        }
    }
    names_free(&names);
    if (error < 0)
        pu_diagf(call, "target",
                 "\"%s\" is neither an IPv4 address nor a name this provider "
                 "knows (a load balancer's dns_name, a hostname, a record)",
                 target);
    return error;
}

static char *dns_dir(infra_provider *p, const char *id)
{
    return pu_printf("%s/dns/%s", p->base, id);
}

static int record_save(infra_call *call, const char *dir, const char *id, const char *fqdn,
                       const char *address, int complete)
{
    infra_json *rec = LJ->new_object();
    char *path = pu_printf("%s/record.json", dir);
    int error = INFRA_EINTERNAL;
    if (rec != NULL && pu_json_set_str(rec, "id", id) == 0 &&
        pu_json_set_str(rec, "fqdn", fqdn) == 0 && pu_json_set_str(rec, "address", address) == 0 &&
        LJ->set(rec, "complete", LJ->new_bool(complete)) == 0)
        error = local_json_save(call, path, rec);
    LJ->release(rec);
    free(path);
    return error;
}

static int dns_state(const infra_json *base, const char *id, const char *fqdn, const char *address,
                     int ready, infra_json **out)
{
    infra_json *st = base ? LJ->copy(base) : LJ->new_object();
    if (st == NULL || pu_json_set_str(st, "id", id) < 0 || pu_json_set_str(st, "fqdn", fqdn) < 0 ||
        (address && pu_json_set_str(st, "address", address) < 0) ||
        pu_json_set_str(st, "status", ready ? "ready" : "incomplete") < 0) {
        LJ->release(st);
        return INFRA_EINTERNAL;
    }
    *out = st;
    return 0;
}

int local_dns_apply(infra_provider *p, infra_call *call, const infra_json *prior,
                    const infra_json *planned, infra_json **new_state)
{
    char id[LOCAL_ID_SIZE], address[16];
    int error;
    infra_json *state = NULL;
    char *fqdn = make_fqdn(pu_json_str(planned, "name"), pu_json_str(planned, "zone"));

    if (fqdn == NULL) {
        pu_diagf(call, "name",
                 "name and zone must form a host name of letters, digits, "
                 "'-', '_' and '.' (a hosts file has no wildcards)");
        return INFRA_EINVALID;
    }
    char *dir = NULL;
    if ((error = local_apply_id(call, prior, LOCAL_KIND_DNS, id)) < 0 ||
        (error = resolve_target(p, call, pu_json_str(planned, "target"), address)) < 0)
        goto done;
    dir = dns_dir(p, id);
    if ((error = local_mkdirs(call, dir, 0755)) < 0 ||
        (error = record_save(call, dir, id, fqdn, address, 0)) < 0 ||
        (error = dns_state(planned, id, fqdn, address, 0, &state)) < 0 ||
        (error = local_state_save(call, dir, state)) < 0 ||
        (error = local_hosts_file_update(p, call, 0)) < 0)
        goto done;
    LJ->release(state);
    state = NULL;
    if ((error = dns_state(planned, id, fqdn, address, 1, &state)) < 0 ||
        (error = local_state_save(call, dir, state)) < 0 ||
        (error = record_save(call, dir, id, fqdn, address, 1)) < 0)
        goto done;
    *new_state = state;
    state = NULL;
done:
    LJ->release(state);
    free(dir);
    free(fqdn);
    return error;
}

int local_dns_read(infra_provider *p, infra_call *call, local_scan *scan, const infra_json *state,
                   infra_json **out)
{
    char id[LOCAL_ID_SIZE];
    infra_json *rec = NULL, *saved = NULL;
    int error;

    if ((error = local_read_id(call, state, LOCAL_KIND_DNS, id)) < 0)
        return error;
    char *dir = dns_dir(p, id);
    if ((error = local_record_read(call, dir, id, state, &rec, &saved, out)) != 0) {
        error = error > 0 ? 0 : error; /* 1: a partial state answered */
        goto done;
    }
    const char *fqdn = pu_json_str(rec, "fqdn"), *address = pu_json_str(rec, "address");
    int ready = LJ->boolean(LJ->get(rec, "complete")) && fqdn && address &&
                local_scan_hosts_line(scan, p, address, fqdn);
    error = dns_state(state ? state : saved, id, fqdn ? fqdn : "", address, ready, out);
done:
    LJ->release(rec);
    LJ->release(saved);
    free(dir);
    return error;
}

int local_dns_delete(infra_provider *p, infra_call *call, const infra_json *prior)
{
    const char *id = local_state_id(prior, LOCAL_KIND_DNS);
    if (id == NULL)
        return INFRA_ENOTFOUND;
    char *dir = dns_dir(p, id);
    int error = 0;
    if (!local_exists(dir)) {
        error = INFRA_ENOTFOUND;
    } else if ((error = local_rmtree(call, dir)) == 0) {
        error = local_hosts_file_update(p, call, 0);
        local_gc(p, call);
    }
    free(dir);
    return error;
}
