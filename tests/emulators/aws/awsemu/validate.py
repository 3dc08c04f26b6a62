"""Requests decoded and validated against the input shapes of the models.

A request becomes the same dictionary botocore would have been given
(member names as in the model), or an ApiError naming the parameter at
fault. Three wire forms: `ec2` and `query` (flat form fields), `rest-xml`
(URI template, query string, headers and an XML body).
"""
import base64
import binascii
import datetime
import re
import xml.etree.ElementTree as ET

from .errors import ApiError

# Per protocol: (unknown parameter, missing parameter, wrong value) codes.
ERROR_CODES = {
    "ec2": ("UnknownParameter", "MissingParameter", "InvalidParameterValue"),
    "query": ("InvalidQueryParameter", "MissingParameter", "ValidationError"),
    "rest-xml": ("InvalidInput", "InvalidInput", "InvalidInput"),
}

_ISO8601 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$")


def parse_timestamp(text):
    """ISO 8601 (what botocore sends) or epoch seconds -> aware UTC datetime."""
    m = _ISO8601.match(text.strip())
    if m:
        y, mo, d, h, mi, s, frac, tz = m.groups()
        when = datetime.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0),
                                 int(s or 0), int((frac or "0")[:6].ljust(6, "0")),
                                 tzinfo=datetime.timezone.utc)
        if tz and tz != "Z":
            sign = 1 if tz[0] == "+" else -1
            digits = tz[1:].replace(":", "")
            when -= sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return when
    return datetime.datetime.fromtimestamp(float(text), datetime.timezone.utc)


class _Node:
    __slots__ = ("value", "children")

    def __init__(self):
        self.value = None
        self.children = {}


