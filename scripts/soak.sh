#!/usr/bin/env bash
# Short soak for CI: every transport, 4 drones, payloads up to 4 MB, task panics and
# drone deaths mixed in. Exits non-zero on any lost, duplicated or corrupted result,
# a leaked segment or memory growth (see crates/polyshm/examples/soak/main.rs).
#   scripts/soak.sh [ROUNDTRIPS] [extra soak arguments...]
# The full run the README quotes:
#   cargo run --release -p polyshm --example soak -- --roundtrips 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5000}
shift || true
exec cargo run --release -p polyshm --example soak -- --roundtrips "$n" --faults 5 "$@"
