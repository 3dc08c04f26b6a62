#!/bin/sh
# Provisions a nomad-host image on its build instance (run as root by
# examples/aws-image.yaml, gcp-image.yaml and ovh-image.yaml): checks the
# Nomad version asked for and writes the host profile the nodes start
# from. Everything goes under /opt/nomad-host, so that the script is
# harmless wherever it runs; a real image adds its package installs
# (Consul, Nomad, Docker) as further steps.
set -eu
version=${1:-}
case $version in
  [0-9]*.[0-9]*.[0-9]*) ;;
  *) echo "provision.sh: \"$version\" is not a Nomad version (X.Y.Z)" >&2; exit 3 ;;
esac
dir=/opt/nomad-host
. "$dir/host.env"
mkdir -p "$dir/bin"
printf '%s\n' "$version" >"$dir/nomad-version"
printf 'datacenter = "%s"\ndata_dir = "%s"\n' "$NOMAD_DATACENTER" "$NOMAD_DATA_DIR" >"$dir/nomad.hcl"
echo "provisioned nomad-host with Nomad $version"
