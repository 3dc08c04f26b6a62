#!/usr/bin/env bash
# Credentials as gcloud and Google's libraries find them, through the infra
# binary against the emulator's token endpoint and metadata server:
#  1. a service account key (GOOGLE_APPLICATION_CREDENTIALS): tokens
#     living 3 s are refreshed before they expire; a token revoked while an
#     up waits (401) is replaced at once;
#  2. gcloud's application default credentials (authorized_user) with the
#     token endpoint overridden, the project from GOOGLE_CLOUD_PROJECT;
#  3. the metadata server (GCE_METADATA_HOST), the project from it;
#  4. a key the emulator does not know, and no credentials at all: one
#     clear error naming where the credentials came from;
# and no key, client secret, refresh token or access token in the state,
# the secrets file, the output or the debug log.
#   usage: auth.sh INFRA_BINARY BUILD_DIR
source "$(dirname "$0")/lib.sh"

# Operations take 2 s and tokens live 3 s: one up outlives its first token.
emulator_start --operation-seconds 2 --token-seconds 3
topo=$work/net.yaml
cat >"$topo" <<'YAML'
name: gcp-auth
providers:
  gcp: {}
networks:
  a: { name: auth-a }
YAML
secrets_absent() {
  local files=("$@")
  for pattern in "PRIVATE KEY" "ya29.emu-" "client-secret-7" "refresh-token-9"; do
    if grep -rqF -- "$pattern" "${files[@]}" 2>/dev/null; then
      fail "\"$pattern\" was found in ${files[*]}"
    fi
  done
}

# 1. Service account, short-lived tokens: refreshed before they expire.
run 0 "$infra" up "$topo" -v
[ "$(grep -c 'gcp: access token from GOOGLE_APPLICATION_CREDENTIALS' "$work/err")" -ge 2 ] ||
  fail "the up did not refresh its token before it expired"
[ "$(grep -c ' compute [^ ]* 401 ' "$work/emulator.log")" -eq 0 ] || fail "a call met an expired token"
run 0 "$infra" down "$topo" --yes
secrets_absent "$work/out" "$work/err" "$work/.infra"

# Tokens living an hour, revoked while an up waits for its operation: the
# 401 fetches a new one.
emulator_stop
inserts=$(grep -c 'compute.networks.insert 200' "$work/emulator.log")
emulator_start --operation-seconds 2 \
  --authorized-user "client-1.apps.googleusercontent.com:client-secret-7:1//refresh-token-9"
slow_topo=$work/slow.yaml
sed 's/^name: gcp-auth/name: gcp-auth-slow/; s/auth-a/auth-b/' "$topo" >"$slow_topo"
"$infra" up "$slow_topo" -v >"$work/slow.out" 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 400); do
  [ "$(grep -c 'compute.networks.insert 200' "$work/emulator.log")" -gt "$inserts" ] && break
  sleep 0.05
done
curl -sf -X POST "$endpoint/_emulator/expire-tokens" >/dev/null
wait $pid || { cat "$work/slow.out" >&2; fail "up with revoked tokens failed"; }
grep -q ' compute [^ ]* 401 ' "$work/emulator.log" || fail "no call was refused with 401 after the revocation"
grep -q 'gcp .*: 401, fetching a new access token' "$work/slow.out" || fail "the 401 did not fetch a new token"
run 0 "$infra" down "$slow_topo" --yes
secrets_absent "$work/out" "$work/err" "$work/slow.out" "$work/.infra"
# What the next plans refresh (and so configure the provider for).
run 0 "$infra" up "$topo"

# 2. Application default credentials of an authorized user.
adc_home=$work/adc-home
mkdir -p "$adc_home/.config/gcloud"
cat >"$adc_home/.config/gcloud/application_default_credentials.json" <<'JSON'
{"type": "authorized_user", "client_id": "client-1.apps.googleusercontent.com",
 "client_secret": "client-secret-7", "refresh_token": "1//refresh-token-9"}
JSON
HOME=$adc_home GOOGLE_APPLICATION_CREDENTIALS= GOOGLE_CLOUD_PROJECT=infra-test \
  CLOUDSDK_AUTH_TOKEN_HOST=$endpoint/token run 0 "$infra" plan "$topo" -v
err_has "credentials from application default credentials ($adc_home/.config/gcloud/application_default_credentials.json)"
secrets_absent "$work/out" "$work/err"

# 3. The metadata server of the instance infra runs on.
GOOGLE_APPLICATION_CREDENTIALS= GCE_METADATA_HOST=127.0.0.1:$port run 0 "$infra" plan "$topo" -v
err_has "credentials from the metadata server (127.0.0.1:$port)"
err_has "project infra-test"
grep -q ' metadata instance/service-accounts/default/token 200 ' "$work/emulator.log" ||
  fail "the metadata server handed out no token"
secrets_absent "$work/out" "$work/err"

# 4. A key the token endpoint does not know; no credentials at all.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/other.pem" 2>/dev/null
jq --arg key "$(cat "$work/other.pem")" '.private_key = $key' "$work/key.json" >"$work/other.json"
GOOGLE_APPLICATION_CREDENTIALS=$work/other.json run 1 "$infra" plan "$topo"
err_has "refused the credentials of GOOGLE_APPLICATION_CREDENTIALS ($work/other.json): invalid_grant"
secrets_absent "$work/out" "$work/err"
GOOGLE_APPLICATION_CREDENTIALS= run 1 "$infra" plan "$topo"
err_has "no credentials: set the provider setting credentials_file or GOOGLE_APPLICATION_CREDENTIALS"
GOOGLE_APPLICATION_CREDENTIALS=$work/missing.json run 1 "$infra" plan "$topo"
err_has "the credentials file $work/missing.json of GOOGLE_APPLICATION_CREDENTIALS"

run 0 "$infra" down "$topo" --yes
secrets_absent "$work/.infra"
echo "ok: service account, authorized user and metadata server credentials; refusals named, secrets kept out"
