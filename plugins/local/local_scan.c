/* What a batched refresh (read_many) looks at once for all its resources
 * instead of once per resource: the network namespaces mounted (one read
 * of /proc/self/mountinfo), the kernel's links (one listing of
 * /sys/class/net), the shared hosts file (read once), and the nftables
 * table of each host (one `nft list table` per host, however many
 * firewalls target it). Each is taken when first asked for. read()
 * passes no scan, and the same questions are then asked directly, so a
 * batch sees exactly what read() sees. */
#include "local.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ns_mount {
    char *path;
    uint64_t inode;
} ns_mount;

typedef struct fw_table {
    char host[LOCAL_ID_SIZE];
    char *listing; /* `nft list table inet infra` in its namespace, or NULL */
} fw_table;

struct local_scan {
    int mounts_read;
    ns_mount *mounts;
    size_t nmounts;
    int links_read;
    char **links;
    size_t nlinks;
    int hosts_read;
    char *hosts_file;
    fw_table *tables;
    size_t ntables;
};

local_scan *local_scan_new(void)
{
    return pu_calloc(1, sizeof(local_scan));
}

void local_scan_free(local_scan *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nmounts; i++)
        free(s->mounts[i].path);
    free(s->mounts);
    for (size_t i = 0; i < s->nlinks; i++)
        free(s->links[i]);
    free(s->links);
    free(s->hosts_file);
    for (size_t i = 0; i < s->ntables; i++)
        free(s->tables[i].listing);
    free(s->tables);
    free(s);
}

/* A mountinfo path with its \NNN escapes undone, in place. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* Every nsfs mount of this process: "ID PARENT MAJ:MIN ROOT MOUNTPOINT ...
 * - nsfs SOURCE ...", ROOT being "net:[INODE]". */
static void mounts_read(local_scan *s)
{
    char *text = NULL;
    s->mounts_read = 1;
    if (pu_read_file("/proc/self/mountinfo", 0, &text, NULL) < 0)
        return;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char root[256], point[4096];
        const char *dash = strstr(line, " - ");
        if (dash == NULL || strncmp(dash, " - nsfs ", 8) != 0 ||
            sscanf(line, "%*s %*s %*s %255s %4095s", root, point) != 2)
            continue;
        const char *open = strchr(root, '[');
        if (open == NULL)
            continue;
        unescape(point);
        s->mounts = pu_realloc(s->mounts, (s->nmounts + 1) * sizeof(ns_mount));
        s->mounts[s->nmounts].path = pu_strdup(point);
        s->mounts[s->nmounts].inode = strtoull(open + 1, NULL, 10);
        s->nmounts++;
    }
    free(text);
}

uint64_t local_scan_ns_inode(local_scan *s, const char *path)
{
    if (s == NULL)
        return local_ns_inode(path);
    if (!s->mounts_read)
        mounts_read(s);
    uint64_t inode = 0;
    for (size_t i = 0; i < s->nmounts; i++) /* the last mount over a path is the one seen */
        if (strcmp(s->mounts[i].path, path) == 0)
            inode = s->mounts[i].inode;
    return inode;
}

int local_scan_link(local_scan *s, const char *name)
{
    if (s == NULL) {
        char path[64];
        snprintf(path, sizeof(path), "/sys/class/net/%s", name);
        return local_exists(path);
    }
    if (!s->links_read) {
        DIR *d = opendir("/sys/class/net");
        s->links_read = 1;
        for (struct dirent *e = d ? readdir(d) : NULL; e != NULL; e = readdir(d)) {
            if (e->d_name[0] == '.')
                continue;
            s->links = pu_realloc(s->links, (s->nlinks + 1) * sizeof(char *));
            s->links[s->nlinks++] = pu_strdup(e->d_name);
        }
        if (d != NULL)
            closedir(d);
    }
    for (size_t i = 0; i < s->nlinks; i++)
        if (strcmp(s->links[i], name) == 0)
            return 1;
    return 0;
}

int local_scan_hosts_line(local_scan *s, infra_provider *p, const char *address, const char *fqdn)
{
    char *own = NULL;
    const char *text = NULL;
    if (s == NULL || !s->hosts_read) {
        char *path = local_hosts_file_path(p);
        if (pu_read_file(path, 0, &own, NULL) < 0)
            own = NULL;
        free(path);
        if (s != NULL) {
            s->hosts_read = 1;
            s->hosts_file = own;
            own = NULL;
        }
    }
    text = s != NULL ? s->hosts_file : own;
    char *line = pu_printf("\n%s\t%s\n", address, fqdn);
    int found = text != NULL && strstr(text, line) != NULL;
    free(line);
    free(own);
    return found;
}

const char *local_scan_fw_table(local_scan *s, infra_provider *p, infra_call *call,
                                const char *host_id)
{
    for (size_t i = 0; i < s->ntables; i++)
        if (strcmp(s->tables[i].host, host_id) == 0)
            return s->tables[i].listing;
    const char *nft = NULL;
    local_host h;
    char *listing = NULL;
    local_host_init(p, host_id, &h);
    if (local_scan_ns_inode(s, h.netns_path) != 0 && local_exists(h.dir) &&
        local_tool_path(p, call, LOCAL_TOOL_NFT, &nft) == 0) {
        local_ns ns = {h.netns_path, NULL, NULL};
        char *argv[] = {(char *)nft, "list", "table", "inet", "infra", NULL};
        int status = 1;
        if (local_exec(call, argv, &ns, 0, &status, &listing, NULL) < 0 || status != 0) {
            free(listing);
            listing = NULL;
        }
    }
    local_host_free(&h);
    s->tables = pu_realloc(s->tables, (s->ntables + 1) * sizeof(fw_table));
    snprintf(s->tables[s->ntables].host, LOCAL_ID_SIZE, "%s", host_id);
    s->tables[s->ntables++].listing = listing;
    return listing;
}
