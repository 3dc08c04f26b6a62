"""Plain HTTP calls to OpenStack APIs (urllib only): the world's seed and tests.

call() returns (status, decoded JSON body or None, headers) and raises
HttpError when the status is not one of those expected. Request bodies are
never part of an error's text (they may hold passwords).
"""
import json
import urllib.error
import urllib.request


class HttpError(Exception):
    def __init__(self, method, url, status, text):
        super().__init__("%s %s: HTTP %s: %s" % (method, url, status, text[:400]))
        self.status = status
        self.text = text


def call(method, url, body=None, token=None, expect=(200, 201, 202, 204), headers=None,
         raw=None, timeout=60):
    data = None
    all_headers = {"Accept": "application/json"}
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    if raw is not None:
        data = raw
    if token:
        all_headers["X-Auth-Token"] = token
    all_headers.update(headers or {})
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, text, reply_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as e:
        status, text, reply_headers = e.code, e.read(), e.headers
    text = text.decode("utf-8", "replace")
    if expect and status not in expect:
        raise HttpError(method, url, status, text)
    decoded = None
    if text and "json" in (reply_headers.get("Content-Type") or ""):
        decoded = json.loads(text)
    return status, decoded, reply_headers


def password_auth(user, password, project):
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}


def app_cred_auth(cred_id, secret):
    return {"auth": {"identity": {"methods": ["application_credential"],
                                  "application_credential": {"id": cred_id, "secret": secret}}}}


def token(keystone, auth):
    """(token, token body) for an auth request body, from POST /v3/auth/tokens."""
    _status, body, headers = call("POST", keystone + "/auth/tokens", auth, expect=(201,))
    return headers["X-Subject-Token"], body["token"]


def password_token(keystone, user, password, project):
    return token(keystone, password_auth(user, password, project))[0]
