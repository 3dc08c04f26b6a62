# shellcheck shell=bash
# Helpers shared by the test scripts (sourced; bash). A script that uses run,
# out_has, err_has or out_lacks sets $work first.

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# run STATUS COMMAND...: runs COMMAND with stdin from /dev/null, keeps its
# output in $work/out and $work/err, and fails unless it exits STATUS.
run() {
  local want=$1
  shift
  local rc=0
  "$@" >"$work/out" 2>"$work/err" </dev/null || rc=$?
  [ "$rc" -eq "$want" ] || run_failed "$rc" "$want" "$@"
}

# run_failed RC WANT COMMAND...: shows what COMMAND printed and fails.
run_failed() {
  local rc=$1 want=$2
  shift 2
  echo "--- stdout" >&2
  cat "$work/out" >&2
  echo "--- stderr" >&2
  cat "$work/err" >&2
  fail "$* exited $rc, expected $want"
}

# pull_state INFRA TOPOLOGY [OPTIONS...]: the state document of TOPOLOGY
# (infra state pull, whatever the backend) written to $work/state.pulled.json;
# prints that path. Fails the test when the state cannot be read.
pull_state() {
  local out=$work/state.pulled.json
  "$1" state pull "${@:2}" >"$out.tmp" 2>"$work/state.pulled.err" </dev/null ||
    { cat "$work/state.pulled.err" >&2; fail "infra state pull ${*:2} failed"; }
  mv "$out.tmp" "$out"
  echo "$out"
}

# out_has TEXT / err_has TEXT / out_lacks TEXT: fixed-string checks.
out_has() { grep -qF -- "$1" "$work/out" || { cat "$work/out" >&2; fail "stdout lacks: $1"; }; }
err_has() { grep -qF -- "$1" "$work/err" || { cat "$work/err" >&2; fail "stderr lacks: $1"; }; }
out_lacks() { ! grep -qF -- "$1" "$work/out" || { cat "$work/out" >&2; fail "stdout has: $1"; }; }

# free_test_cidr FIRST COUNT: a 10.213.N.0/24 with N in FIRST..FIRST+COUNT-1
# that no route of this machine covers, of any type (the search starts at a place this
# process picks), or nothing.
free_test_cidr() {
  local first=$1 count=$2 routes i n
  routes=$(ip -4 route show)
  for i in $(seq 0 $((count - 1))); do
    n=$((first + ($$ + i) % count))
    # a private network of the local provider is an "unreachable" route
    if ! grep -Eq "^((unreachable|blackhole|prohibit) )?10\.213\.$n\." <<<"$routes"; then
      echo "10.213.$n.0/24"
      return
    fi
  done
}

# local_leftovers_remove PREFIX MOUNTS: what a failed run of the local
# provider left: the processes and namespaces named PREFIX-*, the links
# named PREFIX*, and the mounts below the directory MOUNTS.
local_leftovers_remove() {
  local prefix=$1 mounts=$2 ns link
  for ns in $(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1 {print $1}'); do
    ip netns pids "$ns" | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  for link in $(ip -o link show | awk -F': ' -v p="$prefix" 'index($2, p) == 1 {sub(/@.*/, "", $2); print $2}'); do
    ip link del "$link" 2>/dev/null || true
  done
  grep -F " $mounts/" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
}
