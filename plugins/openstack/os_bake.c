/* Built images on OpenStack (docs/images.md): a Nova server of the base
 * image in the topology's subnet, its host key read from the console log
 * and pinned, the steps run over SSH (plugin_bake.c), the server stopped
 * (os-stop, SHUTOFF), the createImage action, the Glance image waited
 * `active`, and the server deleted, whatever happened.
 *
 * Crash safety: the build server carries the resource's infra tags and
 * the metadata infra_build_hash; the image carries the same as Glance
 * properties (createImage's metadata) and is named PREFIX-HASH16. A rerun
 * adopts the image of its hash the resource made, else deletes every build
 * server of the resource an interrupted run left (and an image of its hash
 * that was never uploaded) and builds afresh. A delete removes the build
 * servers too, so that a down after an interrupted update leaves none. */
#include "os_res.h"
#include "plugin_bake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BAKE_SSH_MS 300000         /* to log in once the server runs */
#define BAKE_FINGERPRINT_MS 300000 /* for the host key in the console log */
#define BAKE_ACTIVE_MS 900000      /* for the server to be ACTIVE */
#define BAKE_SHUTOFF_MS 600000     /* for os-stop to give SHUTOFF */
#define BAKE_IMAGE_MS 3600000      /* for the snapshot to be active in Glance */
#define KEY_HASH "infra_build_hash"

static const char *const build_keys[] = {"base",   "size",        "flavor",    "machine",
                                         "subnet", "network",     "firewalls", "key_pair",
                                         "user",   "private_key", "steps",     NULL};

int os_bake_is_build(const infra_json *config)
{
    return config != NULL && OJ->get(config, "build") != NULL;
}

int os_bake_validate(infra_call *call, const infra_json *config)
{
    const infra_json *build = OJ->get(config, "build");
    int error = 0;

    if (pu_is_unknown(build))
        return 0;
    if (OJ->type(build) != INFRA_JSON_OBJECT) {
        pu_diagf(call, "build",
                 "build must be a map: base, size, subnet, firewalls, key_pair, user, "
                 "private_key, steps");
        return INFRA_EINVALID;
    }
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    while (OJ->next(build, &iter, &key, &value)) {
        int known = 0;
        for (size_t i = 0; build_keys[i] != NULL && !known; i++)
            known = strcmp(build_keys[i], key) == 0;
        if (!known) {
            char at[96];
            snprintf(at, sizeof(at), "build.%s", key);
            pu_diagf(call, at,
                     "unknown key \"%s\" in build (base, size, subnet, network, firewalls, "
                     "key_pair, user, private_key, steps)",
                     key);
            error = INFRA_EINVALID;
        }
    }
    if (!pu_bake_has_text(build, "base")) {
        pu_diagf(call, "build.base", "a build needs base: an image id, a name or a name pattern");
        error = INFRA_EINVALID;
    }
    if (!pu_bake_has_text(build, "size") && !pu_bake_has_text(build, "flavor") &&
        !pu_bake_has_text(build, "machine")) {
        pu_diagf(call, "build.size", "a build needs size: the flavor it runs on");
        error = INFRA_EINVALID;
    }
    if (!pu_bake_has_text(build, "subnet") && !pu_bake_has_text(build, "network")) {
        pu_diagf(call, "build.subnet",
                 "a build needs subnet (or network): where its server runs, reachable over SSH "
                 "from where infra runs");
        error = INFRA_EINVALID;
    }
    if (!pu_bake_has_text(build, "private_key")) {
        pu_diagf(call, "build.private_key",
                 "a build needs private_key: the SSH key file of its key_pair");
        error = INFRA_EINVALID;
    }
    if (pu_bake_check_steps(call, OJ->get(build, "steps")) < 0 ||
        pu_bake_check_keep(call, config) < 0)
        error = INFRA_EINVALID;
    return error;
}

/* The names' prefix: name, else one derived from the call (caller frees). */
static char *bake_prefix(infra_call *call, const infra_json *config)
{
    const char *name = pu_json_str(config, "name");
    return name != NULL && *name ? pu_strdup(name) : os_call_name(call, 100);
}

