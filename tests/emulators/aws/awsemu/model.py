"""AWS's own service models (botocore's service-2.json), loaded as plain JSON.

The emulator validates requests and serializes responses from these files
only, so that what it accepts and answers is what AWS documents, not what
any client believes.
"""
import json
import os
import re

import botocore

# Signing name (the service in the SigV4 credential scope) -> model directory.
MODEL_DIRS = {
    "ec2": "ec2/2016-11-15",
    "elasticloadbalancing": "elb/2012-06-01",
    "autoscaling": "autoscaling/2011-01-01",
    "route53": "route53/2013-04-01",
    "s3": "s3/2006-03-01",
}

# Members that newer botocore models add to Debian's (S3 conditional writes,
# 2024): (service, input shape) -> {member: ref}. See tests/conformance/SOURCES.md.
OVERLAYS = {
    "s3": os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                       "conformance", "s3-conditional-writes.json"),
}

# Java regex constructs the models use that Python's re spells differently.
# \p{L}/\p{N} become \w and \p{Z} \s: slightly wider classes, never narrower,
# so a value AWS accepts is never refused here.
_PATTERN_REWRITES = [
    (r"\uD800\uDC00-\uDBFF\uDFFF", "\U00010000-\U0010FFFF"),
    (r"\p{ASCII}", "\x00-\x7f"),
    (r"\p{L}", r"\w"),
    (r"\p{N}", r"\w"),
    (r"\p{Z}", r"\s"),
]


def _compile_pattern(pattern):
    for java, python in _PATTERN_REWRITES:
        pattern = pattern.replace(java, python)
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


class Model:
    """One service model: operations, shapes and protocol metadata."""

    def __init__(self, signing_name, data):
        self.signing_name = signing_name
        self.metadata = data["metadata"]
        self.operations = data["operations"]
        self.shapes = data["shapes"]
        self.protocol = self.metadata["protocol"]
        self.api_version = self.metadata["apiVersion"]
        ns = self.metadata.get("xmlNamespace")
        if ns is None and self.protocol == "rest-xml":
            ns = "https://%s.amazonaws.com/doc/%s/" % (
                self.metadata["endpointPrefix"], self.api_version)
        if not ns.endswith("/"):
            ns += "/"
        self.xml_namespace = ns
        self._patterns = {}
        self.error_shapes = {
            name: shape for name, shape in self.shapes.items() if shape.get("exception")
        }

    def shape(self, name):
        return self.shapes[name]

    def pattern(self, shape_name):
        """The compiled pattern of a string shape, or None (no pattern or unusable)."""
        if shape_name not in self._patterns:
            pattern = self.shapes[shape_name].get("pattern")
            self._patterns[shape_name] = _compile_pattern(pattern) if pattern else None
        return self._patterns[shape_name]

    def error_code(self, shape_name):
        """(code, http status, sender fault) of a modeled error shape."""
        shape = self.shapes[shape_name]
        err = shape.get("error", {})
        return (err.get("code", shape_name), err.get("httpStatusCode", 400),
                err.get("senderFault", True))


def data_dir():
    return os.path.join(os.path.dirname(botocore.__file__), "data")


def load_models():
    """Every model the emulator serves, keyed by SigV4 signing name."""
    models = {}
    for signing_name, rel in MODEL_DIRS.items():
        with open(os.path.join(data_dir(), rel, "service-2.json"), encoding="utf-8") as f:
            data = json.load(f)
        if signing_name in OVERLAYS:
            with open(OVERLAYS[signing_name], encoding="utf-8") as f:
                overlay = json.load(f)
            for shape_name, members in overlay["members"].items():
                for member, ref in members.items():
                    data["shapes"][shape_name]["members"].setdefault(member, ref)
        models[signing_name] = Model(signing_name, data)
    return models
