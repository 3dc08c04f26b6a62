/* Instance properties as Compute takes them, for instances.insert and for
 * instance templates: machine type, boot disk, network interface, labels,
 * metadata (startup-script, ssh-keys), network tags, service account. */
#include "gcp_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLOUD_PLATFORM "https://www.googleapis.com/auth/cloud-platform"

static const char *const machine_keys[] = {"machine", "size", "machine_type", NULL};
static const char *const subnet_keys[] = {"subnetwork", "subnet", NULL};
static const char *const cluster_keys[] = {"role", "cluster", "region", "datacenter", NULL};

const char *gcp_ssh_user(const infra_json *cfg)
{
    const char *u = pu_json_str(cfg, "ssh_user");
    return u != NULL && *u ? u : "infra";
}

int gcp_network_tags(const infra_json *cfg, char ***out)
{
    const infra_json *tags = GJ->get(cfg, "network_tags");
    const infra_json *alt = GJ->get(cfg, "tags");
    char **v = NULL;
    int error = gcp_json_strv(tags, &v);
    if (error == 0 && alt != NULL && GJ->type(alt) == INFRA_JSON_ARRAY) {
        char **more = NULL;
        if ((error = gcp_json_strv(alt, &more)) == 0)
            for (size_t i = 0; more[i] != NULL; i++)
                if (!gcp_strv_has(v, more[i]))
                    gcp_strv_push(&v, more[i]);
        gcp_strv_free(more);
    }
    if (error < 0) {
        gcp_strv_free(v);
        return error;
    }
    *out = v;
    return 0;
}

char *gcp_join_tag_value(const char *topology, const char *environment, const char *cluster,
                         const char *region)
{
    /* A network tag is a Compute name ([a-z]([-a-z0-9]*[a-z0-9])?, 63 at
     * most) and the names it stands for are free text: the tag is a digest
     * of them, the same words the nomad plugin hashes for the pool's
     * Consul auto-join (nomad_pool_join_gce_tag). */
    char *text = pu_printf("%s.%s.%s.%s", topology && *topology ? topology : "-",
                           environment && *environment ? environment : "default", cluster, region);
    char hex[65];
    gcp_sha256_hex(text, strlen(text), hex);
    free(text);
    hex[GCP_JOIN_TAG_HEX] = '\0';
    return pu_printf(GCP_JOIN_TAG_PREFIX "%s", hex);
}

char *gcp_join_tag(infra_call *call, const infra_json *cfg)
{
    const char *role = pu_json_str(cfg, "role"), *cluster = pu_json_str(cfg, "cluster");
    const char *region = pu_json_str(cfg, "region");
    if (role == NULL || strcmp(role, "server") != 0 || cluster == NULL || region == NULL)
        return NULL;
    const char *topo =
        call != NULL && INFRA_HAS_SLOT(pu_host, call_topology) ? pu_host->call_topology(call) : "";
    const char *env = call != NULL && INFRA_HAS_SLOT(pu_host, call_environment)
                          ? pu_host->call_environment(call)
                          : "";
    return gcp_join_tag_value(topo, env, cluster, region);
}

int gcp_instance_tags(infra_call *call, const infra_json *cfg, char ***out)
{
    int error = gcp_network_tags(cfg, out);
    char *join = error == 0 ? gcp_join_tag(call, cfg) : NULL;
    if (join != NULL && !gcp_strv_has(*out, join))
        gcp_strv_push(out, join);
    free(join);
    return error;
}

infra_json *gcp_user_labels(const infra_json *cfg)
{
    infra_json *labels = GJ->new_object();
    const infra_json *maps[] = {GJ->get(cfg, "tags"), GJ->get(cfg, "labels")};
    for (int m = 0; m < 2; m++) {
        if (maps[m] == NULL || GJ->type(maps[m]) != INFRA_JSON_OBJECT)
            continue;
        void *iter = NULL;
        const char *key;
        const infra_json *value;
        while (GJ->next(maps[m], &iter, &key, &value))
            pu_json_set_copy(labels, key, value);
    }
    for (size_t i = 0; cluster_keys[i] != NULL; i++) {
        const infra_json *v = GJ->get(cfg, cluster_keys[i]);
        if (v != NULL && GJ->type(v) != INFRA_JSON_NULL && GJ->get(labels, cluster_keys[i]) == NULL)
            pu_json_set_copy(labels, cluster_keys[i], v);
    }
    return labels;
}

