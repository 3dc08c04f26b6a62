#!/usr/bin/env bash
# Credentials and tokens against the real Keystone: the cloud "ovh" of
# clouds.yaml (password in secure.yaml), the cloud "ovh-appcred" (an
# application credential), the OS_* variables of the world's openrc alone;
# a wrong password refused in one error that names where it came from and
# holds no secret; and a token revoked through Keystone in the middle of an
# up (the proxy revokes it at the third mutating request and waits until the
# service refuses it): the plugin gets a new token and the run succeeds.
#   usage: auth.sh INFRA_BINARY BUILD_DIR WORLD_DIR
source "$(dirname "$0")/lib.sh"

password=$(awk -F= '/^USER_PASSWORD=/ {print $2}' "$world/world.env")
env=$suffix
topo=$work/auth.yaml
write_topology() { # CLOUD_SETTING EXTRA_SETTINGS [ONLY_A_NETWORK]
  cat >"$topo" <<YAML
name: osauth
providers:
  ovh:
    plugin: openstack
    $1
    $2
networks:
  net: {}
YAML
  [ -n "${3:-}" ] && return
  cat >>"$topo" <<YAML
resources:
  subnet:
    sub: { network: "\${network.net.id}", cidr: 10.78.0.0/24 }
firewalls:
  fw:
    allow: [22, 80, 443, { port: 53, proto: udp }]
YAML
}
cleanup_topologies+=("$topo")
down_args=(-e "$env")

# 1. Each way of giving credentials gets a token, the catalog, and makes
#    (and removes) a network.
for cloud in "cloud: ovh" "cloud: ovh-appcred"; do
  write_topology "$cloud" "" network-only
  run 0 "$infra" up "$topo" -e "$env"
  out_has "Apply: 1 done, 0 failed"
  run 0 "$infra" down "$topo" -e "$env" --yes
done
write_topology "" "" network-only
(
  # shellcheck disable=SC1091
  source "$world/openrc"
  unset OS_CLIENT_CONFIG_FILE OS_CLIENT_SECURE_FILE
  run 0 "$infra" up "$topo" -e "$env"
  run 0 "$infra" down "$topo" -e "$env" --yes
)

# 2. A wrong password: one error naming the cloud and its files, no secret.
cp "$world/secure.yaml" "$work/secure.yaml"
sed -i "s/$password/wrong-$password/" "$work/secure.yaml"
write_topology "cloud: ovh" "" network-only
export OS_CLIENT_SECURE_FILE=$work/secure.yaml
run 1 "$infra" up "$topo" -e "$env"
export OS_CLIENT_SECURE_FILE=$world/secure.yaml
err_has "Keystone at http://127.0.0.1:"
err_has "refused the credentials of cloud \"ovh\" of $world/clouds.yaml and $work/secure.yaml: 401"
! grep -qF -- "$password" "$work/err" "$work/out" || fail "the password is in infra's output"
# An unknown cloud names the clouds there are.
write_topology "cloud: nosuch" "" network-only
run 1 "$infra" up "$topo" -e "$env"
err_has "no cloud \"nosuch\" under clouds: (it has ovh, ovh-appcred)"

# 3. A token revoked in the middle of an up is renewed, once, and the run
#    goes on.
proxy_start
write_topology "cloud: ovh" "endpoints: $proxy_endpoints"
proxy_arm '{"n": 3, "action": "revoke"}'
run 0 "$infra" up "$topo" -e "$env" -v
out_has "Apply: 3 done, 0 failed, 0 skipped."
grep -qF "refused the token (401); renewing it" "$work/out" "$work/err" ||
  fail "infra did not say it renewed the token"
log=$(cat "$work/proxy.log" | jq -s .)
revoked=$(echo "$log" | jq -c '[.[] | select(.revoked != null)][0]')
[ "$(echo "$revoked" | jq .revoked)" = true ] || fail "the proxy did not revoke the token: $revoked"
[ "$(echo "$revoked" | jq .status)" -eq 401 ] || fail "the service accepted the revoked token: $revoked"
old=$(echo "$revoked" | jq -r .token)
echo "$log" | jq -e --argjson r "$revoked" --arg old "$old" \
  'map(select(.method == $r.method and .path == $r.path and .token != $old and .status < 300)) | length == 1' \
  >/dev/null || fail "the refused request was not sent again, once, with a new token"
[ "$(echo "$log" | jq --arg old "$old" '[.[] | select(.token == $old and .status != 401 and .revoked == null)] | length')" -gt 0 ] ||
  fail "the first token was not used before it was revoked"
# No token nor password anywhere infra writes.
st=$(state_doc "$topo" -e "$env")
for f in "$work/out" "$work/err" "$st"; do
  ! grep -qE 'gAAAAA[A-Za-z0-9_-]{20}' "$f" || fail "a Keystone token is in $f"
  ! grep -qF -- "$password" "$f" || fail "the password is in $f"
done
run 0 "$infra" down "$topo" -e "$env" --yes
echo "ok: clouds.yaml, application credential, openrc; wrong password; revoked token renewed mid-run"
