#!/usr/bin/env bash
# The conformance kit on the gcp plugin against the GCP emulator
# (tests/kit/gcp.yaml): a network and a DNS record through their whole
# lifecycle.
#   usage: gcp.sh INFRA_BINARY BUILD_DIR
kit=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../gcp/lib.sh
source "$kit/../gcp/lib.sh"

emulator_start --operation-seconds 0.05 --time-scale 0.05

# KIT_GCP_API set-record ZONE FQDN. TYPE DATA: replaces the data of a
# record set with an authenticated Cloud DNS change, as a person would.
cat >"$work/api" <<SH
#!/usr/bin/env bash
set -euo pipefail
[ "\$1" = set-record ] || exit 2
token=\$(/usr/bin/python3 "$here/gcpctl.py" token)
rrsets="$endpoint/dns/v1/projects/infra-test/managedZones/\$2/rrsets"
old=\$(curl -sSf -H "Authorization: Bearer \$token" "\$rrsets?name=\$3&type=\$4" | jq -c '.rrsets[0]')
curl -sSf -X POST -H "Authorization: Bearer \$token" -H "Content-Type: application/json" \
  -d "{\"deletions\": [\$old], \"additions\": [{\"name\": \"\$3\", \"type\": \"\$4\", \"ttl\": 30, \"rrdatas\": [\"\$5\"]}]}" \
  "$endpoint/dns/v1/projects/infra-test/managedZones/\$2/changes" >/dev/null
SH
chmod +x "$work/api"
export KIT_GCP_API=$work/api

run 0 "$infra" plugin test "$build/plugins/gcp.so" "$kit/gcp.yaml"
out_lacks "FAIL"
out_has "ok   network plan-replace"
out_has "ok   dns_record drift-repair"
out_has "ok   network read-many"
out_has "ok   dns_record read-many-gone"
out_has "KNOWN dns_record read-by-token (expect_fail)"
out_has ", 0 failed"
# Nothing of the run is left in the project or the zone.
[ -z "$(emu_objects)" ] || fail "objects of the run are left: $(emu_objects)"