/* 1 when name is PREFIX-HASH16 of prefix (a generation). */
static int generation_of(const char *prefix, const char *name)
{
    size_t n = strlen(prefix);
    return name != NULL && strncmp(name, prefix, n) == 0 && name[n] == '-' &&
           strlen(name + n + 1) == 16 && strspn(name + n + 1, "0123456789abcdef") == 16;
}

/* The base image id: an id as it is, else the newest active image named
 * like base that is not one of the resource's generations. */
static int bake_base(os_act *a, const infra_json *config, char **id)
{
    const char *base = pu_json_str(OJ->get(config, "build"), "base");
    *id = NULL;
    if (base != NULL && os_is_uuid(base)) {
        *id = pu_strdup(base);
        return 0;
    }
    if (base == NULL || strpbrk(base, "*?") == NULL)
        return os_image_resolve(a, base, "build.base", id);
    char *prefix = bake_prefix(a->call, config);
    infra_json *list = NULL, *keep = OJ->new_array();
    int error =
        os_list(a->p, a->call, OS_IMAGE, "/images?status=active&limit=200", "images", &list);
    for (size_t i = 0; error == 0 && i < OJ->length(list); i++)
        if (!generation_of(prefix, pu_json_str(OJ->at(list, i), "name")))
            OJ->append(keep, OJ->copy(OJ->at(list, i)));
    long best = error == 0 ? os_image_pick(keep, base) : -1;
    if (error == 0 && best < 0) {
        pu_diagf(a->call, "build.base", "openstack: no active image named like \"%s\" in %s", base,
                 a->p->region);
        error = INFRA_EINVALID;
    } else if (error == 0) {
        *id = pu_strdup(pu_json_str(OJ->at(keep, (size_t)best), "id"));
    }
    OJ->release(list);
    OJ->release(keep);
    free(prefix);
    return error;
}

int os_bake_plan(infra_provider *p, infra_call *call, const infra_json *prior, infra_json *plan)
{
    os_act a = {.p = p, .call = call};
    const infra_json *build = OJ->get(plan, "build");
    const infra_json *steps = OJ->get(build, "steps");
    char *base = NULL;
    char hash[65];
    int error;

    if (build == NULL || pu_json_has_unknown(OJ->get(build, "base")) ||
        pu_json_has_unknown(steps) || pu_json_has_unknown(OJ->get(plan, "name")))
        return pu_bake_set_unknown(plan, "build_hash base_id id image_name created_at generations");
    if ((error = bake_base(&a, plan, &base)) < 0)
        return error;
    if (pu_bake_hash(base, steps, hash) < 0) {
        pu_diagf(call, "build.steps", "a step's upload was not read: validate the topology");
        free(base);
        return INFRA_EINVALID;
    }
    error = pu_bake_plan_hash(plan, prior, os_state_id(prior), hash, base,
                              "id image_name created_at generations");
    free(base);
    return error;
}

/* ------------------------------------------------------------------ */
/* The build                                                          */

typedef struct bake {
    os_act *a;
    const infra_json *build;
    char hash[65];
    char *base;
    char *prefix;
    char *image_name; /* PREFIX-HASH16 */
} bake;

/* 1 when the properties (image) or metadata (server) of obj name this
 * resource (and hash, unless NULL: any). */
static int is_mine(infra_call *call, const infra_json *props, const char *hash)
{
    const char *h = pu_json_str(props, KEY_HASH);
    const char *t = pu_json_str(props, "infra_topology");
    const char *e = pu_json_str(props, "infra_environment");
    const char *ad = pu_json_str(props, "infra_address");
    return h != NULL && (hash == NULL || strcmp(h, hash) == 0) && t != NULL &&
           strcmp(t, os_call_topology(call)) == 0 && e != NULL &&
           strcmp(e, os_call_environment(call)) == 0 && ad != NULL &&
           strcmp(ad, pu_host->call_address(call)) == 0;
}

/* The markers of what the build makes (server metadata, image properties). */
static infra_json *bake_marks(infra_call *call, const char *hash)
{
    infra_json *m = OJ->new_object();
    const char *token = pu_host->call_token(call);
    pu_json_set_str(m, KEY_HASH, hash);
    pu_json_set_str(m, "infra_topology", os_call_topology(call));
    pu_json_set_str(m, "infra_environment", os_call_environment(call));
    pu_json_set_str(m, "infra_address", pu_host->call_address(call));
    if (token != NULL && *token)
        pu_json_set_str(m, "infra_token", token);
    return m;
}

