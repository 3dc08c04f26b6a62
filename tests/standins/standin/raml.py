"""Marathon's RAML 1.0 API description as a validator: api.raml and what it
`!include`s and `uses:` are read with python3-yaml; a request body is
checked against the type the API names for it (POST /v2/apps: app.App).
Errors carry Play JSON's keys and paths ("/portDefinitions(0)/port"), as
Marathon's generated readers report them."""
import json
import os
import re

import yaml

BUILTIN = {"string", "integer", "number", "boolean", "object", "array", "any", "nil", "datetime", "date-only",
           "time-only", "datetime-only", "file"}
_FACETS = ("minimum", "maximum", "minLength", "maxLength", "pattern", "enum", "minItems", "maxItems", "uniqueItems",
           "format", "items", "properties", "additionalProperties", "default", "discriminator", "discriminatorValue")


class _Include:
    def __init__(self, path):
        self.path = path


def _loader(base):
    class Loader(yaml.SafeLoader):
        pass

    def include(loader, node):
        path = os.path.join(base, loader.construct_scalar(node))
        if path.endswith(".raml") or path.endswith(".yaml"):
            return load_yaml(path)
        with open(path) as f:
            text = f.read()
        return json.loads(text) if path.endswith(".json") else text

    Loader.add_constructor("!include", include)
    return Loader


def load_yaml(path):
    with open(path) as f:
        return yaml.load(f, Loader=_loader(os.path.dirname(path))) or {}


class Library:
    def __init__(self, api, path):
        self.api = api
        self.path = path
        doc = load_yaml(path)
        self.types = doc.get("types") or {}
        self.uses = {k: os.path.normpath(os.path.join(os.path.dirname(path), v))
                     for k, v in (doc.get("uses") or {}).items()}
        self.doc = doc

    def resolve(self, name):
        """A type name seen in this library -> (library, definition)."""
        if "." in name:
            alias, rest = name.split(".", 1)
            return self.api.library(self.uses[alias]).resolve(rest)
        if name not in self.types:
            raise KeyError("unknown RAML type %s in %s" % (name, self.path))
        return self, self.types[name]


class API:
    """api.raml and the libraries it uses, loaded once."""

    def __init__(self, root):
        self.root = root
        self.libs = {}
        self.top = Library(self, root)

    def library(self, path):
        if path not in self.libs:
            self.libs[path] = Library(self, path)
        return self.libs[path]

    def body_type(self, resource, method):
        """The request body type of METHOD on a resource path such as
        ("/v2/apps", "/{app_id}")."""
        node = self.top.doc[resource[0]]
        for part in resource[1:]:
            node = node[part]
        body = node[method]["body"]
        return body.get("application/json", body)["type"]

    def validate(self, type_expr, value, optional_all=False):
        """-> list of (path, error key); empty when valid."""
        errors = []
        _check(self.top, type_expr, value, "", errors, optional_all)
        return errors

    def defaults(self, type_expr):
        """{property: default} of an object type (its own and inherited)."""
        lib, d = _definition(self.top, type_expr)
        out = {}
        for name, prop in _properties(lib, d).items():
            pdef = prop[1]
            if isinstance(pdef, dict) and "default" in pdef:
                out[name] = pdef["default"]
        return out


def _unparen(expr):
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")"):
        expr = expr[1:-1].strip()
    return expr


def _definition(lib, expr):
    """Follows named types: -> (library, dict definition)."""
    if isinstance(expr, dict):
        return lib, expr
    expr = expr.strip()
    if expr in BUILTIN or expr.endswith("[]") or "|" in expr:
        return lib, {"type": expr}
    return lib.resolve(expr)


def _properties(lib, d):
    """Own and inherited properties: {name: (library, definition, required)}."""
    out = {}
    parent = d.get("type")
    if isinstance(parent, str) and parent not in BUILTIN and "|" not in parent and not parent.endswith("[]"):
        plib, pd = lib.resolve(parent)
        out.update(_properties(plib, pd))
    for key, pdef in (d.get("properties") or {}).items():
        required = True
        name = key
        if key.endswith("?"):
            name, required = key[:-1], False
        if isinstance(pdef, dict):
            if pdef.get("required") is False:
                required = False
            if "(pragma.forceOptional)" in pdef:
                required = False
        out[name] = (lib, pdef, required)
    return out


def _base(lib, d):
    """The built-in type a definition comes down to."""
    t = d.get("type")
    if t is None:
        return "object" if "properties" in d else "string"
    if isinstance(t, dict):
        return _base(lib, t)
    t = _unparen(t)
    if t in BUILTIN or t.endswith("[]") or "|" in t:
        return t
    plib, pd = lib.resolve(t)
    return _base(plib, pd)


