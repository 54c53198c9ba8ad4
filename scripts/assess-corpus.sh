#!/bin/sh
# The benchmark corpus of `polyshm assess` (README, "Assess"): every crate named by
# assets/assess-corpus/Cargo.toml, at the versions its Cargo.lock pins, transitive
# dependencies and every platform's crates included, vendored into one folder
# (default target/assess-corpus, which is ignored by git).
#
#   scripts/assess-corpus.sh [DEST]
#   cargo run --release -p polyshm-cli -- assess target/assess-corpus --drones 2
#
# Needs only cargo and the crates registry (or a cargo cache holding the crates).
set -eu
cd "$(dirname "$0")/.."
dest="${1:-target/assess-corpus}"
case "$dest" in /*) ;; *) dest="$PWD/$dest" ;; esac
cargo vendor --quiet --locked --manifest-path assets/assess-corpus/Cargo.toml "$dest" >/dev/null
echo "$dest: $(ls "$dest" | wc -l) crates, $(find "$dest" -name '*.rs' | wc -l) .rs files" >&2
