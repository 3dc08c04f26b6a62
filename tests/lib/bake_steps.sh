# shellcheck shell=bash
# shellcheck disable=SC2154 # $work, $root, $infra, $pool_dir: from the cloud's lib.sh
# The steps every image-bake scenario (tests/aws, tests/gcp, tests/openstack
# image_bake.sh) takes with examples/*-image.yaml and the nomad-host image
# (sourced after the cloud's lib.sh, which gives $infra, $work, $root,
# $pool_dir, run, fail, err_has and out_has).
#
# The scenario sets:
#   topo           the topology (bake_workspace sets it)
#   bake_args      an array of options given to every infra command (may be empty)
#   bake_noun      what a build runs on: "instance" or "server"
# and defines:
#   builds_alive   how many build instances exist that are not gone
#   made_images    the images the topology made, sorted, one line
#   bake_building  true once a build is under way (where a kill interrupts it)
#   image_id       the id of image.nomad-host in the state
#   generations    the generations of image.nomad-host in the state, as JSON
bake_args=()
bake_noun=instance
bake_kill_tries=1200
bake_kill_interval=0.05

# bake_workspace EXAMPLE: copies examples/EXAMPLE and examples/images into
# $work; sets topo.
bake_workspace() {
  topo=$work/$1
  cp "$root/examples/$1" "$topo"
  cp -r "$root/examples/images" "$work/images"
}

# bake_keygen COMMENT: a key pair for the build's login, in INFRA_SSH_PUBLIC_KEY
# and INFRA_SSH_PRIVATE_KEY.
bake_keygen() {
  ssh-keygen -q -t ed25519 -N "" -C "$1" -f "$work/id_ed25519"
  export INFRA_SSH_PUBLIC_KEY=$work/id_ed25519.pub INFRA_SSH_PRIVATE_KEY=$work/id_ed25519
}

# bake_kill_during_build ARGS...: starts infra up ARGS, kills it with SIGKILL
# as soon as bake_building says a build is under way.
bake_kill_during_build() {
  "$infra" up "$topo" "${bake_args[@]}" "$@" >"$work/killed.out" 2>&1 </dev/null &
  local pid=$! seen=0
  for _ in $(seq 1 "$bake_kill_tries"); do
    bake_building && { seen=1; break; }
    kill -0 $pid 2>/dev/null || break
    sleep "$bake_kill_interval"
  done
  [ "$seen" -eq 1 ] || { cat "$work/killed.out" >&2; fail "no build $bake_noun appeared"; }
  { kill -9 $pid; wait $pid; } 2>/dev/null || true
}

# bake_killed_first_up: the first up killed during its build, then down:
# the build the interrupted create left is found by its token and removed.
bake_killed_first_up() {
  bake_kill_during_build
  run 0 "$infra" down "$topo" "${bake_args[@]}" --yes
  [ "$(builds_alive)" -eq 0 ] || fail "down left the interrupted build's $bake_noun"
  [ "$(made_images)" = "" ] || fail "down left images $(made_images)"
}

# bake_host_holds VERSION: what the steps wrote on the build's host.
bake_host_holds() {
  local v
  v=$(cat "$pool_dir"/run/*/hosts/*/root/opt/nomad-host/nomad-version 2>/dev/null | sort -u | tr '\n' ' ')
  [ "$v" = "$1 " ] || fail "the build host holds nomad-version '$v'"
}

# bake_nothing_changes IMAGE: up again builds nothing and keeps IMAGE; the
# plan has no changes.
bake_nothing_changes() {
  run 0 "$infra" up "$topo" "${bake_args[@]}"
  [ "$(image_id)" = "$1" ] || fail "the second up changed the image"
  run 0 "$infra" plan "$topo" "${bake_args[@]}"
  out_has "No changes"
}

# bake_changed_step IMAGE: another nomad_version (a changed step): a new
# generation, in bake_image, is built in front of IMAGE and no build is left.
bake_changed_step() {
  run 0 "$infra" up "$topo" "${bake_args[@]}" --var nomad_version=1.7.7
  bake_image=$(image_id)
  [ "$bake_image" != "$1" ] || fail "no new generation was built"
  [ "$(generations)" = "[\"$bake_image\",\"$1\"]" ] || fail "generations are $(generations)"
  [ "$(builds_alive)" -eq 0 ] || fail "a build $bake_noun is left"
}

# bake_failing_step IMAGE: a failing step: the up fails with the step's
# output, no build is left and the state still names IMAGE.
bake_failing_step() {
  run 1 "$infra" up "$topo" "${bake_args[@]}" --var nomad_version=bad
  err_has 'step 3 (/opt/nomad-host/provision.sh bad) exited with status 3'
  err_has '"bad" is not a Nomad version (X.Y.Z)'
  [ "$(builds_alive)" -eq 0 ] || fail "the failed build left its $bake_noun"
  [ "$(image_id)" = "$1" ] || fail "the failed build changed the state's image"
}

# bake_killed_update_then_down: an update killed during its build, then
# down: the build of a hash the state does not name goes too, and every
# image the topology made.
bake_killed_update_then_down() {
  bake_kill_during_build --var nomad_version=1.7.9
  run 0 "$infra" down "$topo" "${bake_args[@]}" --var nomad_version=1.7.9 --yes
  [ "$(builds_alive)" -eq 0 ] || fail "down left the interrupted update's build $bake_noun"
  [ "$(made_images)" = "" ] || fail "after down images are left: $(made_images)"
}
