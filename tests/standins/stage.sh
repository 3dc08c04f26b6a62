#!/bin/sh
# Copies the stand-in agents into a new directory that namespace hosts can
# see (their /tmp, /root, /opt and /run are private to each host, so a
# checkout under one of those is invisible to them) and prints its path.
# The caller removes the directory when done.
#   usage: stage.sh
set -eu
src=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /var/tmp/infra-standins.XXXXXX)
chmod 755 "$dir"
cp -R "$src/nomad" "$src/consul" "$src/standin" "$dir/"
find "$dir" -name __pycache__ -prune -exec rm -rf {} +
echo "$dir"
