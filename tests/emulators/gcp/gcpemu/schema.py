"""Requests checked against the discovery documents; responses checked likewise.

Requests: path and query parameters (required, type, format, pattern, enum,
minimum/maximum, unknown names) and the JSON body against the method's
request schema ($ref, types, int64/uint64 as JSON strings, byte as base64,
enums, arrays, maps, unknown fields, patterns, and the fields whose
annotations.required names the method). Errors are worded as Google's front
end (structure) and Compute (field values) word them.

Responses: the same walk in strict mode, collecting every mismatch, so that
the tests can prove each answer follows the method's response schema.
"""
import base64
import binascii
import json
import re
from urllib.parse import unquote

from . import errors
from .discovery import snake

_INT_RANGES = {"int32": (-2 ** 31, 2 ** 31 - 1), "uint32": (0, 2 ** 32 - 1),
               "int64": (-2 ** 63, 2 ** 63 - 1), "uint64": (0, 2 ** 64 - 1)}
_PROTO_TYPES = {("integer", "int32"): "TYPE_INT32", ("integer", "uint32"): "TYPE_UINT32",
                ("string", "int64"): "TYPE_INT64", ("string", "uint64"): "TYPE_UINT64",
                ("string", "byte"): "TYPE_BYTES", ("number", "double"): "TYPE_DOUBLE",
                ("number", "float"): "TYPE_FLOAT", ("boolean", None): "TYPE_BOOL",
                ("string", None): "TYPE_STRING", ("integer", None): "TYPE_INT32"}
_patterns = {}


def _fullmatch(pattern, value):
    if pattern not in _patterns:
        _patterns[pattern] = re.compile("(?:%s)" % pattern)
    return _patterns[pattern].fullmatch(value) is not None


def _proto_type(schema):
    if "enum" in schema:
        return "TYPE_ENUM"
    if schema.get("type") == "object" or "$ref" in schema:
        return "TYPE_MESSAGE"
    return _PROTO_TYPES.get((schema.get("type"), schema.get("format")), "TYPE_STRING")


# -- parameters ---------------------------------------------------------------
def check_parameters(method, path_values, query_pairs):
    """{name: python value} for every parameter given; raises ApiError."""
    out = {}
    params = method.parameters
    for name, raw in path_values.items():
        value = unquote(raw)
        spec = params.get(name, {"type": "string"})
        if "pattern" in spec and not _fullmatch(spec["pattern"], value):
            raise errors.parameter_pattern(name, value, spec["pattern"])
        out[name] = value
    seen = {}
    for name, value in query_pairs:
        spec = params.get(name)
        if spec is None or spec.get("location") != "query":
            spec = method.doc.global_parameters.get(name)
            if spec is None:
                raise errors.unknown_query_parameter(name)
        parsed = _query_value(name, spec, value)
        if spec.get("repeated"):
            seen.setdefault(name, []).append(parsed)
        else:
            seen[name] = parsed
    out.update(seen)
    for name, spec in params.items():
        if spec.get("required") and name not in out:
            raise errors.parameter_missing(name)
    return out


def _query_value(name, spec, value):
    kind, fmt = spec.get("type"), spec.get("format")
    if kind == "integer" or fmt in ("int64", "uint64"):
        try:
            number = int(value)
        except ValueError:
            raise errors.payload_bad_value(snake(name), _proto_type(spec), value)
        low, high = _INT_RANGES.get(fmt or "int32", _INT_RANGES["int32"])
        if not low <= number <= high:
            raise errors.payload_bad_value(snake(name), _proto_type(spec), value)
        if "minimum" in spec and number < int(spec["minimum"]):
            raise errors.invalid_field(name, value, "Must be greater than or equal to %s"
                                       % spec["minimum"])
        if "maximum" in spec and number > int(spec["maximum"]):
            raise errors.invalid_field(name, value, "Must be less than or equal to %s"
                                       % spec["maximum"])
        return number
    if kind == "boolean":
        if value not in ("true", "false", "True", "False", "1", "0"):
            raise errors.payload_bad_value(snake(name), "TYPE_BOOL", value)
        return value in ("true", "True", "1")
    if "enum" in spec and value not in spec["enum"]:
        raise errors.payload_bad_value(snake(name), "TYPE_ENUM", value)
    if "pattern" in spec and not _fullmatch(spec["pattern"], value):
        raise errors.parameter_pattern(name, value, spec["pattern"])
    return value


# -- request bodies -----------------------------------------------------------
def parse_json(raw):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.payload_syntax("Invalid UTF-8 in the request body.")
    try:
        return json.loads(text)
    except ValueError as e:
        raise errors.payload_syntax("%s" % e)


# Fields a method's annotations require that something else may supply: an
# instance made from ?sourceInstanceTemplate= takes its machine type from it.
_SUPPLIED = {("compute.instances.insert", "sourceInstanceTemplate"): {"resource.machineType"}}


