#!/usr/bin/env bash
# Installs what infra needs to build and test, from Debian packages.
# Run as root on Debian 12 (bookworm). Safe to run again.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libcurl4-openssl-dev libjansson-dev libyaml-dev libssh2-1-dev libssl-dev
  libxml2-dev libcmocka-dev libsqlite3-dev libpq-dev
  # the manual pages (made from docs/*.md) and the tests that render them
  pandoc man-db groff-base
  # plugins/common/plugin_install: a program out of a HashiCorp release .zip
  libzip-dev
  # the local provider's hosts, firewalls, load balancers and example service
  iproute2 openssh-server openssh-client nftables haproxy busybox util-linux procps
  # tests: emulators, stand-ins and scenario scripts; benchmark timing
  python3 python3-botocore python3-yaml python3-jsonschema python3-lark openssl curl jq time
  # tests: the GCP emulator (JWT checks) and Google's own client libraries against it
  python3-jwt python3-cryptography python3-googleapi python3-google-auth
  python3-google-auth-httplib2 python3-httplib2
  hyperfine
  # tests: the postgres state backend against a real server; benchmark fsync counts
  postgresql linux-perf
  # tests: a non-root login that becomes root on a node
  sudo
  # tests: the real ZooKeeper under the Mesos and Marathon stand-ins, its
  # Java runtime and log binding, and the stand-ins' ZooKeeper client
  zookeeper default-jre-headless libslf4j-java python3-kazoo
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# tests: the OpenStack services of the OpenStack test world
"$(dirname "$0")/../tests/openstack/deps.sh"
