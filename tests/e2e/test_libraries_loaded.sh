#!/usr/bin/env bash
# libcurl, libpq and libxml2 are opened only by what uses them
# (core/src/base/lazylib.h): the binary does not link them, version,
# --help, validate and plan on the local state never open them, a postgres
# state opens libpq and an s3 state libxml2 and libcurl. The servers named
# here do not exist (port 1 of loopback): the runs fail after the loading.
source "$(dirname "$0")/lib.sh"
topology 1
lazy='lib(curl|pq|xml2)\.so'
opened() { # COMMAND...: the lazily loaded libraries it opened, sorted, on one line
  LD_DEBUG=files "$@" 2>&1 >/dev/null </dev/null |
    grep -Eo "file=[^ ]*($lazy)[^ ]*" | sed 's/^file=//; s/.*\///; s/\.so.*//' | sort -u |
    tr '\n' ' ' || true
}
needed=$(objdump -p "$infra" | grep NEEDED)
if grep -Eq "$lazy" <<<"$needed"; then fail "the binary links them: $needed"; fi
for cmd in version --help; do
  [ -z "$(opened "$infra" "$cmd")" ] || fail "$cmd opened: $(opened "$infra" "$cmd")"
done
for cmd in validate plan; do
  got=$(opened "$infra" "$cmd" "$topo" --state-dir "$work/state")
  [ -z "$got" ] || fail "$cmd opened: $got"
done

got=$(opened "$infra" plan "$topo" --backend-config type=postgres \
  --backend-config "conn_str=host=127.0.0.1 port=1 dbname=none connect_timeout=5")
[ "$got" = "libpq " ] || fail "plan on a postgres state opened: '$got', not libpq"

got=$(AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=example AWS_REGION=us-east-1 \
  opened "$infra" plan "$topo" --backend-config type=s3 --backend-config bucket=none \
  --backend-config endpoint=http://127.0.0.1:1)
[ "$got" = "libcurl libxml2 " ] || fail "plan on an s3 state opened: '$got', not libcurl, libxml2"
echo "libcurl, libpq and libxml2 are opened only when used"
