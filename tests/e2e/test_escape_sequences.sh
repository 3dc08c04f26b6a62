#!/usr/bin/env bash
# Control characters in values from the topology, the state or a plugin are
# printed escaped (\x1b, \n...), never sent to the terminal: plan, status,
# outputs, diagnostics. `output NAME` into a pipe keeps the raw value for
# scripts; on a terminal it is escaped too.
source "$(dirname "$0")/lib.sh"
topology 1
# ESC ] 0 ; ... BEL retitles a terminal window; ESC [ 2 J clears the screen.
sed -i 's/^    depends_on: \[firewall.web\]/    depends_on: [firewall.web]\n    tags: { motd: "\\e]0;owned\\a\\e[2Jhello\\nfake: line" }/' "$topo"
cat >>"$topo" <<'YAML'
  motd: "${instance.web[0].tags.motd}"
  banner: "\e[31mred\e[0m"
YAML
no_raw_escape() { # FILE...: no ESC, BEL or CR byte in them
  if grep -qP '[\x1b\x07\r]' "$@"; then
    cat -v "$@" >&2
    fail "a raw control character reached the terminal"
  fi
}

run 2 "$infra" plan "$topo"
no_raw_escape "$work/out" "$work/err"
# Values are shown as JSON, whose escapes already cover these.
out_has '"motd":"\u001B]0;owned\u0007\u001B[2Jhello\nfake: line"'
run 0 "$infra" up "$topo"
no_raw_escape "$work/out" "$work/err"
out_has 'banner = "\u001B[31mred\u001B[0m"'
run 0 "$infra" status "$topo"
no_raw_escape "$work/out" "$work/err"
out_has 'motd = "\u001B]0;owned\u0007\u001B[2Jhello\nfake: line"'
run 0 "$infra" output "$topo"
no_raw_escape "$work/out"
# For a script, the value as it is.
run 0 "$infra" output "$topo" banner
[ "$(cat "$work/out")" = $'\e[31mred\e[0m' ] || fail "output banner into a pipe changed the value"
# On a terminal, escaped.
script -qec "$infra output $topo banner" /dev/null >"$work/tty" </dev/null
grep -qF 'x1b[31mred' "$work/tty" || { cat -v "$work/tty" >&2; fail "output banner on a terminal"; }
# A diagnostic quoting a key written with control characters.
printf 'name: e2e\n"\\e[2Jsneaky": 1\n' >"$work/bad.yaml"
run 1 "$infra" validate "$work/bad.yaml"
no_raw_escape "$work/err"
err_has 'unknown key "\x1b[2Jsneaky"'
echo "control characters escaped"
