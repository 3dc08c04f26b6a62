/* Key pairs (Nova): an OpenSSH public key imported under a name. Nova key
 * pairs carry no tags and no description; the name identifies them, so a
 * create that meets its name taken adopts the key pair only when it holds
 * the same public key (an interrupted run imported it), and is a conflict
 * otherwise. */
#include "os_res.h"

#include <stdlib.h>
#include <string.h>

/* "TYPE BASE64" of an OpenSSH public key line, without the comment. */
static char *key_core(const char *key)
{
    if (key == NULL)
        return NULL;
    while (*key == ' ' || *key == '\t' || *key == '\n')
        key++;
    const char *sp = strpbrk(key, " \t");
    if (sp == NULL)
        return pu_strndup(key, strcspn(key, "\r\n"));
    const char *blob = sp;
    while (*blob == ' ' || *blob == '\t')
        blob++;
    size_t n = strcspn(blob, " \t\r\n");
    return pu_printf("%.*s %.*s", (int)(sp - key), key, (int)n, blob);
}

/* The public key text: public_key, or the file public_key_file (~/ expanded). */
static int public_key(os_act *a, char **out)
{
    const char *text = pu_json_str(a->planned, "public_key");
    const char *file = pu_json_str(a->planned, "public_key_file");
    *out = NULL;
    if (text != NULL) {
        *out = pu_strdup(text);
    } else if (file != NULL) {
        const char *home = getenv("HOME");
        char *path = file[0] == '~' && file[1] == '/'
                         ? pu_printf("%s%s", home ? home : "", file + 1)
                         : pu_strdup(file);
        int error = pu_read_file(path, 0, out, NULL);
        if (error < 0)
            pu_diagf(a->call, "public_key_file", "cannot read the public key file %s", path);
        free(path);
        if (error < 0)
            return INFRA_EINVALID;
    } else {
        pu_diagf(a->call, "public_key", "a key pair needs public_key or public_key_file");
        return INFRA_EINVALID;
    }
    char *core = key_core(*out);
    free(*out);
    *out = core;
    if (core == NULL || strchr(core, ' ') == NULL) {
        pu_diagf(a->call, text ? "public_key" : "public_key_file",
                 "not an OpenSSH public key (\"ssh-ed25519 AAAA...\")");
        return INFRA_EINVALID;
    }
    return 0;
}

static int keypair_get(os_act *a, const char *name, infra_json **kp)
{
    char *e = os_url_encode(name);
    char *path = pu_printf("/os-keypairs/%s", e);
    infra_json *body = NULL;
    int error = os_get(a->p, a->call, OS_COMPUTE, path, OS_QUIET_404, &body);
    *kp = NULL;
    if (error == 0) {
        const infra_json *k = OJ->get(body, "keypair");
        *kp = k ? OJ->copy(k) : NULL;
        if (*kp == NULL)
            error = INFRA_EINTERNAL;
    }
    OJ->release(body);
    free(path);
    free(e);
    return error;
}

static int keypair_from_object(os_act *a, const infra_json *kp)
{
    infra_json *st = os_state_new(a->state ? a->state : a->planned);
    int error;
    if ((error = pu_json_set_str(st, "id", pu_json_str(kp, "name"))) < 0 ||
        (error = pu_json_set_str(st, "name", pu_json_str(kp, "name"))) < 0 ||
        (error = pu_json_set_str(st, "fingerprint", pu_json_str(kp, "fingerprint"))) < 0)
        goto done;
    /* The key Nova holds is another: show it, which replaces the key pair. */
    const char *cfg = pu_json_str(st, "public_key");
    const char *have = pu_json_str(kp, "public_key");
    if (cfg != NULL && have != NULL) {
        char *x = key_core(cfg), *y = key_core(have);
        if (strcmp(x, y) != 0)
            error = pu_json_set_str(st, "public_key", have);
        free(x);
        free(y);
    }
done:
    return os_state_finish(a, st, error);
}

