#!/usr/bin/env bash
# Objects edited or deleted behind infra's back: plan and status see it.
source "$(dirname "$0")/lib.sh"
topology 2
run 0 "$infra" up "$topo"
file=$(object_file 'instance.web[0]')
jq -c '.attributes.size = "large"' "$file" >"$work/edited" && mv "$work/edited" "$file"
run 0 "$infra" status "$topo"
out_has "drifted (size)"
run 2 "$infra" plan "$topo"
out_has "Changed outside infra:"
out_has "instance.web[0]: size"
out_has "~ instance.web[0]  (update in place: size; changed outside infra)"
run 0 "$infra" up "$topo"
grep -q '"size":"small"' "$(object_file 'instance.web[0]')" || fail "drift not repaired"

# Drift on what the topology does not set but the provider plans (a
# machine found stopped): status says so, up repairs it, status then says ok.
file=$(object_file 'instance.web[0]')
jq -c '.attributes.status = "stopped"' "$file" >"$work/edited" && mv "$work/edited" "$file"
run 0 "$infra" status "$topo"
out_has "drifted (status)"
run 2 "$infra" plan "$topo"
out_has "~ instance.web[0]  (update in place: status; changed outside infra)"
out_has '~ status = "stopped" -> "running"'
run 0 "$infra" up "$topo"
out_has "instance.web[0]: updated"
[ "$(jq -r .attributes.status "$(object_file 'instance.web[0]')")" = running ] ||
  fail "the stopped instance was not started"
run 0 "$infra" status "$topo"
out_lacks "drifted"
[ "$(jq -r '.resources["instance.web[0]"].attributes.status' "$(state_doc)")" = running ] ||
  fail "the state does not record the repaired status"
run 0 "$infra" plan "$topo"

rm "$(object_file 'instance.web[1]')"
run 0 "$infra" status "$topo"
out_has "missing"
run 2 "$infra" plan "$topo"
out_has "+ instance.web[1]  (create; deleted outside infra)"
run 0 "$infra" up "$topo"
[ "$(objects instance)" -eq 2 ] || fail "the deleted instance was not recreated"
run 0 "$infra" status "$topo"
out_lacks "missing"
out_lacks "drifted"
run 0 "$infra" plan "$topo"
echo "drift detected and repaired"
