"""list and aggregatedList: Compute's filter syntax, ordering, paging; partial responses.

Filters: new style `labels.k = "v"`, `name != x`, `>`/`<`, `field:*` (present),
`(a) AND (b)`, `(a) OR (b)`, `NOT`, juxtaposition meaning AND, OR binding
tighter than AND (as in Google's filter grammar, AIP-160); `*` in a value of
= or != is a wildcard. Old style: one `FIELD eq|ne RE2-REGEX`, matched whole.
The first part of a field path must be a field of the listed resource.
"""
import base64
import binascii
import fnmatch
import hashlib
import json
import re

from . import errors

_TOKEN = re.compile(r"""\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<op>!=|>=|<=|=|>|<|:)|"""
                    r"""(?P<q>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<w>[^\s()"'=!<>:]+))""")
_OLD = re.compile(r"^\s*([A-Za-z][\w.]*)\s+(eq|ne)\s+(.+?)\s*$", re.S)


def _bad_filter(text, why="Invalid list filter expression."):
    return errors.invalid_field("filter", text, why)


class _Cmp:
    def __init__(self, field, op, value, quoted):
        self.field, self.op, self.value, self.quoted = field, op, value, quoted

    def __call__(self, item):
        values = _resolve(item, self.field.split("."))
        if self.op == ":":
            if self.value == "*":
                return bool(values)
            return any(_text(v) == self.value for v in values)
        if self.op in ("eq", "ne"):
            try:
                rx = re.compile(self.value)
            except re.error:
                return False
            hit = any(rx.fullmatch(_text(v)) for v in values)
            return hit if self.op == "eq" else not hit
        if self.op in ("=", "!="):
            if "*" in self.value:
                hit = any(fnmatch.fnmatchcase(_text(v), self.value) for v in values)
            else:
                hit = any(_text(v) == self.value for v in values)
            return hit if self.op == "=" else not hit
        for v in values:
            a, b = _ordered(v, self.value)
            if (self.op == ">" and a > b) or (self.op == "<" and a < b) or \
                    (self.op == ">=" and a >= b) or (self.op == "<=" and a <= b):
                return True
        return False


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ordered(value, literal):
    try:
        return float(value), float(literal)
    except (TypeError, ValueError):
        return _text(value), literal


def _resolve(item, parts):
    """Every value at the path (lists fan out)."""
    current = [item]
    for part in parts:
        nxt = []
        for value in current:
            if isinstance(value, list):
                value_list = value
            else:
                value_list = [value]
            for v in value_list:
                if isinstance(v, dict) and part in v:
                    nxt.append(v[part])
        current = nxt
    out = []
    for value in current:
        if isinstance(value, list):
            out.extend(value)
        else:
            out.append(value)
    return out


class _Parser:
    def __init__(self, text, fields):
        self.text = text
        self.fields = fields
        self.tokens = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise _bad_filter(text)
            self.tokens.append((m.lastgroup, m.group(m.lastgroup)))
            pos = m.end()
        self.i = 0

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None)

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def parse(self):
        expr = self.and_expr()
        if self.i != len(self.tokens):
            raise _bad_filter(self.text)
        return expr

    def and_expr(self):
        parts = [self.or_expr()]
        while True:
            kind, value = self.peek()
            if kind is None or kind == "rp":
                break
            if kind == "w" and value == "AND":
                self.take()
            parts.append(self.or_expr())
        return lambda item: all(p(item) for p in parts)

    def or_expr(self):
        parts = [self.unary()]
        while self.peek() == ("w", "OR"):
            self.take()
            parts.append(self.unary())
        return lambda item: any(p(item) for p in parts)

    def unary(self):
        if self.peek() == ("w", "NOT"):
            self.take()
            inner = self.unary()
            return lambda item: not inner(item)
        kind, _ = self.peek()
        if kind == "lp":
            self.take()
            inner = self.and_expr()
            if self.take()[0] != "rp":
                raise _bad_filter(self.text)
            return inner
        return self.comparison()

    def comparison(self):
        kind, field = self.take()
        if kind != "w" or field in ("AND", "OR", "NOT"):
            raise _bad_filter(self.text)
        kind, op = self.take()
        if kind == "w" and op in ("eq", "ne"):
            pass
        elif kind != "op":
            raise _bad_filter(self.text)
        kind, value = self.take()
        if kind not in ("q", "w"):
            raise _bad_filter(self.text)
        quoted = kind == "q"
        if quoted:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        self.check_field(field)
        return _Cmp(field, op, value, quoted)

    def check_field(self, field):
        if self.fields is not None and field.split(".")[0] not in self.fields:
            raise _bad_filter(self.text, "Invalid list filter expression: unknown field "
                              "'%s'." % field.split(".")[0])


def compile_filter(text, fields=None):
    """A predicate over API-shaped items; fields: the item schema's property names."""
    if text is None or not text.strip():
        return lambda item: True
    old = _OLD.match(text)
    if old and not text.lstrip().startswith("("):
        field, op, value = old.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        parser = _Parser("", fields)
        parser.text = text
        parser.check_field(field)
        return _Cmp(field, op, value, True)
    return _Parser(text, fields).parse()


