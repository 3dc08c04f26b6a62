#!/usr/bin/env bash
# prevent_destroy refuses `infra down` as a whole and the removal of the
# resource from the topology.
source "$(dirname "$0")/lib.sh"
topology 1
sed -i 's/^  main: { cidr: 10.20.0.0\/24, name: e2e }/  main: { cidr: 10.20.0.0\/24, name: e2e, prevent_destroy: true }/' "$topo"
run 0 "$infra" up "$topo"
jq -e '.resources["network.main"].prevent_destroy == true' "$(state_doc)" >/dev/null ||
  fail "prevent_destroy not recorded"
run 1 "$infra" down "$topo" --yes
err_has "prevent_destroy"
err_has "network.main"
[ "$(objects)" -eq 5 ] || fail "a refused destroy deleted something"
sed -i 's/cidr: 10.20.0.0\/24/cidr: 10.21.0.0\/24/' "$topo"
run 1 "$infra" plan "$topo"
err_has "prevent_destroy"
echo "prevent_destroy refuses"
