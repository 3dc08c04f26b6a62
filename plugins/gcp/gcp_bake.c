/* Built images on Compute Engine (docs/images.md), as Packer's
 * googlecompute builder makes them: an instance of the base image in the
 * topology's network, its ssh-keys metadata giving the login user the
 * build's key, its host key read from the serial port and pinned, the
 * steps run over SSH (plugin_bake.c), the instance stopped, images.insert
 * from its boot disk, the global operation waited DONE, and the instance
 * deleted, whatever happened.
 *
 * Crash safety: the build instance and the image carry the resource's
 * infra-* labels and infra-build-hash (the hash's first 32 hex digits);
 * the image is named PREFIX-HASH16 and inserted under a requestId derived
 * from the hash. A rerun adopts the image of its hash when the resource
 * made it, else deletes every build instance of the resource an
 * interrupted run left and builds afresh. A delete does the same cleaning,
 * so that a down after an interrupted update leaves no build instance. */
#include "gcp_res.h"
#include "plugin_bake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BAKE_SSH_MS 300000         /* to log in once the instance runs */
#define BAKE_FINGERPRINT_MS 300000 /* for the host key on the serial port */
#define LABEL_BUILD_HASH "infra-build-hash"

static const gcp_kind bake_instance_kind = {"instances", GCP_ZONAL, 1};
static const gcp_kind bake_image_kind = {"images", GCP_GLOBAL, 1};

static const char *const build_keys[] = {"base",       "machine",      "size",       "machine_type",
                                         "zone",       "network",      "subnetwork", "subnet",
                                         "public_ip",  "network_tags", "user",       "private_key",
                                         "public_key", "disk_size",    "steps",      NULL};

int gcp_bake_is_build(const infra_json *config)
{
    return config != NULL && GJ->get(config, "build") != NULL;
}

int gcp_bake_validate(infra_call *call, const infra_json *config)
{
    const infra_json *build = GJ->get(config, "build");
    int error = 0;

    if (pu_is_unknown(build))
        return 0;
    if (GJ->type(build) != INFRA_JSON_OBJECT) {
        pu_diagf(call, "build",
                 "build must be a map: base, machine, zone, network, subnetwork, user, "
                 "private_key, public_key, steps");
        return INFRA_EINVALID;
    }
    for (const char *const *k = (const char *const[]){"family", "project", NULL}; *k; k++) {
        if (GJ->get(config, *k) != NULL) {
            pu_diagf(call, *k, "%s applies to a lookup; a build gives its base in build.base", *k);
            error = INFRA_EINVALID;
        }
    }
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    while (GJ->next(build, &iter, &key, &value)) {
        int known = 0;
        for (size_t i = 0; build_keys[i] != NULL && !known; i++)
            known = strcmp(build_keys[i], key) == 0;
        if (!known) {
            char at[96];
            snprintf(at, sizeof(at), "build.%s", key);
            pu_diagf(call, at,
                     "unknown key \"%s\" in build (base, machine, zone, network, subnetwork, "
                     "public_ip, network_tags, user, private_key, public_key, disk_size, steps)",
                     key);
            error = INFRA_EINVALID;
        }
    }
    if (!pu_bake_has_text(build, "base")) {
        pu_diagf(call, "build.base",
                 "a build needs base: an image, family/NAME, a projects/... path or a name "
                 "pattern");
        error = INFRA_EINVALID;
    }
    if (!pu_bake_has_text(build, "machine") && !pu_bake_has_text(build, "size") &&
        !pu_bake_has_text(build, "machine_type")) {
        pu_diagf(call, "build.machine", "a build needs machine: the machine type it runs on");
        error = INFRA_EINVALID;
    }
    if (!pu_bake_has_text(build, "network") && !pu_bake_has_text(build, "subnetwork") &&
        !pu_bake_has_text(build, "subnet")) {
        pu_diagf(call, "build.subnetwork",
                 "a build needs subnetwork (or network): where its instance runs, reachable "
                 "over SSH from where infra runs");
        error = INFRA_EINVALID;
    }
    if (!pu_bake_has_text(build, "private_key")) {
        pu_diagf(call, "build.private_key",
                 "a build needs private_key: the SSH key file it logs in with");
        error = INFRA_EINVALID;
    }
    if (!pu_bake_has_text(build, "public_key")) {
        pu_diagf(call, "build.public_key",
                 "a build needs public_key: the public key file put in the instance's ssh-keys");
        error = INFRA_EINVALID;
    }
    if (pu_bake_has_text(build, "user") && !pu_is_unknown(GJ->get(build, "user")) &&
        strcmp(pu_json_str(build, "user"), "root") == 0) {
        pu_diagf(call, "build.user",
                 "Compute Engine's guest agent makes no root login: give another user "
                 "(the steps run through sudo)");
        error = INFRA_EINVALID;
    }
    if (pu_bake_check_steps(call, GJ->get(build, "steps")) < 0 ||
        pu_bake_check_keep(call, config) < 0)
        error = INFRA_EINVALID;
    return error;
}

