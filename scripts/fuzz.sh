#!/usr/bin/env bash
# Run every fuzz target in fuzz/ for N seconds each (default 20), starting from the
# committed seeds in fuzz/corpus/<target>/ (new inputs go to a scratch directory, so
# the committed corpus stays as it is). Needs nightly and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Prints the executions per target; exits non-zero if a target finds a crash (the
# reproducer is left in fuzz/artifacts/<target>/).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(segment_header mailbox_descriptor protocol_frame relay_geometry relay_slot hello archive)
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
summary=()
for t in "${targets[@]}"; do
    mkdir -p "$scratch/$t"
    log="$scratch/$t.log"
    if cargo +nightly fuzz run "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        runs=$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n1 || true)
        summary+=("$t: ${runs:-?} (OK)")
    else
        status=1
        tail -n 40 "$log" >&2
        summary+=("$t: FAILED (see fuzz/artifacts/$t/)")
    fi
done
printf '%s\n' "${summary[@]}"
exit $status
