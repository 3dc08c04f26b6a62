#!/usr/bin/env bash
# `infra plugins` and `infra plugin check` through the binary: output
# streams, exit statuses and the exact lines, on the sample plugins.
#
# usage: plugin-commands.sh INFRA_BINARY SAMPLES_DIR
set -euo pipefail

infra=$1
samples=$2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
    echo "sdk/plugin-commands: $*" >&2
    exit 1
}

# A good plugin: the ok line on stdout, nothing on stderr, exit 0.
"$infra" plugin check "$samples/sample.so" >"$tmp/out" 2>"$tmp/err" || fail "check sample.so failed"
[[ $(cat "$tmp/out") == "$samples/sample.so: ok: provider \"sample\" 1.0.0 (ABI 1.2)" ]] ||
    fail "check sample.so printed: $(cat "$tmp/out")"
[[ ! -s $tmp/err ]] || fail "check sample.so wrote to stderr: $(cat "$tmp/err")"
"$infra" plugin check "$samples/sample-sched.so" >"$tmp/out"
[[ $(cat "$tmp/out") == "$samples/sample-sched.so: ok: scheduler \"sample-sched\" 0.3.1 (ABI 1.2)" ]] ||
    fail "check sample-sched.so printed: $(cat "$tmp/out")"

# A broken plugin: the refusal line on stderr, nothing on stdout, exit 1.
status=0
"$infra" plugin check "$samples/broken-abi2.so" >"$tmp/out" 2>"$tmp/err" || status=$?
[[ $status == 1 ]] || fail "check broken-abi2.so exited $status"
[[ ! -s $tmp/out ]] || fail "check broken-abi2.so wrote to stdout"
grep -Fxq "$samples/broken-abi2.so: refused: plugin targets ABI 2.2, this infra supports ABI 1.x (rebuild it against infra $("$infra" version | cut -d' ' -f2)'s plugin.h)" "$tmp/err" ||
    fail "check broken-abi2.so said: $(cat "$tmp/err")"
[[ $(wc -l <"$tmp/err") == 1 ]] || fail "a refusal is more than one line"

# A bare file name means the file in the current directory, not a library
# on the dynamic linker's search path.
cp "$samples/sample.so" "$tmp/bare.so"
out=$(cd "$tmp" && "$infra" plugin check bare.so) || fail "check of a bare file name failed"
[[ $out == 'bare.so: ok: provider "sample" 1.0.0 (ABI 1.2)' ]] || fail "bare name printed: $out"

# No duplicate check for a single file: dup-b alone is fine.
"$infra" plugin check "$samples/dup-b.so" >/dev/null || fail "check dup-b.so alone was refused"

# A file others can write never loads.
cp "$samples/sample.so" "$tmp/open.so"
chmod 0666 "$tmp/open.so"
status=0
"$infra" plugin check "$tmp/open.so" 2>"$tmp/err" >/dev/null || status=$?
[[ $status == 1 ]] || fail "check of a mode 0666 file exited $status"
grep -Fxq "$tmp/open.so: refused: writable by others (mode 0666); run chmod o-w $tmp/open.so" "$tmp/err" ||
    fail "mode 0666 said: $(cat "$tmp/err")"

# The listing: loaded plugins, then every refusal; exit 0 despite refusals.
INFRA_PLUGIN_PATH="$samples" "$infra" plugins >"$tmp/list" || fail "infra plugins failed"
head -n 1 "$tmp/list" | grep -Eq '^NAME +KIND +VERSION +ABI +PATH +CAPABILITIES$' ||
    fail "no table header: $(head -n 1 "$tmp/list")"
grep -Eq "^sample +provider +1\.0\.0 +1\.2 +$samples/sample\.so +concurrent$" "$tmp/list" ||
    fail "sample not listed"
grep -Eq "^sample-sched +scheduler +0\.3\.1 +1\.2 +$samples/sample-sched\.so +-$" "$tmp/list" ||
    fail "sample-sched not listed"
grep -Fxq "$samples/dup-b.so: refused: duplicate name \"dup\" (already loaded from $samples/dup-a.so)" "$tmp/list" ||
    fail "duplicate not reported"
[[ $(grep -c "^$samples/broken-.*: refused: " "$tmp/list") == 13 ]] ||
    fail "expected 13 broken samples refused: $(cat "$tmp/list")"

INFRA_PLUGIN_PATH="$samples" "$infra" plugins --json >"$tmp/json" || fail "infra plugins --json failed"
grep -Fq "\"path\": \"$samples/sample.so\"" "$tmp/json" || fail "--json lacks sample"
grep -Fq "\"reason\": \"$samples/dup-b.so: refused: duplicate name" "$tmp/json" ||
    fail "--json lacks the duplicate refusal"

echo "sdk/plugin-commands: ok"
