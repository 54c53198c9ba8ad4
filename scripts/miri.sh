#!/usr/bin/env bash
# Run the parts of polyshm that Miri can run: pure code on heap buffers (codec,
# segment header publication and parsing, names) and the platform layer's parsers
# (/proc/<pid>/stat, the fallocate fallback). Tests that call the operating system
# (segments, futexes, processes) are left out by the filters below: Miri cannot run
# them. Needs the nightly toolchain with the miri component:
#   rustup component add miri rust-src --toolchain nightly
# Isolation is off only so that `unique_name` may read the clock and the pid.
set -euo pipefail
cd "$(dirname "$0")/.."
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}"
cargo +nightly miri test -p polyshm --no-default-features --lib -- \
    codec:: shm::header:: shm::name:: sync::semaphore::tests::a_note_is_ordered_by_its_signal \
    team::dispatch::tests --skip codec::archive
# Archives (rkyv): relative pointers are sound under Tree Borrows, the aliasing model
# rkyv is checked against, and not expressible under Miri's default Stacked Borrows,
# which reports rkyv's own validation as undefined behaviour (rkyv/rkyv#436). Their
# tests, and the fuzz door over them, run under Tree Borrows.
MIRIFLAGS="$MIRIFLAGS -Zmiri-tree-borrows" cargo +nightly miri test -p polyshm \
    --no-default-features --lib -- codec::archive hostile::tests
cargo +nightly miri test -p polyshm-sys --lib -- \
    defect_1_stat_with_paren_and_invalid_utf8 defect_6_fallocate_unsupported_falls_back cache::
