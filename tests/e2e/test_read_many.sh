#!/usr/bin/env bash
# Refresh is batched: the resources of one provider and type are read with
# one read_many call per 500 (the test provider logs each call to
# reads.log), and what each item says goes where a read's would: drift to
# its resource, a deleted object to a create. A plugin without read_many
# (test-basic) is read resource by resource, with the same results.
source "$(dirname "$0")/lib.sh"
reads=$INFRA_TEST_DIR/reads.log
cat >"$topo" <<YAML
name: e2e
providers:
  test: { dir: "\${env.INFRA_TEST_DIR}" }
  basic: { plugin: test-basic, dir: "\${env.INFRA_TEST_DIR}/basic" }
networks:
  main: { provider: test, cidr: 10.20.0.0/24 }
instances:
  web: { provider: test, count: 501, size: small, network: "\${network.main.id}" }
  solo: { provider: basic, count: 2, size: small }
YAML
run 0 "$infra" up "$topo" --parallelism 20
[ ! -e "$reads" ] || fail "the first up read something: $(cat "$reads")"

run 0 "$infra" plan "$topo"
out_has "No changes."
[ "$(sort "$reads" | tr '\n' ' ')" = "read_many instance 1 read_many instance 500 read_many network 1 " ] ||
  fail "expected one read_many per 500 instances and one for the network, got: $(cat "$reads")"
[ ! -e "$INFRA_TEST_DIR/basic/reads.log" ] || fail "test-basic has no read_many, yet it was called"

web7=$(object_file 'instance.web[7]')
jq -c '.attributes.size = "large"' "$web7" >"$work/edited" && mv "$work/edited" "$web7"
rm "$(object_file 'instance.web[300]')"
rm "$(grep -lF '"address":"instance.solo[1]"' "$INFRA_TEST_DIR"/basic/instance/*.json)"
: >"$reads"
run 2 "$infra" plan "$topo"
out_has "~ instance.web[7]  (update in place: size; changed outside infra)"
out_has "+ instance.web[300]  (create; deleted outside infra)"
out_has "+ instance.solo[1]  (create; deleted outside infra)"
out_has "Plan: 2 to create, 1 to update, 0 to replace, 0 to delete."
[ "$(wc -l <"$reads")" -eq 3 ] || fail "the plan made $(wc -l <"$reads") read_many calls, expected 3"
run 0 "$infra" status "$topo"
out_has "instance.web[7]"
grep -F 'instance.web[7] ' "$work/out" | grep -qF "drifted (size)" || fail "status does not see the drift"
grep -F 'instance.web[300] ' "$work/out" | grep -qF "missing" || fail "status does not see the deletion"
grep -F 'instance.solo[1] ' "$work/out" | grep -qF "missing" || fail "status does not see test-basic's deletion"
run 0 "$infra" up "$topo" --parallelism 20
run 0 "$infra" plan "$topo"
out_has "No changes."
echo "refresh reads in batches of 500, and one by one without read_many"
