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
ssh-keygen -q -t ed25519 -N "" -C infra-os-test -f "$work/id_ed25519"
# The pool's hosts take the pool's own key for root.
export INFRA_SSH_PUBLIC_KEY=$work/id_ed25519.pub
INFRA_SSH_PRIVATE_KEY=$(jq -r '.[0].ssh_private_key' "$pool_dir/hosts.json")
export INFRA_SSH_PRIVATE_KEY
topo=$work/ovh-image.yaml
cp "$root/examples/ovh-image.yaml" "$topo"
cp -r "$root/examples/images" "$work/images"
env=$suffix
args=(-e "$env" --var "cidr=$pool_cidr" --var "key_name=nomad-image-$suffix" --var login_user=root)
down_args=("${args[@]}")
cleanup_topologies+=("$topo")
st() { jq -r ".resources[\"$1\"].attributes.$2" "$(state_doc "$topo" -e "$env")"; }
gens() { jq -c '.resources["image.nomad-host"].attributes.generations' "$(state_doc "$topo" -e "$env")"; }
base=$(osctl get image '/images?name=Debian%2012' | jq -r '.images[0].id')
# The build servers of this run's environment (alive) and the images it made.
builds_alive() {
  tagged servers compute /servers/detail ovh-image "$env" | jq '[.[] | select(.metadata.infra_build_hash)] | length'
}
# Build servers ACTIVE (being provisioned): where a kill interrupts a build.
builds_active() {
  tagged servers compute /servers/detail ovh-image "$env" |
    jq '[.[] | select(.metadata.infra_build_hash and .status == "ACTIVE")] | length'
}
made_images() {
  osctl get image "/images?infra_environment=$env" | jq -r '[.images[] | select(.infra_build_hash) | .id] | sort | join(" ")'
}
node_images() {
  tagged servers compute /servers/detail ovh-image "$env" |
    jq -r '[.[] | select(.metadata.infra_build_hash | not) | .image.id] | unique | join(" ")'
}

# kill_during_build ARGS...: starts infra up ARGS, kills it with SIGKILL
# once its build server is ACTIVE (nova's fake driver, slow on a loaded
# machine, may still be plugging the port of a server deleted while BUILD).
kill_during_build() {
  "$infra" up "$topo" "${args[@]}" "$@" >"$work/killed.out" 2>&1 </dev/null &
  local pid=$! seen=0
  for _ in $(seq 1 2400); do
    [ "$(builds_active)" -ge 1 ] && { seen=1; break; }
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  [ "$seen" -eq 1 ] || { cat "$work/killed.out" >&2; fail "no build server appeared"; }
  { kill -9 $pid; wait $pid; } 2>/dev/null || true
}

# 0. The first up killed during its build, then down.
kill_during_build
run 0 "$infra" down "$topo" "${args[@]}" --yes
[ "$(builds_alive)" -eq 0 ] || fail "down left the interrupted build's server"
[ "$(made_images)" = "" ] || fail "down left images $(made_images)"

# 1. The first build.
run 0 "$infra" up "$topo" "${args[@]}"
img1=$(st image.nomad-host id)
hash1=$(st image.nomad-host build_hash)
[ "${#hash1}" -eq 64 ] || fail "build_hash is '$hash1'"
[ "$(st image.nomad-host base_id)" = "$base" ] || fail "the base is not Debian 12 ($base)"
im=$(osctl get image "/images/$img1")
[ "$(echo "$im" | jq -r .status)" = active ] || fail "$img1 is not active: $(echo "$im" | jq -c .)"
[ "$(echo "$im" | jq -r .name)" = "nomad-host-${hash1:0:16}" ] || fail "$img1 is named $(echo "$im" | jq -r .name)"
[ "$(echo "$im" | jq -r .infra_build_hash)" = "$hash1" ] || fail "$img1 lacks its infra_build_hash property"
[ "$(echo "$im" | jq -r .infra_address)" = image.nomad-host ] || fail "$img1 lacks its infra_address property"
[ "$(builds_alive)" -eq 0 ] || fail "a build server is left"
v=$(cat "$pool_dir"/run/*/hosts/*/root/opt/nomad-host/nomad-version 2>/dev/null | sort -u | tr '\n' ' ')
[ "$v" = "1.7.6 " ] || fail "the build host holds nomad-version '$v'"
[ "$(node_images)" = "$img1" ] || fail "the nodes run '$(node_images)', expected $img1"

# 2. Nothing changed: nothing is built.
run 0 "$infra" up "$topo" "${args[@]}"
[ "$(st image.nomad-host id)" = "$img1" ] || fail "the second up changed the image"
[ "$(made_images)" = "$img1" ] || fail "the second up made images: $(made_images)"
run 0 "$infra" plan "$topo" "${args[@]}"
out_has "No changes"

# 3. A changed step: generation 2, the nodes replaced.
run 0 "$infra" up "$topo" "${args[@]}" --var nomad_version=1.7.7
img2=$(st image.nomad-host id)
[ "$img2" != "$img1" ] || fail "no new generation was built"
[ "$(gens)" = "[\"$img2\",\"$img1\"]" ] || fail "generations are $(gens)"
[ "$(builds_alive)" -eq 0 ] || fail "a build server is left"
[ "$(node_images)" = "$img2" ] || fail "the nodes run '$(node_images)', expected $img2"

# 4. A failing step.
run 1 "$infra" up "$topo" "${args[@]}" --var nomad_version=bad
err_has 'step 3 (/opt/nomad-host/provision.sh bad) exited with status 3'
err_has '"bad" is not a Nomad version (X.Y.Z)'
[ "$(builds_alive)" -eq 0 ] || fail "the failed build left its server"
[ "$(st image.nomad-host id)" = "$img2" ] || fail "the failed build changed the state's image"

# 5. An update killed during its build, then down.
kill_during_build --var nomad_version=1.7.9
run 0 "$infra" down "$topo" "${args[@]}" --var nomad_version=1.7.9 --yes
[ "$(builds_alive)" -eq 0 ] || fail "down left the interrupted update's build server"
[ "$(made_images)" = "" ] || fail "after down Glance holds images $(made_images)"
[ "$(osctl get image '/images?name=Debian%2012' | jq -r '.images[0].id')" = "$base" ] ||
  fail "down touched the world's images"
echo "ok: built $img1, reused it, built $img2 on a changed step, a failing step left nothing, down after a killed update left nothing"
