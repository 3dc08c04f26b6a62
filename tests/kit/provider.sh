#!/usr/bin/env bash
# The conformance kit judged on providers whose faults are known
# (tests/plugins/kit_provider.c): kit-right passes, kit-wrong fails with the
# checks it breaks named, and a bad fixture is refused at its lines.
#   usage: provider.sh INFRA_BINARY SAMPLES_DIR
set -euo pipefail
infra=$1
samples=$2
here=$(cd "$(dirname "$0")" && pwd)

# shellcheck source=SCRIPTDIR/../lib.sh
source "$here/../lib.sh"
work=$(mktemp -d /tmp/infra-kit-provider.XXXXXX)
trap 'rm -rf "$work"' EXIT

run 0 "$infra" plugin test "$samples/kit-right.so" "$here/provider.yaml"
out_lacks "FAIL"
for check in validate-refuses token-adopts read-stable plan-no-change read-by-token plan-update \
  plan-replace replace-old-gone import read-gone delete-again; do
  out_has "ok   item $check"
done

# A read that differs from what was applied, and a create that does not
# adopt the object its token made: both named, exit 1.
run 1 "$infra" plugin test "$samples/kit-wrong.so" "$here/provider.yaml"
out_has 'FAIL item token-adopts: a second object was made for the same token: id "item-1", then "item-2"'
out_has 'FAIL item read: attribute "size": applied 1, read 2'
out_has "2 failed"
run 1 "$infra" plugin test "$samples/kit-wrong.so" "$here/provider.yaml" --json
[ "$(jq -r .ok "$work/out")" = false ] || fail "--json says ok"
[ "$(jq -r '[.checks[] | select(.ok | not) | .check] | join(",")' "$work/out")" = "token-adopts,read" ] ||
  fail "--json names other failures: $(cat "$work/out")"

# Checks the fixture lists as known to fail are shown as such and do not
# fail the run; any other failure still does.
sed 's/^    import:/    expect_fail: [token-adopts, read]\n    import:/' "$here/provider.yaml" >"$work/known.yaml"
run 0 "$infra" plugin test "$samples/kit-wrong.so" "$work/known.yaml"
out_has 'KNOWN item token-adopts (expect_fail): a second object was made'
out_has "0 failed, 2 known to fail"
sed 's/^    import:/    expect_fail: [read]\n    import:/' "$here/provider.yaml" >"$work/known.yaml"
run 1 "$infra" plugin test "$samples/kit-wrong.so" "$work/known.yaml"
out_has "FAIL item token-adopts"

# A fixture for another plugin is refused before anything runs.
sed 's/^settings:/plugin: hello\nsettings:/' "$here/provider.yaml" >"$work/other.yaml"
run 1 "$infra" plugin test "$samples/kit-right.so" "$work/other.yaml"
err_has 'the plugin is "kit-right"; the fixture'

# A bad fixture: every mistake at its file, line and key.
cat >"$work/bad.yaml" <<'YAML'
settings: { label: "${env.KIT_UNSET_VARIABLE_FOR_TEST}" }
timeout: forever
resources:
  item:
    craete: { name: x }
    update: [ name ]
    invalid: { config: { name: "" } }
    drift: { command: "true", file: { path: /tmp/x } }
YAML
run 1 "$infra" plugin test "$samples/kit-right.so" "$work/bad.yaml"
err_has "bad.yaml:1:20: error: settings.label: environment variable \"KIT_UNSET_VARIABLE_FOR_TEST\" is not set"
err_has "bad.yaml:2:10: error: timeout: expected seconds"
err_has "bad.yaml:5:5: error: resources.item.craete: unknown key (did you mean \"create\"?)"
err_has "bad.yaml:6:13: error: resources.item.update: expected a mapping of attributes, got a list"
err_has "bad.yaml:7:14: error: resources.item.invalid: config and attribute are both required"
err_has "bad.yaml:8:12: error: resources.item.drift: give one of command and file"
[ ! -s "$work/out" ] || fail "checks ran on a bad fixture: $(cat "$work/out")"