/* The text of an OpenSSH public key file (~/ expanded), trimmed (caller frees). */
static int read_public_key(gcp_act *a, const char *path, char **out)
{
    char *full = NULL;
    const char *home = getenv("HOME");
    if (strncmp(path, "~/", 2) == 0 && home != NULL)
        full = pu_printf("%s/%s", home, path + 2);
    else
        full = pu_strdup(path);
    char *text = NULL;
    int error = pu_read_file(full, 0, &text, NULL);
    if (error < 0) {
        pu_diagf(a->call, "ssh_public_key_file", "cannot read the public key file %s", full);
        free(full);
        return INFRA_EINVALID;
    }
    free(full);
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
        text[--n] = '\0';
    *out = text;
    return 0;
}

static int add_item(infra_json *items, const char *key, const char *value)
{
    infra_json *item = GJ->new_object();
    int error;
    if ((error = pu_json_set_str(item, "key", key)) < 0 ||
        (error = pu_json_set_str(item, "value", value)) < 0) {
        GJ->release(item);
        return error;
    }
    return GJ->append(items, item) < 0 ? INFRA_EINTERNAL : 0;
}

int gcp_metadata_build(gcp_act *a, const infra_json *cfg, infra_json **out)
{
    infra_json *md = GJ->new_object(), *items = GJ->new_array();
    const infra_json *user = GJ->get(cfg, "metadata");
    const char *script = pu_json_str(cfg, "startup_script");
    const char *key = pu_json_str(cfg, "ssh_public_key");
    const char *key_file = pu_json_str(cfg, "ssh_public_key_file");
    char *key_text = NULL;
    int error = 0;

    *out = NULL;
    if (script == NULL)
        script = pu_json_str(cfg, "user_data");
    if (user != NULL && GJ->type(user) == INFRA_JSON_OBJECT) {
        void *iter = NULL;
        const char *k;
        const infra_json *v;
        while (error == 0 && GJ->next(user, &iter, &k, &v)) {
            char *text = gcp_json_text(v);
            if (text == NULL) {
                pu_diagf(a->call, "metadata", "metadata %s: a value must be text", k);
                error = INFRA_EINVALID;
            } else {
                error = add_item(items, k, text);
            }
            free(text);
        }
    }
    if (error == 0 && script != NULL && *script)
        error = add_item(items, "startup-script", script);
    if (error == 0 && key == NULL && key_file != NULL && *key_file &&
        (error = read_public_key(a, key_file, &key_text)) == 0)
        key = key_text;
    if (error == 0 && key != NULL && *key) {
        /* USER:KEY, as the guest agent reads ssh-keys. */
        char *line = pu_printf("%s:%s", gcp_ssh_user(cfg), key);
        error = add_item(items, "ssh-keys", line);
        free(line);
    }
    free(key_text);
    if (error == 0 && (error = pu_json_set(md, "items", items)) == 0) {
        *out = md;
        return 0;
    }
    if (error == 0)
        items = NULL;
    GJ->release(items);
    GJ->release(md);
    return error < 0 ? error : INFRA_EINTERNAL;
}

/* The external address an access config asks for: an IP as it is, an
 * address resource's IP looked up (caller frees). */
