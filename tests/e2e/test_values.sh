#!/usr/bin/env bash
# Values as the plugin gets them: the text "(known after apply)" written
# by the user is applied as text (an unknown value is a value of its own,
# never that text), and plan shows what is not known yet in those words.
source "$(dirname "$0")/lib.sh"
cat >"$topo" <<YAML
name: e2e
providers:
  test: { dir: "\${env.INFRA_TEST_DIR}" }
networks:
  main: { cidr: 10.20.0.0/24 }
instances:
  web:
    size: small
    user_data: "(known after apply)"
    network: "\${network.main.id}"
    tags: { note: "net \${network.main.id}" }
YAML
run 2 "$infra" plan "$topo"
out_has '+ user_data = "(known after apply)"'
out_has '+ network = (known after apply)'
out_has '+ tags = {"note":"(known after apply)"}'
run 2 "$infra" plan "$topo" --json
jq -e '.[] | select(.address == "instance.web") | .after.network == "(known after apply)"' \
  "$work/out" >/dev/null || fail "plan --json does not show the unknown network"
run 0 "$infra" up "$topo"
file=$(object_file instance.web)
[ "$(jq -r .attributes.user_data "$file")" = "(known after apply)" ] ||
  fail "the user's text did not reach the object"
[ "$(jq -r .attributes.tags.note "$file")" = "net $(jq -r .attributes.id "$(object_file network.main)")" ] ||
  fail "the reference was not resolved"
run 0 "$infra" plan "$topo"
echo "unknown values are values, the user's text is text"
