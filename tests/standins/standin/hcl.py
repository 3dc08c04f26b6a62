"""HCL2 native syntax (the subset job files and ACL policies use): a Lark
grammar, a template and heredoc pass, and an evaluator for expressions with
variables, locals and common functions."""
import json
import re

import lark

GRAMMAR = r"""
start: body
body: _NL* (_stmt _NL+)* _stmt?
_stmt: attribute | block
attribute: IDENT "=" expr
block: IDENT label* "{" body "}"
label: STRING | IDENT

?expr: cond
?cond: or_expr | or_expr "?" expr ":" expr -> conditional
?or_expr: and_expr | or_expr "||" and_expr -> or_
?and_expr: eq_expr | and_expr "&&" eq_expr -> and_
?eq_expr: cmp_expr | eq_expr EQOP cmp_expr -> binop
?cmp_expr: add_expr | cmp_expr CMPOP add_expr -> binop
?add_expr: mul_expr | add_expr ADDOP mul_expr -> binop
?mul_expr: unary | mul_expr MULOP unary -> binop
?unary: postfix | "-" unary -> neg | "!" unary -> not_
?postfix: primary | postfix "." IDENT -> getattr | postfix "[" expr "]" -> index | postfix "." INT -> getattr
?primary: NUMBER -> number
    | STRING -> string
    | "true" -> true
    | "false" -> false
    | "null" -> null
    | IDENT -> var
    | IDENT "(" [expr ("," expr)* ","?] ")" -> call
    | "[" [expr ("," expr)* ","?] "]" -> tuple
    | "{" _NL* [objitem ((","|_NL+) objitem)* (","|_NL+)?] "}" -> object
    | "(" expr ")"
objitem: (IDENT | STRING | "(" expr ")") ("=" | ":") expr

EQOP: "==" | "!="
CMPOP: ">=" | "<=" | ">" | "<"
ADDOP: "+" | "-"
MULOP: "*" | "/" | "%"
IDENT: /[A-Za-z_][A-Za-z0-9_-]*/
INT: /[0-9]+/
NUMBER: /[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/
STRING: /"(?:[^"\\\n$]|\\.|\$(?!\{)|\$\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*\})*"/
_NL: /(\r?\n)+/
COMMENT: /#[^\n]*/ | /\/\/[^\n]*/
BLOCK_COMMENT: /\/\*(.|\n)*?\*\//
%ignore /[ \t]+/
%ignore COMMENT
%ignore BLOCK_COMMENT
"""


class HCLError(ValueError):
    pass


class _Unknown(HCLError):
    pass


class _DepthPostLex:
    """Newlines end statements, except inside ( ) and [ ]."""
    always_accept = ("_NL",)

    def process(self, stream):
        depth = 0
        for tok in stream:
            if tok.type in ("LPAR", "LSQB"):
                depth += 1
            elif tok.type in ("RPAR", "RSQB"):
                depth = max(0, depth - 1)
            if tok.type == "_NL" and depth:
                continue
            yield tok


_parser = None
_expr_parser = None


def _parsers():
    global _parser, _expr_parser
    if _parser is None:
        _parser = lark.Lark(GRAMMAR, parser="lalr", postlex=_DepthPostLex(), propagate_positions=True,
                            maybe_placeholders=False)
        _expr_parser = lark.Lark(GRAMMAR, parser="lalr", postlex=_DepthPostLex(), start="expr",
                                 maybe_placeholders=False)
    return _parser, _expr_parser


_HEREDOC = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_]*)[ \t]*\r?\n")


def _heredocs(src):
    """Rewrites each heredoc as an equivalent quoted template."""
    out, pos = [], 0
    while True:
        m = _HEREDOC.search(src, pos)
        if not m:
            out.append(src[pos:])
            return "".join(out)
        end = re.compile(r"^[ \t]*" + re.escape(m.group(2)) + r"[ \t]*$", re.M).search(src, m.end())
        if not end:
            raise HCLError("Unterminated template string; no closing marker was found for the heredoc %s"
                           % m.group(2))
        body = src[m.end():end.start()]
        lines = body.split("\n")
        if m.group(1):
            indents = [len(ln) - len(ln.lstrip()) for ln in lines if ln.strip()]
            cut = min(indents) if indents else 0
            lines = [ln[cut:] for ln in lines]
        quoted = '"' + _quote_template("\n".join(lines)) + '"'
        out.append(src[pos:m.start()] + quoted + "\n" * body.count("\n"))
        pos = end.end()