static int nat_ip(gcp_act *a, const char *address, const char *region, char **out)
{
    *out = NULL;
    if (gcp_is_ipv4(address)) {
        *out = pu_strdup(address);
        return 0;
    }
    char *scope = pu_printf("regions/%s", region);
    char *path = gcp_ref(a->p, address, "addresses", scope);
    infra_json *obj = NULL;
    int error =
        gcp_get(a->p, a->call, GCP_COMPUTE, path, NULL, "addresses.get", "address", NULL, &obj);
    if (error == 0 && pu_json_str(obj, "address") != NULL)
        *out = pu_strdup(pu_json_str(obj, "address"));
    else if (error == 0)
        error = INFRA_EINTERNAL;
    GJ->release(obj);
    free(path);
    free(scope);
    return error;
}

/* public_ip true/false; an external address by default, as gcloud gives one. */
int gcp_want_public(const infra_json *cfg)
{
    const infra_json *v = GJ->get(cfg, "public_ip");
    int b = 1;
    return v != NULL && pu_json_to_bool(v, &b) == 0 ? b : 1;
}

static int interface_build(gcp_act *a, const infra_json *cfg, const char *region, infra_json **out)
{
    infra_json *nic = GJ->new_object();
    const infra_json *subnet = gcp_json_alias(cfg, subnet_keys, NULL);
    const char *network = pu_json_str(cfg, "network");
    const char *address = pu_json_str(cfg, "address");
    char *scope = pu_printf("regions/%s", region);
    int error = 0;

    if (subnet != NULL && GJ->string(subnet) != NULL) {
        char *ref = gcp_ref(a->p, GJ->string(subnet), "subnetworks", scope);
        error = pu_json_set_str(nic, "subnetwork", ref);
        free(ref);
    }
    if (error == 0 && network != NULL) {
        char *ref = gcp_ref(a->p, network, "networks", "global");
        error = pu_json_set_str(nic, "network", ref);
        free(ref);
    }
    if (error == 0 && gcp_want_public(cfg)) {
        infra_json *configs = GJ->new_array(), *ac = GJ->new_object();
        GJ->append(configs, ac);
        if ((error = pu_json_set(nic, "accessConfigs", configs)) == 0 &&
            (error = pu_json_set_str(ac, "type", "ONE_TO_ONE_NAT")) == 0 &&
            (error = pu_json_set_str(ac, "name", "External NAT")) == 0 && address != NULL) {
            char *ip = NULL;
            if ((error = nat_ip(a, address, region, &ip)) == 0)
                error = pu_json_set_str(ac, "natIP", ip);
            free(ip);
        }
    }
    free(scope);
    if (error < 0) {
        GJ->release(nic);
        return error;
    }
    *out = nic;
    return 0;
}

static int disk_build(gcp_act *a, const infra_json *cfg, const char *zone, const infra_json *labels,
                      infra_json **out)
{
    infra_json *disk = GJ->new_object(), *init = GJ->new_object();
    char *image = NULL;
    const char *type = pu_json_str(cfg, "disk_type");
    long size = gcp_json_long(cfg, "disk_size", 0);
    int error;

    if ((error = pu_json_set(disk, "initializeParams", init)) < 0) {
        GJ->release(disk);
        return error;
    }
    if ((error = pu_json_set_bool(disk, "boot", 1)) < 0 ||
        (error = pu_json_set_bool(disk, "autoDelete", 1)) < 0 ||
        (error = pu_json_set_str(disk, "type", "PERSISTENT")) < 0 ||
        (error = gcp_image_resolve(a, "image", pu_json_str(cfg, "image"), &image)) < 0 ||
        (error = pu_json_set_str(init, "sourceImage", image)) < 0)
        goto done;
    if (size > 0) {
        char text[24];
        snprintf(text, sizeof(text), "%ld", size);
        if ((error = pu_json_set_str(init, "diskSizeGb", text)) < 0)
            goto done;
    }
    if (type != NULL && *type) {
        char *ref = zone ? pu_printf("zones/%s/diskTypes/%s", zone, type) : pu_strdup(type);
        error = pu_json_set_str(init, "diskType", ref);
        free(ref);
    }
    if (error == 0 && labels != NULL)
        error = pu_json_set_copy(init, "labels", labels);
done:
    free(image);
    if (error < 0) {
        GJ->release(disk);
        return error;
    }
    *out = disk;
    return 0;
}