/* The build servers of the resource (hash, or any when NULL): a new list. */
static int build_servers(os_act *a, const char *hash, infra_json **out)
{
    char **tags = os_tags_infra(a->call);
    infra_json *list = NULL;
    *out = OJ->new_array();
    /* Only topology, environment and address: any run's token. */
    while (os_strv_len(tags) > 3) {
        size_t n = os_strv_len(tags);
        free(tags[n - 1]);
        tags[n - 1] = NULL;
    }
    char *filter = os_tags_filter("tags", tags);
    char *path = pu_printf("/servers/detail?%s", filter);
    int error = os_list(a->p, a->call, OS_COMPUTE, path, "servers", &list);
    for (size_t i = 0; error == 0 && i < OJ->length(list); i++) {
        const infra_json *s = OJ->at(list, i);
        if (is_mine(a->call, OJ->get(s, "metadata"), hash))
            OJ->append(*out, OJ->copy(s));
    }
    OJ->release(list);
    free(path);
    free(filter);
    os_strv_free(tags);
    return error;
}

/* Deletes every build server of the resource (any hash). */
static int clean_leftovers(os_act *a)
{
    infra_json *list = NULL;
    int error = build_servers(a, NULL, &list);
    for (size_t i = 0; error == 0 && i < OJ->length(list); i++) {
        const char *id = pu_json_str(OJ->at(list, i), "id");
        pu_logf(a->call, INFRA_LOG_INFO, "deleting server %s, left by an interrupted build", id);
        error = os_server_delete(a, id, NULL);
    }
    OJ->release(list);
    return error;
}

static int image_delete(os_act *a, const char *id)
{
    char *e = os_url_encode(id);
    char *path = pu_printf("/images/%s", e);
    pu_logf(a->call, INFRA_LOG_INFO, "deleting image %s", id);
    int error = os_send(a->p, a->call, OS_IMAGE, "DELETE", path, NULL, "", OS_QUIET_404, NULL);
    free(path);
    free(e);
    return error == INFRA_ENOTFOUND ? 0 : error;
}

/* Polls GET path (service svc, object key) until its status is want;
 * INFRA_ECONFLICT when it is one of bad (space-separated). *obj: the last. */
static int wait_status(os_act *a, os_service svc, const char *path, const char *key,
                       const char *want, const char *bad, int64_t timeout_ms, infra_json **obj)
{
    int64_t deadline = pu_host->now_ms() + timeout_ms, delay = 500;
    for (;;) {
        infra_json *doc = NULL;
        int error = os_get(a->p, a->call, svc, path, OS_SAFE, &doc);
        if (error < 0)
            return error;
        const infra_json *it = key ? OJ->get(doc, key) : doc;
        const char *status = pu_json_str(it, "status");
        if (status != NULL && strcasecmp(status, want) == 0) {
            if (obj != NULL)
                *obj = OJ->copy(it);
            OJ->release(doc);
            return 0;
        }
        char list[96];
        snprintf(list, sizeof(list), " %s ", bad);
        char word[40];
        snprintf(word, sizeof(word), " %s ", status ? status : "-");
        OJ->release(doc);
        if (status != NULL && strstr(list, word) != NULL) {
            pu_diagf(a->call, "build", "openstack: %s is %s instead of %s", path, status, want);
            return INFRA_ECONFLICT;
        }
        if (pu_host->now_ms() + delay > deadline) {
            pu_diagf(a->call, "build", "openstack: %s was not %s within %lld s", path, want,
                     (long long)(timeout_ms / 1000));
            return INFRA_ETRANSIENT;
        }
        if ((error = os_sleep(a->p, a->call, delay)) < 0)
            return error;
        delay = delay * 3 / 2 > 5000 ? 5000 : delay * 3 / 2;
    }
}

