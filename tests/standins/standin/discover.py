"""Cloud auto-join: the `provider=...` entries of Consul's `retry_join`.

Consul hands such an entry to hashicorp/go-discover, which turns it into
addresses at every join attempt. Its `aws` provider (EC2) and its `gce`
provider (Compute Engine) are done here, the way go-discover's
provider/aws/aws_discover.go and provider/gce/gce_discover.go do it.

aws:

- the entry is `key=value` words separated by spaces, values URL-encoded
  (`+` is a space), and must name `provider`;
- keys: `region`, `tag_key`, `tag_value`, `addr_type` (`private_v4`, the
  default, `public_v4`; anything else falls back to `private_v4`, as
  go-discover logs and does), `access_key_id`, `secret_access_key`,
  `session_token`, `endpoint`, `service` (`ec2` only here);
- one DescribeInstances with the filters `tag:KEY` = VALUE and
  `instance-state-name` = running; every instance's private (or public)
  IPv4 address, instances without one skipped.

Credentials as go-discover's chain finds them: the entry's static keys,
then AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN), then
the shared credentials file; botocore signs the request (SigV4). Where the
real agent asks the instance metadata service (region, role credentials),
the stand-in reads AWS_REGION / AWS_DEFAULT_REGION and the environment
instead: the test world has no metadata service. `endpoint`, else
AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL, names the EC2 endpoint.

gce:

- keys: `project_name` (else the metadata server's project/project-id),
  `zone_pattern` (an RE2 expression: zones.list filtered `name eq PATTERN`;
  none: every zone of the project), `tag_value`, `credentials_file`;
- per zone, every page of instances.list: the first interface's
  `networkIP` of each instance carrying the network tag `tag_value`
  (instances without one skipped; no status filter, as go-discover has
  none).

Credentials as go-discover's chain finds them, with the compute scope:
`credentials_file` (a service account key only, as google.JWTConfigFromJSON
takes), else Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
gcloud's file, the metadata server); google-auth signs and fetches the
token at the key's `token_uri`. The metadata server is
metadata.google.internal unless GCE_METADATA_HOST names another, as Google's
Go and Python libraries allow. Google's Go client has no setting for the
Compute endpoint; CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE (gcloud's name for
it, the stand-in's own knob) names one, else https://compute.googleapis.com/compute/v1/.
"""
import os
import urllib.parse


class DiscoverError(Exception):
    pass


def parse(entry):
    """{key: value} of a go-discover configuration string."""
    args = {}
    for word in entry.split():
        key, sep, value = word.partition("=")
        if not sep:
            raise DiscoverError("%s: invalid format" % word)
        args[urllib.parse.unquote_plus(key)] = urllib.parse.unquote_plus(value)
    if "provider" not in args:
        raise DiscoverError("no provider")
    return args


def _aws(args):
    try:
        import botocore.session
        import botocore.exceptions
    except ImportError as e:  # the agent runs without it until an entry needs it
        raise DiscoverError("discover-aws: botocore is not installed: %s" % e)
    service = args.get("service") or "ec2"
    if service != "ec2":
        raise DiscoverError("discover-aws: service %s is not supported by the stand-in" % service)
    addr_type = args.get("addr_type") or "private_v4"
    if addr_type not in ("private_v4", "public_v4"):
        addr_type = "private_v4"
    region = args.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise DiscoverError("discover-aws: GetInstanceIdentityDocument failed: no instance metadata service")
    endpoint = args.get("endpoint") or os.environ.get("AWS_ENDPOINT_URL_EC2") or os.environ.get("AWS_ENDPOINT_URL")
    session = botocore.session.get_session()
    kwargs = {"region_name": region}
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    if args.get("access_key_id") or args.get("secret_access_key"):
        kwargs["aws_access_key_id"] = args.get("access_key_id", "")
        kwargs["aws_secret_access_key"] = args.get("secret_access_key", "")
        if args.get("session_token"):
            kwargs["aws_session_token"] = args["session_token"]
    client = session.create_client("ec2", **kwargs)
    filters = [{"Name": "tag:" + args.get("tag_key", ""), "Values": [args.get("tag_value", "")]},
               {"Name": "instance-state-name", "Values": ["running"]}]
    try:
        answer = client.describe_instances(Filters=filters)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        raise DiscoverError("discover-aws: DescribeInstancesInput failed: %s" % e)
    addrs = []
    key = "PrivateIpAddress" if addr_type == "private_v4" else "PublicIpAddress"
    for reservation in answer.get("Reservations", []):
        for inst in reservation.get("Instances", []):
            if inst.get(key):
                addrs.append(inst[key])
    return addrs


