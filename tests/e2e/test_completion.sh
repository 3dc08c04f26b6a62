#!/usr/bin/env bash
# The bash completion (contrib/completion/infra.bash), sourced in bash and
# called with COMP_WORDS set: commands, options, the environments of
# examples/local.yaml after -e, and addresses of the state after ssh.
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)

# complete WORD...: what _infra offers for the last word, space-separated.
complete_words() {
  (cd "$root" && bash -c 'source contrib/completion/infra.bash
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _infra; echo "${COMPREPLY[*]}"' _ "$@")
}
[ "$(complete_words infra up examples/local.yaml -e '')" = "small big" ] ||
  fail "-e offers '$(complete_words infra up examples/local.yaml -e '')', not local.yaml's environments"
[ "$(complete_words infra up examples/local.yaml -e b)" = "big" ] || fail "-e b does not complete to big"
[ "$(complete_words infra sc)" = "schema" ] || fail "commands are not completed"
[ "$(complete_words infra up examples/local.yaml --par)" = "--parallelism" ] || fail "options are not completed"

topology 2
run 0 "$infra" up "$topo"
got=$(cd "$work" && PATH=$(dirname "$infra"):$PATH bash -c 'source "$1"; COMP_WORDS=(infra ssh e2e.yaml "instance."); COMP_CWORD=3; _infra; echo "${COMPREPLY[*]}"' _ "$root/contrib/completion/infra.bash")
[ "$got" = "instance.web[0] instance.web[1]" ] || fail "ssh offers '$got', not the instances of the state"
echo "bash completion: commands, options, environments, addresses"