/* The names' prefix: name, else one derived from the call (caller frees). */
static char *bake_prefix(infra_call *call, const infra_json *config)
{
    const char *name = pu_json_str(config, "name");
    char *whole = name != NULL && *name ? gcp_name_from(name) : gcp_call_name(call);
    if (strlen(whole) > 46) /* room for -HASH16 in 63 */
        whole[46] = '\0';
    size_t n = strlen(whole);
    while (n > 1 && whole[n - 1] == '-')
        whole[--n] = '\0';
    return whole;
}

/* The base image of config as "projects/P/global/images/NAME". */
static int bake_base(gcp_act *a, const infra_json *config, char **out)
{
    char *prefix = bake_prefix(a->call, config);
    int error = gcp_image_resolve_except(
        a, "build.base", pu_json_str(GJ->get(config, "build"), "base"), prefix, out);
    free(prefix);
    return error;
}

int gcp_bake_plan(infra_provider *p, infra_call *call, const infra_json *prior, infra_json *plan)
{
    gcp_act a = {.p = p, .call = call};
    const infra_json *build = GJ->get(plan, "build");
    const infra_json *steps = GJ->get(build, "steps");
    char *base = NULL;
    char hash[65];
    int error;

    if (build == NULL || pu_json_has_unknown(GJ->get(build, "base")) ||
        pu_json_has_unknown(steps) || pu_json_has_unknown(GJ->get(plan, "name")))
        return pu_bake_set_unknown(
            plan, "build_hash base_id id self_link image creation_timestamp generations");
    if ((error = bake_base(&a, plan, &base)) < 0)
        return error;
    if (pu_bake_hash(base, steps, hash) < 0) {
        pu_diagf(call, "build.steps", "a step's upload was not read: validate the topology");
        free(base);
        return INFRA_EINVALID;
    }
    error = pu_bake_plan_hash(plan, prior, gcp_state_id(prior), hash, base,
                              "id self_link image creation_timestamp generations");
    free(base);
    return error;
}

/* ------------------------------------------------------------------ */
/* The build                                                          */

typedef struct bake {
    gcp_act *a;
    const infra_json *build;
    char hash[65];
    char *base;       /* projects/P/global/images/NAME */
    char *prefix;     /* the image names are PREFIX-HASH16 */
    char *image_name; /* PREFIX-HASH16 */
    const char *zone;
} bake;

static void bake_clear(bake *b)
{
    free(b->base);
    free(b->prefix);
    free(b->image_name);
}

static const char *build_zone(gcp_act *a, const infra_json *build)
{
    const char *z = pu_json_str(build, "zone");
    return z != NULL && *z ? z : a->p->zone;
}

/* The resource's labels (the call's token) and infra-build-hash. */
static infra_json *bake_labels(const bake *b, const infra_json *user)
{
    infra_json *labels =
        gcp_labels_build(b->a->call, user, pu_host->call_token(b->a->call), "labels");
    char short_hash[33];
    snprintf(short_hash, sizeof(short_hash), "%.32s", b->hash);
    if (labels != NULL && pu_json_set_str(labels, LABEL_BUILD_HASH, short_hash) < 0) {
        GJ->release(labels);
        labels = NULL;
    }
    return labels;
}

/* 1 when obj carries the resource's topology, environment and address
 * labels (and, when hash is not NULL, infra-build-hash of it; else any). */