/* Launches the build server: 0 with *id. */
static int launch(const bake *b, char **id)
{
    os_act *a = b->a;
    infra_json *cfg = OJ->new_object();
    const char *copy[] = {"size",    "flavor",    "machine", "subnet",
                          "network", "firewalls", "key_pair"};
    int error = 0;
    char *name = pu_printf("%.40s-build-%.12s", b->prefix, b->hash);
    for (size_t i = 0; error == 0 && i < sizeof(copy) / sizeof(copy[0]); i++) {
        const infra_json *v = OJ->get(b->build, copy[i]);
        if (v != NULL)
            error = pu_json_set_copy(cfg, copy[i], v);
    }
    if (error == 0 && (error = pu_json_set_str(cfg, "name", name)) == 0 &&
        (error = pu_json_set_str(cfg, "image", b->base)) == 0)
        error = pu_json_set(cfg, "metadata", bake_marks(a->call, b->hash));
    os_act sa = *a;
    sa.planned = cfg;
    if (error == 0)
        error = os_server_post(&sa, id);
    OJ->release(cfg);
    free(name);
    return error;
}

static int provision(const bake *b, const char *id)
{
    os_act *a = b->a;
    char *address = NULL, *fingerprint = NULL;
    int error;
    if ((error = os_server_address(a, id, &address)) < 0)
        return error;
    error = os_server_console_fingerprint(a, id, BAKE_FINGERPRINT_MS, &fingerprint);
    if (error == INFRA_ENOTFOUND)
        pu_diagf(a->call, "build",
                 "the build server %s printed no SSH host key fingerprint on its console within "
                 "%d s",
                 id, BAKE_FINGERPRINT_MS / 1000);
    if (error == 0) {
        const char *user = pu_json_str(b->build, "user");
        infra_ssh_target t = {.size = sizeof(t),
                              .host = address,
                              .port = 22,
                              .user = user != NULL && *user ? user : "root",
                              .private_key = pu_json_str(b->build, "private_key"),
                              .host_key_sha256 = fingerprint,
                              .deadline_ms = BAKE_SSH_MS};
        pu_logf(a->call, INFRA_LOG_INFO, "image %s: build server %s", b->prefix, id);
        error = pu_bake_provision(a->call, &t, b->prefix, b->hash, OJ->get(b->build, "steps"));
    }
    free(address);
    free(fingerprint);
    return error;
}

/* The image id createImage answers (Nova 2.45+: {"image_id"}). */
static int create_image(const bake *b, const char *id, char **image)
{
    os_act *a = b->a;
    char *e = os_url_encode(id);
    char *path = pu_printf("/servers/%s/action", e);
    infra_json *body = OJ->new_object(), *req = OJ->new_object(), *answer = NULL;
    pu_json_set_str(req, "name", b->image_name);
    pu_json_set(req, "metadata", bake_marks(a->call, b->hash));
    pu_json_set(body, "createImage", req);
    int error = os_send(a->p, a->call, OS_COMPUTE, "POST", path, body, "build", 0, &answer);
    if (error == 0) {
        const char *im = pu_json_str(answer, "image_id");
        if (im == NULL || *im == '\0') {
            pu_diagf(a->call, "build", "openstack: createImage answered no image_id");
            error = INFRA_EINTERNAL;
        } else {
            *image = pu_strdup(im);
        }
    }
    OJ->release(answer);
    OJ->release(body);
    free(path);
    free(e);
    return error;
}

/* The whole build: 0 with *image (active). The server is deleted always. */
static int build_generation(const bake *b, char **image)
{
    os_act *a = b->a;
    char *id = NULL, *path = NULL;
    int error;

    if ((error = clean_leftovers(a)) < 0 || (error = launch(b, &id)) < 0)
        goto done;
    pu_logf(a->call, INFRA_LOG_INFO, "image %s: build server %s from %s", b->prefix, id, b->base);
    char *e = os_url_encode(id);
    path = pu_printf("/servers/%s", e);
    free(e);
    if ((error = wait_status(a, OS_COMPUTE, path, "server", "ACTIVE", "ERROR", BAKE_ACTIVE_MS,
                             NULL)) < 0 ||
        (error = provision(b, id)) < 0)
        goto done;
    char *action = pu_printf("%s/action", path);
    infra_json *stop = OJ->new_object();
    pu_json_set(stop, "os-stop", OJ->new_null());
    error = os_send(a->p, a->call, OS_COMPUTE, "POST", action, stop, "build", OS_QUIET_409, NULL);
    OJ->release(stop);
    free(action);
    if (error == INFRA_ECONFLICT)
        error = 0; /* stopped already */
    if (error < 0 ||
        (error = wait_status(a, OS_COMPUTE, path, "server", "SHUTOFF", "ERROR", BAKE_SHUTOFF_MS,
                             NULL)) < 0 ||
        (error = create_image(b, id, image)) < 0)
        goto done;
    pu_logf(a->call, INFRA_LOG_INFO, "image %s: %s made, waiting until it is active", b->prefix,
            *image);
    char *e2 = os_url_encode(*image);
    char *ipath = pu_printf("/images/%s", e2);
    error = wait_status(a, OS_IMAGE, ipath, NULL, "active", "killed deleted deactivated",
                        BAKE_IMAGE_MS, NULL);
    free(ipath);
    free(e2);
done:
    if (id != NULL) {
        /* Always, also after a failure: a build leaves no server. */
        int rc = os_server_delete(a, id, NULL);
        if (rc < 0 && error == 0)
            error = rc;
    }
    if (error < 0 && *image != NULL) {
        image_delete(a, *image); /* half made: never adopted */
        free(*image);
        *image = NULL;
    }
    free(path);
    free(id);
    return error;
}