static char *scope_url(const char *s)
{
    if (strchr(s, '/') != NULL || strchr(s, '.') != NULL)
        return pu_strdup(s);
    return pu_printf("https://www.googleapis.com/auth/%s", s);
}

int gcp_instance_props(gcp_act *a, const infra_json *cfg, const char *zone, const char *token,
                       infra_json **out)
{
    infra_json *props = GJ->new_object(), *disks = GJ->new_array(), *nics = GJ->new_array();
    infra_json *labels = NULL, *disk = NULL, *nic = NULL, *md = NULL;
    const infra_json *machine = gcp_json_alias(cfg, machine_keys, NULL);
    char *region =
        zone ? pu_strndup(zone, (size_t)(strrchr(zone, '-') - zone)) : pu_strdup(a->p->region);
    char **tags = NULL;
    int error;

    *out = NULL;
    if ((error = pu_json_set(props, "disks", disks)) < 0 ||
        (error = pu_json_set(props, "networkInterfaces", nics)) < 0)
        goto done;
    if (machine == NULL || GJ->string(machine) == NULL) {
        pu_diagf(a->call, "machine", "an instance needs machine: a machine type such as e2-small");
        error = INFRA_EINVALID;
        goto done;
    }
    char *mt = zone ? pu_printf("zones/%s/machineTypes/%s", zone, GJ->string(machine))
                    : pu_strdup(GJ->string(machine));
    error = pu_json_set_str(props, "machineType", mt);
    free(mt);
    infra_json *user = gcp_user_labels(cfg);
    labels = gcp_labels_build(a->call, user, token, "labels");
    GJ->release(user);
    if (labels == NULL) {
        error = INFRA_EINVALID;
        goto done;
    }
    if (error < 0 || (error = disk_build(a, cfg, zone, labels, &disk)) < 0)
        goto done;
    GJ->append(disks, disk);
    if ((error = interface_build(a, cfg, region, &nic)) < 0)
        goto done;
    GJ->append(nics, nic);
    if ((error = pu_json_set_copy(props, "labels", labels)) < 0 ||
        (error = gcp_metadata_build(a, cfg, &md)) < 0 ||
        (error = pu_json_set(props, "metadata", md)) < 0)
        goto done;
    if ((error = gcp_instance_tags(a->call, cfg, &tags)) < 0) {
        pu_diagf(a->call, "network_tags", "network_tags must be a list of names");
        goto done;
    }
    if (gcp_strv_len(tags) > 0) {
        infra_json *t = GJ->new_object();
        if ((error = pu_json_set(props, "tags", t)) < 0 ||
            (error = gcp_json_set_strv(t, "items", tags)) < 0)
            goto done;
    }
    const char *account = pu_json_str(cfg, "service_account");
    const infra_json *scopes = GJ->get(cfg, "scopes");
    if (account != NULL || scopes != NULL) {
        infra_json *accounts = GJ->new_array(), *sa = GJ->new_object(), *list = GJ->new_array();
        char **names = NULL;
        GJ->append(accounts, sa);
        if ((error = pu_json_set(props, "serviceAccounts", accounts)) < 0 ||
            (error = pu_json_set_str(sa, "email", account ? account : "default")) < 0 ||
            (error = pu_json_set(sa, "scopes", list)) < 0)
            goto done;
        if (gcp_json_strv(scopes, &names) < 0) {
            pu_diagf(a->call, "scopes", "scopes must be a list");
            error = INFRA_EINVALID;
            goto done;
        }
        if (gcp_strv_len(names) == 0)
            GJ->append(list, GJ->new_string(CLOUD_PLATFORM));
        for (size_t i = 0; names[i] != NULL; i++) {
            char *u = scope_url(names[i]);
            GJ->append(list, GJ->new_string(u));
            free(u);
        }
        gcp_strv_free(names);
    }
    *out = props;
    props = NULL;
done:
    GJ->release(props);
    GJ->release(labels);
    gcp_strv_free(tags);
    free(region);
    return error;
}
