#!/usr/bin/env bash
# The team over MPI ranks (feature `mpi`), on one host, each mpirun under a watchdog
# (`timeout`): the conformance cases that apply to ranks with the ranks of this node on
# shared memory and with POLYSHM_MPI_ALL_REMOTE=1 (MPI messages); team after team with
# the drone ranks pausing as each session ends (a fault point: the quit watcher's race
# with the next team, widened); `fractal --mpi`
# counts and `assess --mpi` XML identical to the single-host runs; `do --mpi`; a drone
# rank killed with -9 and a master killed with -9 (mpirun names the dead rank, the job
# ends, no segment is left). Installs Open MPI and libclang (for the bindings) when missing. See README,
# "Across hosts (MPI)".
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v mpirun >/dev/null || ! dpkg -s libopenmpi-dev libclang-dev >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y --no-install-recommends libopenmpi-dev openmpi-bin libclang-dev
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/mpi}"
export RUST_BACKTRACE=0
MPIRUN=(timeout 240 mpirun --oversubscribe --allow-run-as-root -n 3)
failures=0
fail() { echo "MPI FAILED: $*"; failures=$((failures + 1)); }

cargo clippy -p polyshm -p polyshm-cli --all-targets --features polyshm/mpi,polyshm/failpoints,polyshm-cli/mpi -- -D warnings
cargo build -p polyshm-cli --features mpi
team=$(cargo test -p polyshm --features mpi,failpoints --test team --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -1)
polyshm="$CARGO_TARGET_DIR/debug/polyshm"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The conformance cases, both placements (each trial has its own watchdog too).
"${MPIRUN[@]}" "$team" || fail "team trials, ranks of this node on shared memory"
POLYSHM_MPI_ALL_REMOTE=1 "${MPIRUN[@]}" "$team" || fail "team trials, MPI messages"

# The race of a drone rank's quit watcher with the next team (commit 82b16fc), its
# window widened: each drone rank pauses 300 ms as its session ends (longer than the
# watcher's 50 ms look), while rank 0 builds the next team at once. The watcher must
# leave the next team's session message to the serving loop; one that took it aborted
# the job. Both placements (the close comes by mailbox or by MPI message).
race=mpi::teams_follow_each_other
for remote in 0 1; do
    log="$work/race-$remote.log" rc=0
    POLYSHM_FAULTS="mpi.drone.before_session_end=sleep(300)" POLYSHM_MPI_ALL_REMOTE=$remote \
        "${MPIRUN[@]}" "$team" --exact "$race" >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ] || ! grep -q "1 passed" "$log"; then
        fail "$race with the session end paused (POLYSHM_MPI_ALL_REMOTE=$remote): mpirun exited $rc"
        cat "$log"
    fi
done

# The fractal: the same counts on one host and over the ranks.
fractal=(fractal --size 385x324 --max-iter 2000)
"$polyshm" "${fractal[@]}" --drones 2 --transport shm --counts "$work/host.npy" >/dev/null
"${MPIRUN[@]}" "$polyshm" "${fractal[@]}" --mpi --counts "$work/shm.npy" >/dev/null
POLYSHM_MPI_ALL_REMOTE=1 "${MPIRUN[@]}" "$polyshm" "${fractal[@]}" --mpi --counts "$work/messages.npy" >/dev/null
for p in shm messages; do
    cmp "$work/host.npy" "$work/$p.npy" || fail "fractal counts over MPI ($p) differ from the single-host run"
done

# The assessment: the same XML on one host and over the ranks.
src=crates/polyshm/src/team
"$polyshm" assess "$src" --drones 2 --xml "$work/host.xml" >/dev/null
"${MPIRUN[@]}" "$polyshm" assess "$src" --mpi --xml "$work/shm.xml" >/dev/null
POLYSHM_MPI_ALL_REMOTE=1 "${MPIRUN[@]}" "$polyshm" assess "$src" --mpi --xml "$work/messages.xml" >/dev/null
for p in shm messages; do
    cmp "$work/host.xml" "$work/$p.xml" || fail "assess over MPI ($p) differs from the single-host run"
done

# The study's example.
out=$("${MPIRUN[@]}" "$polyshm" do '|a, b| a + b' --with 1,2,3,4,5 --with 5,4,3,2,1 --mpi)
[ "$out" = "[6, 6, 6, 6, 6]" ] || fail "do --mpi answered $out"

# A rank killed with -9: mpirun names it and ends the job; no segment of the master
# is left (the master had mailboxes when the ranks were on this node).
kill_case() { # name, env..., expect-segments (yes/no)
    local name=$1 expect=$2
    shift 2
    local log="$work/$name.log" rc=0
    env "$@" "${MPIRUN[@]}" "$team" >"$log" 2>&1 || rc=$?
    local master victim had
    master=$(awk '/^master /{print $2}' "$log")
    victim=$(awk '/^killing /{print $2}' "$log")
    had=$(awk '/^segments /{print $2}' "$log")
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || [ -z "$victim" ]; then
        fail "$name: mpirun exited $rc (killed: ${victim:-nobody})"
        cat "$log"
        return
    fi
    grep -Eq "process rank [0-9]+ .*exited on signal 9" "$log" || { fail "$name: mpirun did not name the dead rank"; cat "$log"; }
    if [ "$expect" = yes ] && [ "${had:-0}" -eq 0 ]; then fail "$name: the master had no mailbox to lose"; fi
    local left
    left=$(cd /dev/shm && find . -maxdepth 1 -name "polyshm.mb?-$(printf %x "$master")-*" -printf '%f\n')
    [ -z "$left" ] || fail "$name: segments left: $left"
    echo "$name: mpirun exited $rc; $(grep -Eo 'process rank [0-9]+ .*exited on signal 9' "$log"); segments of master $master before: $had, after: none"
}
kill_case drone_rank_killed_shm yes POLYSHM_TEST_MPI_KILL=1
kill_case drone_rank_killed_messages no POLYSHM_TEST_MPI_KILL=1 POLYSHM_MPI_ALL_REMOTE=1
kill_case master_killed_shm yes POLYSHM_TEST_MPI_KILL=master

if [ "$failures" -ne 0 ]; then
    echo "MPI tests: $failures failed"
    exit 1
fi
echo "MPI tests: all passed"