static int is_mine(gcp_act *a, const infra_json *obj, const char *hash)
{
    infra_json *want = gcp_labels_build(a->call, NULL, NULL, "");
    const infra_json *have = GJ->get(obj, "labels");
    int mine = want != NULL && have != NULL;
    const char *const keys[] = {GCP_LABEL_TOPOLOGY, GCP_LABEL_ENVIRONMENT, GCP_LABEL_ADDRESS, NULL};
    for (size_t i = 0; mine && keys[i] != NULL; i++) {
        const char *x = pu_json_str(want, keys[i]), *y = pu_json_str(have, keys[i]);
        mine = x != NULL && y != NULL && strcmp(x, y) == 0;
    }
    const char *h = pu_json_str(have, LABEL_BUILD_HASH);
    if (mine)
        mine = h != NULL && (hash == NULL || strncmp(h, hash, 32) == 0);
    GJ->release(want);
    return mine;
}

/* Deletes every build instance of the resource in zone (any hash). */
static int clean_leftovers(gcp_act *a, const char *zone)
{
    infra_json *want = gcp_labels_build(a->call, NULL, NULL, "");
    char *filter =
        pu_printf("labels.%s=%s", GCP_LABEL_ADDRESS,
                  pu_json_str(want, GCP_LABEL_ADDRESS) ? pu_json_str(want, GCP_LABEL_ADDRESS) : "");
    char *enc = gcp_url_encode(filter);
    char *query = pu_printf("filter=%s&maxResults=500", enc);
    char *path = pu_printf("projects/%s/zones/%s/instances", a->p->project, zone);
    infra_json *doc = NULL;
    int error =
        gcp_get(a->p, a->call, GCP_COMPUTE, path, query, "instances.list", "build", NULL, &doc);
    const infra_json *items = GJ->get(doc, "items");
    for (size_t i = 0; error == 0 && items != NULL && i < GJ->length(items); i++) {
        const infra_json *inst = GJ->at(items, i);
        if (!is_mine(a, inst, NULL))
            continue;
        char *id = gcp_relative_name(pu_json_str(inst, "selfLink"));
        pu_logf(a->call, INFRA_LOG_INFO, "deleting %s, left by an interrupted build", id);
        error = gcp_delete_path(a, id, "instances.delete");
        free(id);
    }
    GJ->release(doc);
    GJ->release(want);
    free(path);
    free(query);
    free(enc);
    free(filter);
    return error;
}

/* The build instance's properties: an instance of the base image, its
 * ssh-keys giving the login user the build's key. */
static int instance_body(const bake *b, const char *name, infra_json **out)
{
    infra_json *cfg = GJ->new_object(), *props = NULL;
    const infra_json *build = b->build;
    const char *copy[][2] = {{"machine", "machine"},
                             {"size", "machine"},
                             {"machine_type", "machine"},
                             {"network", "network"},
                             {"subnetwork", "subnetwork"},
                             {"subnet", "subnetwork"},
                             {"public_ip", "public_ip"},
                             {"network_tags", "network_tags"},
                             {"disk_size", "disk_size"},
                             {"user", "ssh_user"},
                             {"public_key", "ssh_public_key_file"}};
    int error = 0;
    for (size_t i = 0; error == 0 && i < sizeof(copy) / sizeof(copy[0]); i++) {
        const infra_json *v = GJ->get(build, copy[i][0]);
        if (v != NULL)
            error = pu_json_set_copy(cfg, copy[i][1], v);
    }
    if (error == 0 && GJ->get(cfg, "ssh_user") == NULL)
        error = pu_json_set_str(cfg, "ssh_user", "infra");
    if (error == 0)
        error = pu_json_set_str(cfg, "image", b->base);
    if (error == 0 && (error = gcp_instance_props(b->a, cfg, b->zone, NULL, &props)) == 0) {
        infra_json *labels = bake_labels(b, NULL);
        if (labels == NULL)
            error = INFRA_EINVALID;
        else if ((error = pu_json_set(props, "labels", labels)) == 0)
            error = pu_json_set_str(props, "name", name);
    }
    GJ->release(cfg);
    if (error < 0) {
        GJ->release(props);
        return error;
    }
    *out = props;
    return 0;
}

