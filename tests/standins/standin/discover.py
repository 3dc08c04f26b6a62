"""Cloud auto-join: the `provider=...` entries of Consul's `retry_join`.

Consul hands such an entry to hashicorp/go-discover, which turns it into
addresses at every join attempt. Only its `aws` provider (EC2) is done
here, the way go-discover's provider/aws/aws_discover.go does it:

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


PROVIDERS = {"aws": _aws}


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
