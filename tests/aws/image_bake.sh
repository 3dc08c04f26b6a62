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

# shellcheck source=SCRIPTDIR/../lib/bake_steps.sh
source "$root/tests/lib/bake_steps.sh"
bake_keygen infra-aws-test
# The base: the newest x86_64 nomad-host-* of the seed (ami-...60002), a
# pattern the generations built (nomad-host-HASH) match too, and must not
# be taken for; the pool's hosts log in as root.
export INFRA_VAR_base_name='nomad-host-*' INFRA_VAR_base_owner=self INFRA_VAR_login_user=root
base=ami-0a1b2c3d4e5f60002
bake_workspace aws-image.yaml
state_doc() { pull_state "$infra" "$topo"; }
attr() { jq -r ".resources[\"$1\"].attributes.$2" "$(state_doc)"; }
image_id() { attr image.nomad-host id; }
generations() { jq -c '.resources["image.nomad-host"].attributes.generations' "$(state_doc)"; }
region() { emu_state | jq '.regions["us-east-1"]'; }
# Instances tagged as builds that are not terminated.
builds_alive() {
  emu_state | jq --arg k infra:build-hash '[.regions["us-east-1"] as $r | ($r.instances // {})[]
    | select(.State.Name != "terminated") | select(($r.tags[.InstanceId] // {}) | has($k))] | length'
}
bake_building() { [ "$(builds_alive)" -ge 1 ]; }
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

# 0. The first up killed during its build, then down: the build instance
#    the interrupted create left is found by its token and terminated.
bake_killed_first_up
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
bake_host_holds 1.7.6
mode=$(stat -c %a "$pool_dir"/run/*/hosts/*/root/opt/nomad-host/provision.sh | sort -u)
[ "$mode" = 755 ] || fail "provision.sh has mode $mode"
[ "$(node_images)" = "running $ami1 " ] || fail "the nodes run '$(node_images)', expected $ami1"

# 2. Nothing changed: nothing is built.
bake_nothing_changes "$ami1"
[ "$(builds_made)" -eq $((made0 + 1)) ] || fail "the second up built again"

# 3. A changed step: generation 2, the nodes replaced.
nodes1=$(for i in 0 1 2; do attr "instance.node[$i]" id; done | sort | tr '\n' ' ')
bake_changed_step "$ami1"
ami2=$bake_image
[ "$(attr image.nomad-host build_hash)" != "$hash1" ] || fail "the build hash did not change"
[ "$(builds_made)" -eq $((made0 + 2)) ] || fail "expected a second build instance"
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
bake_kill_during_build --var nomad_version=1.7.8
run 0 "$infra" up "$topo" --var nomad_version=1.7.8
ami3=$(attr image.nomad-host id)
[ "$ami3" != "$ami2" ] || fail "the rerun did not build generation 3"
[ "$(builds_alive)" -eq 0 ] || fail "the interrupted build left its instance"
hash3=$(attr image.nomad-host build_hash)
[ "$(region | jq --arg h "$hash3" '[.tags | to_entries[] | select(.key | startswith("ami-"))
  | select(.value["infra:build-hash"] == $h)] | length')" -eq 1 ] || fail "generation 3 was made twice"
[ "$(generations)" = "[\"$ami3\",\"$ami2\"]" ] || fail "generations are $(generations)"
[ "$(region | jq --arg a "$ami1" '.images | has($a)')" = false ] || fail "generation 1 was not deregistered"
[ "$(region | jq --arg s "$snap1" '.snapshots | has($s)')" = false ] || fail "the snapshot of generation 1 is left"
[ "$(node_images)" = "running $ami3 " ] || fail "the nodes run '$(node_images)', expected $ami3"

# 5. A failing step: the up fails with its output; no instance is left.
bake_failing_step "$ami3"
[ "$(builds_made)" -eq $((made0 + 5)) ] || fail "the failing build launched no instance"
[ "$(node_images)" = "running $ami3 " ] || fail "after the failed build the nodes run '$(node_images)', expected $ami3"

# 6. An update killed during its build, then down: the build instance
#    goes, every image the state names is deregistered with its snapshot.
bake_killed_update_then_down
[ "$(region | jq '.snapshots | length')" -eq 0 ] || fail "after down snapshots are left"
[ "$(awsctl call ec2 DescribeImages '{"Owners": ["self"]}' | jq '.Images | length')" -eq 5 ] ||
  fail "down touched the seed images"
echo "ok: built $ami1, reused it, built $ami2 on a changed step, $ami3 after a crash, a failing step left nothing, down after a killed update removed the build instance and the images"