/* Logs in to the running instance obj and runs the steps. */
static int provision(const bake *b, const char *path, const infra_json *obj)
{
    const infra_json *nic = gcp_json_path(obj, "networkInterfaces.0");
    const char *address = gcp_json_path_str(nic, "accessConfigs.0.natIP");
    char *fingerprint = NULL;
    int error;
    if (address == NULL || *address == '\0')
        address = pu_json_str(nic, "networkIP");
    if (address == NULL || *address == '\0') {
        pu_diagf(b->a->call, "build", "the build instance %s has no address to log in to", path);
        return INFRA_EINVALID;
    }
    error = gcp_serial_fingerprint(b->a, path, BAKE_FINGERPRINT_MS, &fingerprint);
    if (error == INFRA_ENOTFOUND)
        pu_diagf(b->a->call, "build",
                 "the build instance %s printed no SSH host key fingerprint on its serial port "
                 "within %d s",
                 path, BAKE_FINGERPRINT_MS / 1000);
    if (error < 0)
        return error;
    const char *user = pu_json_str(b->build, "user");
    infra_ssh_target t = {.size = sizeof(t),
                          .host = address,
                          .port = 22,
                          .user = user != NULL && *user ? user : "infra",
                          .private_key = pu_json_str(b->build, "private_key"),
                          .host_key_sha256 = fingerprint,
                          .deadline_ms = BAKE_SSH_MS};
    pu_logf(b->a->call, INFRA_LOG_INFO, "image %s: build instance %s", b->prefix, path);
    error = pu_bake_provision(b->a->call, &t, b->prefix, b->hash, GJ->get(b->build, "steps"));
    free(fingerprint);
    return error;
}

/* images.insert of the stopped instance's boot disk: *obj, the image. */
static int insert_image(const bake *b, const infra_json *inst, infra_json **obj)
{
    const char *disk = gcp_json_path_str(inst, "disks.0.source");
    infra_json *body = GJ->new_object();
    infra_json *labels = bake_labels(b, GJ->get(b->a->planned, "labels"));
    char *description = pu_printf("built by infra from %s (build %.16s)", b->base, b->hash);
    int error = labels == NULL ? INFRA_EINVALID : 0;

    if (error == 0 && (disk == NULL || *disk == '\0')) {
        pu_diagf(b->a->call, "build", "gcp: the build instance has no boot disk");
        error = INFRA_EINTERNAL;
    }
    if (error == 0 && (error = pu_json_set_str(body, "name", b->image_name)) == 0 &&
        (error = pu_json_set_str(body, "sourceDisk", disk)) == 0 &&
        (error = pu_json_set_str(body, "description", description)) == 0) {
        error = pu_json_set(body, "labels", labels);
        labels = NULL;
    }
    /* The same hash asks with the same requestId, and an image of that
     * name is adopted when it carries the resource's token. */
    if (error == 0)
        error = gcp_insert_token(b->a, &bake_image_kind, "global", body, "build", NULL, 0, obj);
    GJ->release(labels);
    GJ->release(body);
    free(description);
    return error;
}

/* The whole build: 0 with *image, READY. The instance is deleted in every case. */
static int build_generation(const bake *b, infra_json **image)
{
    gcp_act *a = b->a;
    char *name = pu_printf("%.40s-build-%.12s", b->prefix, b->hash);
    char *scope = pu_printf("zones/%s", b->zone);
    char *path = NULL;
    infra_json *body = NULL, *obj = NULL;
    int error;

    if ((error = clean_leftovers(a, b->zone)) < 0 || (error = instance_body(b, name, &body)) < 0 ||
        (error = gcp_insert_token(a, &bake_instance_kind, scope, body, "build",
                                  pu_host->call_token(a->call), 0, &obj)) < 0)
        goto done;
    path = gcp_relative_name(pu_json_str(obj, "selfLink"));
    pu_logf(a->call, INFRA_LOG_INFO, "image %s: build instance %s from %s", b->prefix, path,
            b->base);
    if ((error = gcp_instance_wait_running(a, path, &obj)) < 0 ||
        (error = provision(b, path, obj)) < 0)
        goto done;
    /* Stopped first, as Google asks of a disk imaged while attached. */
    char *stop = pu_printf("%s/stop", path);
    error = gcp_change(a, "POST", stop, "instances.stop", NULL, "build", NULL);
    free(stop);
    if (error < 0)
        goto done;
    pu_logf(a->call, INFRA_LOG_INFO, "image %s: stopped, making %s", b->prefix, b->image_name);
    error = insert_image(b, obj, image);
done:
    if (path == NULL && obj != NULL)
        path = gcp_relative_name(pu_json_str(obj, "selfLink"));
    if (path != NULL) {
        /* Always, also after a failure: a build leaves no instance. */
        int rc = gcp_delete_path(a, path, "instances.delete");
        if (rc < 0 && error == 0)
            error = rc;
    }
    if (error < 0) {
        GJ->release(*image);
        *image = NULL;
    }
    GJ->release(body);
    GJ->release(obj);
    free(path);
    free(scope);
    free(name);
    return error;
}

