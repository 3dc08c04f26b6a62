#!/usr/bin/env bash
# `infra validate` of examples/nomad-local.yaml with region europe renamed
# to names Consul refuses as a datacenter name: each is an error that names
# the rule, on the line of the region: the plugin's on the first line of the
# region's block, the topology loader's (a dot) on its key. No root, no hosts.
#   usage: validate_names.sh INFRA_BINARY
set -euo pipefail
infra=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
source "$root/tests/lib.sh"
export INFRA_PLUGIN_PATH NO_COLOR=1
INFRA_PLUGIN_PATH=$(dirname "$infra")/plugins
work=$(mktemp -d /tmp/infra-nomad-names.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/jobs"
cp "$root/examples/jobs/web.json" "$work/jobs/"

# check NAME RULE OFFSET: the region europe renamed NAME is refused with a
# message containing RULE, OFFSET lines below the region's key.
check() {
  local name=$1 rule=$2 line rc=0
  sed "s/europe/$name/g" "$root/examples/nomad-local.yaml" >"$work/cluster.yaml"
  line=$(($(grep -n "^      $name:" "$work/cluster.yaml" | cut -d: -f1) + $3))
  "$infra" validate "$work/cluster.yaml" >"$work/out" 2>&1 || rc=$?
  [ $rc -ne 0 ] || { cat "$work/out" >&2; fail "region $name was accepted"; }
  grep -F "cluster.yaml:$line:" "$work/out" | grep -qF "$rule" ||
    { cat "$work/out" >&2; fail "region $name: no error on line $line naming the rule ($rule)"; }
}
check Europe '^[a-z0-9_-]+$' 1
check EU_west '^[a-z0-9_-]+$' 1
check eu.west 'region name "eu.west"' 0
sed "s/europe/eu_west-1/g" "$root/examples/nomad-local.yaml" >"$work/cluster.yaml"
"$infra" validate "$work/cluster.yaml" >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "eu_west-1 was refused"; }
echo "validate_names: Europe, EU_west and eu.west refused on their line, eu_west-1 accepted"
