"""Google's own discovery documents (Compute v1, Cloud DNS v1), loaded as plain JSON.

Every method is found by HTTP method and path template from these files only,
so what the emulator accepts is what Google publishes, not what a client
believes. The copies live in tests/conformance/ (see SOURCES.md there).
"""
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
CONFORMANCE = os.path.normpath(os.path.join(HERE, "..", "..", "..", "conformance"))
DOCUMENTS = {
    "compute": "gce-compute-v1-discovery.json",
    "dns": "gce-dns-v1-discovery.json",
}
# Parts of a newer revision of a document that its copy predates: each
# schema's properties are added to the copy's (a schema it lacks is added
# whole). See tests/conformance/SOURCES.md.
OVERLAYS = {
    "compute": ["gce-compute-v1-igm-status.json"],
}


class Method:
    """One method of a discovery document."""

    def __init__(self, doc, data):
        self.doc = doc
        self.service = doc.name
        self.id = data["id"]
        self.http_method = data["httpMethod"]
        self.template = data["path"]
        self.path = doc.base_path + data["path"]
        self.parameters = data.get("parameters", {})
        self.request_ref = (data.get("request") or {}).get("$ref")
        self.response_ref = (data.get("response") or {}).get("$ref")
        self.scopes = data.get("scopes", [])
        pattern, literal = "", 0
        for piece in re.split(r"(\{[^}]+\})", self.path):
            if piece.startswith("{"):
                pattern += "(?P<%s>[^/]+)" % piece[1:-1].lstrip("+")
            else:
                pattern += re.escape(piece)
                literal += len(piece)
        self.regex = re.compile("^%s$" % pattern)
        self.literal_length = literal

    @property
    def verb(self):
        """The last part of the id: insert, list, setLabels, ..."""
        return self.id.rsplit(".", 1)[1]

    @property
    def collection(self):
        """The resource part of the id: instances, zoneOperations, ..."""
        return self.id.split(".")[1]

    def body_root(self):
        """How Google names the request body in its error paths."""
        if self.request_ref is None:
            return ""
        if self.service == "dns":
            return self.request_ref[0].lower() + self.request_ref[1:]
        if self.verb in ("insert", "update", "patch"):
            return "resource"
        return snake(self.request_ref) + "_resource"


class Document:
    """One discovery document: schemas, global parameters, methods."""

    def __init__(self, name, data):
        self.name = name
        self.data = data
        self.base_path = data["basePath"]
        self.schemas = data["schemas"]
        self.global_parameters = data.get("parameters", {})
        self.methods = {}
        self._walk(data.get("resources", {}))

    def _walk(self, resources):
        for resource in resources.values():
            for method in resource.get("methods", {}).values():
                m = Method(self, method)
                self.methods[m.id] = m
            self._walk(resource.get("resources", {}))

    def schema(self, ref):
        return self.schemas[ref]


class Discovery:
    """Both documents and one routing table over them."""

    def __init__(self, directory=CONFORMANCE):
        self.documents = {}
        for name, filename in DOCUMENTS.items():
            with open(os.path.join(directory, filename), encoding="utf-8") as f:
                data = json.load(f)
            for overlay in OVERLAYS.get(name, []):
                with open(os.path.join(directory, overlay), encoding="utf-8") as f:
                    _overlay(data, json.load(f))
            self.documents[name] = Document(name, data)
        self.methods = {}
        routes = []
        for doc in self.documents.values():
            self.methods.update(doc.methods)
            routes.extend(doc.methods.values())
        # Longest literal first: /global/images/family/{family} before /global/images/{image}.
        routes.sort(key=lambda m: -m.literal_length)
        self._routes = routes

    def route(self, http_method, path):
        """(Method, {param: raw value}) or (None, None); raw values are still %-encoded."""
        for method in self._routes:
            if method.http_method != http_method:
                continue
            m = method.regex.match(path)
            if m:
                return method, m.groupdict()
        return None, None

    def method(self, method_id):
        return self.methods[method_id]


def _overlay(data, extra):
    """Adds the schemas and schema members of extra to a document's data."""
    for ref, schema in extra.get("schemas", {}).items():
        have = data["schemas"].get(ref)
        if have is None:
            data["schemas"][ref] = schema
        else:
            have.setdefault("properties", {}).update(schema.get("properties", {}))


def snake(name):
    """networkInterfaces -> network_interfaces (the proto names Google's front end uses)."""
    out = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    out = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", out)
    return out.lower()