def check_body(method, raw, params=None):
    """The request body as JSON, checked; None for methods without one."""
    doc = method.doc
    root = method.body_root()
    if method.request_ref is None:
        if raw.strip() not in (b"", b"{}"):
            body = parse_json(raw)
            if isinstance(body, dict):
                for key in body:
                    raise errors.payload_unknown_name(key, None)
            raise errors.payload_syntax("This method takes no request body.")
        return None
    if not raw.strip():
        raise errors.required_field(root)
    body = parse_json(raw)
    walker = _Walker(doc, method.id, strict_response=False)
    for (method_id, param), fields in _SUPPLIED.items():
        if method_id == method.id and (params or {}).get(param):
            walker.supplied |= fields
    walker.value({"$ref": method.request_ref}, body, root, root)
    if walker.semantic:
        raise walker.semantic[0]
    return body


class _Walker:
    """One walk of a value against a schema. Request mode raises structural errors
    at once and keeps field-value errors (required, pattern) for after the walk;
    response mode collects every mismatch as text."""

    def __init__(self, doc, method_id, strict_response):
        self.doc = doc
        self.method_id = method_id
        self.response = strict_response
        self.semantic = []
        self.problems = []
        self.supplied = set()

    def fail(self, exc, text):
        if self.response:
            self.problems.append(text)
            return
        raise exc

    def resolve(self, schema):
        while "$ref" in schema:
            schema = self.doc.schema(schema["$ref"])
        return schema

    def value(self, schema, value, proto_path, api_path):
        schema = self.resolve(schema)
        if value is None:
            if self.response:
                self.problems.append("%s: null" % api_path)
            return
        kind = schema.get("type")
        if kind == "object":
            return self.obj(schema, value, proto_path, api_path)
        if kind == "array":
            if not isinstance(value, list):
                item = self.resolve(schema.get("items", {}))
                return self.fail(errors.payload_bad_value(proto_path, _proto_type(item), value),
                                 "%s: wants an array, got %r" % (api_path, value))
            for i, item in enumerate(value):
                self.value(schema.get("items", {}), item, "%s[%d]" % (proto_path, i),
                           "%s[%d]" % (api_path, i))
            return
        self.scalar(schema, value, proto_path, api_path)

    def obj(self, schema, value, proto_path, api_path):
        if not isinstance(value, dict):
            return self.fail(errors.payload_bad_value(proto_path, "TYPE_MESSAGE", value),
                             "%s: wants an object, got %r" % (api_path, value))
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props is None and extra is not None:
            for key, item in value.items():
                self.value(extra, item, "%s[%s]" % (proto_path, key),
                           "%s.%s" % (api_path, key))
            return
        props = props or {}
        for key, item in value.items():
            if key not in props:
                self.fail(errors.payload_unknown_name(key, proto_path),
                          "%s: unknown field %r" % (api_path, key))
                continue
            self.value(props[key], item, "%s.%s" % (proto_path, snake(key)),
                       "%s.%s" % (api_path, key))
        if self.response:
            return
        for key, prop in props.items():
            required = prop.get("annotations", {}).get("required", [])
            field = "%s.%s" % (api_path, key)
            if self.method_id in required and value.get(key) in (None, "") and \
                    field not in self.supplied:
                if value.get(key) == "" and "pattern" in prop:
                    continue  # reported as a pattern mismatch below
                self.semantic.append(errors.required_field(field))

    def scalar(self, schema, value, proto_path, api_path):
        kind, fmt = schema.get("type"), schema.get("format")
        bad = lambda: self.fail(errors.payload_bad_value(proto_path, _proto_type(schema), value),
                                "%s: %r is not %s%s" % (api_path, value, kind,
                                                        "/" + fmt if fmt else ""))
        if kind == "string":
            if not isinstance(value, str):
                return bad()
            if fmt in ("int64", "uint64"):
                if not re.fullmatch(r"-?[0-9]+", value):
                    return bad()
                low, high = _INT_RANGES[fmt]
                if not low <= int(value) <= high:
                    return bad()
            elif fmt == "byte":
                try:
                    base64.b64decode(value.replace("-", "+").replace("_", "/") +
                                     "=" * (-len(value) % 4), validate=True)
                except (binascii.Error, ValueError):
                    return bad()
            if "enum" in schema and value not in schema["enum"]:
                return bad()
            if "pattern" in schema and not self.response and not _fullmatch(
                    schema["pattern"], value):
                self.semantic.append(errors.invalid_field(
                    api_path, value, "Must be a match of regex '(?:%s)'" % schema["pattern"]))
            return
        if kind == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                return bad()
            low, high = _INT_RANGES.get(fmt or "int32", _INT_RANGES["int32"])
            if not low <= value <= high:
                return bad()
            return
        if kind == "number":
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                return bad()
            return
        if kind == "boolean":
            if not isinstance(value, bool):
                return bad()
            return
        if kind == "any":
            return
        return bad()


# -- responses ----------------------------------------------------------------
def response_problems(method, body):
    """Every way body departs from the method's response schema (empty: it follows it)."""
    if method.response_ref is None:
        return [] if body in (None, {}, "") else ["a body where the method returns none"]
    walker = _Walker(method.doc, method.id, strict_response=True)
    walker.value({"$ref": method.response_ref}, body, "", method.response_ref)
    return walker.problems
