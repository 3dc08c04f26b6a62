"""Resource URLs and references, names, labels, metadata and fingerprints as Compute has them."""
import base64
import hashlib
import json
import re

from . import errors

COMPUTE_BASE = "https://www.googleapis.com/compute/v1/"
DNS_BASE = "https://www.googleapis.com/dns/v1/"
# Both hosts serve Compute v1; clients may send either in references.
_PREFIXES = ("https://www.googleapis.com/compute/v1/", "https://compute.googleapis.com/compute/v1/",
             "http://www.googleapis.com/compute/v1/", "www.googleapis.com/compute/v1/",
             "compute.googleapis.com/compute/v1/")
NAME_RE = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
NAME_PATTERN = "(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)"
_LABEL_KEY = re.compile(r"[a-z\u00c0-\uffff][a-z0-9_\-\u00c0-\uffff]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_\-\u00c0-\uffff]{0,63}")
_REF = re.compile(r"^(?:projects/(?P<project>[^/]+)/)?(?P<scope>global|regions/[^/]+|zones/[^/]+)/"
                  r"(?P<collection>[A-Za-z]+)/(?P<name>[^/]+(?:/[^/]+)?)$")


def path(project, scope, collection, name):
    """'projects/P/zones/Z/instances/x': how Google names a resource in its messages."""
    return "projects/%s/%s/%s/%s" % (project, scope, collection, name)


def link(project, scope, collection=None, name=None):
    """The full selfLink of a resource, a collection or a scope."""
    out = COMPUTE_BASE + "projects/%s" % project
    if scope:
        out += "/" + scope
    if collection:
        out += "/" + collection
    if name:
        out += "/" + name
    return out


def scope_link(project, scope):
    return link(project, scope)


def parse(text, default_project, field, want=None):
    """(project, scope, collection, name) of a full or partial reference.

    want: the collection expected (or a tuple of them); anything else, or text
    that is no reference at all, is Google's 'The URL is malformed.'"""
    if not isinstance(text, str) or not text:
        raise errors.invalid_field(field, text or "", "The URL is malformed.")
    rest = text
    for prefix in _PREFIXES:
        if rest.startswith(prefix):
            rest = rest[len(prefix):]
            if not rest.startswith("projects/"):
                raise errors.invalid_field(field, text, "The URL is malformed.")
            break
    m = _REF.match(rest)
    if not m:
        raise errors.invalid_field(field, text, "The URL is malformed.")
    collection, name = m.group("collection"), m.group("name")
    if "/" in name:
        # Only images/family/NAME has two parts.
        if collection != "images" or not name.startswith("family/"):
            raise errors.invalid_field(field, text, "The URL is malformed.")
    if want is not None:
        wanted = (want,) if isinstance(want, str) else want
        if collection not in wanted:
            raise errors.invalid_field(field, text, "The URL is malformed.")
    return m.group("project") or default_project, m.group("scope"), collection, name


def last(url):
    return url.rsplit("/", 1)[-1]


def scope_name(url_or_scope):
    """'zones/europe-west1-b' from a zone URL or scope."""
    if url_or_scope.startswith("http"):
        parts = url_or_scope.split("/")
        return "%s/%s" % (parts[-2], parts[-1])
    return url_or_scope


def fingerprint(value):
    """Compute's fingerprints: 8 bytes, base64; a hash of the contents here."""
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()[:8]
    return base64.b64encode(digest).decode()


def check_name(name, field="resource.name"):
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise errors.invalid_field(field, name if isinstance(name, str) else "",
                                   "Must be a match of regex '%s'" % NAME_PATTERN)


def check_labels(labels, field="resource.labels"):
    """Compute's label rules: lowercase keys starting with a letter, <= 63 chars, <= 64 labels."""
    labels = labels or {}
    if len(labels) > 64:
        raise errors.invalid_field(field, "", "Resource cannot have more than 64 labels.")
    for key, value in labels.items():
        if not _LABEL_KEY.fullmatch(key):
            raise errors.invalid_field(
                field, "", "Label key '%s' violates format constraints. The key must start "
                "with a lowercase character, can only contain lowercase letters, numeric "
                "characters, underscores and dashes. The key can be at most 63 characters "
                "long. International characters are allowed." % key)
        if not isinstance(value, str) or not _LABEL_VALUE.fullmatch(value):
            raise errors.invalid_field(
                field, "", "Label value '%s' violates format constraints. The value can only "
                "contain lowercase letters, numeric characters, underscores and dashes. The "
                "value can be at most 63 characters long. International characters are "
                "allowed." % value)


def check_metadata(metadata, field="resource.metadata"):
    """Keys unique; each value <= 256 KiB; all of them <= 512 KiB."""
    items = (metadata or {}).get("items") or []
    seen, total = set(), 0
    for i, item in enumerate(items):
        key = item.get("key", "")
        value = item.get("value") or ""
        if key in seen:
            raise errors.invalid_field("%s.items[%d].key" % (field, i), key,
                                       "Duplicate keys are not allowed.")
        seen.add(key)
        size = len(value.encode("utf-8"))
        if size > 256 * 1024:
            raise errors.invalid_field("%s.items[%d].value" % (field, i), "<%d bytes>" % size,
                                       "Metadata value is too large; it must be at most "
                                       "262144 bytes.")
        total += size + len(key)
    if total > 512 * 1024:
        raise errors.invalid_field(field, "", "Metadata is too large; the total size of keys "
                                   "and values must be at most 524288 bytes.")


def check_tags(tags, field="resource.tags"):
    for i, tag in enumerate((tags or {}).get("items") or []):
        if not NAME_RE.fullmatch(tag):
            raise errors.invalid_field("%s.items[%d]" % (field, i), tag,
                                       "Must be a match of regex '%s'" % NAME_PATTERN)


def metadata_value(metadata, key):
    for item in (metadata or {}).get("items") or []:
        if item.get("key") == key:
            return item.get("value")
    return None
