#!/usr/bin/env bash
# examples/ovh-image.yaml against the real OpenStack services of the test
# world: the nomad-host image baked from "Debian 12" on a server that is a
# real host of a host pool (its host key from the console, pinned), then
# two servers of it. nova's fake driver makes no disk: its createImage
# gives a Glance image whose bytes only name the server (see
# site/infra_osworld/virt/infra_pool.py), so what the steps did is checked
# on the build server's host, and that the servers boot the image by their
# image id; that the image holds those files is not shown here.
#  0. the first up killed during its build, then down: nothing is left.
#  1. up: one build server provisioned (its files on its host), stopped
#     (SHUTOFF), snapshotted with createImage, the Glance image active with
#     its infra_build_hash property, the server deleted; the nodes run it.
#  2. up again: nothing is built, nothing changes.
#  3. another nomad_version: generation 2, the nodes replaced, both kept.
#  4. a failing step: the up fails with the step's output, no server left.
#  5. an update killed during its build, then down: no build server, no
#     image of the topology; the world's own images stay.
#   usage: image_bake.sh INFRA_BINARY BUILD_DIR WORLD_DIR
source "$(dirname "$0")/lib.sh"

pool_create 5
# shellcheck source=SCRIPTDIR/../lib/bake_steps.sh
source "$root/tests/lib/bake_steps.sh"
bake_keygen infra-os-test
# The pool's hosts take the pool's own key for root.
INFRA_SSH_PRIVATE_KEY=$(jq -r '.[0].ssh_private_key' "$pool_dir/hosts.json")
export INFRA_SSH_PRIVATE_KEY
bake_workspace ovh-image.yaml
# The world's project is shared with the scenarios that boot the newest
# "nomad-host-*" image (e2e-ovh, clusters/paris): the images made here are
# named apart so that none of them picks one up while it is being made,
# replaced or deleted.
sed -i 's/^    name: nomad-host$/    name: baked-nomad-host/' "$topo"
grep -q '^    name: baked-nomad-host$' "$topo" || fail "ovh-image.yaml has no image named nomad-host"
env=$suffix
bake_args=(-e "$env" --var "cidr=$pool_cidr" --var "key_name=nomad-image-$suffix" --var login_user=root)
bake_noun=server
# nova's fake driver, slow on a loaded machine, may still be plugging the
# port of a server deleted while BUILD: a build is killed once ACTIVE.
bake_kill_tries=2400
bake_kill_interval=0.1
down_args=("${bake_args[@]}")
cleanup_topologies+=("$topo")
st() { jq -r ".resources[\"$1\"].attributes.$2" "$(state_doc "$topo" -e "$env")"; }
image_id() { st image.nomad-host id; }
generations() { jq -c '.resources["image.nomad-host"].attributes.generations' "$(state_doc "$topo" -e "$env")"; }
base=$(osctl get image '/images?name=Debian%2012' | jq -r '.images[0].id')
# The build servers of this run's environment (alive) and the images it made.
builds_alive() {
  tagged servers compute /servers/detail ovh-image "$env" | jq '[.[] | select(.metadata.infra_build_hash)] | length'
}
# Build servers ACTIVE (being provisioned): where a kill interrupts a build.
bake_building() {
  [ "$(tagged servers compute /servers/detail ovh-image "$env" |
    jq '[.[] | select(.metadata.infra_build_hash and .status == "ACTIVE")] | length')" -ge 1 ]
}
made_images() {
  osctl get image "/images?infra_environment=$env" | jq -r '[.images[] | select(.infra_build_hash) | .id] | sort | join(" ")'
}
node_images() {
  tagged servers compute /servers/detail ovh-image "$env" |
    jq -r '[.[] | select(.metadata.infra_build_hash | not) | .image.id] | unique | join(" ")'
}

# 0. The first up killed during its build, then down.
bake_killed_first_up

# 1. The first build.
run 0 "$infra" up "$topo" "${bake_args[@]}"
img1=$(st image.nomad-host id)
hash1=$(st image.nomad-host build_hash)
[ "${#hash1}" -eq 64 ] || fail "build_hash is '$hash1'"
[ "$(st image.nomad-host base_id)" = "$base" ] || fail "the base is not Debian 12 ($base)"
im=$(osctl get image "/images/$img1")
[ "$(echo "$im" | jq -r .status)" = active ] || fail "$img1 is not active: $(echo "$im" | jq -c .)"
[ "$(echo "$im" | jq -r .name)" = "baked-nomad-host-${hash1:0:16}" ] || fail "$img1 is named $(echo "$im" | jq -r .name)"
[ "$(echo "$im" | jq -r .infra_build_hash)" = "$hash1" ] || fail "$img1 lacks its infra_build_hash property"
[ "$(echo "$im" | jq -r .infra_address)" = image.nomad-host ] || fail "$img1 lacks its infra_address property"
[ "$(builds_alive)" -eq 0 ] || fail "a build server is left"
bake_host_holds 1.7.6
[ "$(node_images)" = "$img1" ] || fail "the nodes run '$(node_images)', expected $img1"

# 2. Nothing changed: nothing is built.
bake_nothing_changes "$img1"
[ "$(made_images)" = "$img1" ] || fail "the second up made images: $(made_images)"

# 3. A changed step: generation 2, the nodes replaced.
bake_changed_step "$img1"
img2=$bake_image
[ "$(node_images)" = "$img2" ] || fail "the nodes run '$(node_images)', expected $img2"

# 4. A failing step.
bake_failing_step "$img2"

# 5. An update killed during its build, then down.
bake_killed_update_then_down
[ "$(osctl get image '/images?name=Debian%2012' | jq -r '.images[0].id')" = "$base" ] ||
  fail "down touched the world's images"
echo "ok: built $img1, reused it, built $img2 on a changed step, a failing step left nothing, down after a killed update left nothing"
