#!/usr/bin/env bash
# examples/aws-image.yaml on real hosts (root): the nomad-host image baked
# from a seed image of the emulator over SSH, then three instances of it.
#  0. the first up killed during its build, then down: nothing is left.
#  1. up: one build instance provisioned (its files on its host), stopped,
#     imaged, terminated; the three instances run the new AMI.
#  2. up again: nothing is built, nothing changes.
#  3. another nomad_version (a changed step): generation 2 is built and the
#     instances are replaced by instances of it; generation 1 is kept.
#  4. a run killed during its build: the rerun cleans the build instance,
#     builds generation 3 once, and drops generation 1 (keep: 2).
#  5. a failing step: the up fails with the step's output and no build
#     instance is left.
#  6. an update killed during its build, then down: the build instance
#     of a hash the state does not name is terminated too, the
#     generations kept are deregistered, their snapshots deleted; the seed
#     images stay.
#   usage: image_bake.sh INFRA_BINARY BUILD_DIR      (exit 77 when not root)
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "the image build needs real hosts (root)"
pool_create 5
# A fast clock, but terminated build instances stay visible AWS's hour
# (builds_made counts them), however long a loaded machine takes.
emulator_start --pending-seconds 0.2 --time-scale 0.1 --retention-seconds 3600 \
  --hosts "$pool_dir/hosts.json"