_COMPUTE_SCOPE = "https://www.googleapis.com/auth/compute"


def _gce_metadata_project():
    import urllib.error
    import urllib.request
    host = os.environ.get("GCE_METADATA_HOST") or "metadata.google.internal"
    req = urllib.request.Request("http://%s/computeMetadata/v1/project/project-id" % host,
                                 headers={"Metadata-Flavor": "Google"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.read().decode()
    except urllib.error.HTTPError as e:
        raise DiscoverError("discover-gce: discover-gce: invalid status code %d when fetching "
                            "project id" % e.code)
    except OSError as e:
        raise DiscoverError("discover-gce: %s" % e)


def _gce_session(creds_file):
    """An authorized httplib2 client with go-discover's credentials chain."""
    try:
        import google.auth
        import google.auth.exceptions
        import google_auth_httplib2
        import httplib2
        from google.oauth2 import service_account
    except ImportError as e:
        raise DiscoverError("discover-gce: google-auth is not installed: %s" % e)
    try:
        if creds_file:
            creds = service_account.Credentials.from_service_account_file(
                creds_file, scopes=[_COMPUTE_SCOPE])
        else:
            creds, _ = google.auth.default(scopes=[_COMPUTE_SCOPE])
    except (OSError, ValueError, KeyError, google.auth.exceptions.GoogleAuthError) as e:
        raise DiscoverError("discover-gce: %s" % e)
    return google_auth_httplib2.AuthorizedHttp(creds, http=httplib2.Http(timeout=30))


def _gce_pages(session, url, params):
    """Every item of every page of a Compute list."""
    import json
    import google.auth.exceptions
    import httplib2
    params = dict(params)
    while True:
        query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
        try:
            resp, body = session.request(url + ("?" + query if query else ""), "GET")
        except (OSError, httplib2.HttpLib2Error, google.auth.exceptions.GoogleAuthError) as e:
            raise DiscoverError("discover-gce: %s" % e)
        if resp.status != 200:
            raise DiscoverError("discover-gce: googleapi: Error %d: %s" % (
                resp.status, body[:300].decode("utf-8", "replace")))
        page = json.loads(body)
        for item in page.get("items", []):
            yield item
        if not page.get("nextPageToken"):
            return
        params["pageToken"] = page["nextPageToken"]


def _gce(args):
    project = args.get("project_name") or _gce_metadata_project()
    pattern = args.get("zone_pattern", "")
    tag = args.get("tag_value", "")
    session = _gce_session(args.get("credentials_file", ""))
    base = (os.environ.get("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE")
            or "https://compute.googleapis.com/compute/v1/")
    base = base.rstrip("/") + "/projects/%s/" % urllib.parse.quote(project, safe="")
    zones = [z["name"] for z in _gce_pages(session, base + "zones",
                                           {"filter": "name eq " + pattern} if pattern else {})]
    addrs = []
    for zone in zones:
        for inst in _gce_pages(session, base + "zones/%s/instances" % zone, {}):
            nics = inst.get("networkInterfaces") or []
            if not nics or not nics[0].get("networkIP"):
                continue
            if tag in (inst.get("tags") or {}).get("items", []):
                addrs.append(nics[0]["networkIP"])
    return addrs


PROVIDERS = {"aws": _aws, "gce": _gce}


def addrs(entry):
    """The addresses a `provider=...` entry stands for now (go-discover's
    Discover.Addrs); DiscoverError with go-discover's words otherwise."""
    args = parse(entry)
    provider = PROVIDERS.get(args["provider"])
    if provider is None:
        raise DiscoverError("unknown provider %s" % args["provider"])
    return provider(args)


def redacted(entry):
    """The entry with its secrets masked, for logs (go-discover's own
    logging never prints them either)."""
    words = []
    for word in entry.split():
        key, sep, _ = word.partition("=")
        words.append(key + "=hidden" if sep and key in ("secret_access_key", "session_token") else word)
    return " ".join(words)
