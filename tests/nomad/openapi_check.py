#!/usr/bin/python3
"""Checks JSON documents against a schema of Nomad's OpenAPI document.

    openapi_check.py OPENAPI_YAML SCHEMA_NAME FILE...

Exit status 0 when every FILE conforms to components/schemas/SCHEMA_NAME,
1 (each violation on stderr) otherwise. OpenAPI 3.0 schema objects are
close enough to JSON Schema draft 4 for type and structure checks; the
OpenAPI-only keywords are ignored by the validator.
"""
import json
import sys

import jsonschema
import yaml


def main(argv):
    if len(argv) < 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    root = {"$ref": "#/components/schemas/" + argv[2], "components": doc["components"]}
    validator = jsonschema.Draft4Validator(root)
    bad = 0
    for path in argv[3:]:
        with open(path, encoding="utf-8") as f:
            body = json.load(f)
        for err in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in err.absolute_path) or "(document)"
            print(f"{path}: {where}: {err.message}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
