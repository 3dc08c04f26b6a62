#!/usr/bin/env bash
# infra plan refuses what apply would refuse: it configures every provider
# it will use (a provider that cannot be configured fails the plan, at the
# provider block's YAML line) and asks the plugin's plan for every create,
# update and replace (a size this account may not run fails at its line),
# instead of printing a plan that only up rejects.
source "$(dirname "$0")/lib.sh"
# write SETTINGS SIZE
write() {
  cat >"$topo" <<YAML
name: e2e
providers:
  test:
    dir: "\${env.INFRA_TEST_DIR}"
    $1
instances:
  web:
    count: 2
    size: $2
YAML
}

write "crash_when: sideways" small
run 1 "$infra" plan "$topo"
err_has "$topo:5:17: error: providers.test.crash_when: provider \"test\" could not be configured: must be \"before\" or \"after\""

write "largest_size: medium" large
run 1 "$infra" plan "$topo"
err_has "$topo:9:11: error: instances.web.size: the provider refuses the create: size \"large\" is larger than this account allows"
out_lacks "Plan:"

write "largest_size: medium" medium
run 2 "$infra" plan "$topo"
run 0 "$infra" up "$topo"
write "largest_size: medium" large
run 1 "$infra" plan "$topo"
err_has "instances.web.size: the provider refuses the change: size \"large\" is larger than this account allows"
run 1 "$infra" up "$topo"
[ "$(jq -r '.resources["instance.web[0]"].attributes.size' "$(state_doc)")" = medium ] ||
  fail "a refused plan changed something"
echo "plan configures providers and asks the plugins' plan"
