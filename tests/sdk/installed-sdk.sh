#!/usr/bin/env bash
# Installs infra into a temporary prefix and builds examples/plugin-sdk
# against that installation the two documented ways (the CMake package and
# pkg-config), then has the installed infra check and list the plugin.
#
# usage: installed-sdk.sh BUILD_DIR SOURCE_DIR C_COMPILER [CMAKE [GENERATOR]]
set -euo pipefail

build=$1
source=$2
cc=$3
cmake=${4:-cmake}
generator=${5:-}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

fail() {
    echo "sdk/installed: $*" >&2
    exit 1
}

# --- install ---------------------------------------------------------
if ! "$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log" >&2
    fail "cmake --install $build failed (is the whole tree built?)"
fi
[[ -f $prefix/include/infra/plugin.h ]] || fail "plugin.h not installed"
[[ -x $prefix/bin/infra ]] || fail "infra not installed"
# GNUInstallDirs may pick lib, lib64 or lib/<multiarch>: look it up.
pc=$(find "$prefix" -path '*/pkgconfig/infra-plugin.pc' | head -n 1)
config=$(find "$prefix" -path '*/cmake/infra-plugin/infra-pluginConfig.cmake' | head -n 1)
[[ -n $pc ]] || fail "infra-plugin.pc not installed"
[[ -n $config ]] || fail "infra-pluginConfig.cmake not installed"
[[ -f $(dirname "$config")/infra-pluginConfigVersion.cmake ]] || fail "no ConfigVersion file"

# --- the CMake package -----------------------------------------------
gen_args=()
[[ -n $generator ]] && gen_args=(-G "$generator")
"$cmake" -S "$source/examples/plugin-sdk" -B "$tmp/cmake-build" "${gen_args[@]}" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >"$tmp/configure.log" 2>&1 ||
    { cat "$tmp/configure.log" >&2; fail "configuring examples/plugin-sdk failed"; }
"$cmake" --build "$tmp/cmake-build" >"$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log" >&2; fail "building examples/plugin-sdk failed"; }
cmake_so=$tmp/cmake-build/hello.so
[[ -f $cmake_so ]] || fail "the CMake build made no hello.so"
# Hidden visibility: the entry is the only exported function.
exported=$(nm -D --defined-only "$cmake_so" | awk '$2 == "T" { print $3 }')
[[ $exported == infra_plugin_entry ]] || fail "hello.so exports: $exported"

# --- pkg-config ------------------------------------------------------
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
cflags=$(pkg-config --cflags infra-plugin)
[[ $cflags == *"-I$prefix/include"* ]] || fail "pkg-config --cflags gave: $cflags"
plugindir=$(pkg-config --variable=plugindir infra-plugin)
[[ $plugindir == "$prefix"/*/infra/plugins ]] || fail "plugindir is $plugindir"
abi=$(pkg-config --variable=abi_major infra-plugin).$(pkg-config --variable=abi_minor infra-plugin)
mkdir "$tmp/pc-plugins"
# shellcheck disable=SC2086 # cflags is a list of words
"$cc" $cflags -std=c11 -Wall -Wextra -Werror -fvisibility=hidden -shared -fPIC \
    -o "$tmp/pc-plugins/hello.so" "$source/examples/plugin-sdk/hello.c"

# --- the installed infra accepts both --------------------------------
for so in "$cmake_so" "$tmp/pc-plugins/hello.so"; do
    out=$("$prefix/bin/infra" plugin check "$so") || fail "plugin check $so failed"
    expected="$so: ok: provider \"hello\" 1.0.0 (ABI $abi)"
    [[ $out == "$expected" ]] || fail "plugin check printed: $out (expected: $expected)"
done

listing=$(INFRA_PLUGIN_PATH="$tmp/pc-plugins" "$prefix/bin/infra" plugins)
grep -Eq "^hello +provider +1\.0\.0 +${abi//./\\.} +$tmp/pc-plugins/hello\.so +import,concurrent\$" \
    <<<"$listing" || { echo "$listing" >&2; fail "infra plugins does not list hello"; }

json=$(INFRA_PLUGIN_PATH="$tmp/pc-plugins" "$prefix/bin/infra" plugins --json)
grep -Fq "\"path\": \"$tmp/pc-plugins/hello.so\"" <<<"$json" ||
    { echo "$json" >&2; fail "infra plugins --json does not list hello"; }

# --- the installed infra searches its own prefix ----------------------
# The plugin directory pkg-config names is the one the installed binary
# searches (and the only one without INFRA_PLUGIN_PATH); the build tree it
# was built in is never searched. The plugins the tree installs are listed.
searched() { # INFRA: the directories `INFRA plugins --json` searched, one a line
    INFRA_PLUGIN_PATH= "$1" plugins --json | python3 -c \
        'import json, sys; print("\n".join(json.load(sys.stdin)["searched"]))'
}
[[ $(searched "$prefix/bin/infra") == "$plugindir" ]] ||
    fail "the installed infra searched: $(searched "$prefix/bin/infra") (expected $plugindir)"
install -m 0644 "$tmp/pc-plugins/hello.so" "$plugindir/hello.so"
listing=$(INFRA_PLUGIN_PATH= "$prefix/bin/infra" plugins)
for name in hello local; do
    grep -Eq "^$name +provider .* $plugindir/$name\.so " <<<"$listing" ||
        { echo "$listing" >&2; fail "infra plugins does not list the installed $name"; }
done
if grep -Fq "$build" <<<"$listing"; then
    echo "$listing" >&2
    fail "the installed infra looked in its build tree $build"
fi

# A topology naming an installed plugin validates with nothing else set.
mkdir "$tmp/topo"
cat >"$tmp/topo/hello.yaml" <<'YAML'
name: hello
providers:
  greeter: { plugin: hello, directory: /tmp/greetings }
YAML
out=$(INFRA_PLUGIN_PATH= "$prefix/bin/infra" validate "$tmp/topo/hello.yaml") ||
    fail "the installed infra cannot validate a topology using an installed plugin"
[[ $out == "$tmp/topo/hello.yaml: valid (0 resources, 1 providers)" ]] || fail "validate printed: $out"

# The installed plugin, built from the installed SDK alone, passes the
# conformance kit run by the installed binary.
mkdir "$tmp/greetings"
KIT_HELLO_DIR=$tmp/greetings INFRA_PLUGIN_PATH= "$prefix/bin/infra" plugin test \
    "$plugindir/hello.so" "$source/tests/kit/hello.yaml" >"$tmp/kit.out" 2>&1 ||
    { cat "$tmp/kit.out" >&2; fail "the installed hello.so does not pass the kit"; }
grep -q "FAIL" "$tmp/kit.out" && { cat "$tmp/kit.out" >&2; fail "the kit reports a failure"; }

# The prefix moved elsewhere: the binary follows it.
moved=$tmp/moved/prefix
mkdir "$tmp/moved"
mv "$prefix" "$moved"
moved_plugindir=$moved${plugindir#"$prefix"}
[[ $(searched "$moved/bin/infra") == "$moved_plugindir" ]] ||
    fail "the moved infra searched: $(searched "$moved/bin/infra") (expected $moved_plugindir)"
listing=$(INFRA_PLUGIN_PATH= "$moved/bin/infra" plugins)
grep -Eq "^hello +provider .* $moved_plugindir/hello\.so " <<<"$listing" ||
    { echo "$listing" >&2; fail "the moved infra does not list hello from $moved_plugindir"; }

echo "sdk/installed: ok"
