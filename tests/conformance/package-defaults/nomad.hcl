# The settings of /etc/nomad.d/nomad.hcl as HashiCorp's nomad 1.7 Debian
# package installs it (see tests/conformance/SOURCES.md); its comments left out.
data_dir  = "/opt/nomad/data"
bind_addr = "0.0.0.0"

server {
  enabled          = true
  bootstrap_expect = 1
}

client {
  enabled = true
  servers = ["127.0.0.1"]
}