def _order(items, order_by):
    if order_by in (None, "", "name"):
        return sorted(items, key=lambda i: i.get("name", ""))
    if order_by.replace(" ", "") == "creationTimestampdesc":
        return sorted(sorted(items, key=lambda i: i.get("name", "")),
                      key=lambda i: i.get("creationTimestamp", ""), reverse=True)
    raise errors.invalid_field("orderBy", order_by, "Only sorting by name or "
                               "'creationTimestamp desc' is supported.")


def _token(offset, key):
    raw = json.dumps({"o": offset, "k": key}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset(token, key):
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data["k"] != key or int(data["o"]) < 0:
            raise ValueError
        return int(data["o"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise errors.invalid_field("pageToken", token, "The page token is invalid or does "
                                   "not match the request.")


def page(items, params, fields=None, order_key="orderBy"):
    """(the page of items, nextPageToken or None) after filter and order."""
    keep = compile_filter(params.get("filter"), fields)
    selected = _order([i for i in items if keep(i)], params.get(order_key))
    size = params.get("maxResults") or 500
    size = min(size, 500)
    key = hashlib.sha256(json.dumps([params.get("filter"), params.get(order_key)])
                         .encode()).hexdigest()[:12]
    start = _offset(params.get("pageToken"), key)
    chunk = selected[start:start + size]
    token = _token(start + size, key) if start + size < len(selected) else None
    return chunk, token


def item_fields(doc, response_ref):
    """Property names of the items a list or aggregatedList response holds."""
    schema = doc.schema(response_ref)
    items = schema["properties"]["items"]
    if items.get("type") == "array":
        ref = items["items"]["$ref"]
    else:
        scoped = doc.schema(items["additionalProperties"]["$ref"])
        array = [p for k, p in scoped["properties"].items() if k != "warning"][0]
        ref = array["items"]["$ref"]
    return set(doc.schema(ref)["properties"])


def aggregated(scoped_items, params, key, fields=None):
    """items per scope as aggregatedList has them, one page over every scope.

    scoped_items: [(scope, [items])] for every scope of the project, empty ones too."""
    flat = [(scope, item) for scope, items in scoped_items for item in items]
    keep = compile_filter(params.get("filter"), fields)
    flat = [(s, i) for s, i in flat if keep(i)]
    ordered = _order([dict(i, _scope=s) for s, i in flat], params.get("orderBy"))
    size = min(params.get("maxResults") or 500, 500)
    fkey = hashlib.sha256(json.dumps([params.get("filter"), params.get("orderBy"), "agg"])
                          .encode()).hexdigest()[:12]
    start = _offset(params.get("pageToken"), fkey)
    chunk = ordered[start:start + size]
    token = _token(start + size, fkey) if start + size < len(ordered) else None
    out = {}
    for scope, _ in scoped_items:
        out[scope] = {"warning": {
            "code": "NO_RESULTS_ON_PAGE",
            "message": "There are no results for scope '%s' on this page." % scope,
            "data": [{"key": "scope", "value": scope}]}}
    for item in chunk:
        scope = item.pop("_scope")
        holder = out[scope]
        holder.pop("warning", None)
        holder.setdefault(key, []).append(item)
    return out, token


# -- partial responses (?fields=) -------------------------------------------------
def _parse_fields(text, pos=0, depth=0):
    """{name: subselection or None} from 'a,b/c,d(e,f)'."""
    out = {}
    name = ""
    while pos < len(text):
        ch = text[pos]
        if ch == ",":
            if name:
                _add(out, name, None)
            name = ""
        elif ch == "(":
            sub, pos = _parse_fields(text, pos + 1, depth + 1)
            _add(out, name, sub)
            name = ""
        elif ch == ")":
            if depth == 0:
                raise errors.bad_request("Invalid field selection %s" % text, "invalidParameter")
            if name:
                _add(out, name, None)
            return out, pos
        elif not ch.isspace():
            name += ch
        pos += 1
    if depth:
        raise errors.bad_request("Invalid field selection %s" % text, "invalidParameter")
    if name:
        _add(out, name, None)
    return out, pos


def _add(out, name, sub):
    parts = name.split("/")
    node = out
    for part in parts[:-1]:
        existing = node.get(part)
        if existing is None and part in node:
            return  # already selected whole
        node = node.setdefault(part, {})
    if sub is None:
        node[parts[-1]] = None
    else:
        node.setdefault(parts[-1], {})
        if node[parts[-1]] is not None:
            node[parts[-1]].update(sub)


def select_fields(value, fields_text):
    """The partial response a ?fields= selector asks for."""
    selection, _ = _parse_fields(fields_text)
    return _apply(value, selection)


def _apply(value, selection):
    if selection is None:
        return value
    if isinstance(value, list):
        return [_apply(v, selection) for v in value]
    if isinstance(value, dict):
        if "*" in selection:
            return {k: _apply(v, selection["*"]) for k, v in value.items()}
        return {k: _apply(value[k], sub) for k, sub in selection.items() if k in value}
    return value
