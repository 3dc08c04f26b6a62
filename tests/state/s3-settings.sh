#!/usr/bin/env bash
# The s3 backend's settings reach S3 (run under with-s3.sh): the state and
# its lock under the key given, server-side encryption with a KMS key on
# every write, the lock gone after the run; a bad setting is refused
# naming it; infra unlock removes a lock left by a dead process.
#   usage: s3-settings.sh INFRA_BINARY
set -euo pipefail
infra=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=../lib.sh
source "$here/../lib.sh"
[ -n "${INFRA_TEST_S3_BUCKET:-}" ] || fail "run under with-s3.sh"
export INFRA_PLUGIN_PATH= CRASH_DIR=$work/cloud
topo=$work/crash.yaml
cp "$here/../crash/crash.yaml" "$topo"
cat >>"$topo" <<YAML
backend:
  type: s3
  bucket: $INFRA_TEST_S3_BUCKET
  key: teams/web/crash.json
  kms_key_id: alias/infra-state
YAML

emulator() { curl -fsS "$AWS_ENDPOINT_URL_S3/_emulator/state"; }
run 0 "$infra" up "$topo"
emulator >"$work/emu.json"
obj() { jq -c --arg k "$1" ".s3[\"$INFRA_TEST_S3_BUCKET\"].objects[\$k]" "$work/emu.json"; }
[ "$(obj teams/web/crash.json | jq -r '.[-1].ServerSideEncryption')" = "aws:kms" ] ||
  fail "the state object was not written with SSE-KMS: $(obj teams/web/crash.json)"
[ "$(obj teams/web/crash.json.lock)" = "null" ] || fail "the lock is left after the run"
run 0 "$infra" state pull "$topo"
[ "$(jq '.resources | length' "$work/out")" -eq 24 ] || fail "the state in S3 lacks resources"

# A lock left by a process of this host that is gone: unlock removes it,
# and a run would have taken it over anyway.
run 0 "$infra" plan "$topo"
cat >"$work/dead.py" <<'PY'
import json, os, socket, sys, subprocess
import botocore.session
dead = subprocess.Popen(["true"]); dead.wait()   # a pid that no longer runs
holder = {"owner": "carol (infra up)", "user": "carol", "host": socket.gethostname(),
          "pid": dead.pid, "command": "infra up", "time": "2026-01-01T00:00:00Z", "run": "0" * 32}
s3 = botocore.session.get_session().create_client(
    "s3", region_name="us-east-1", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"])
s3.put_object(Bucket=os.environ["INFRA_TEST_S3_BUCKET"], Key=sys.argv[1],
              Body=json.dumps(holder).encode())
PY
/usr/bin/python3 "$work/dead.py" teams/web/crash.json.lock
run 0 "$infra" unlock "$topo"
err_has "removed the lock of s3://$INFRA_TEST_S3_BUCKET/teams/web/crash.json left by carol (infra up)"
/usr/bin/python3 "$work/dead.py" teams/web/crash.json.lock
run 0 "$infra" up "$topo"
err_has "taking over the state lock of s3://$INFRA_TEST_S3_BUCKET/teams/web/crash.json left by carol"

# Settings errors name the setting.
run 1 "$infra" plan "$topo" --backend-config encrypt=perhaps
err_has "--backend-config encrypt: expected true or false"
run 1 "$infra" plan "$topo" --backend-config bucket=
err_has "the s3 backend needs a bucket"
echo "s3 backend settings reach S3: key, SSE-KMS, lock removal, takeover, errors"
