//! Drones: byte-identical files over every transport, results sent back or written
//! into a shared matrix; a drone killed mid-image; `--compare`; table 11 of a team.

use super::support::*;

#[test]
fn files_identical_in_one_process_every_transport_drone_count_and_into() {
    let dir = tempfile::tempdir().unwrap();
    let reference = small_image(dir.path(), "ref", &["--drones", "0"], &[]);
    assert_eq!(reference.counts[0], count(&SMALL, 0, 0));
    let same = |tag: &str, run: &Run| {
        assert!(
            run.counts == reference.counts,
            "{tag}: {} pixels differ",
            run.counts
                .iter()
                .zip(&reference.counts)
                .filter(|(a, b)| a != b)
                .count()
        );
        assert!(run.npy == reference.npy, "{tag}: the .npy files differ");
        assert!(run.png == reference.png, "{tag}: the PNG files differ");
        assert!(run.left.is_empty(), "{tag}: segments left: {:?}", run.left);
    };
    // one process writing its tiles into a shared matrix of its own
    let local = small_image(
        dir.path(),
        "one-shared",
        &["--drones", "0", "--into", "shared"],
        &[],
    );
    same("one process --into shared", &local);
    for transport in transports() {
        for drones in ["1", "2", "3"] {
            for into in ["reply", "shared"] {
                let tag = format!("{transport}-{drones}-{into}");
                let run = small_image(
                    dir.path(),
                    &tag,
                    &["--drones", drones, "--transport", transport, "--into", into],
                    &[],
                );
                same(&tag, &run);
            }
        }
    }
}

#[test]
fn a_drone_killed_mid_image_does_not_spoil_the_picture() {
    let dir = tempfile::tempdir().unwrap();
    let reference = small_image(dir.path(), "ref", &["--drones", "0"], &[]);
    for transport in transports() {
        for into in ["reply", "shared"] {
            // the first drone to reach its second tile dies without answering (see
            // tile::ABORT_ENV; into shared: with half the tile written, holding its
            // claim); the team must give that tile to another drone
            let tag = format!("{transport}-{into}");
            let marker = dir.path().join(format!("died-{tag}"));
            let hook = format!("2:{}", marker.display());
            let run = small_image(
                dir.path(),
                &tag,
                &["--drones", "2", "--transport", transport, "--into", into],
                &[("POLYSHM_FRACTAL_ABORT_TILE", &hook)],
            );
            assert!(
                marker.exists(),
                "{tag}: no drone died; the hook did not fire"
            );
            assert!(
                run.stderr.contains("kills this drone on its tile 2"),
                "{tag}: the drone did not report its death: {}",
                run.stderr
            );
            if into == "shared" {
                // the dead drone's claim of its half-written tile was taken over
                assert!(
                    run.stderr.contains("taken over from dead process"),
                    "{tag}: no drone took the dead one's tile over: {}",
                    run.stderr
                );
            }
            assert!(
                run.counts == reference.counts,
                "{tag}: counts differ after a drone died"
            );
            assert!(run.png == reference.png, "{tag}: the PNG differs");
            assert!(run.left.is_empty(), "{tag}: segments left: {:?}", run.left);
        }
    }
}

#[test]
fn compare_checks_every_setup_and_reads_the_study() {
    let out = polyshm(
        &[
            "fractal",
            "--size",
            "40x30",
            "--max-iter",
            "300",
            "--tile",
            "8",
            "--drones",
            "2",
            "--compare",
            "--json",
        ],
        &[],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["identical"], true);
    assert_eq!(v["result_arrays"], 5 * 4);
    let rows = v["rows"].as_array().unwrap();
    // one process, then 1 and 2 drones for each of the five transports, each with
    // results sent back and written into a shared matrix
    assert_eq!(rows.len(), 1 + 2 * 2 * transports().len());
    assert_eq!(rows[0]["setup"], "one-process");
    assert_eq!(rows[0]["study_s"], 1423.0);
    assert!(rows[0]["into"].is_null() && rows[0]["vs_reply"].is_null());
    let mut setups = std::collections::BTreeSet::new();
    for r in &rows[1..] {
        let drones = r["drones"].as_u64().unwrap();
        assert!(drones == 1 || drones == 2);
        let study = if drones == 1 { 591.0 } else { 184.0 };
        assert_eq!(r["study_s"], study);
        assert!(r["median_s"].as_f64().unwrap() > 0.0);
        let into = r["into"].as_str().unwrap().to_string();
        match into.as_str() {
            "reply" => assert!(r["vs_reply"].is_null(), "{r}"),
            "shared" => assert!(r["vs_reply"].as_f64().unwrap() > 0.0, "{r}"),
            other => panic!("into {other}"),
        }
        let setup = r["setup"].as_str().unwrap().to_string();
        assert!(
            setups.insert((setup, drones, into)),
            "a setup measured twice: {r}"
        );
    }
    assert_eq!(setups.len(), 2 * 2 * transports().len());

    // --into keeps one of the two
    let out = polyshm(
        &[
            "fractal",
            "--size",
            "40x30",
            "--max-iter",
            "300",
            "--tile",
            "8",
            "--drones",
            "2",
            "--compare",
            "--transport",
            "shm",
            "--into",
            "shared",
            "--json",
        ],
        &[],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1 + 2);
    assert!(rows[1..].iter().all(|r| r["into"] == "shared"), "{rows:?}");
    // no reply row to compare with
    assert!(rows.iter().all(|r| r["vs_reply"].is_null()), "{rows:?}");

    // the terminal table has the study's column too, and the counts are saved
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("compare.npy");
    let out = polyshm(
        &[
            "fractal",
            "--size",
            "40x30",
            "--max-iter",
            "300",
            "--tile",
            "8",
            "--drones",
            "2",
            "--compare",
            "--transport",
            "shm",
            "--counts",
            npy.to_str().unwrap(),
        ],
        &[],
    );
    let saved = read_npy(&npy);
    assert_eq!(saved.shape, [30, 40]);
    let def = Def {
        width: 40,
        height: 30,
        n: 300,
        ..DEFAULT_191
    };
    assert_eq!(saved.data[15 * 40 + 7], count(&def, 7, 15));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("counts identical"), "{text}");
    assert!(
        text.contains("1423") && text.contains("591") && text.contains("184"),
        "{text}"
    );
    assert!(
        text.contains("vs reply") && text.contains("shared"),
        "{text}"
    );
}

#[test]
fn drones_log_table_11() {
    let out = polyshm(
        &[
            "fractal",
            "--size",
            "191x186",
            "--max-iter",
            "50",
            "--tile",
            "48",
            "--drones",
            "2",
            "--transport",
            "shm",
            "--json",
        ],
        &[],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["drones"], 2);
    assert_eq!(v["setup"], "shm");
    // tile 48 cuts 191x186 into the study's 16 result arrays
    assert_eq!(v["result_arrays"], 16);
    assert_eq!(v["study"]["result_arrays"], 16);
    assert_eq!(v["total_size"], 191 * 186);
    assert_eq!(v["into"], "reply");
    assert_eq!(v["sent_back"], 191 * 186);

    // into a shared matrix: the same tiles, nothing sent back
    let out = polyshm(
        &[
            "fractal",
            "--size",
            "191x186",
            "--max-iter",
            "50",
            "--tile",
            "48",
            "--drones",
            "2",
            "--transport",
            "shm",
            "--into",
            "shared",
        ],
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("written in place into one shared matrix; 0 integers travelled back"),
        "{text}"
    );
    assert!(text.contains("35526"), "the total size: {text}");
}
