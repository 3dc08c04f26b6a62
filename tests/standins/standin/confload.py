"""Loading agent configuration: JSON and HCL files, directories of *.hcl and
*.json files in lexical order, the agents' merge rules, and a strict decoder
driven by a key specification.

A specification is a dict: key -> type, where a type is one of the names in
SCALARS, a nested dict (a block), or ("labeled", spec) for blocks named by a
label (Nomad's plugin "raw_exec" {...}). In a block spec the key "*" gives
the type of any key (free maps)."""
import json
import os

SCALARS = ("str", "int", "bool", "float", "dur", "strlist", "strmap", "any", "str|strlist", "int|str")


class ConfigError(Exception):
    """A configuration the agent refuses; str() is the message to print."""


def _go_type(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "[]interface {}"
    if isinstance(v, dict):
        return "map[string]interface {}"
    return "nil"


def list_files(path, exts=(".json",), skip_temporary=False):
    """The files an agent reads for one -config PATH: the file itself, or the
    matching files of a directory in lexical order of their full paths
    (sub-directories ignored; with skip_temporary, editor files as Nomad's
    isTemporaryFile skips them: NAME~, .#NAME, #NAME#)."""
    if not os.path.exists(path):
        raise ConfigError("Error loading configuration from %s: stat %s: no such file or directory" % (path, path))
    if os.path.isfile(path):
        return [path]
    names = [n for n in os.listdir(path) if any(n.endswith(e) for e in exts)]
    if skip_temporary:
        names = [n for n in names if not (n.endswith("~") or n.startswith(".#")
                                          or (n.startswith("#") and n.endswith("#")))]
    files = [os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n))]
    return sorted(files)


def read_hcl(path):
    """An HCL (native syntax) configuration file as its JSON form."""
    from . import hcl
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError("Error reading %s: %s" % (path, e.strerror))
    try:
        value = hcl.to_value(hcl.root_body(hcl.parse(text, filename=path)), hcl.Evaluator(filename=path))
    except ValueError as e:
        raise ConfigError("Error decoding %s: %s" % (path, e))
    return value


def read_any(path):
    return read_hcl(path) if path.endswith(".hcl") else read_json(path)


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError("Error reading %s: %s" % (path, e.strerror))
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError("Error decoding %s: %s at line %d, column %d" % (path, e.msg, e.lineno, e.colno))
    if not isinstance(value, dict):
        raise ConfigError("Error decoding %s: top level must be an object" % path)
    return value


def _flatten_block(value):
    """HCL's JSON form allows a block as an object or a list of objects."""
    if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        out = {}
        for x in value:
            out.update(x)
        return out
    return value


def decode(value, spec, path, errors):
    """Checks value against spec; returns the normalised value. Problems are
    appended to errors as (kind, dotted path, detail)."""
    if isinstance(spec, tuple) and spec[0] == "labeled":
        value = _flatten_block(value)
        if not isinstance(value, dict):
            errors.append(("type", path, "expected a block, got %s" % _go_type(value)))
            return {}
        return {k: decode(v, spec[1], "%s.%s" % (path, k), errors) for k, v in value.items()}
    if isinstance(spec, dict):
        value = _flatten_block(value)
        if not isinstance(value, dict):
            errors.append(("type", path, "expected a block, got %s" % _go_type(value)))
            return {}
        out = {}
        for k, v in value.items():
            sub = spec.get(k, spec.get("*"))
            full = "%s.%s" % (path, k) if path else k
            if sub is None:
                errors.append(("key", full, ""))
                continue
            out[k] = decode(v, sub, full, errors)
        return out
    return _scalar(value, spec, path, errors)


def _scalar(v, kind, path, errors):
    def bad(want):
        errors.append(("type", path, "expected type '%s', got unconvertible type '%s'" % (want, _go_type(v))))
        return None

    if kind == "any":
        return v
    if kind == "str":
        return v if isinstance(v, str) else bad("string")
    if kind == "int":
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return bad("int")
    if kind == "float":
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else bad("float64")
    if kind == "bool":
        return v if isinstance(v, bool) else bad("bool")
    if kind == "dur":
        if isinstance(v, str):
            from .util import parse_duration
            try:
                parse_duration(v)
            except ValueError as e:
                errors.append(("type", path, str(e)))
            return v
        return bad("string")
    if kind == "int|str":
        return v if (isinstance(v, (int, str)) and not isinstance(v, bool)) else bad("string")
    if kind in ("strlist", "str|strlist"):
        if kind == "str|strlist" and isinstance(v, str):
            return v
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            return v
        return bad("[]string")
    if kind == "strmap":
        v2 = _flatten_block(v)
        if isinstance(v2, dict) and all(isinstance(x, str) for x in v2.values()):
            return v2
        return bad("map[string]string")
    raise AssertionError("unknown spec type " + kind)


def _zero(v):
    return v is None or v is False or v == 0 or v == "" or v == [] or v == {}


def merge_nomad(base, extra, appended=(), pointers=(), path=""):
    """Nomad's Config.Merge (command/agent/config.go): a later file's value
    wins only when it is not the zero value (a later `enabled = false`
    cannot undo an earlier `true`), except for the settings Nomad keeps as
    pointers; the listed lists are appended (client.servers,
    server.retry_join...), other lists replaced when not empty; blocks and
    maps merge key by key."""
    out = dict(base)
    for k, v in extra.items():
        full = "%s.%s" % (path, k) if path else k
        old = out.get(k)
        if isinstance(v, dict) and isinstance(old, dict):
            out[k] = merge_nomad(old, v, appended, pointers, full)
        elif full in appended and isinstance(v, list):
            out[k] = list(old or []) + v
        elif k not in out or full in pointers or not _zero(v):
            out[k] = v
    return out


def merge_consul(base, extra, maps=(), path=""):
    """Consul's config.Merge (agent/config/merge.go): a value a later file
    sets wins, false and 0 included (the fields are pointers); lists are
    appended; a map (node_meta...) is replaced when the later one is not
    empty; blocks merge key by key."""
    out = dict(base)
    for k, v in extra.items():
        full = "%s.%s" % (path, k) if path else k
        old = out.get(k)
        if full in maps:
            if v or old is None:
                out[k] = v
        elif isinstance(v, dict) and isinstance(old, dict):
            out[k] = merge_consul(old, v, maps, full)
        elif isinstance(v, list) and isinstance(old, list):
            out[k] = old + v
        elif v is not None:
            out[k] = v
    return out


def merge(base, extra, append_lists=False):
    """Later files override earlier ones key by key; blocks merge."""
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v, append_lists)
        elif append_lists and isinstance(v, list) and isinstance(out.get(k), list):
            out[k] = out[k] + v
        else:
            out[k] = v
    return out


def get(cfg, dotted, default=None):
    cur = cfg
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur or cur[part] is None:
            return default
        cur = cur[part]
    return cur
