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
[[ $(cat "$tmp/out") == "$samples/sample.so: ok: provider \"sample\" 1.0.0 (ABI 1.3)" ]] ||
    fail "check sample.so printed: $(cat "$tmp/out")"
[[ ! -s $tmp/err ]] || fail "check sample.so wrote to stderr: $(cat "$tmp/err")"
"$infra" plugin check "$samples/sample-sched.so" >"$tmp/out"
[[ $(cat "$tmp/out") == "$samples/sample-sched.so: ok: scheduler \"sample-sched\" 0.3.1 (ABI 1.3)" ]] ||
    fail "check sample-sched.so printed: $(cat "$tmp/out")"

# A broken plugin: the refusal line on stderr, nothing on stdout, exit 1.
status=0
"$infra" plugin check "$samples/broken-abi2.so" >"$tmp/out" 2>"$tmp/err" || status=$?
[[ $status == 1 ]] || fail "check broken-abi2.so exited $status"
[[ ! -s $tmp/out ]] || fail "check broken-abi2.so wrote to stdout"
grep -Fxq "$samples/broken-abi2.so: refused: plugin targets ABI 2.3, this infra supports ABI 1.x (rebuild it against infra $("$infra" version | cut -d' ' -f2)'s plugin.h)" "$tmp/err" ||
    fail "check broken-abi2.so said: $(cat "$tmp/err")"
[[ $(wc -l <"$tmp/err") == 1 ]] || fail "a refusal is more than one line"

# What a first use would fail on is refused by the check, one line each.
refused() { # SAMPLE REASON: `plugin check` refuses the sample with exactly REASON
    local status=0
    "$infra" plugin check "$samples/$1.so" >/dev/null 2>"$tmp/err" || status=$?
    [[ $status == 1 ]] || fail "check $1.so exited $status"
    [[ $(cat "$tmp/err") == "$samples/$1.so: refused: $2" ]] || fail "check $1.so said: $(cat "$tmp/err")"
}
version=$("$infra" version | cut -d' ' -f2)
refused broken-zero-ops-size \
    'plugin "broken" has a provider ops table of size 0 (set its first field to sizeof(infra_provider_ops))'
refused broken-no-read \
    'plugin "broken" is a provider without read (a provider needs schema, configure, plan, apply, read and close; set them in its provider ops table)'
refused broken-sched-no-bootstrap \
    'plugin "broken" is a scheduler without node_bootstrap (a scheduler needs configure, node_bootstrap and close; set them in its scheduler ops table)'
refused broken-abi-minor \
    "plugin targets ABI 1.9, newer than this infra's ABI 1.3 (rebuild it against infra $version's plugin.h, or set INFRA_CAP_HOST_SLOTS_CHECKED once it checks every host slot it uses with INFRA_HAS_SLOT)"
refused broken-swapped-entry 'entry function returned no descriptor'
if [[ -f $samples/broken-cxx-entry.so ]]; then
    refused broken-cxx-entry \
        'no entry symbol "infra_plugin_entry", but a C++ function infra_plugin_entry(const infra_host *, const infra_plugin **) without C linkage (declare it extern "C", as <infra/plugin.h> does unless INFRA_PLUGIN_NO_ENTRY_DECLARATION is defined)'
fi
"$infra" plugin check "$samples/newer-minor.so" >"$tmp/out" || fail "check newer-minor.so failed"
[[ $(cat "$tmp/out") == "$samples/newer-minor.so: ok: provider \"broken\" 1.0.0 (ABI 1.9)" ]] ||
    fail "check newer-minor.so printed: $(cat "$tmp/out")"

# A file its group can write, or another user owns, never loads.
cp "$samples/sample.so" "$tmp/group.so"
chmod 0664 "$tmp/group.so"
status=0
"$infra" plugin check "$tmp/group.so" 2>"$tmp/err" >/dev/null || status=$?
[[ $status == 1 ]] || fail "check of a mode 0664 file exited $status"
grep -Fxq "$tmp/group.so: refused: writable by its group (mode 0664); run chmod g-w $tmp/group.so" "$tmp/err" ||
    fail "mode 0664 said: $(cat "$tmp/err")"
if [[ $(id -u) == 0 ]]; then
    cp "$samples/sample.so" "$tmp/nobody.so"
    chown 65534 "$tmp/nobody.so"
    status=0
    env -u SUDO_UID "$infra" plugin check "$tmp/nobody.so" 2>"$tmp/err" >/dev/null || status=$?
    [[ $status == 1 ]] || fail "check of a file owned by uid 65534 exited $status"
    grep -Fxq "$tmp/nobody.so: refused: owned by uid 65534, not by root or the user running infra (uid 0); run chown 0 $tmp/nobody.so" "$tmp/err" ||
        fail "a file owned by uid 65534 said: $(cat "$tmp/err")"
fi

# A bare file name means the file in the current directory, not a library
# on the dynamic linker's search path.
cp "$samples/sample.so" "$tmp/bare.so"
out=$(cd "$tmp" && "$infra" plugin check bare.so) || fail "check of a bare file name failed"
[[ $out == 'bare.so: ok: provider "sample" 1.0.0 (ABI 1.3)' ]] || fail "bare name printed: $out"

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
grep -Eq "^sample +provider +1\.0\.0 +1\.3 +$samples/sample\.so +concurrent$" "$tmp/list" ||
    fail "sample not listed"
grep -Eq "^sample-sched +scheduler +0\.3\.1 +1\.3 +$samples/sample-sched\.so +-$" "$tmp/list" ||
    fail "sample-sched not listed"
grep -Fxq "$samples/dup-b.so: refused: duplicate name \"dup\" (already loaded from $samples/dup-a.so)" "$tmp/list" ||
    fail "duplicate not reported"
# One refusal per broken sample (the C++ one exists where a C++ compiler does).
nbroken=$(find "$samples" -maxdepth 1 -name 'broken-*.so' | wc -l)
[[ $nbroken -ge 18 ]] || fail "only $nbroken broken samples were built"
[[ $(grep -c "^$samples/broken-.*: refused: " "$tmp/list") == "$nbroken" ]] ||
    fail "expected $nbroken broken samples refused: $(cat "$tmp/list")"
grep -Eq "^broken +provider +1\.0\.0 +1\.9 +$samples/newer-minor\.so +host-slots-checked$" "$tmp/list" ||
    fail "newer-minor (ABI 1.9, host slots checked) not listed"

INFRA_PLUGIN_PATH="$samples" "$infra" plugins --json >"$tmp/json" || fail "infra plugins --json failed"
grep -Fq "\"path\": \"$samples/sample.so\"" "$tmp/json" || fail "--json lacks sample"
grep -Fq "\"reason\": \"$samples/dup-b.so: refused: duplicate name" "$tmp/json" ||
    fail "--json lacks the duplicate refusal"

echo "sdk/plugin-commands: ok"
