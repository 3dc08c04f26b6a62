#!/usr/bin/env bash
# Credentials AWS refuses: a wrong secret key and an unknown access key
# each give one clear line naming the service and the region, the run
# fails before any object is made, and the secret appears nowhere (output,
# state, emulator log).
#   usage: auth.sh INFRA_BINARY BUILD_DIR
source "$(dirname "$0")/lib.sh"

emulator_start --pending-seconds 0.2
ssh-keygen -q -t ed25519 -N "" -C infra-aws-test -f "$work/id_ed25519"
export INFRA_SSH_PUBLIC_KEY=$work/id_ed25519.pub INFRA_SSH_PRIVATE_KEY=$work/id_ed25519
topo=$work/aws-nomad.yaml
cp "$root/examples/aws-nomad.yaml" "$topo"

good_secret=$AWS_SECRET_ACCESS_KEY
wrong=WrongSecretKeyValue1234567890abcdefABCDEF

# 1. A wrong secret key.
export AWS_SECRET_ACCESS_KEY=$wrong
run 1 "$infra" up "$topo"
n=$(grep -c 'SignatureDoesNotMatch' "$work/err" || true)
[ "$n" -eq 1 ] || { cat "$work/err" >&2; fail "expected one SignatureDoesNotMatch line, got $n"; }
line=$(grep 'SignatureDoesNotMatch' "$work/err")
case $line in
  *"in us-east-1"*"ec2 refused the credentials of AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"*) ;;
  *) fail "the line does not name the service, region and credential source: $line" ;;
esac
for f in "$work/out" "$work/err" "$work/emulator.log"; do
  ! grep -qF "$wrong" "$f" || fail "the secret key appears in $f"
done
if [ -d "$work/.infra" ]; then
  ! grep -rqF "$wrong" "$work/.infra" || fail "the secret key appears in the state directory"
fi
[ "$(emu_state | jq '.regions["us-east-1"].vpcs | length')" -eq 0 ] || fail "a VPC was made with bad credentials"

# 2. An access key the service does not know.
export AWS_SECRET_ACCESS_KEY=$good_secret
AWS_ACCESS_KEY_ID=AKIAUNKNOWN000000000 run 1 "$infra" up "$topo"
n=$(grep -c 'AuthFailure' "$work/err" || true)
[ "$n" -eq 1 ] || { cat "$work/err" >&2; fail "expected one AuthFailure line, got $n"; }
grep 'AuthFailure' "$work/err" | grep -qF 'in us-east-1' || fail "the AuthFailure line does not name the region"
! grep -qF "$good_secret" "$work/err" || fail "the secret key appears in the output"

# 3. No credentials at all: what to set.
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$infra" up "$topo" >"$work/out" 2>"$work/err" </dev/null &&
  fail "up without credentials succeeded"
err_has "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
# 4. Session credentials and a profile of the shared files.
emulator_stop
emulator_start --pending-seconds 0.2 --credentials "AKIASESSION000000001:sessionSecret0000000000000000000000000:FwoGZXIvYXdzEXAMPLE//token"
small=$work/small.yaml
cat >"$small" <<'YAML'
name: small
providers:
  aws: {}
networks:
  main: { cidr: 10.50.0.0/16 }
YAML
AWS_ACCESS_KEY_ID=AKIASESSION000000001 AWS_SECRET_ACCESS_KEY=sessionSecret0000000000000000000000000 \
  run 1 "$infra" up "$small"
grep -q 'AuthFailure' "$work/err" || fail "a session key without its token was not refused"
AWS_ACCESS_KEY_ID=AKIASESSION000000001 AWS_SECRET_ACCESS_KEY=sessionSecret0000000000000000000000000 \
  AWS_SESSION_TOKEN=FwoGZXIvYXdzEXAMPLE//token run 0 "$infra" up "$small"
! grep -qF "FwoGZXIvYXdzEXAMPLE" "$work/out" "$work/err" || fail "the session token appears in the output"
! grep -rqF "FwoGZXIvYXdzEXAMPLE" "$work/.infra" || fail "the session token appears in the state"

mkdir -p "$HOME/.aws"
cat >"$HOME/.aws/credentials" <<'INI'
[default]
aws_access_key_id = AKIAWRONGDEFAULT0000
aws_secret_access_key = wrongDefaultSecret00000000000000000000
[ops]
aws_access_key_id = AKIAINFRATEST0000001
INI
printf 'aws_secret_access_key = %s\n' "$good_secret" >>"$HOME/.aws/credentials"
cat >"$HOME/.aws/config" <<INI
[profile ops]
region = us-east-1
services = local
[services local]
ec2 =
  endpoint_url = $AWS_ENDPOINT_URL
INI
chmod 600 "$HOME/.aws/credentials"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_REGION -u AWS_ENDPOINT_URL \
  AWS_PROFILE=ops "$infra" down "$small" --yes >"$work/out" 2>"$work/err" </dev/null || {
  cat "$work/err" >&2
  fail "down with the ops profile (keys, region and endpoint from the files) failed"
}
[ "$(emu_state | jq '.regions["us-east-1"].vpcs | length')" -eq 0 ] || fail "the VPC was not deleted"
echo "ok: refused credentials are one clear line, never the secret"
