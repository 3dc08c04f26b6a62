#!/bin/sh
# Copies the stand-in agents into a new directory that namespace hosts can
# see (their /tmp, /root, /opt and /run are private to each host, so a
# checkout under one of those is invisible to them) and prints the path of
# the copy of this directory. The layout beside it is the checkout's (the
# nomad stand-in reads ../conformance/nomad-openapi.yaml, marathon
# ../conformance/marathon-rest-api), so the caller
# removes the printed directory's parent when done.
#   usage: stage.sh
set -eu
src=$(cd "$(dirname "$0")" && pwd)
top=$(mktemp -d /var/tmp/infra-standins.XXXXXX)
chmod 755 "$top"
mkdir -p "$top/standins" "$top/conformance"
cp -R "$src/nomad" "$src/consul" "$src/systemctl" "$src/journalctl" "$src/mesos-master" "$src/mesos-agent" \
  "$src/marathon" "$src/standin" "$top/standins/"
cp "$src/../conformance/nomad-openapi.yaml" "$top/conformance/"
cp -R "$src/../conformance/marathon-rest-api" "$top/conformance/"
find "$top" -name __pycache__ -prune -exec rm -rf {} +
echo "$top/standins"
