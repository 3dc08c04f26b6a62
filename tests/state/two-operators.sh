#!/usr/bin/env bash
# Two operators share one remote state: two processes with two HOMEs (each
# with its own checkout of the topology and its own credentials file), one
# backend (run under with-postgres.sh or with-s3.sh). While alice applies,
# bob is refused with alice's details; with --lock-timeout he waits for her,
# then finds her changes and has nothing to do.
#   usage: two-operators.sh INFRA_BINARY   (INFRA_TEST_BACKEND_YAML set)
set -euo pipefail
infra=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=../lib.sh
source "$here/../lib.sh"
[ -n "${INFRA_TEST_BACKEND_YAML:-}" ] || fail "run under with-postgres.sh or with-s3.sh"
export INFRA_PLUGIN_PATH= CRASH_DIR=$work/cloud INFRA_TEST_STATE_ID="two_$$"

# One checkout and one HOME per operator. The credentials that reach the
# backend come from each HOME, as the AWS CLI and libpq find them there.
for who in alice bob; do
  mkdir -p "$work/$who/home" "$work/$who/repo"
  cp "$here/../crash/crash.yaml" "$work/$who/repo/crash.yaml"
  printf '%s\n' "$INFRA_TEST_BACKEND_YAML" >>"$work/$who/repo/crash.yaml"
  if [ -n "${AWS_ACCESS_KEY_ID:-}" ]; then
    mkdir -p "$work/$who/home/.aws"
    printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
      "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$work/$who/home/.aws/credentials"
  fi
  if [ -n "${PGPASSWORD:-}" ]; then
    printf '%s:%s:%s:%s:%s\n' "$PGHOST" "$PGPORT" "$PGDATABASE" "$PGUSER" "$PGPASSWORD" \
      >"$work/$who/home/.pgpass"
    chmod 0600 "$work/$who/home/.pgpass"
  fi
done

objects() { find "$CRASH_DIR" -mindepth 2 -maxdepth 2 -name '*.json' ! -path '*/catalog/*' | wc -l; }

# env_of WHO: the environment of that operator (HOME, USER, credentials
# from HOME only); used as: (env_of WHO; exec COMMAND...).
env_of() {
  cd "$work/$1/repo"
  export HOME=$work/$1/home USER=$1 LOGNAME=$1
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SHARED_CREDENTIALS_FILE AWS_CONFIG_FILE
  unset PGPASSWORD
}

# wait_for WHAT COMMAND...: until COMMAND succeeds (60 s at most).
wait_for() {
  local what=$1
  shift
  for _ in $(seq 1 1200); do
    "$@" && return 0
    sleep 0.05
  done
  fail "timed out waiting for $what"
}

# alice applies; once she holds the lock (her first provider call is
# made) she is paused, so that bob's runs meet her lock however slow the
# machine is. Each of her calls takes 300 ms, so that she cannot finish
# the five levels of the topology between two looks at the call log.
(env_of alice; export CRASH_LATENCY_MS=300; exec "$infra" up crash.yaml) >"$work/alice.out" 2>&1 &
alice=$!
wait_for "alice's first call" test -s "$CRASH_DIR/calls.log"
kill -STOP "$alice"

# bob, without waiting: refused, naming alice.
rc=0
(env_of bob; exec "$infra" up crash.yaml) >"$work/bob1.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || { cat "$work/bob1.out" >&2; fail "bob's run went ahead while alice held the lock"; }
grep -q "locked by alice (infra up) (pid $alice on $(hostname)) since " "$work/bob1.out" ||
  { cat "$work/bob1.out" >&2; fail "the refusal does not name alice's run"; }

# bob, waiting: runs once alice is done, and finds nothing left to do.
(env_of bob; exec "$infra" up crash.yaml --lock-timeout 5m) >"$work/bob2.out" 2>&1 &
bob=$!
wait_for "bob to wait for alice" grep -q "waiting up to 5m for the state lock: state is locked by alice" "$work/bob2.out"
kill -CONT "$alice"
wait "$alice" || { cat "$work/alice.out" >&2; fail "alice's run failed"; }
wait "$bob" || { cat "$work/bob2.out" >&2; fail "bob's waiting run failed"; }
grep -q "No changes" "$work/bob2.out" || { cat "$work/bob2.out" >&2; fail "bob did not see alice's changes"; }
[ "$(objects)" -eq 24 ] || fail "expected the 24 objects alice made, found $(objects)"

# What one operator changes by hand, the other sees.
(env_of alice; exec "$infra" state rm crash.yaml dns_record.api) >/dev/null
(env_of bob; exec "$infra" state list crash.yaml) >"$work/list"
[ "$(wc -l <"$work/list")" -eq 23 ] || fail "bob does not see alice's state rm"
(env_of bob; exec "$infra" up crash.yaml) >/dev/null 2>&1 || fail "bob's run after the rm failed"
[ "$(objects)" -eq 25 ] || fail "the forgotten record was not made again"
echo "two operators shared one state (${INFRA_TEST_STATE_BACKEND:-?}): the second waited, then saw the first's changes"
