# The one setting of /etc/consul.d/consul.hcl as HashiCorp's consul 1.17
# Debian package installs it (every other line of it is a comment; see
# tests/conformance/SOURCES.md).
data_dir = "/opt/consul"
