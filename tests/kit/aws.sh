#!/usr/bin/env bash
# The conformance kit on the aws plugin against the AWS emulator
# (tests/kit/aws.yaml): a VPC and a key pair through their whole lifecycle.
#   usage: aws.sh INFRA_BINARY BUILD_DIR
kit=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../aws/lib.sh
source "$kit/../aws/lib.sh"

emulator_start
ssh-keygen -q -t ed25519 -N "" -C infra-kit -f "$work/id_ed25519"
KIT_PUBLIC_KEY=$(cat "$work/id_ed25519.pub")
export KIT_PUBLIC_KEY
export KIT_AWSCTL="/usr/bin/python3 $here/awsctl.py"

run 0 "$infra" plugin test "$build/plugins/aws.so" "$kit/aws.yaml"
out_lacks "FAIL"
out_has "ok   network drift-repair"
out_has "ok   key_pair token-adopts"
out_has ", 0 failed"
# Nothing is left in the emulator (the default VPC the seed may hold aside).
emu_state | jq -e '.regions["us-east-1"] | has("vpcs") and has("key_pairs")' >/dev/null ||
  fail "the emulator's state has no vpcs or key_pairs: $(emu_state | jq -c '.regions["us-east-1"] | keys')"
left=$(emu_state | jq '[.regions["us-east-1"].vpcs | .. | objects | select((.CidrBlock // "") | startswith("10.6"))] | length')
[ "$left" -eq 0 ] || fail "$left VPC(s) of the run are left"
[ "$(emu_state | jq '.regions["us-east-1"].key_pairs | length')" -eq 0 ] || fail "a key pair of the run is left"
