#!/usr/bin/env bash
# Installs the Debian packages of the OpenStack test world (tests/openstack):
# the services' Python packages only (no daemon packages: the world runs
# every service itself, as plain processes), MariaDB, RabbitMQ, uwsgi and
# BIND. Run as root on Debian 12; scripts/deps.sh calls it. Safe to run again.
#
# No service may be started by the packages' install scripts: the world
# starts its own, on loopback, in a private directory. While this script
# installs, a policy-rc.d (the Debian interface for that) refuses every start.
set -euo pipefail

packages=(
  # databases and messaging
  mariadb-server-core mariadb-client-core python3-pymysql rabbitmq-server
  # the services' code (console scripts are run through their Python modules)
  python3-keystone python3-placement python3-glance python3-nova python3-neutron
  python3-designate python3-octavia
  # WSGI server for keystone, placement and octavia's API
  uwsgi-core uwsgi-plugin-python3
  # designate's DNS backend
  bind9 bind9-utils
  # the plugin's scenarios ask BIND what Designate published
  python3-dnspython
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "tests/openstack/deps.sh: missing packages: ${missing[*]}; run as root" >&2
  exit 1
fi

policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# Written by infra tests/openstack/deps.sh while it installs.\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  made_policy=1
fi
cleanup() { if [ "$made_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq -o DPkg::Lock::Timeout=600
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}"