ssh-keygen -q -t ed25519 -N "" -C infra-aws-test -f "$work/id_ed25519"
export INFRA_SSH_PUBLIC_KEY=$work/id_ed25519.pub INFRA_SSH_PRIVATE_KEY=$work/id_ed25519
# The base: the newest x86_64 nomad-host-* of the seed (ami-...60002), a
# pattern the generations built (nomad-host-HASH) match too, and must not
# be taken for; the pool's hosts log in as root.
export INFRA_VAR_base_name='nomad-host-*' INFRA_VAR_base_owner=self INFRA_VAR_login_user=root
base=ami-0a1b2c3d4e5f60002
topo=$work/aws-image.yaml
cp "$root/examples/aws-image.yaml" "$topo"
cp -r "$root/examples/images" "$work/images"
state_doc() { pull_state "$infra" "$topo"; }
attr() { jq -r ".resources[\"$1\"].attributes.$2" "$(state_doc)"; }
region() { emu_state | jq '.regions["us-east-1"]'; }
# Instances tagged as builds that are not terminated.
builds_alive() {
  emu_state | jq --arg k infra:build-hash '[.regions["us-east-1"] as $r | ($r.instances // {})[]
    | select(.State.Name != "terminated") | select(($r.tags[.InstanceId] // {}) | has($k))] | length'
}
builds_made() {
  emu_state | jq --arg k infra:build-hash '[.regions["us-east-1"] as $r | ($r.instances // {})[]
    | select(($r.tags[.InstanceId] // {}) | has($k))] | length'
}
node_images() {
  for i in 0 1 2; do
    id=$(attr "instance.node[$i]" id)
    awsctl call ec2 DescribeInstances "{\"InstanceIds\": [\"$id\"]}" |
      jq -r '.Reservations[0].Instances[0] | "\(.State.Name) \(.ImageId)"'
  done | sort -u | tr '\n' ' '
}
made_images() { region | jq -r '.images // {} | keys | sort | join(" ")'; }

# kill_during_build ARGS...: starts infra up ARGS, kills it with SIGKILL
# as soon as a build instance is alive.
kill_during_build() {
  "$infra" up "$topo" "$@" >"$work/killed.out" 2>&1 </dev/null &
  local pid=$! seen=0
  for _ in $(seq 1 1200); do
    [ "$(builds_alive)" -ge 1 ] && { seen=1; break; }
    kill -0 $pid 2>/dev/null || break
    sleep 0.05
  done
  [ "$seen" -eq 1 ] || { cat "$work/killed.out" >&2; fail "no build instance appeared"; }
  { kill -9 $pid; wait $pid; } 2>/dev/null || true
}

# 0. The first up killed during its build, then down: the build instance
#    the interrupted create left is found by its token and terminated.
kill_during_build
run 0 "$infra" down "$topo" --yes
[ "$(builds_alive)" -eq 0 ] || fail "down left the interrupted build's instance"
[ "$(made_images)" = "" ] || fail "down left images $(made_images)"
made0=$(builds_made)

# 1. The first build.
run 0 "$infra" up "$topo"
ami1=$(attr image.nomad-host id)
[[ $ami1 == ami-* ]] || fail "the state names no image: $ami1"
[ "$ami1" != "$base" ] || fail "the image is the base image"
[ "$(attr image.nomad-host base_id)" = "$base" ] || fail "the base is not $base"
hash1=$(attr image.nomad-host build_hash)
[ "${#hash1}" -eq 64 ] || fail "build_hash is '$hash1'"
img=$(region | jq ".images[\"$ami1\"]")
[ "$(echo "$img" | jq -r .State)" = available ] || fail "$ami1 is not available"
[ "$(echo "$img" | jq -r .Name)" = "nomad-host-${hash1:0:16}" ] || fail "$ami1 is named $(echo "$img" | jq -r .Name)"
[ "$(echo "$img" | jq -r ._source_image)" = "$base" ] || fail "$ami1 was not made from an instance of $base"
[ "$(region | jq -r --arg a "$ami1" '.tags[$a]["infra:build-hash"]')" = "$hash1" ] ||
  fail "$ami1 lacks its infra:build-hash tag"
[ "$(builds_made)" -eq $((made0 + 1)) ] || fail "expected one build instance, saw $(builds_made)"
[ "$(builds_alive)" -eq 0 ] || fail "a build instance is left"
# What the steps did, on the build instance's host.
v=$(cat "$pool_dir"/run/*/hosts/*/root/opt/nomad-host/nomad-version 2>/dev/null | sort -u | tr '\n' ' ')
[ "$v" = "1.7.6 " ] || fail "the build host holds nomad-version '$v'"
mode=$(stat -c %a "$pool_dir"/run/*/hosts/*/root/opt/nomad-host/provision.sh | sort -u)
[ "$mode" = 755 ] || fail "provision.sh has mode $mode"
[ "$(node_images)" = "running $ami1 " ] || fail "the nodes run '$(node_images)', expected $ami1"

# 2. Nothing changed: nothing is built.
run 0 "$infra" up "$topo"
[ "$(builds_made)" -eq $((made0 + 1)) ] || fail "the second up built again"
[ "$(attr image.nomad-host id)" = "$ami1" ] || fail "the second up changed the image"
run 0 "$infra" plan "$topo"
out_has "No changes"

# 3. A changed step: generation 2, the nodes replaced.
nodes1=$(for i in 0 1 2; do attr "instance.node[$i]" id; done | sort | tr '\n' ' ')
run 0 "$infra" up "$topo" --var nomad_version=1.7.7
ami2=$(attr image.nomad-host id)
[ "$ami2" != "$ami1" ] || fail "no new generation was built"
[ "$(attr image.nomad-host build_hash)" != "$hash1" ] || fail "the build hash did not change"
[ "$(jq -c '.resources["image.nomad-host"].attributes.generations' "$(state_doc)")" = "[\"$ami2\",\"$ami1\"]" ] ||
  fail "generations are $(jq -c '.resources["image.nomad-host"].attributes.generations' "$(state_doc)")"
[ "$(builds_made)" -eq $((made0 + 2)) ] || fail "expected a second build instance"
[ "$(builds_alive)" -eq 0 ] || fail "a build instance is left"
nodes2=$(for i in 0 1 2; do attr "instance.node[$i]" id; done | sort | tr '\n' ' ')
[ "$nodes1" != "$nodes2" ] || fail "the nodes were not replaced"
[ "$(node_images)" = "running $ami2 " ] || fail "the nodes run '$(node_images)', expected $ami2"
[ "$(made_images)" = "$(printf '%s\n' "$ami1" "$ami2" | sort | tr '\n' ' ' | sed 's/ $//')" ] ||
  fail "the emulator holds images '$(made_images)'"
run 0 "$infra" plan "$topo" --var nomad_version=1.7.7
out_has "No changes"

# 4. A run killed with SIGKILL while its build instance runs: the rerun
#    terminates that instance, builds generation 3 once and, keeping two
#    generations, deregisters generation 1 and deletes its snapshot.
snap1=$(region | jq -r --arg a "$ami1" '.images[$a].BlockDeviceMappings[0].Ebs.SnapshotId')
kill_during_build --var nomad_version=1.7.8
run 0 "$infra" up "$topo" --var nomad_version=1.7.8
ami3=$(attr image.nomad-host id)
[ "$ami3" != "$ami2" ] || fail "the rerun did not build generation 3"
[ "$(builds_alive)" -eq 0 ] || fail "the interrupted build left its instance"
hash3=$(attr image.nomad-host build_hash)
[ "$(region | jq --arg h "$hash3" '[.tags | to_entries[] | select(.key | startswith("ami-"))
  | select(.value["infra:build-hash"] == $h)] | length')" -eq 1 ] || fail "generation 3 was made twice"
[ "$(jq -c '.resources["image.nomad-host"].attributes.generations' "$(state_doc)")" = "[\"$ami3\",\"$ami2\"]" ] ||
  fail "generations are $(jq -c '.resources["image.nomad-host"].attributes.generations' "$(state_doc)")"
[ "$(region | jq --arg a "$ami1" '.images | has($a)')" = false ] || fail "generation 1 was not deregistered"
[ "$(region | jq --arg s "$snap1" '.snapshots | has($s)')" = false ] || fail "the snapshot of generation 1 is left"
[ "$(node_images)" = "running $ami3 " ] || fail "the nodes run '$(node_images)', expected $ami3"

# 5. A failing step: the up fails with its output; no instance is left.
run 1 "$infra" up "$topo" --var nomad_version=bad
err_has 'step 3 (/opt/nomad-host/provision.sh bad) exited with status 3'
err_has '"bad" is not a Nomad version (X.Y.Z)'
[ "$(builds_made)" -eq $((made0 + 5)) ] || fail "the failing build launched no instance"
[ "$(builds_alive)" -eq 0 ] || fail "the failed build left its instance"
[ "$(attr image.nomad-host id)" = "$ami3" ] || fail "the failed build changed the state's image"
[ "$(node_images)" = "running $ami3 " ] || fail "after the failed build the nodes run '$(node_images)', expected $ami3"

# 6. An update killed during its build, then down: the build instance
#    goes, every image the state names is deregistered with its snapshot.
kill_during_build --var nomad_version=1.7.9
run 0 "$infra" down "$topo" --var nomad_version=1.7.9 --yes
[ "$(made_images)" = "" ] || fail "after down the emulator holds images $(made_images)"
[ "$(region | jq '.snapshots | length')" -eq 0 ] || fail "after down snapshots are left"
[ "$(awsctl call ec2 DescribeImages '{"Owners": ["self"]}' | jq '.Images | length')" -eq 5 ] ||
  fail "down touched the seed images"
[ "$(builds_alive)" -eq 0 ] || fail "after down a build instance is left"
echo "ok: built $ami1, reused it, built $ami2 on a changed step, $ami3 after a crash, a failing step left nothing, down after a killed update removed the build instance and the images"