/* A key pair of that name exists: it is this create's when it holds key. */
static int adopt(os_act *a, const char *name, const char *key, const infra_json *kp)
{
    char *have = key_core(pu_json_str(kp, "public_key"));
    int error = 0;
    if (have == NULL || strcmp(have, key) != 0) {
        pu_diagf(a->call, "name", "openstack: a key pair \"%s\" exists in %s with another public key",
                 name, a->p->region);
        error = INFRA_ECONFLICT;
    }
    free(have);
    return error;
}

static int keypair_apply(os_act *a)
{
    const char *name = os_json_known_str(a->planned, "name");
    char *derived = name ? NULL : os_call_name(a->call, 255);
    char *key = NULL;
    infra_json *kp = NULL;
    int error;

    if (name == NULL)
        name = derived;
    if (a->prior != NULL) {
        /* Only the name and the key make a key pair; both force a new one. */
        error = keypair_get(a, os_state_id(a->prior), &kp);
        goto finish;
    }
    if ((error = public_key(a, &key)) < 0)
        goto done;
    if (os_call_resuming(a->call) && keypair_get(a, name, &kp) == 0) {
        /* An interrupted run imported it (or someone did): the same key is adopted. */
        error = adopt(a, name, key, kp);
        goto finish;
    }
    infra_json *body = OJ->new_object(), *k = OJ->new_object();
    pu_json_set_str(k, "name", name);
    pu_json_set_str(k, "public_key", key);
    pu_json_set_str(k, "type", "ssh");
    pu_json_set(body, "keypair", k);
    error = os_send(a->p, a->call, OS_COMPUTE, "POST", "/os-keypairs", body, "name", OS_QUIET_409,
                    NULL);
    OJ->release(body);
    if (error == INFRA_ECONFLICT) {
        if ((error = keypair_get(a, name, &kp)) == 0)
            error = adopt(a, name, key, kp);
        goto finish;
    }
    if (error == 0)
        error = keypair_get(a, name, &kp);
finish:
    if (error == 0) {
        os_act r = *a;
        r.state = a->planned;
        error = keypair_from_object(&r, kp);
    }
done:
    OJ->release(kp);
    free(key);
    free(derived);
    return error;
}

static int keypair_remove(os_act *a)
{
    const char *name = os_state_id(a->prior);
    if (name == NULL)
        return 0;
    char *e = os_url_encode(name);
    char *path = pu_printf("/os-keypairs/%s", e);
    int error = os_send(a->p, a->call, OS_COMPUTE, "DELETE", path, NULL, "", OS_QUIET_404, NULL);
    free(path);
    free(e);
    return error == INFRA_ENOTFOUND ? 0 : error;
}

static int keypair_read(os_act *a)
{
    const char *name = os_state_id(a->state);
    infra_json *kp = NULL;
    /* Without a state the name is unknown (key pairs carry no token). */
    if (name == NULL)
        return INFRA_ENOTFOUND;
    int error = keypair_get(a, name, &kp);
    if (error == 0)
        error = keypair_from_object(a, kp);
    OJ->release(kp);
    return error;
}

/* One GET /os-keypairs for every key pair. */
static int keypair_read_many(infra_provider *p, infra_call *call, infra_read_item *items, size_t n)
{
    infra_json *list = NULL;
    int error = os_list(p, call, OS_COMPUTE, "/os-keypairs", "keypairs", &list);
    if (error < 0)
        return error;
    for (size_t i = 0; i < n; i++) {
        const char *name = os_state_id(items[i].state);
        const infra_json *found = NULL;
        for (size_t k = 0; name != NULL && k < OJ->length(list) && found == NULL; k++) {
            const infra_json *kp = OJ->get(OJ->at(list, k), "keypair");
            const char *kn = pu_json_str(kp, "name");
            if (kn != NULL && strcmp(kn, name) == 0)
                found = kp;
        }
        os_act a = {p, items[i].call, NULL, NULL, items[i].state, &items[i].out};
        items[i].out = NULL;
        items[i].result = found ? keypair_from_object(&a, found) : INFRA_ENOTFOUND;
    }
    OJ->release(list);
    return 0;
}

const os_handler os_key_pair_handler = {"key_pair", keypair_apply, keypair_remove,   keypair_read,
                                        NULL,       NULL,          keypair_read_many};
