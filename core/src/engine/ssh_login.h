/* How SSH reaches an instance, from the state: its address, login user,
 * key and pinned host key, and the bastion in front of it when the
 * topology gives one (meta key bastion). Shared by the scheduler bridge
 * (the "ssh" object of a cluster NODE) and `infra ssh`. */
#ifndef INFRA_SSH_LOGIN_H
#define INFRA_SSH_LOGIN_H

#include <jansson.h>

#include "engine/engine.h"

/* {"host", "port", "user", "private_key", "host_key_sha256"} of the
 * instance at address whose state attributes are attrs (may be NULL):
 * user and key fall back to fallback's ssh_user / ssh_private_key (a
 * cluster's settings; may be NULL), then "root" and null. When the
 * topology puts a bastion in front of the instance, host is its
 * private_ip and "bastion" holds the bastion's own object (null while the
 * bastion is not in the state), and the route is recorded with the SSH
 * service so that every connection to host goes through the bastion,
 * plugins' included. New value. */
json_t *ssh_login_json(engine *e, const char *address, const json_t *attrs, const json_t *fallback);

#endif