/* ------------------------------------------------------------------ */
/* The resource                                                       */

/* A generation the resource no longer keeps goes (pu_bake_generations). */
static int drop_kept(void *ctx, const char *id)
{
    gcp_act *a = ctx;
    pu_logf(a->call, INFRA_LOG_INFO, "deleting image %s", id);
    return gcp_delete_path(a, id, "images.delete");
}

/* The image named b->image_name when the resource made it for this hash:
 * 0 with *obj; INFRA_ENOTFOUND; INFRA_ECONFLICT when the name is another's. */
static int find_image(const bake *b, infra_json **obj)
{
    char *path = pu_printf("projects/%s/global/images/%s", b->a->p->project, b->image_name);
    int error = gcp_get_object(b->a, path, "images.get", obj);
    if (error == 0 && !is_mine(b->a, *obj, b->hash)) {
        GJ->release(*obj);
        *obj = NULL;
        error = gcp_not_mine(b->a, "name", "image", path);
    }
    free(path);
    return error;
}

int gcp_bake_apply(gcp_act *a)
{
    bake b = {.a = a, .build = GJ->get(a->planned, "build")};
    const char *had_hash = pu_json_str(a->prior, "build_hash");
    const char *had_id = gcp_state_id(a->prior);
    infra_json *st = NULL, *image = NULL;
    int error;

    b.zone = build_zone(a, b.build);
    if ((error = bake_base(a, a->planned, &b.base)) < 0)
        goto done;
    if (pu_bake_hash(b.base, GJ->get(b.build, "steps"), b.hash) < 0) {
        pu_diagf(a->call, "build.steps", "a step's upload was not read: validate the topology");
        error = INFRA_EINVALID;
        goto done;
    }
    b.prefix = bake_prefix(a->call, a->planned);
    b.image_name = pu_printf("%s-%.16s", b.prefix, b.hash);

    if (had_id != NULL && had_hash != NULL && strcmp(had_hash, b.hash) == 0) {
        error = gcp_get_object(a, had_id, "images.get", &image);
        if (error == INFRA_ENOTFOUND)
            error = build_generation(&b, &image);
    } else if ((error = find_image(&b, &image)) == 0) {
        pu_logf(a->call, INFRA_LOG_INFO, "image %s: %s of this build exists already", b.prefix,
                b.image_name);
    } else if (error == INFRA_ENOTFOUND) {
        error = build_generation(&b, &image);
    }
    if (error < 0)
        goto done;
    const char *status = pu_json_str(image, "status");
    if (status != NULL && strcmp(status, "READY") != 0) {
        pu_diagf(a->call, "build", "gcp: image %s is %s, not READY", b.image_name, status);
        error = INFRA_ECONFLICT;
        goto done;
    }
    char *id = gcp_relative_name(pu_json_str(image, "selfLink"));
    st = gcp_state_new(a->planned);
    if ((error = gcp_state_ids(st, image)) == 0 &&
        (error = pu_json_set_str(st, "image", pu_json_str(image, "name"))) == 0 &&
        (error = pu_json_set_str(st, "creation_timestamp",
                                 pu_json_str(image, "creationTimestamp"))) == 0 &&
        (error = pu_json_set_str(st, "build_hash", b.hash)) == 0 &&
        (error = pu_json_set_str(st, "base_id", b.base)) == 0)
        error = pu_bake_generations(a->prior, a->planned, id, drop_kept, a, st);
    free(id);
done:
    GJ->release(image);
    bake_clear(&b);
    return gcp_state_finish(a, st, error);
}

int gcp_bake_remove(gcp_act *a)
{
    char **gens = NULL;
    const char *id = gcp_state_id(a->prior);
    int error;

    /* A build an interrupted create left (found by its token), and one
     * an interrupted update left (its hash is not the state's): every
     * build instance of the resource goes. */
    const char *instance = pu_json_str(a->prior, "build_instance");
    if (instance != NULL && (error = gcp_delete_path(a, instance, "instances.delete")) < 0)
        return error;
    if ((error = clean_leftovers(a, build_zone(a, GJ->get(a->prior, "build")))) < 0)
        return error;
    if (gcp_json_strv(GJ->get(a->prior, "generations"), &gens) < 0)
        gens = gcp_strv_new();
    if (id != NULL && !gcp_strv_has(gens, id))
        gcp_strv_push(&gens, id);
    for (size_t i = 0; error == 0 && gens[i] != NULL; i++) {
        pu_logf(a->call, INFRA_LOG_INFO, "deleting image %s", gens[i]);
        error = gcp_delete_path(a, gens[i], "images.delete");
    }
    gcp_strv_free(gens);
    return error;
}