class Decoder:
    """Decodes one request for one model; errors use the protocol's codes."""

    def __init__(self, model, protocol=None):
        self.model = model
        self.protocol = protocol or model.protocol
        self.unknown_code, self.missing_code, self.invalid_code = ERROR_CODES[self.protocol]

    # -- errors -------------------------------------------------------------
    def unknown(self, name):
        if self.protocol == "rest-xml":
            return ApiError(self.unknown_code, "Unrecognized parameter: %s" % name)
        return ApiError(self.unknown_code, "The parameter %s is not recognized" % name)

    def missing(self, name):
        if self.protocol == "rest-xml":
            return ApiError(self.missing_code, "1 validation error detected: Value null at "
                            "'%s' failed to satisfy constraint: Member must not be null" % name)
        return ApiError(self.missing_code, "The request must contain the parameter %s" % name)

    def invalid(self, name, value, why):
        shown = value if len(value) <= 64 else value[:61] + "..."
        if self.protocol == "ec2":
            return ApiError(self.invalid_code,
                            "Value (%s) for parameter %s is invalid. %s" % (shown, name, why))
        return ApiError(self.invalid_code, "1 validation error detected: Value '%s' at '%s' "
                        "failed to satisfy constraint: %s" % (shown, name, why))

    # -- names --------------------------------------------------------------
    def wire_name(self, member_name, ref):
        if self.protocol == "ec2":
            if "queryName" in ref:
                return ref["queryName"]
            if "locationName" in ref:
                name = ref["locationName"]
                return name[0].upper() + name[1:]
            return member_name
        return ref.get("locationName", member_name)

    # -- query and ec2 ------------------------------------------------------
    def decode_form(self, op_name, pairs):
        """pairs: (name, value) form fields without Action and Version."""
        op = self.model.operations[op_name]
        root = _Node()
        for key, value in pairs:
            node = root
            for part in key.split("."):
                node = node.children.setdefault(part, _Node())
            node.value = value
        if "input" not in op:
            if root.children:
                raise self.unknown(next(iter(root.children)))
            return {}
        return self._form_structure(op["input"]["shape"], root, "")

    def _form_value(self, ref, node, path):
        shape = self.model.shape(ref["shape"])
        kind = shape["type"]
        if kind == "structure":
            if node.value is not None and not node.children:
                raise self.invalid(path, node.value, "Expected a structure of parameters.")
            return self._form_structure(ref["shape"], node, path)
        if kind == "list":
            return self._form_list(ref, shape, node, path)
        if kind == "map":
            return self._form_map(shape, node, path)
        if node.children:
            raise self.unknown("%s.%s" % (path, next(iter(node.children))))
        return self.scalar(ref["shape"], node.value or "", path)

    def _form_structure(self, shape_name, node, path):
        shape = self.model.shape(shape_name)
        by_wire = {}
        for member_name, ref in shape.get("members", {}).items():
            by_wire[self.wire_name(member_name, ref)] = (member_name, ref)
        result = {}
        for key, child in node.children.items():
            full = "%s.%s" % (path, key) if path else key
            if key not in by_wire:
                raise self.unknown(full)
            member_name, ref = by_wire[key]
            result[member_name] = self._form_value(ref, child, full)
        for member_name in shape.get("required", []):
            if member_name not in result:
                ref = shape["members"][member_name]
                wire = self.wire_name(member_name, ref)
                raise self.missing("%s.%s" % (path, wire) if path else wire)
        return result

    def _indexed(self, node, path):
        items = []
        for key, child in node.children.items():
            if not key.isdigit() or int(key) < 1:
                raise self.unknown("%s.%s" % (path, key))
            items.append((int(key), child))
        items.sort(key=lambda item: item[0])
        return items

    def _form_list(self, ref, shape, node, path):
        if not node.children:
            if node.value in ("", None):
                return self._check_count(shape, [], path)
            raise self.invalid(path, node.value, "Expected a list (%s.N)." % path)
        container, prefix = node, path
        flattened = self.protocol == "ec2" or shape.get("flattened") or ref.get("flattened")
        if not flattened:
            member_key = shape["member"].get("locationName", "member")
            for key in node.children:
                if key != member_key:
                    raise self.unknown("%s.%s" % (path, key))
            container = node.children.get(member_key, _Node())
            prefix = "%s.%s" % (path, member_key)
        values = [self._form_value(shape["member"], child, "%s.%d" % (prefix, index))
                  for index, child in self._indexed(container, prefix)]
        return self._check_count(shape, values, path)

    def _form_map(self, shape, node, path):
        container, prefix = node, path
        if not shape.get("flattened"):
            for key in node.children:
                if key != "entry":
                    raise self.unknown("%s.%s" % (path, key))
            container = node.children.get("entry", _Node())
            prefix = path + ".entry"
        key_name = shape["key"].get("locationName", "key")
        value_name = shape["value"].get("locationName", "value")
        result = {}
        for index, entry in self._indexed(container, prefix):
            entry_path = "%s.%d" % (prefix, index)
            for key in entry.children:
                if key not in (key_name, value_name):
                    raise self.unknown("%s.%s" % (entry_path, key))
            if key_name not in entry.children:
                raise self.missing("%s.%s" % (entry_path, key_name))
            k = self._form_value(shape["key"], entry.children[key_name],
                                 "%s.%s" % (entry_path, key_name))
            v_node = entry.children.get(value_name, _Node())
            result[k] = self._form_value(shape["value"], v_node,
                                         "%s.%s" % (entry_path, value_name))
        return result

    # -- scalars and constraints -------------------------------------------
    def _check_count(self, shape, values, path):
        if "min" in shape and len(values) < shape["min"]:
            raise self.invalid(path, "[%d items]" % len(values),
                               "Member must have length greater than or equal to %d"
                               % shape["min"])
        if "max" in shape and len(values) > shape["max"]:
            raise self.invalid(path, "[%d items]" % len(values),
                               "Member must have length less than or equal to %d"
                               % shape["max"])
        return values

    def scalar(self, shape_name, text, path):
        shape = self.model.shape(shape_name)
        kind = shape["type"]
        if kind == "string":
            return self._string(shape_name, shape, text, path)
        if kind in ("integer", "long"):
            try:
                number = int(text.strip())
            except ValueError:
                raise self.invalid(path, text, "Member must be an integer.")
            return self._range(shape, number, text, path)
        if kind in ("double", "float"):
            try:
                number = float(text)
            except ValueError:
                raise self.invalid(path, text, "Member must be a number.")
            return self._range(shape, number, text, path)
        if kind == "boolean":
            if text.lower() not in ("true", "false"):
                raise self.invalid(path, text, "Member must be true or false.")
            return text.lower() == "true"
        if kind == "timestamp":
            try:
                return parse_timestamp(text)
            except (ValueError, OverflowError):
                raise self.invalid(path, text, "Member must be an ISO 8601 timestamp.")
        if kind == "blob":
            try:
                return base64.b64decode(text.encode("ascii"), validate=True)
            except (binascii.Error, ValueError, UnicodeEncodeError):
                raise self.invalid(path, text, "Member must be base64-encoded.")
        return text

    def _string(self, shape_name, shape, text, path):
        if "enum" in shape and text not in shape["enum"]:
            raise self.invalid(path, text, "Member must satisfy enum value set: [%s]"
                               % ", ".join(shape["enum"][:40]))
        if "min" in shape and len(text) < shape["min"]:
            raise self.invalid(path, text, "Member must have length greater than or "
                               "equal to %d" % shape["min"])
        if "max" in shape and len(text) > shape["max"]:
            raise self.invalid(path, text, "Member must have length less than or "
                               "equal to %d" % shape["max"])
        pattern = self.model.pattern(shape_name)
        if pattern is not None and not pattern.fullmatch(text):
            raise self.invalid(path, text, "Member must satisfy regular expression "
                               "pattern: %s" % shape["pattern"])
        return text

    def _range(self, shape, number, text, path):
        if "min" in shape and number < shape["min"]:
            raise self.invalid(path, text, "Member must have value greater than or "
                               "equal to %s" % shape["min"])
        if "max" in shape and number > shape["max"]:
            raise self.invalid(path, text, "Member must have value less than or "
                               "equal to %s" % shape["max"])
        return number

    # -- rest-xml -----------------------------------------------------------
    def decode_rest(self, op_name, uri_params, query_pairs, headers, body):
        op = self.model.operations[op_name]
        if "input" not in op:
            return {}
        shape = self.model.shape(op["input"]["shape"])
        members = shape.get("members", {})
        result = {}
        by_query = {ref["locationName"]: (name, ref) for name, ref in members.items()
                    if ref.get("location") == "querystring"}
        for key, value in query_pairs:
            if key not in by_query:
                raise self.unknown(key)
            name, ref = by_query[key]
            result[name] = self.scalar(ref["shape"], value, key)
        lower_headers = {k.lower(): v for k, v in headers}
        body_members = {}
        payload = shape.get("payload")
        for name, ref in members.items():
            location = ref.get("location")
            if name == payload:
                kind = self.model.shape(ref["shape"])["type"]
                if kind in ("blob", "string"):
                    if body or ref.get("required"):
                        result[name] = body if kind == "blob" else body.decode("utf-8")
                elif body.strip():
                    result[name] = self._xml_payload(ref, body)
                continue
            if location == "uri":
                result[name] = self.scalar(ref["shape"], uri_params[ref["locationName"]],
                                           ref["locationName"])
            elif location == "header":
                value = lower_headers.get(ref["locationName"].lower())
                if value is not None:
                    result[name] = self.scalar(ref["shape"], value, ref["locationName"])
            elif location == "headers":
                prefix = ref["locationName"].lower()
                found = {k[len(prefix):]: v for k, v in lower_headers.items()
                         if k.startswith(prefix)}
                if found:
                    result[name] = found
            elif location is None:
                body_members[name] = ref
        if body_members:
            result.update(self._xml_body(op, body_members, body))
        elif body.strip() and not payload:
            raise ApiError(self.invalid_code, "This operation takes no request body.")
        for name in shape.get("required", []):
            if name not in result:
                raise self.missing(members[name].get("locationName", name))
        return result

    def _xml_payload(self, ref, body):
        """A structure payload: the whole body is its element (S3's configurations)."""
        root_name = ref.get("locationName")
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            raise ApiError(self.invalid_code, "Invalid XML document: %s" % e)
        if _local(root.tag) != root_name:
            raise ApiError(self.invalid_code, "Expected root element %s, got %s"
                           % (root_name, _local(root.tag)))
        expected_ns = ref.get("xmlNamespace", {}).get("uri")
        if expected_ns and not root.tag.startswith("{%s}" % expected_ns):
            raise ApiError(self.invalid_code, "Expected XML namespace %s" % expected_ns)
        return self._xml_structure(self.model.shape(ref["shape"]), root, root_name)

    def _xml_body(self, op, body_members, body):
        root_name = op["input"].get("locationName")
        if not body.strip():
            return {}
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            raise ApiError(self.invalid_code, "Invalid XML document: %s" % e)
        if _local(root.tag) != root_name:
            raise ApiError(self.invalid_code, "Expected root element %s, got %s"
                           % (root_name, _local(root.tag)))
        expected_ns = op["input"].get("xmlNamespace", {}).get("uri")
        if expected_ns and not root.tag.startswith("{%s}" % expected_ns):
            raise ApiError(self.invalid_code, "Expected XML namespace %s" % expected_ns)
        fake_shape = {"type": "structure", "members": body_members}
        return self._xml_structure(fake_shape, root, root_name)

    def _xml_value(self, ref, elem, path):
        shape = self.model.shape(ref["shape"])
        kind = shape["type"]
        if kind == "structure":
            return self._xml_structure(shape, elem, path)
        if kind == "list":
            member_name = shape["member"].get("locationName", "member")
            values = []
            for index, child in enumerate(elem, 1):
                if _local(child.tag) != member_name:
                    raise self.unknown("%s/%s" % (path, _local(child.tag)))
                values.append(self._xml_value(shape["member"], child,
                                              "%s/%s[%d]" % (path, member_name, index)))
            return self._check_count(shape, values, path)
        if len(elem):
            raise self.unknown("%s/%s" % (path, _local(elem[0].tag)))
        return self.scalar(ref["shape"], elem.text or "", path)

    def _xml_structure(self, shape, elem, path):
        members = shape.get("members", {})
        by_wire = {ref.get("locationName", name): (name, ref) for name, ref in members.items()
                   if "location" not in ref}
        result = {}
        for child in elem:
            key = _local(child.tag)
            full = "%s/%s" % (path, key)
            if key not in by_wire:
                raise self.unknown(full)
            name, ref = by_wire[key]
            result[name] = self._xml_value(ref, child, full)
        for name in shape.get("required", []):
            if name not in result:
                raise self.missing("%s/%s" % (path, members[name].get("locationName", name)))
        return result


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def compile_routes(model):
    """[(method, regex, literal length, op name)] for a REST model's operations."""
    routes = []
    for name, op in model.operations.items():
        uri = op["http"]["requestUri"].split("?", 1)[0]
        pattern, literal = "", 0
        for piece in re.split(r"(\{[^}]+\})", uri.rstrip("/")):
            if piece.startswith("{"):
                label = piece[1:-1]
                if label.endswith("+"):
                    pattern += "(?P<%s>.+)" % label[:-1]
                else:
                    pattern += "(?P<%s>[^/]+)" % label
            else:
                pattern += re.escape(piece)
                literal += len(piece)
        routes.append((op["http"]["method"], re.compile("^%s/?$" % pattern), literal, name))
    routes.sort(key=lambda r: -r[2])
    return routes
