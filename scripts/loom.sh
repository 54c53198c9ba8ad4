#!/bin/sh
# Model checks of the sync layer (semaphore, robust mutex with takeover) with loom:
# `sync::atomic` hands out loom's atomics under `--cfg loom`, so the models run the
# code the processes run. A separate target directory keeps the normal build warm.
# Extra arguments go to the test binary (e.g. a model's name); LOOM_MAX_PREEMPTIONS
# and the other LOOM_* variables of loom apply.
set -eu
cd "$(dirname "$0")/.."
export RUSTFLAGS="${RUSTFLAGS:-} --cfg loom"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom}"
exec cargo test -p polyshm --lib --release sync:: -- --nocapture "$@"