def _facet(lib, d, name):
    """A facet of d or of the type it specialises."""
    while True:
        if name in d:
            return d[name]
        t = d.get("type")
        if not isinstance(t, str) or t in BUILTIN or t.endswith("[]") or "|" in t:
            return None
        lib, d = lib.resolve(t.strip())


_JS = {"string": "error.expected.jsstring", "number": "error.expected.jsnumber", "integer": "error.expected.jsnumber",
       "boolean": "error.expected.jsboolean", "object": "error.expected.jsobject", "array": "error.expected.jsarray"}


def _check(lib, expr, value, path, errors, optional_all=False):
    if isinstance(expr, str):
        expr = _unparen(expr)
        if "|" in expr:
            for alt in expr.split("|"):
                sub = []
                _check(lib, alt.strip(), value, path, sub)
                if not sub:
                    return
            errors.append((path or "/", "error.expected.union"))
            return
        if expr.endswith("[]"):
            _check(lib, {"type": "array", "items": expr[:-2]}, value, path, errors)
            return
        if expr in BUILTIN:
            _check(lib, {"type": expr}, value, path, errors)
            return
        lib, expr = lib.resolve(expr)
        if isinstance(expr, str):
            _check(lib, expr, value, path, errors)
            return
    d = expr
    base = _base(lib, d)
    if "|" in base or base.endswith("[]"):
        before = len(errors)
        _check(lib, base, value, path, errors)
        if len(errors) > before:
            return
        base = "array" if base.endswith("[]") else "any"
    if base in ("any",):
        return
    if base == "nil":
        if value is not None:
            errors.append((path or "/", "error.expected.jsnull"))
        return
    p = path or "/"
    if base in ("datetime", "date-only", "time-only", "datetime-only"):
        base = "string"
    if base == "string":
        if not isinstance(value, str):
            errors.append((p, _JS["string"]))
            return
        enum = _facet(lib, d, "enum")
        if enum is not None and value not in [str(e) for e in enum]:
            errors.append((p, "error.unknown.enum.literal"))
        n = _facet(lib, d, "minLength")
        if n is not None and len(value) < n:
            errors.append((p, "error.minLength"))
        n = _facet(lib, d, "maxLength")
        if n is not None and len(value) > n:
            errors.append((p, "error.maxLength"))
        pat = _facet(lib, d, "pattern")
        if pat is not None and not re.search(pat, value):
            errors.append((p, "error.pattern"))
        return
    if base in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.append((p, _JS[base]))
            return
        if base == "integer" and not float(value).is_integer():
            errors.append((p, "error.expected.int"))
            return
        lo, hi = _facet(lib, d, "minimum"), _facet(lib, d, "maximum")
        if lo is not None and value < lo:
            errors.append((p, "error.min"))
        if hi is not None and value > hi:
            errors.append((p, "error.max"))
        return
    if base == "boolean":
        if not isinstance(value, bool):
            errors.append((p, _JS["boolean"]))
        return
    if base == "array":
        if not isinstance(value, list):
            errors.append((p, _JS["array"]))
            return
        n = _facet(lib, d, "minItems")
        if n is not None and len(value) < n:
            errors.append((p, "error.minLength"))
        n = _facet(lib, d, "maxItems")
        if n is not None and len(value) > n:
            errors.append((p, "error.maxLength"))
        if _facet(lib, d, "uniqueItems") and len({json.dumps(v, sort_keys=True) for v in value}) != len(value):
            errors.append((p, "error.expected.unique"))
        items = _facet(lib, d, "items")
        if items is not None:
            for i, v in enumerate(value):
                _check(lib, items, v, "%s(%d)" % (path, i), errors)
        return
    # object
    if not isinstance(value, dict):
        errors.append((p, _JS["object"]))
        return
    props = _properties(lib, d)
    patterns = {k: v for k, v in props.items() if k.startswith("/") and k.endswith("/") and len(k) > 1}
    for name, (plib, pdef, required) in props.items():
        if name in patterns:
            continue
        if name not in value:
            if required and not optional_all and not (isinstance(pdef, dict) and "default" in pdef):
                errors.append(("%s/%s" % (path, name), "error.path.missing"))
            continue
        if value[name] is None and not required:
            continue
        _check(plib, pdef if pdef is not None else "string", value[name], "%s/%s" % (path, name), errors)
    for key, v in value.items():
        if key in props and key not in patterns:
            continue
        for pat, (plib, pdef, _) in patterns.items():
            if re.search(pat[1:-1], key):
                _check(plib, pdef, v, "%s/%s" % (path, key), errors)
                break
        else:
            if _facet(lib, d, "additionalProperties") is False:
                errors.append(("%s/%s" % (path, key), "error.unknown.field"))
