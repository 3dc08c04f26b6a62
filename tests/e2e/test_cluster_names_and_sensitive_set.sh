#!/usr/bin/env bash
# A cluster whose region name comes from a variable (per environment) and
# whose servers are also clients, with a job given a sensitive value
# through `set`, through the "testsched" scheduler plugin (which logs what
# it receives to the test provider's calls.log): the plugin receives the
# value; the plan, `up -v`, `state show` and every file of the state
# directory do not hold it; the job's name and other set values are not
# hidden; a second up changes nothing and a new value updates the job.
source "$(dirname "$0")/lib.sh"
log=$INFRA_TEST_DIR/calls.log
mkdir -p "$work/jobs"
printf '{"Job": {"ID": "web"}}\n' >"$work/jobs/web.json"
cat >"$topo" <<'YAML'
name: e2e
variables:
  region: { default: eu }
  api_token: { type: string, sensitive: true }
environments:
  prod: { region: prod-eu }
providers:
  test: { dir: "${env.INFRA_TEST_DIR}" }
clusters:
  main:
    scheduler: testsched
    dir: "${env.INFRA_TEST_DIR}"
    regions:
      "${region}":
        datacenters:
          dc-a: { provider: test, servers: { count: 3, client: true }, image: img-1, size: small }
jobs:
  web:
    cluster: main
    file: jobs/web.json
    set: { image_tag: "1.0-tagged", api_token: "${api_token}" }
YAML
token=tok-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
export INFRA_VAR_api_token=$token
no_token() { ! grep -rqF "$token" "$@" || fail "the sensitive value reached $(grep -rlF "$token" "$@")"; }

# The plan: the region named by the variable, combined nodes, set masked.
# (testsched makes a secret when configured, which needs the state directory)
mkdir -p "$work/.infra"
rc=0
"$infra" plan "$topo" >"$work/out" 2>&1 || rc=$?
[ $rc -eq 2 ] || { cat "$work/out" >&2; fail "plan exits $rc"; }
out_has "cluster_agent.main.eu.dc-a.server[2]"
[ "$(grep -c "^ *+ client = true" "$work/out")" -eq 3 ] || { cat "$work/out" >&2; fail "not 3 combined nodes"; }
out_has "+ set = (sensitive)"
no_token "$work/out"
"$infra" plan "$topo" -e prod >"$work/out" 2>&1 || [ $? -eq 2 ] || fail "plan -e prod failed"
out_has "cluster_region.main.prod-eu"

# up -v: the plugin gets the value and the combined nodes; nothing else shows it.
"$infra" up "$topo" -v >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "up failed"; }
grep -q "^submit web regions=eu .*\"api_token\": *\"$token\"" "$log" ||
  { cat "$log" >&2; fail "the plugin did not receive the sensitive value"; }
grep -q "^ready eu " "$log" || fail "region eu was not made ready"
no_token "$work/out"
out_has "job.web: created"
out_lacks "[redacted]"
"$infra" state show "$topo" job.web >"$work/show" 2>&1 || { cat "$work/show" >&2; fail "state show failed"; }
no_token "$work/show" "$(state_doc)" "$work/.infra"
grep -q '"set": "hmac-sha256:[0-9a-f]\{64\}"' "$work/show" ||
  { cat "$work/show" >&2; fail "the state does not keep a hash of the job's set"; }

# A second up changes nothing; a new value is an update of the job.
"$infra" up "$topo" >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "second up failed"; }
out_has "No changes."
rc=0
INFRA_VAR_api_token=$token-2 "$infra" plan "$topo" >"$work/out" 2>&1 || rc=$?
[ $rc -eq 2 ] || { cat "$work/out" >&2; fail "a new sensitive value plans nothing (exit $rc)"; }
out_has "job.web  (update in place: set)"
no_token "$work/out"
"$infra" down "$topo" --yes >/dev/null 2>&1 || fail "down failed"
echo "cluster names from variables, combined nodes, sensitive set: ok"
