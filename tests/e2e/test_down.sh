#!/usr/bin/env bash
# `infra down` refuses without --yes when stdin is not a terminal, and with
# --yes removes every object the state records (and empties the state).
source "$(dirname "$0")/lib.sh"
topology 3
run 0 "$infra" up "$topo"
run 1 "$infra" down "$topo"
err_has "pass --yes"
[ "$(objects)" -eq 7 ] || fail "a refused down deleted something"
run 0 "$infra" down "$topo" --yes
out_has "Destroy: 7 done, 0 failed, 0 skipped."
out_has "network.main: deleted in"
[ "$(objects)" -eq 0 ] || fail "objects left after down: $(find "$INFRA_TEST_DIR" -name '*.json')"
[ "$(jq '.resources | length' "$(state_doc)")" -eq 0 ] || fail "state not empty after down"
net=$(grep -n "delete network.main" "$INFRA_TEST_DIR/calls.log" | cut -d: -f1)
fw=$(grep -n "delete firewall.web" "$INFRA_TEST_DIR/calls.log" | cut -d: -f1)
[ "$fw" -lt "$net" ] || fail "the network was deleted before its firewall"
run 0 "$infra" down "$topo" --yes
out_has "Nothing to destroy"
echo "down refuses without --yes and destroys everything with it"
