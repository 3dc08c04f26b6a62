#!/usr/bin/env bash
# An injected failure of instance.web[1]: its dependents (balancer, DNS
# record) are skipped, its siblings are created, exit 1 with the address
# and YAML location; a rerun without the failure converges.
source "$(dirname "$0")/lib.sh"
topology 3 small img-1 'instance.web[1]'
run 1 "$infra" up "$topo"
out_has "Apply: 4 done, 1 failed, 2 skipped."
out_has "load_balancer.web: skipped (instance.web[1] failed)"
out_has "dns_record.www: skipped"
err_has "e2e.yaml:"
err_has "error: instance.web[1]: create failed: injected failure"
[ "$(objects instance)" -eq 2 ] || fail "the two siblings should exist"
[ "$(objects load_balancer)" -eq 0 ] || fail "the balancer should not exist"

topology 3
run 2 "$infra" plan "$topo"
out_has "Plan: 3 to create, 0 to update, 0 to replace, 0 to delete."
run 0 "$infra" up "$topo"
out_has "Apply: 3 done, 0 failed, 0 skipped."
[ "$(objects)" -eq 7 ] || fail "expected 7 objects after the rerun"
run 0 "$infra" plan "$topo"
echo "a failure skips only its dependents; the rerun converges"
