#!/usr/bin/env bash
# with-s3.sh [--versioned] COMMAND...: runs COMMAND with the state in S3 on
# the project's AWS emulator (tests/emulators/aws), started for it on a
# loopback port and stopped after, with a bucket made for it (versioned with
# --versioned). COMMAND finds it through:
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL_S3
#   INFRA_TEST_S3_BUCKET                the bucket
#   INFRA_TEST_STATE_BACKEND=s3         for the state unit tests (state_test.h)
#   INFRA_TEST_BACKEND_YAML             a backend block for scenario topologies
#                                       (its key changes with INFRA_TEST_STATE_ID)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
versioning=""
if [ "${1:-}" = "--versioned" ]; then
  versioning=Enabled
  shift
fi
dir=$(mktemp -d /tmp/infra-s3-XXXXXX)
emu_pid=""
cleanup() {
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
akid=AKIDSTATETEST$RANDOM
secret=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
/usr/bin/python3 "$here/../emulators/aws/emulator.py" --listen 127.0.0.1:0 \
  --port-file "$dir/port" --credentials "$akid:$secret" --log "$dir/emulator.log" \
  >"$dir/emulator.out" 2>&1 &
emu_pid=$!
for _ in $(seq 1 300); do
  [ -s "$dir/port" ] && break
  kill -0 "$emu_pid" 2>/dev/null || { cat "$dir/emulator.out" >&2; echo "emulator died" >&2; exit 1; }
  sleep 0.1
done
[ -s "$dir/port" ] || { echo "the emulator did not start" >&2; exit 1; }
export AWS_ACCESS_KEY_ID=$akid AWS_SECRET_ACCESS_KEY=$secret AWS_REGION=us-east-1
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$(cat "$dir/port")
export AWS_SHARED_CREDENTIALS_FILE=$dir/no-credentials AWS_CONFIG_FILE=$dir/no-config
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export INFRA_TEST_S3_BUCKET=infra-state-test
/usr/bin/python3 - "$versioning" <<'PY'
import os, sys
import botocore.session
s3 = botocore.session.get_session().create_client(
    "s3", region_name="us-east-1", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
    aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"])
s3.create_bucket(Bucket=os.environ["INFRA_TEST_S3_BUCKET"])
if sys.argv[1]:
    s3.put_bucket_versioning(Bucket=os.environ["INFRA_TEST_S3_BUCKET"],
                             VersioningConfiguration={"Status": sys.argv[1]})
PY
export INFRA_TEST_STATE_BACKEND=s3
export INFRA_TEST_BACKEND_YAML="backend: { type: s3, bucket: $INFRA_TEST_S3_BUCKET, key: \"t/\${env.INFRA_TEST_STATE_ID:-0}/state.json\", region: us-east-1 }"
set +e
"$@"
status=$?
set -e
exit $status