/* The first object of the list at path (items, or the items of an
 * aggregated list) labelled with the call's token and the resource's
 * labels: 0 with *obj (caller releases), INFRA_ENOTFOUND. */
static int find_by_token(gcp_act *a, const char *path, const char *what, infra_json **obj)
{
    const char *token = pu_host->call_token(a->call);
    if (token == NULL || *token == '\0')
        return INFRA_ENOTFOUND;
    char *filter = pu_printf("labels.%s=%s", GCP_LABEL_TOKEN, token);
    char *enc = gcp_url_encode(filter);
    char *query = pu_printf("filter=%s", enc);
    infra_json *doc = NULL;
    int error = gcp_get(a->p, a->call, GCP_COMPUTE, path, query, what, "", NULL, &doc);
    const infra_json *items = GJ->get(doc, "items");
    const infra_json *found = NULL;
    if (error == 0 && items != NULL && GJ->type(items) == INFRA_JSON_ARRAY) {
        for (size_t i = 0; found == NULL && i < GJ->length(items); i++)
            if (is_mine(a, GJ->at(items, i), NULL))
                found = GJ->at(items, i);
    } else if (error == 0 && items != NULL) {
        void *iter = NULL;
        const char *scope;
        const infra_json *v;
        while (found == NULL && GJ->next(items, &iter, &scope, &v)) {
            const infra_json *list = GJ->get(v, "instances");
            for (size_t i = 0; found == NULL && list != NULL && i < GJ->length(list); i++)
                if (is_mine(a, GJ->at(list, i), NULL))
                    found = GJ->at(list, i);
        }
    }
    if (error == 0 && found == NULL)
        error = INFRA_ENOTFOUND;
    if (error == 0)
        *obj = GJ->copy(found);
    GJ->release(doc);
    free(query);
    free(enc);
    free(filter);
    return error;
}

/* Without a state: what an interrupted create made under its token, the
 * image, and a build instance still alive ("build_instance"), which the
 * delete removes. */
static int read_by_token(gcp_act *a)
{
    char *images = pu_printf("projects/%s/global/images", a->p->project);
    char *instances = pu_printf("projects/%s/aggregated/instances", a->p->project);
    infra_json *im = NULL, *inst = NULL, *st = NULL;
    int error = find_by_token(a, images, "images.list", &im);
    if (error == 0 || error == INFRA_ENOTFOUND) {
        int rc = find_by_token(a, instances, "instances.aggregatedList", &inst);
        if (rc != INFRA_ENOTFOUND && rc < 0)
            error = rc;
        else if (rc == 0 && error == INFRA_ENOTFOUND)
            error = 0;
    }
    if (error == 0) {
        st = gcp_state_new(NULL);
        if (im != NULL && (error = gcp_state_ids(st, im)) == 0) {
            char *id = gcp_relative_name(pu_json_str(im, "selfLink"));
            error = gcp_json_set_strv(st, "generations", (char *[]){id, NULL});
            free(id);
        }
        if (error == 0 && inst != NULL) {
            char *id = gcp_relative_name(pu_json_str(inst, "selfLink"));
            error = pu_json_set_str(st, "build_instance", id);
            free(id);
        }
    }
    GJ->release(im);
    GJ->release(inst);
    free(images);
    free(instances);
    return gcp_state_finish(a, st, error);
}

int gcp_bake_read(gcp_act *a)
{
    const char *id = gcp_state_id(a->state);
    infra_json *image = NULL, *st = NULL;
    int error;

    if (a->state == NULL)
        return read_by_token(a);
    if (id == NULL)
        return INFRA_ENOTFOUND;
    if ((error = gcp_get_object(a, id, "images.get", &image)) == 0) {
        const char *status = pu_json_str(image, "status");
        if (status != NULL && strcmp(status, "READY") != 0 && strcmp(status, "PENDING") != 0)
            error = INFRA_ENOTFOUND; /* FAILED or DELETING: built again */
    }
    if (error == 0) {
        st = gcp_state_new(a->state);
        error = pu_json_set_str(st, "creation_timestamp", pu_json_str(image, "creationTimestamp"));
    }
    GJ->release(image);
    return gcp_state_finish(a, st, error);
}
