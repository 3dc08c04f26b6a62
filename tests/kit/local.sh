#!/usr/bin/env bash
# The conformance kit on the local provider: tests/kit/local.yaml with a
# prefix, a run directory and two /24s of this run only. Needs root.
#   usage: local.sh INFRA_BINARY      (exit 77 = skipped: not root or a tool missing)
set -euo pipefail
infra=$1
here=$(cd "$(dirname "$0")" && pwd)

# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh"
[ "$(id -u)" -eq 0 ] || skip "the local provider needs root"
export PATH=$PATH:/usr/sbin:/sbin
command -v ip >/dev/null || skip "ip is not installed (scripts/deps.sh installs it)"

work=$(mktemp -d /tmp/infra-kit-local.XXXXXX)
export INFRA_LOCAL_PREFIX=k$(printf '%04x' $(($$ % 65536)))
export INFRA_LOCAL_RUN_DIR=$work/run
KIT_LOCAL_CIDR=$(free_test_cidr 200 25)
KIT_LOCAL_CIDR2=$(free_test_cidr 225 25)
[ -n "$KIT_LOCAL_CIDR" ] && [ -n "$KIT_LOCAL_CIDR2" ] || skip "no free 10.213.x.0/24 for the test networks"
export KIT_LOCAL_CIDR KIT_LOCAL_CIDR2

cleanup() {
  local rc=$?
  local_leftovers_remove "$INFRA_LOCAL_PREFIX" "$work"
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

run 0 "$infra" plugin test "$(dirname "$infra")/plugins/local.so" "$here/local.yaml"
out_lacks "FAIL"
out_has "ok   network drift-repair"
out_has "ok   dns_record import"
out_has ", 0 failed"
# Nothing of the run is left: no link, no namespace, no record directory.
! ip -o link show | grep -qF ": $INFRA_LOCAL_PREFIX" || fail "a link of the run is left"
[ ! -e "$INFRA_LOCAL_RUN_DIR/$INFRA_LOCAL_PREFIX" ] || fail "the run directory is left"
