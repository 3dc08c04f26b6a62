/* How SSH reaches an instance (see ssh_login.h). */
#include "engine/ssh_login.h"

#include <string.h>

#include "services/ssh.h"
#include "topology/topology.h"

static const char *str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : NULL;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* The object without a bastion; host is the public address unless private. */
static json_t *login_of(const json_t *attrs, const json_t *fallback, int private)
{
    const char *public_ip = str(attrs, "public_ip"), *private_ip = str(attrs, "private_ip");
    const char *host = private ? private_ip : public_ip ? public_ip : private_ip;
    const char *user = str(attrs, "ssh_user"), *key = str(attrs, "ssh_private_key");
    json_t *port = json_object_get(attrs, "ssh_port");
    if (!user)
        user = str(fallback, "ssh_user");
    if (!key)
        key = str(fallback, "ssh_private_key");
    return json_pack("{s:o, s:I, s:s, s:o, s:o}", "host", str_or_null(host), "port",
                     json_is_integer(port) ? json_integer_value(port) : (json_int_t)22, "user",
                     user ? user : "root", "private_key", str_or_null(key), "host_key_sha256",
                     str_or_null(str(attrs, "ssh_host_key_fingerprint")));
}

json_t *ssh_login_json(engine *e, const char *address, const json_t *attrs, const json_t *fallback)
{
    const topo_resource *r = e && e->topo ? topology_resource(e->topo, address) : NULL;
    if (!r || !r->bastion)
        return login_of(attrs, fallback, 0);

    json_t *login = login_of(attrs, fallback, 1);
    json_t *entry = e->st ? state_get(e->st, r->bastion) : NULL;
    const json_t *battrs = json_object_get(entry, "attributes");
    json_t *bastion = battrs ? login_of(battrs, NULL, 0) : json_null();
    if (json_is_object(bastion) && str(bastion, "host") && str(login, "host")) {
        infra_ssh_target via = {.size = sizeof(via),
                                .host = str(bastion, "host"),
                                .port = (int)json_integer_value(json_object_get(bastion, "port")),
                                .user = str(bastion, "user"),
                                .private_key = str(bastion, "private_key"),
                                .host_key_sha256 = str(bastion, "host_key_sha256")};
        ssh_route_set(str(login, "host"), (int)json_integer_value(json_object_get(login, "port")),
                      str(login, "host_key_sha256"), &via);
    }
    json_object_set_new(login, "bastion", bastion);
    json_decref(entry);
    return login;
}
