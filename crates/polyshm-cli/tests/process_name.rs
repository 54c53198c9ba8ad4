//! The user report of issue 9, defect 1: the `polyshm` binary copied to a file named
//! `rechenzentrum-über` must still work. The kernel cuts a process name to 15 bytes,
//! here inside the `ü`; a name that is not UTF-8 made the master look dead to its own
//! drones, which then never started.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn defect_1_binary_named_rechenzentrum_ueber_runs_do() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let exe = dir.path().join(format!(
        "rechenzentrum-über{}",
        std::env::consts::EXE_SUFFIX
    ));
    std::fs::copy(env!("CARGO_BIN_EXE_polyshm"), &exe).expect("copy the polyshm binary");
    let mut child = Command::new(&exe)
        .args(["do", "|a, b| a + b", "--with", "1,2", "--with", "3,4"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the renamed binary");
    // Drain both pipes while the child runs, so that it never blocks on a full pipe.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let give_up = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > give_up {
            let _ = child.kill();
            let _ = child.wait();
            panic!("watchdog: rechenzentrum-über do ... hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (out, err) = (out.join().expect("stdout"), err.join().expect("stderr"));
    assert!(status.success(), "exit {status}; stderr:\n{err}");
    assert_eq!(out.trim(), "[4, 6]", "stderr:\n{err}");
}