/* ------------------------------------------------------------------ */
/* The resource                                                       */

/* The image named b->image_name the resource made for this hash. */
static int find_image(const bake *b, infra_json **image)
{
    char *e = os_url_encode(b->image_name);
    char *path = pu_printf("/images?name=%s", e);
    infra_json *list = NULL;
    int error = os_list(b->a->p, b->a->call, OS_IMAGE, path, "images", &list);
    *image = NULL;
    for (size_t i = 0; error == 0 && *image == NULL && i < OJ->length(list); i++)
        if (is_mine(b->a->call, OJ->at(list, i), b->hash))
            *image = OJ->copy(OJ->at(list, i));
    if (error == 0 && *image == NULL)
        error = INFRA_ENOTFOUND;
    OJ->release(list);
    free(path);
    free(e);
    return error;
}

/* A generation the resource no longer keeps goes (pu_bake_generations). */
static int drop_kept(void *ctx, const char *id)
{
    return image_delete(ctx, id);
}

int os_bake_apply(os_act *a)
{
    bake b = {.a = a, .build = OJ->get(a->planned, "build")};
    const char *had_hash = pu_json_str(a->prior, "build_hash");
    const char *had_id = os_state_id(a->prior);
    infra_json *st = NULL, *image = NULL;
    char *id = NULL;
    int error;

    if ((error = bake_base(a, a->planned, &b.base)) < 0)
        goto done;
    if (pu_bake_hash(b.base, OJ->get(b.build, "steps"), b.hash) < 0) {
        pu_diagf(a->call, "build.steps", "a step's upload was not read: validate the topology");
        error = INFRA_EINVALID;
        goto done;
    }
    b.prefix = bake_prefix(a->call, a->planned);
    b.image_name = pu_printf("%s-%.16s", b.prefix, b.hash);

    if (had_id != NULL && had_hash != NULL && strcmp(had_hash, b.hash) == 0) {
        id = pu_strdup(had_id);
    } else if ((error = find_image(&b, &image)) == 0) {
        const char *status = pu_json_str(image, "status");
        infra_json *live = NULL;
        if (status != NULL && strcmp(status, "active") == 0) {
            id = pu_strdup(pu_json_str(image, "id"));
        } else if (status != NULL &&
                   (strcmp(status, "queued") == 0 || strcmp(status, "saving") == 0) &&
                   (error = build_servers(a, b.hash, &live)) == 0 && OJ->length(live) > 0) {
            /* Its server still uploads it. */
            char *e = os_url_encode(pu_json_str(image, "id"));
            char *path = pu_printf("/images/%s", e);
            error = wait_status(a, OS_IMAGE, path, NULL, "active", "killed deleted deactivated",
                                BAKE_IMAGE_MS, NULL);
            if (error == 0)
                id = pu_strdup(pu_json_str(image, "id"));
            free(path);
            free(e);
        } else if (error == 0) {
            /* Never to be uploaded (its build was interrupted): made again. */
            if ((error = image_delete(a, pu_json_str(image, "id"))) == 0)
                error = build_generation(&b, &id);
        }
        OJ->release(live);
        if (id != NULL)
            pu_logf(a->call, INFRA_LOG_INFO, "image %s: %s of this build exists already", b.prefix,
                    id);
    } else if (error == INFRA_ENOTFOUND) {
        error = build_generation(&b, &id);
    }
    if (error < 0)
        goto done;
    OJ->release(image);
    image = NULL;
    char *e = os_url_encode(id);
    char *path = pu_printf("/images/%s", e);
    free(e);
    error = os_get(a->p, a->call, OS_IMAGE, path, OS_SAFE, &image);
    free(path);
    if (error < 0)
        goto done;
    st = os_state_new(a->planned);
    if ((error = pu_json_set_str(st, "id", id)) == 0 &&
        (error = pu_json_set_str(st, "image_name", pu_json_str(image, "name"))) == 0 &&
        (error = pu_json_set_str(st, "created_at", pu_json_str(image, "created_at"))) == 0 &&
        (error = pu_json_set_str(st, "visibility", pu_json_str(image, "visibility"))) == 0 &&
        (error = pu_json_set_str(st, "build_hash", b.hash)) == 0 &&
        (error = pu_json_set_str(st, "base_id", b.base)) == 0)
        error = pu_bake_generations(a->prior, a->planned, id, drop_kept, a, st);
done:
    OJ->release(image);
    free(id);
    free(b.base);
    free(b.prefix);
    free(b.image_name);
    return os_state_finish(a, st, error);
}

