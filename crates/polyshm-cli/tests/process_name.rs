//! The user report of issue 9, defect 1: the `polyshm` binary copied to a file named
//! `rechenzentrum-über` must still work. The kernel cuts a process name to 15 bytes,
//! here inside the `ü`; a name that is not UTF-8 made the master look dead to its own
//! drones, which then never started.

mod common;

use polyshm::child::Spawn;
use std::time::Duration;

#[test]
fn defect_1_binary_named_rechenzentrum_ueber_runs_do() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let exe = dir.path().join(format!(
        "rechenzentrum-über{}",
        std::env::consts::EXE_SUFFIX
    ));
    std::fs::copy(env!("CARGO_BIN_EXE_polyshm"), &exe).expect("copy the polyshm binary");
    let run = common::run(
        Spawn::program(&exe).args(["do", "|a, b| a + b", "--with", "1,2", "--with", "3,4"]),
        b"",
        Duration::from_secs(60),
    );
    let status = run.status;
    let (out, err) = (
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );
    assert!(status.success(), "exit {status}; stderr:\n{err}");
    assert_eq!(out.trim(), "[4, 6]", "stderr:\n{err}");
}
