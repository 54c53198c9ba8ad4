#!/usr/bin/env bash
# Build polyshm for Windows (x86_64-pc-windows-gnu) and run its tests under Wine.
#
#   scripts/windows-tests.sh                 # polyshm-sys, polyshm, polyshm-cli
#   scripts/windows-tests.sh -p polyshm      # any `cargo test` arguments instead
#   scripts/windows-tests.sh bench -p polyshm-profile --bench foundation   # or `run`, `bench`
#
# Installs what it needs, idempotently: as root it apt-installs gcc-mingw-w64-x86-64 and
# wine64 when missing (otherwise they must be there already), and adds the rustup target.
# Debian 12's Wine is 8.0, which lacks ProcessPrng (bcryptprimitives.dll, Wine >= 8.13);
# the Rust standard library imports it since 1.78, so every Rust .exe would exit with
# code 53 before main. The script builds a tiny replacement DLL from
# scripts/wine/bcryptprimitives.c and puts it in the Wine prefix's system32.
#
# The Wine prefix is $WINEPREFIX, by default ~/.wine-polyshm (created on first use,
# ~10 s). The runner is set here, in the environment, and never in .cargo/config.toml,
# where it would break builds on real Windows. A failing test fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-pc-windows-gnu
WINE=${WINE:-/usr/lib/wine/wine64}
export WINEPREFIX=${WINEPREFIX:-$HOME/.wine-polyshm}
export WINEDEBUG=${WINEDEBUG:--all}
# No Mono/Gecko installer dialogs when the prefix is created.
export WINEDLLOVERRIDES=${WINEDLLOVERRIDES:-mscoree,mshtml=}

step() { printf '== %s\n' "$*" >&2; }
now() { date +%s%N; }
took() { local ds=$(( ($(now) - $1) / 100000000 )); printf '   (%d.%d s)\n' $((ds / 10)) $((ds % 10)) >&2; }

# 1. Packages.
t=$(now)
need=()
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64)
[ -x "$WINE" ] || need+=(wine64)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing: ${need[*]}; run as root, or install them (apt-get install ${need[*]})" >&2
        exit 1
    fi
    echo "== installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! rustup target list --installed | grep -qx "$TARGET"; then
    rustup target add "$TARGET"
fi
step "toolchain ready"; took "$t"

# 2. The Wine prefix, with the ProcessPrng shim in system32.
t=$(now)
SYS32="$WINEPREFIX/drive_c/windows/system32"
if [ ! -d "$SYS32" ]; then
    "$WINE" wineboot --init >/dev/null 2>&1 || true
    # wineboot returns before the prefix is fully written; wait for wineserver.
    "$(dirname "$WINE")/wineserver" -w || true
fi
[ -d "$SYS32" ] || { echo "wineboot did not create $SYS32" >&2; exit 1; }
SHIM_SRC=scripts/wine/bcryptprimitives.c
SHIM="$SYS32/bcryptprimitives.dll"
if [ ! -f "$SHIM" ] || [ "$SHIM_SRC" -nt "$SHIM" ]; then
    x86_64-w64-mingw32-gcc -O2 -shared -o "$SHIM" "$SHIM_SRC" -ladvapi32
fi
step "wine prefix ready: $WINEPREFIX"; took "$t"

# 3. Build and run; cargo runs each executable (tests, benches, examples) through Wine.
t=$(now)
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$WINE"
# No Chromium under Wine: the explorer's browser tests say so and pass untested (not
# `required`, which .ci/run sets for the Linux run).
export POLYSHM_BROWSER_TESTS=optional
sub=test
case "${1:-}" in
    test | bench | run) sub=$1; shift ;;
esac
if [ "$sub" = test ] && [ $# -eq 0 ]; then
    set -- -p polyshm-sys -p polyshm -p polyshm-cli
fi
status=0
cargo "$sub" --target "$TARGET" "$@" || status=$?
step "cargo $sub --target $TARGET $* -> exit $status"; took "$t"
exit "$status"
