#!/usr/bin/env bash
# The manual pages made at build time (docs/man): man renders both, and
# every command and option `infra --help` lists appears in infra(1).
source "$(dirname "$0")/lib.sh"
build=$2
for page in "$build/man/infra.1" "$build/man/infra-topology.5"; do
  [ -s "$page" ] || fail "$page was not built (pandoc missing? scripts/deps.sh installs it)"
done
MANPAGER=cat MANWIDTH=100 man -l "$build/man/infra.1" >"$work/infra.txt" 2>/dev/null || fail "man cannot render infra.1"
MANPAGER=cat MANWIDTH=100 man -l "$build/man/infra-topology.5" >"$work/topology.txt" 2>/dev/null ||
  fail "man cannot render infra-topology.5"
grep -q "^INFRA(1)" "$work/infra.txt" || fail "infra.1 has no INFRA(1) header"
grep -q "^INFRA-TOPOLOGY(5)" "$work/topology.txt" || fail "infra-topology.5 has no header"
grep -q "yaml-language-server" "$work/topology.txt" || fail "infra-topology.5 does not say how editors use infra schema"
"$infra" --help >"$work/help"
# commands: the first word of each line of the "commands:" block
commands=$(awk '/^commands:/ { on = 1; next } /^$/ { on = 0 } on && /^  [^ ]/ { print $1 }' "$work/help")
[ "$(echo "$commands" | wc -w)" -ge 15 ] || fail "could not read the commands of infra --help"
for c in $commands; do
  grep -qE "^ {7}$c( |$)" "$work/infra.txt" || fail "command $c of infra --help is not described in infra.1"
done
options=$(awk '/^options:/ { on = 1; next } on { print }' "$work/help" | grep -oE -- '--[a-z-]+(=[a-z]+)?|-[a-z]\b')
for o in $options; do
  grep -qF -- "$o" "$work/infra.txt" || fail "option $o of infra --help is not in infra.1"
done
echo "man pages: both render, infra.1 has every command and option"
