#!/usr/bin/env bash
# A command loads only the plugins its topology names: validate and plan of
# a topology on the test provider open test.so and no other plugin of the
# build tree; version and --help open none. (LD_DEBUG=files lists every
# shared object the dynamic linker opens, dlopen included.)
source "$(dirname "$0")/lib.sh"
build=$2
topology 1
opened() { # COMMAND...: the plugin files it opened, one a line, sorted
  LD_DEBUG=files "$@" 2>&1 >/dev/null </dev/null |
    grep -o "file=$build/plugins/[^ ]*\.so" | sed 's/^file=//' | sort -u || true
}
[ "$(opened "$infra" validate "$topo")" = "$build/plugins/test.so" ] ||
  fail "validate opened: $(opened "$infra" validate "$topo")"
[ "$(opened "$infra" plan "$topo")" = "$build/plugins/test.so" ] ||
  fail "plan opened: $(opened "$infra" plan "$topo")"
[ -z "$(opened "$infra" version)" ] || fail "version opened: $(opened "$infra" version)"
[ -z "$(opened "$infra" --help)" ] || fail "--help opened: $(opened "$infra" --help)"
# infra plugins still lists every plugin of the tree.
run 0 "$infra" plugins
for name in test local; do
  grep -Eq "^$name +provider " "$work/out" || fail "infra plugins does not list $name"
done
echo "only the named plugins are loaded"