def _quote_template(text):
    """Escapes a heredoc's literal parts; interpolations stay as written."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("${", i):
            depth, j, inq = 1, i + 2, False
            while j < len(text) and depth:
                ch = text[j]
                if inq:
                    if ch == "\\":
                        j += 1
                    elif ch == '"':
                        inq = False
                elif ch == '"':
                    inq = True
                elif ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                j += 1
            out.append(text[i:j])
            i = j
            continue
        ch = text[i]
        out.append({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}.get(ch, ch))
        i += 1
    return "".join(out)


def parse(src, filename="input.hcl"):
    """Source text -> lark tree of the body; HCLError with line and column."""
    parser, _ = _parsers()
    try:
        return parser.parse(_heredocs(src) + "\n")
    except lark.exceptions.UnexpectedInput as e:
        raise HCLError("%s:%d,%d: Invalid expression or block definition; %s" % (
            filename, e.line, e.column, str(e).splitlines()[0]))


def _unescape(raw):
    return json.loads(raw) if "\\u" not in raw else json.loads(raw)


class Evaluator:
    """Evaluates expressions; ctx holds var.*, local.* and other roots."""

    def __init__(self, ctx=None, filename="input.hcl"):
        self.ctx = ctx or {}
        self.filename = filename

    def eval(self, node):
        if isinstance(node, lark.Token):
            raise HCLError("unexpected token %s" % node)
        fn = getattr(self, "_" + node.data, None)
        if fn is None:
            raise HCLError("unsupported expression %s" % node.data)
        return fn(*node.children)

    def _number(self, tok):
        s = str(tok)
        return float(s) if any(c in s for c in ".eE") else int(s)

    def _true(self):
        return True

    def _false(self):
        return False

    def _null(self):
        return None

    def _string(self, tok):
        return self.template(str(tok)[1:-1])

    def template(self, inner):
        parts, pos, literal = [], 0, []
        while pos < len(inner):
            if inner.startswith("$${", pos):
                literal.append("${")
                pos += 3
            elif inner.startswith("${", pos):
                depth, j, inq = 1, pos + 2, False
                while j < len(inner) and depth:
                    ch = inner[j]
                    if inq:
                        if ch == "\\":
                            j += 1
                        elif ch == '"':
                            inq = False
                    elif ch == '"':
                        inq = True
                    elif ch == "{":
                        depth += 1
                    elif ch == "}":
                        depth -= 1
                    j += 1
                expr_src = inner[pos + 2:j - 1]
                if literal:
                    parts.append(json.loads('"' + "".join(literal) + '"'))
                    literal = []
                _, ep = _parsers()
                try:
                    parts.append(self.eval(ep.parse(expr_src)))
                except _Unknown:
                    # Runtime references (${NOMAD_PORT_http}, ${attr.x}, ${node.unique.name})
                    # stay in the text for the client to interpolate.
                    parts.append("${%s}" % expr_src)
                except lark.exceptions.UnexpectedInput as e:
                    raise HCLError("%s: Invalid template interpolation %r: %s" % (self.filename, expr_src,
                                                                                str(e).splitlines()[0]))
                pos = j
            else:
                ch = inner[pos]
                if ch == "\\" and pos + 1 < len(inner):
                    literal.append(inner[pos:pos + 2])
                    pos += 2
                    continue
                literal.append(ch)
                pos += 1
        if literal:
            parts.append(json.loads('"' + "".join(literal) + '"'))
        if len(parts) == 1 and not isinstance(parts[0], str) and inner.startswith("${") and inner.endswith("}"):
            return parts[0]
        return "".join(_to_str(p) for p in parts)

    def _var(self, tok):
        name = str(tok)
        if name in self.ctx:
            return self.ctx[name]
        raise _Unknown('%s: Unknown variable; There is no variable named "%s".' % (self.filename, name))

    def _getattr(self, obj, tok):
        v = self.eval(obj)
        key = str(tok)
        if isinstance(v, dict):
            if key not in v:
                raise HCLError('%s: Unsupported attribute; This object does not have an attribute named "%s".'
                               % (self.filename, key))
            return v[key]
        if isinstance(v, list) and key.isdigit():
            return v[int(key)]
        raise HCLError("%s: Unsupported attribute %s" % (self.filename, key))

    def _index(self, obj, idx):
        v, i = self.eval(obj), self.eval(idx)
        try:
            return v[i] if not isinstance(v, list) else v[int(i)]
        except (KeyError, IndexError, TypeError, ValueError):
            raise HCLError("%s: Invalid index" % self.filename)

    def _tuple(self, *items):
        return [self.eval(i) for i in items]

    def _object(self, *items):
        out = {}
        for it in items:
            k, v = it.children
            if isinstance(k, lark.Token):
                key = str(k)[1:-1] if k.type == "STRING" else str(k)
                if k.type == "STRING":
                    key = self.template(key)
            else:
                key = _to_str(self.eval(k))
            out[key] = self.eval(v)
        return out

    def _conditional(self, c, a, b):
        return self.eval(a) if self.eval(c) else self.eval(b)

    def _or_(self, a, b):
        return bool(self.eval(a)) or bool(self.eval(b))

    def _and_(self, a, b):
        return bool(self.eval(a)) and bool(self.eval(b))

    def _neg(self, a):
        return -self.eval(a)

    def _not_(self, a):
        return not self.eval(a)

    def _binop(self, a, op, b):
        x, y = self.eval(a), self.eval(b)
        op = str(op)
        if op in ("==", "!="):
            return (x == y) == (op == "==")
        try:
            x, y = _num(x), _num(y)
        except HCLError:
            raise HCLError("%s: Invalid operand; Unsuitable value for operator %s" % (self.filename, op))
        return {"+": lambda: x + y, "-": lambda: x - y, "*": lambda: x * y, "/": lambda: x / y,
                "%": lambda: x % y, ">": lambda: x > y, "<": lambda: x < y, ">=": lambda: x >= y,
                "<=": lambda: x <= y}[op]()

    def _call(self, name, *args):
        fn = FUNCTIONS.get(str(name))
        if fn is None:
            raise HCLError('%s: Call to unknown function; There is no function named "%s".' % (self.filename, name))
        return fn(*[self.eval(a) for a in args])


def _num(v):
    if isinstance(v, bool):
        raise HCLError("not a number")
    if isinstance(v, (int, float)):
        return v
    try:
        return int(v) if re.fullmatch(r"-?\d+", str(v)) else float(v)
    except (TypeError, ValueError):
        raise HCLError("not a number")


def _to_str(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dict, list)):
        raise HCLError("Invalid template interpolation value; Cannot include a collection in a string template")
    return str(v)


FUNCTIONS = {
    "upper": lambda s: str(s).upper(), "lower": lambda s: str(s).lower(),
    "format": lambda f, *a: re.sub(r"%[sdv]", "{}", f).format(*[_to_str(x) for x in a]),
    "join": lambda sep, lst: sep.join(_to_str(x) for x in lst), "split": lambda sep, s: s.split(sep),
    "concat": lambda *ls: [x for lst in ls for x in lst], "length": lambda v: len(v),
    "tostring": _to_str, "tonumber": _num, "jsonencode": lambda v: json.dumps(v, separators=(",", ":")),
    "jsondecode": lambda s: json.loads(s), "replace": lambda s, a, b: str(s).replace(a, b),
    "trimspace": lambda s: str(s).strip(), "lookup": lambda m, k, d=None: m.get(k, d),
    "contains": lambda lst, v: v in lst, "merge": lambda *ms: {k: v for m in ms for k, v in m.items()},
    "coalesce": lambda *a: next((x for x in a if x not in (None, "")), None), "min": min, "max": max,
    "abs": abs, "range": lambda *a: list(range(*[int(x) for x in a])), "keys": lambda m: sorted(m),
    "values": lambda m: [m[k] for k in sorted(m)], "element": lambda lst, i: lst[int(i) % len(lst)],
}


def items(body_tree):
    """The statements of a body: ("attr", name, expr, meta) | ("block", type, labels, body, meta)."""
    out = []
    for st in body_tree.children:
        if st.data == "attribute":
            name, expr = st.children
            out.append(("attr", str(name), expr, st.meta))
        elif st.data == "block":
            btype = str(st.children[0])
            labels = [str(lbl.children[0]).strip('"') for lbl in st.children[1:-1]]
            out.append(("block", btype, labels, st.children[-1], st.meta))
    return out


def root_body(tree):
    return tree.children[0] if tree.children else lark.Tree("body", [])


def to_value(body, ev):
    """A body as plain data: attributes by name, blocks by type then labels
    (the JSON form of HCL)."""
    out = {}
    for it in items(body):
        if it[0] == "attr":
            out[it[1]] = ev.eval(it[2])
        else:
            _, btype, labels, sub, _ = it
            target = out
            key = btype
            for lbl in labels:
                target = target.setdefault(key, {})
                key = lbl
            target[key] = to_value(sub, ev)
    return out


def parse_config(text):
    """HCL or JSON text -> plain dict (ACL rules, Variables). ValueError when invalid."""
    s = text.strip()
    if not s:
        return {}
    if s.startswith("{"):
        try:
            return json.loads(s)
        except ValueError:
            pass
    return to_value(root_body(parse(text)), Evaluator())