int os_bake_remove(os_act *a)
{
    char **gens = NULL;
    const char *id = os_state_id(a->prior);
    int error;

    /* Build servers an interrupted create or update left. */
    if ((error = clean_leftovers(a)) < 0)
        return error;
    if (os_json_strv(OJ->get(a->prior, "generations"), &gens) < 0)
        gens = os_strv_new();
    if (id != NULL && !os_strv_has(gens, id))
        os_strv_push(&gens, id);
    for (size_t i = 0; error == 0 && gens[i] != NULL; i++)
        error = image_delete(a, gens[i]);
    os_strv_free(gens);
    return error;
}

int os_bake_read(os_act *a)
{
    const char *id = os_state_id(a->state);
    infra_json *image = NULL, *st = NULL;
    int error;

    if (a->state == NULL) {
        /* What an interrupted create made: an image of its token, or a
         * build server still alive (the delete removes it). */
        const char *token = pu_host->call_token(a->call);
        infra_json *list = NULL, *servers = NULL;
        char *e = os_url_encode(token ? token : "");
        char *path = pu_printf("/images?infra_token=%s", e);
        error = token == NULL || *token == '\0'
                    ? INFRA_ENOTFOUND
                    : os_list(a->p, a->call, OS_IMAGE, path, "images", &list);
        const infra_json *found = NULL;
        for (size_t i = 0; error == 0 && found == NULL && i < OJ->length(list); i++)
            if (is_mine(a->call, OJ->at(list, i), NULL))
                found = OJ->at(list, i);
        if (error == 0)
            error = build_servers(a, NULL, &servers);
        if (error == 0 && found == NULL && OJ->length(servers) == 0)
            error = INFRA_ENOTFOUND;
        if (error == 0) {
            st = os_state_new(NULL);
            if (found != NULL && (error = pu_json_set_str(st, "id", pu_json_str(found, "id"))) == 0)
                error = os_json_set_strv(st, "generations",
                                         (char *[]){(char *)pu_json_str(found, "id"), NULL});
            if (error == 0 && OJ->length(servers) > 0)
                error =
                    pu_json_set_str(st, "build_instance", pu_json_str(OJ->at(servers, 0), "id"));
        }
        OJ->release(list);
        OJ->release(servers);
        free(path);
        free(e);
        return os_state_finish(a, st, error);
    }
    if (id == NULL)
        return INFRA_ENOTFOUND;
    char *e = os_url_encode(id);
    char *path = pu_printf("/images/%s", e);
    error = os_get(a->p, a->call, OS_IMAGE, path, OS_SAFE | OS_QUIET_404, &image);
    free(path);
    free(e);
    if (error == 0) {
        const char *status = pu_json_str(image, "status");
        if (status == NULL || strcmp(status, "active") != 0)
            error = INFRA_ENOTFOUND; /* deleted, killed: built again */
    }
    if (error == 0) {
        st = os_state_new(a->state);
        error = pu_json_set_str(st, "created_at", pu_json_str(image, "created_at"));
    }
    OJ->release(image);
    return os_state_finish(a, st, error);
}
