//! `polyshm profile --quick` end to end: every scenario produces rows, the JSON
//! parses, the report is written, and no segment is left behind. This is the check
//! CI runs (through `cargo test --workspace`).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

/// Longer than a quick run ever takes, even unoptimised on a busy 2-CPU machine; a
/// run past it is a hang, and the test fails instead of stalling CI.
const WATCHDOG: Duration = Duration::from_secs(600);

fn leftover_segments(pid: u32) -> Vec<String> {
    // Segment names made by `unique_name` carry the creating pid in hex.
    let tag = format!("-{pid:x}-");
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("polyshm.") && n.contains(&tag))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn quick_profile_measures_every_scenario() {
    let out = tempfile::tempdir().unwrap();
    let cmd = common::polyshm(["profile", "--quick", "--out"]).args([out.path()]);
    // Output drained while it runs: a chatty run cannot block on a full pipe.
    let (run, pid) = common::run_pid(cmd, b"", WATCHDOG);
    let (status, stderr) = (run.status, String::from_utf8_lossy(&run.stderr));
    assert!(status.success(), "profile failed: {status}\n{stderr}");

    let text = std::fs::read_to_string(out.path().join("results.json")).unwrap();
    let rows: serde_json::Value = serde_json::from_str(&text).expect("results.json parses");
    let rows = rows.as_array().expect("one array of rows");

    let mut tables = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for r in rows {
        tables.insert(r["table"].to_string());
        ids.insert((
            r["scenario"].as_str().unwrap().to_string(),
            r["transport"].as_str().unwrap().to_string(),
        ));
        assert!(r["median_us"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["count"].as_u64().unwrap() > 0, "{r}");
        assert!(
            ["same", "cross", "single"].contains(&r["placement"].as_str().unwrap()),
            "{r}"
        );
        if let Some(size) = r["size"].as_u64() {
            assert!(size <= 100_000, "--quick stops at 100,000: {r}");
        }
    }
    for t in 1..=10 {
        assert!(tables.contains(&t.to_string()), "no row of table {t}");
    }
    assert!(tables.contains("\"ref\""), "no reference rows");
    for (scenario, transport) in [
        ("relay_connect", "relay"),
        ("mutex_roundtrip", "relay"),
        ("udp_roundtrip", "udp"),
        ("raw_read", "shm-raw"),
        ("raw_write", "shm-raw"),
        ("raw_write_read", "shm-raw"),
        ("simple_encode", "codec-pod"),
        ("simple_decode", "codec-pod"),
        ("general_encode", "codec-serde"),
        ("general_decode", "codec-serde"),
        ("structured_encode", "codec-serde"),
        ("structured_decode", "codec-serde"),
        ("structured_write", "codec-archive"),
        ("structured_read_one", "codec-archive"),
        ("structured_read_all", "codec-archive"),
        ("structured_roundtrip_postcard", "tcp"),
        ("structured_roundtrip_postcard", "shm"),
        ("structured_roundtrip_archive", "tcp"),
        ("structured_roundtrip_archive", "shm"),
        ("socket_empty_task", "tcp"),
        ("socket_request", "tcp"),
        ("hybrid_result", "hybrid"),
        ("hybrid_result", "hybrid-unprotected"),
        ("shm_command", "shm"),
        ("shm_command_zero_copy", "shm"),
        ("memcpy", "memcpy"),
    ] {
        assert!(
            ids.contains(&(scenario.to_string(), transport.to_string())),
            "no `{scenario}` rows over `{transport}`"
        );
    }
    // The Unix-socket reference rows, where the platform has Unix sockets.
    assert_eq!(
        ids.contains(&("socket_request".to_string(), "unix".to_string())),
        polyshm::sys::HAS_UNIX_SOCKETS
    );
    for f in [
        "report.md",
        "results.csv",
        "image1_raw_shm.svg",
        "image4_factor.svg",
    ] {
        assert!(out.path().join(f).is_file(), "{f} written");
    }
    assert_eq!(
        leftover_segments(pid),
        Vec::<String>::new(),
        "segments left behind"
    );
}
