#!/usr/bin/env bash
# examples/gcp-image.yaml against the GCP emulator on real hosts (root):
# the nomad-host image baked from a debian-12 image over SSH as the
# guest agent's ssh-keys user "infra" (not root: the steps run through
# sudo -n), then two instances of it.
#  0. the first up killed during its build, then down: nothing is left.
#  1. up: one build instance provisioned (its files on its host, owned by
#     root), stopped, imaged from its boot disk, deleted; the nodes boot
#     the new image, labelled with the build hash.
#  2. up again: nothing is built, nothing changes.
#  3. another nomad_version (a changed step): generation 2 is built and
#     the nodes are replaced by instances of it; generation 1 is kept.
#  4. a run killed during its build: the rerun deletes the build
#     instance, builds generation 3 once and deletes generation 1 (keep: 2).
#  5. a failing step: the up fails with the step's output and no build
#     instance is left.
#  6. an update killed during its build, then down: no build instance, no
#     image of the topology; the seeded images stay.
#  7. a build whose sudo asks a password (a step takes the login user's
#     NOPASSWD away): the next root step fails naming sudo, nothing is left.
#   usage: image_bake.sh INFRA_BINARY BUILD_DIR      (exit 77 when not root)
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "the image build needs real hosts (root)"
pool_create 5
emulator_start --operation-seconds 0.2 --time-scale 0.1 --hosts "$pool_dir/hosts.json"

# shellcheck source=SCRIPTDIR/../lib/bake_steps.sh
source "$root/tests/lib/bake_steps.sh"
bake_keygen infra-gcp-test
base=projects/debian-cloud/global/images/debian-12-bookworm-v20261101
bake_workspace gcp-image.yaml
export INFRA_VAR_nodes=2
project() { emu_state | jq '.projects["infra-test"]'; }
st() { attr "$topo" "$1" "$2"; }
image_id() { st image.nomad-host id; }
# Instances labelled as builds (alive: the emulator drops deleted ones).
builds_alive() { project | jq '[.instances // {} | .[][] | select(.labels["infra-build-hash"])] | length'; }
bake_building() { [ "$(builds_alive)" -ge 1 ]; }
# Build instances ever inserted: the insert operations that made one.
builds_made() {
  project | jq '[.operations // {} | .[][] | select(.operationType == "insert")
    | select(.targetLink | test("/instances/nomad-host-build-"))] | length'
}
# Images made (the seeded ones aside), sorted ids.
made_images() {
  project | jq -r '[.images // {} | .[][] | select(.labels["infra-build-hash"])
    | "projects/infra-test/global/images/\(.name)"] | sort | join(" ")'
}
node_images() {
  project | jq -r '[.instances // {} | .[][] | select(.labels.role == "nomad") | .disks[0].source] as $d
    | [.disks // {} | .[][] | select(.selfLink as $s | $d | index($s)) | .sourceImage
    | sub("^.*/projects/"; "projects/")] | unique | join(" ")'
}
generations() { state_json "$topo" | jq -c '.resources["image.nomad-host"].attributes.generations'; }

# 0. The first up killed during its build, then down.
bake_killed_first_up
made0=$(builds_made)

# 1. The first build.
run 0 "$infra" up "$topo"
img1=$(st image.nomad-host id)
hash1=$(st image.nomad-host build_hash)
[ "${#hash1}" -eq 64 ] || fail "build_hash is '$hash1'"
[ "$img1" = "projects/infra-test/global/images/nomad-host-${hash1:0:16}" ] || fail "the image is $img1"
[ "$(st image.nomad-host base_id)" = "$base" ] || fail "the base is $(st image.nomad-host base_id), not $base"
im=$(project | jq --arg n "nomad-host-${hash1:0:16}" '.images.global[] | select(.name == $n)')
[ "$(echo "$im" | jq -r .status)" = READY ] || fail "the image is not READY"
[ "$(echo "$im" | jq -r '.labels["infra-build-hash"]')" = "${hash1:0:32}" ] || fail "the image lacks its infra-build-hash label"
[ "$(echo "$im" | jq -r '.labels.team')" = platform ] || fail "the image lacks the label team"
[[ $(echo "$im" | jq -r .sourceDisk) == */disks/nomad-host-build-* ]] || fail "the image was not made from the build instance's disk"
[ "$(builds_made)" -eq $((made0 + 1)) ] || fail "expected one build instance, saw $(builds_made)"
[ "$(builds_alive)" -eq 0 ] || fail "a build instance is left"
bake_host_holds 1.7.6
own=$(stat -c '%U %a' "$pool_dir"/run/*/hosts/*/root/opt/nomad-host/provision.sh | sort -u)
[ "$own" = "root 755" ] || fail "provision.sh is '$own', expected root's with mode 755 (installed through sudo)"
[ "$(node_images)" = "$img1" ] || fail "the nodes boot '$(node_images)', expected $img1"

