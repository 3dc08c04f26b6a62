#!/usr/bin/env bash
# The conformance kit on the SDK example (examples/plugin-sdk, built in the
# tree by tests/plugins): tests/kit/hello.yaml in a directory of this run.
#   usage: hello.sh INFRA_BINARY HELLO.so
set -euo pipefail
infra=$1
plugin=$2
here=$(cd "$(dirname "$0")" && pwd)

# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh"
work=$(mktemp -d /tmp/infra-kit-hello.XXXXXX)
trap 'rm -rf "$work"' EXIT
export KIT_HELLO_DIR=$work/greetings
mkdir "$KIT_HELLO_DIR"

run 0 "$infra" plugin test "$plugin" "$here/hello.yaml"
out_lacks "FAIL"
out_has "ok   greeting drift-read"
out_has "ok   greeting import"
out_has "ok   greeting delete-again"
[ -z "$(ls -A "$KIT_HELLO_DIR")" ] || fail "greeting files are left: $(ls "$KIT_HELLO_DIR")"

# --json: the same results as a document.
run 0 "$infra" plugin test "$plugin" "$here/hello.yaml" --json
[ "$(jq -r .ok "$work/out")" = true ] || fail "--json does not say ok"
[ "$(jq -r '[.checks[] | select(.ok | not)] | length' "$work/out")" = 0 ] || fail "--json lists a failure"
