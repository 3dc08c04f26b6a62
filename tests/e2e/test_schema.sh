#!/usr/bin/env bash
# infra schema: a valid draft-07 JSON Schema under which every example
# topology validates (python3-jsonschema, as an editor's
# yaml-language-server would check it), while a misspelt key is refused
# at its path: a resource attribute, a top-level section, a provider
# setting, a cluster's datacenter key; a client pool validates.
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)

"$infra" schema >"$work/schema.json" 2>"$work/err" || { cat "$work/err" >&2; fail "infra schema failed"; }
/usr/bin/python3 - "$work/schema.json" "$root"/examples/*.yaml <<'PY' || fail "the schema check failed"
import copy, json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft7Validator.check_schema(schema)
v = jsonschema.Draft7Validator(schema)
bad = 0
for path in sys.argv[2:]:
    for e in v.iter_errors(yaml.safe_load(open(path))):
        print(f"{path}: {list(e.absolute_path)}: {e.message[:200]}", file=sys.stderr)
        bad += 1
if bad:
    sys.exit("examples do not validate")

base = yaml.safe_load(open([p for p in sys.argv[2:] if p.endswith("/local.yaml")][0]))
nomad = yaml.safe_load(open([p for p in sys.argv[2:] if p.endswith("/nomad-local.yaml")][0]))
def refused(doc, where, what):
    errs = list(v.iter_errors(doc))
    if not any(list(e.absolute_path)[:len(where)] == where for e in errs):
        sys.exit(f"{what} is not refused at {where}: {[(list(e.absolute_path), e.message[:80]) for e in errs]}")
d = copy.deepcopy(base); d["instances"]["web"]["sise"] = "small"
refused(d, ["instances", "web"], "an unknown instance attribute")
d = copy.deepcopy(base); d["instancess"] = {}
refused(d, [], "an unknown section")
d = copy.deepcopy(base); d["providers"]["local"]["prefx"] = "x"
refused(d, ["providers", "local"], "an unknown provider setting")
d = copy.deepcopy(nomad); d["clusters"]["main"]["regions"]["us"]["datacentres"] = {}
refused(d, ["clusters", "main"], "an unknown region key")
dc = nomad["clusters"]["main"]["regions"]["us"]["datacenters"]
name = next(iter(dc))
d = copy.deepcopy(nomad); d["clusters"]["main"]["regions"]["us"]["datacenters"][name]["clients"] = {"pool": "autoscaling_group.workers"}
errs = [e.message for e in v.iter_errors(d)]
if errs:
    sys.exit(f"a client pool is refused: {errs}")
d["clusters"]["main"]["regions"]["us"]["datacenters"][name]["clients"] = {"pol": "autoscaling_group.workers"}
refused(d, ["clusters", "main"], "a misspelt client pool key")
d = copy.deepcopy(base); d["instances"]["web"]["count"] = [1]
refused(d, ["instances", "web"], "a count that is a list")
PY
echo "schema: examples validate, misspelt keys are refused"
