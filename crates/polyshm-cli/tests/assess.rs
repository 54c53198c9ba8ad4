//! `polyshm assess`, driven through the built binary on a small tree written for the
//! test: the export is byte-identical in one process and over every transport at both
//! granularities, a drone killed mid-assessment changes nothing, a file that does not
//! parse is reported and counted, duplicates across files are grouped. Every run of the
//! binary has a watchdog.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

const WATCHDOG: Duration = Duration::from_secs(120);

fn polyshm_status(args: &[&str], env: &[(&str, &str)]) -> Output {
    common::run(
        common::polyshm(args).envs(env.iter().copied()),
        b"",
        WATCHDOG,
    )
}

fn polyshm(args: &[&str], env: &[(&str, &str)]) -> Output {
    common::succeeded(args, polyshm_status(args, env))
}

/// Two crates, a file that does not parse, a function copied across crates, and
/// folders that must be skipped.
fn tree(root: &Path) {
    let files: &[(&str, &str)] = &[
        ("a/Cargo.toml", "[package]\nname = \"a\"\n"),
        (
            "a/src/lib.rs",
            "//! A.\npub mod util;\n\n/// Sum.\npub fn total(v: &[u32]) -> u32 {\n    let mut s = 0;\n    for x in v {\n        if *x > 3 && *x < 9 {\n            s += x;\n        }\n    }\n    s\n}\n\npub struct P { x: u8 }\n\nimpl P {\n    pub fn x(&self) -> u8 { self.x }\n    fn check(&self) -> Result<u8, ()> { let y = Ok::<u8, ()>(self.x)?; Ok(y) }\n}\n",
        ),
        (
            "a/src/util.rs",
            "pub trait Shape {\n    fn area(&self) -> f64;\n    fn twice(&self) -> f64 { self.area() * 2.0 }\n}\n\npub fn pick(k: u8) -> &'static str {\n    match k { 0 => \"zero\", 1 => \"one\", _ => \"many\" }\n}\n",
        ),
        ("b/Cargo.toml", "[package]\nname = \"b\"\n"),
        (
            "b/src/main.rs",
            "mod broken;\n\n// the same tokens as a::total, spaced and commented otherwise\nfn total(v:&[u32])->u32{let mut s=0;for x in v{if *x>3&&*x<9{s+=x;}}s}\n\nfn main() {\n    let n = total(&[1, 5]);\n    while n > 100 { break; }\n}\n",
        ),
        ("b/src/broken.rs", "fn ok() {}\n\nfn broken( {\n"),
        ("target/debug/gen.rs", "fn skipped() {}\n"),
        (".git/hooks.rs", "fn skipped() {}\n"),
    ];
    for (path, text) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn transports() -> Vec<&'static str> {
    ["socket", "unix", "hybrid", "hybrid-unprotected", "shm"]
        .into_iter()
        .filter(|t| *t != "unix" || polyshm::sys::HAS_UNIX_SOCKETS)
        .collect()
}

/// The XML and JSON exports of one run.
fn exports(root: &Path, args: &[&str], env: &[(&str, &str)]) -> (String, String, Output) {
    let tree = root.join("tree");
    let xml = root.join("out.xml");
    let json = root.join("out.json");
    let mut all = vec!["assess", tree.to_str().unwrap()];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "--xml",
        xml.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let out = polyshm(&all, env);
    let x = std::fs::read_to_string(&xml).unwrap();
    let j = std::fs::read_to_string(&json).unwrap();
    std::fs::remove_file(&xml).unwrap();
    std::fs::remove_file(&json).unwrap();
    (x, j, out)
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    tree(&dir.path().join("tree"));
    dir
}

#[test]
fn one_process_export_holds_units_errors_and_duplicates() {
    let dir = setup();
    let (xml, json, out) = exports(dir.path(), &["--drones", "0"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<assessment files=\"4\""),
        "{xml}"
    );
    // total, x, check, twice, pick, total, main: 7; broken.rs counts as an error
    assert!(
        xml.contains(" functions=\"7\" parse-errors=\"1\" duplicate-groups=\"1\""),
        "{xml}"
    );
    assert!(
        !xml.contains("skipped"),
        "target/ and hidden folders are skipped: {xml}"
    );
    assert!(xml.contains("<parse-error line=\"3\""), "{xml}");
    assert!(
        xml.contains("<impl name=\"impl P\" line=\"17\" functions=\"2\""),
        "{xml}"
    );
    assert!(
        xml.contains("<trait name=\"Shape\" line=\"1\" functions=\"1\""),
        "{xml}"
    );
    // pick: 1 + two arms beyond the first; check: 1 + `?`; total: 1 + for + if + &&
    assert!(xml.contains("<function name=\"pick\" line=\"6\" lines=\"3\" code-lines=\"3\" statements=\"1\" parameters=\"1\" depth=\"1\" complexity=\"3\""), "{xml}");
    assert!(xml.contains("<function name=\"check\" line=\"19\" lines=\"1\" code-lines=\"1\" statements=\"2\" parameters=\"1\" depth=\"1\" complexity=\"2\""), "{xml}");
    assert!(xml.contains("<function name=\"total\" line=\"5\" lines=\"9\" code-lines=\"9\" statements=\"5\" parameters=\"1\" depth=\"3\" complexity=\"4\""), "{xml}");
    let group = xml.split("<group ").nth(1).expect("a duplicate group");
    assert!(
        group.contains("tree/a/src/lib.rs\" line=\"5\" name=\"total\""),
        "{group}"
    );
    assert!(
        group.contains("tree/b/src/main.rs\" line=\"4\" name=\"total\""),
        "{group}"
    );
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(j["files"], 4);
    assert_eq!(j["functions"], 7);
    assert_eq!(j["parse_errors"], 1);
    assert_eq!(j["crates"].as_array().unwrap().len(), 2);
    assert_eq!(j["duplicates"][0]["locations"].as_array().unwrap().len(), 2);
    assert!(
        stdout.contains("parse error: ") && stdout.contains("broken.rs:3:"),
        "{stdout}"
    );
    assert!(stdout.contains("most complex functions"), "{stdout}");
}

