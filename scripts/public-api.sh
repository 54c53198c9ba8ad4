#!/bin/sh
# The public API of the `polyshm` crate, one item a line, into
# docs/public-api/polyshm.txt: cargo-public-api over rustdoc's JSON (built with the
# nightly toolchain), default features, blanket and auto-trait impls left out (`-ss`).
# A separate target directory keeps the normal build warm.
#
#   scripts/public-api.sh           # regenerate docs/public-api/polyshm.txt
#   scripts/public-api.sh --check   # fail if the file is not what the code says
#
# Needs `cargo install cargo-public-api --locked` (0.52 reads the JSON of nightly
# 2025-08-02 and later) and `rustup toolchain install nightly --profile minimal`.
# Compare with an older listing by `diff`, e.g. docs/public-api/polyshm-wave1.txt.
set -eu
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/public-api}"
out=docs/public-api/polyshm.txt
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cargo public-api -p polyshm -ss --color never >"$tmp"
if [ "${1:-}" = --check ]; then
    if ! diff -u "$out" "$tmp"; then
        echo "$out is out of date: run scripts/public-api.sh" >&2
        exit 1
    fi
else
    mkdir -p "$(dirname "$out")"
    cp "$tmp" "$out"
    echo "$out: $(wc -l <"$out") lines" >&2
fi