# 2. Nothing changed: nothing is built.
bake_nothing_changes "$img1"
[ "$(builds_made)" -eq $((made0 + 1)) ] || fail "the second up built again"

# 3. A changed step: generation 2, the nodes replaced.
bake_changed_step "$img1"
img2=$bake_image
[ "$(builds_made)" -eq $((made0 + 2)) ] || fail "expected a second build instance"
[ "$(node_images)" = "$img2" ] || fail "the nodes boot '$(node_images)', expected $img2"
[ "$(made_images)" = "$(printf '%s\n' "$img1" "$img2" | sort | tr '\n' ' ' | sed 's/ $//')" ] ||
  fail "the emulator holds images '$(made_images)'"
run 0 "$infra" plan "$topo" --var nomad_version=1.7.7
out_has "No changes"

# 4. A run killed while its build instance runs: the rerun deletes it,
#    builds generation 3 once and, keeping two, deletes generation 1.
bake_kill_during_build --var nomad_version=1.7.8
run 0 "$infra" up "$topo" --var nomad_version=1.7.8
img3=$(st image.nomad-host id)
[ "$img3" != "$img2" ] || fail "the rerun did not build generation 3"
[ "$(builds_alive)" -eq 0 ] || fail "the interrupted build left its instance"
[ "$(generations)" = "[\"$img3\",\"$img2\"]" ] || fail "generations are $(generations)"
[ "$(made_images)" = "$(printf '%s\n' "$img2" "$img3" | sort | tr '\n' ' ' | sed 's/ $//')" ] ||
  fail "generation 1 was not deleted: $(made_images)"
[ "$(node_images)" = "$img3" ] || fail "the nodes boot '$(node_images)', expected $img3"

# 5. A failing step: the up fails with its output; no instance is left.
made5=$(builds_made)
bake_failing_step "$img3"
[ "$(builds_made)" -eq $((made5 + 1)) ] || fail "the failing build launched no instance"
[ "$(node_images)" = "$img3" ] || fail "after the failed build the nodes boot '$(node_images)'"

# 6. An update killed during its build, then down: the build instance of
#    a hash the state does not name goes too, and every generation.
bake_killed_update_then_down
[ "$(project | jq '[.images.global[] | select(.name | startswith("nomad-host-2026"))] | length')" -eq 2 ] ||
  fail "down touched the seeded images"
[ "$(project | jq '[.instances // {} | .[][]] | length')" -eq 0 ] || fail "after down instances are left"

# 7. sudo asking a password: the step fails at once, clearly.
cat >"$work/sudo.yaml" <<'YAML'
name: gcp-image-sudo
providers:
  gcp: { region: europe-west1 }
networks:
  main: { name: sudo-image }
resources:
  subnetwork:
    nodes: { network: "${network.main.id}", cidr: 10.42.0.0/24 }
images:
  sudo-host:
    name: sudo-host
    build:
      base: projects/debian-cloud/global/images/family/debian-12
      machine: e2-small
      subnetwork: "${subnetwork.nodes.id}"
      public_key: "${env.INFRA_SSH_PUBLIC_KEY}"
      private_key: "${env.INFRA_SSH_PRIVATE_KEY}"
      steps:
        - run: "echo 'infra ALL=(ALL:ALL) PASSWD: ALL' > /etc/sudoers.d/zz-infra-password"
        - run: "touch /opt/never"
YAML
run 1 "$infra" up "$work/sudo.yaml"
err_has 'refused to run a command as root for infra: sudo: a password is required'
err_has 'image sudo-host: step 2: touch /opt/never'
[ "$(builds_alive)" -eq 0 ] || fail "the build refused by sudo left its instance"
run 0 "$infra" down "$work/sudo.yaml" --yes
echo "ok: built $img1, reused it, built $img2 on a changed step, $img3 after a crash, a failing step left nothing, down after a killed update left nothing, a sudo asking a password failed clearly"