#[test]
fn export_identical_over_every_transport_granularity_and_drone_count() {
    let dir = setup();
    let (xml0, json0, _) = exports(dir.path(), &["--drones", "0"], &[]);
    for transport in transports() {
        for granularity in ["file", "item"] {
            for drones in ["1", "2", "3"] {
                if drones != "2" && transport != "shm" {
                    continue;
                }
                let args = [
                    "--drones",
                    drones,
                    "--transport",
                    transport,
                    "--granularity",
                    granularity,
                ];
                let (xml, json, out) = exports(dir.path(), &args, &[]);
                assert!(xml == xml0, "{args:?}: XML differs from one process");
                assert!(json == json0, "{args:?}: JSON differs from one process");
                // file: one message per file; item: max(1, functions) per file
                let want = if granularity == "file" {
                    4
                } else {
                    3 + 2 + 2 + 1
                };
                let stdout = String::from_utf8_lossy(&out.stdout);
                assert!(
                    stdout.contains(&format!("{want} result messages")),
                    "{args:?}: {stdout}"
                );
            }
        }
    }
}

#[test]
fn a_drone_killed_mid_assessment_changes_nothing() {
    let dir = setup();
    let (xml0, _, _) = exports(dir.path(), &["--drones", "0"], &[]);
    for transport in ["socket", "shm"] {
        for granularity in ["file", "item"] {
            let marker = dir.path().join(format!("died-{transport}-{granularity}"));
            let hook = format!("2:{}", marker.display());
            let args = [
                "--drones",
                "2",
                "--transport",
                transport,
                "--granularity",
                granularity,
            ];
            let (xml, _, out) = exports(dir.path(), &args, &[("POLYSHM_ASSESS_ABORT_TASK", &hook)]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(marker.exists(), "{args:?}: the hook did not fire");
            assert!(
                stderr.contains("kills this drone on its task 2"),
                "{args:?}: {stderr}"
            );
            assert!(xml == xml0, "{args:?}: XML differs after a drone died");
        }
    }
}

#[test]
fn compare_checks_every_setup_and_writes_rows() {
    let dir = setup();
    let tree = dir.path().join("tree");
    let out = polyshm(
        &[
            "assess",
            tree.to_str().unwrap(),
            "--compare",
            "--drones",
            "2",
            "--transport",
            "shm",
            "--repeat",
            "2",
            "--json",
            "-",
        ],
        &[],
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["identical"], true);
    assert_eq!(j["functions"], 7);
    let rows = j["rows"].as_array().unwrap();
    let setups: Vec<(String, String, String, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["setup"].as_str().unwrap().to_string(),
                r["transport"].as_str().unwrap_or("-").to_string(),
                r["granularity"].as_str().unwrap_or("-").to_string(),
                r["drones"].as_u64().unwrap(),
            )
        })
        .collect();
    let s = |a: &str, b: &str, c: &str, d| (a.to_string(), b.to_string(), c.to_string(), d);
    assert_eq!(
        setups,
        [
            s("one-process", "-", "-", 0),
            s("drones", "shm", "file", 2),
            s("drones", "shm", "item", 2)
        ]
    );
    for r in rows {
        assert_eq!(r["runs"].as_array().unwrap().len(), 2);
        assert!(r["seconds"].as_f64().unwrap() > 0.0 && r["speedup"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(rows[1]["messages"], 4);
    assert_eq!(rows[2]["messages"], 8);
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let out = polyshm_status(&["assess", missing.to_str().unwrap()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("cannot read") && stderr.contains("missing"),
        "{stderr}"
    );
    let out = polyshm_status(
        &["assess", dir.path().to_str().unwrap(), "--drones", "0"],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("no .rs files"),
        "{stderr}"
    );
    let out = polyshm_status(
        &[
            "assess",
            dir.path().to_str().unwrap(),
            "--transport",
            "pigeon",
            "--drones",
            "1",
        ],
        &[],
    );
    assert!(!out.status.success());
}
