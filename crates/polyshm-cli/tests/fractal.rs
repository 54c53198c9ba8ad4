//! `polyshm fractal`, driven through the built binary: counts against an independent
//! escape-time loop, the `.npy` header, the PNG, and byte-identical files however the
//! image is computed (one process, every transport, results sent back or written into
//! a shared matrix). Every run of the binary has a watchdog: a hang fails the test.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// Longest any one run of the binary may take before the test fails.
const WATCHDOG: Duration = Duration::from_secs(120);

/// Run `polyshm` with `args` (and extra environment), killing it and failing the test if
/// it outlives the watchdog; fail if it exits non-zero.
fn polyshm(args: &[&str], env: &[(&str, &str)]) -> Output {
    polyshm_pid(args, env).0
}

/// [`polyshm`], also answering the pid of the run (the master).
fn polyshm_pid(args: &[&str], env: &[(&str, &str)]) -> (Output, u32) {
    let (out, pid) = common::run_pid(
        common::polyshm(args).envs(env.iter().copied()),
        b"",
        WATCHDOG,
    );
    assert!(
        out.status.success(),
        "polyshm {args:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, pid)
}

/// Segments whose owner was `pid` (there must be none once it has exited). Where
/// segments cannot be listed (Windows) none can be left either: a segment goes with
/// the last process that holds it.
fn segments_of(pid: u32) -> Vec<String> {
    if !polyshm::sys::CAN_LIST_SEGMENTS {
        return Vec::new();
    }
    polyshm::shm::admin::list()
        .expect("list segments")
        .into_iter()
        .filter(|s| s.owner.is_some_and(|o| o.pid == pid))
        .map(|s| s.name)
        .collect()
}

/// Run `polyshm` under the watchdog and return its output whatever the exit code.
fn polyshm_status(args: &[&str], env: &[(&str, &str)]) -> Output {
    common::run(
        common::polyshm(args).envs(env.iter().copied()),
        b"",
        WATCHDOG,
    )
}

/// A view as the README defines it: W×H pixels, centre X + iY, S units wide, limit N.
#[derive(Clone, Copy)]
struct Def {
    width: u32,
    height: u32,
    x: f64,
    y: f64,
    s: f64,
    n: u32,
}

/// The view of the small image most tests compute.
const SMALL: Def = Def {
    width: 67,
    height: 53,
    x: -0.75,
    y: 0.1,
    s: 2.8,
    n: 400,
};

/// The default view (centre -0.5, scale 3, limit 1000) at the study's smallest size.
const DEFAULT_191: Def = Def {
    width: 191,
    height: 186,
    x: -0.5,
    y: 0.0,
    s: 3.0,
    n: 1000,
};

/// The escape-time count of pixel (i, j), written again from the definition in the
/// README, independently of the binary's kernel: no cycle detection, no lanes.
fn count(d: &Def, i: u32, j: u32) -> u32 {
    let Def {
        width,
        height,
        x,
        y,
        s,
        n,
    } = *d;
    let (w, h) = (width as f64, height as f64);
    let cr = x + (i as f64 + 0.5 - w / 2.0) * s / w;
    let ci = y - (j as f64 + 0.5 - h / 2.0) * s / w;
    let (mut zr, mut zi) = (0.0f64, 0.0f64);
    let mut k = 0;
    while k < n {
        let t = zr * zr - zi * zi + cr;
        zi = 2.0 * zr * zi + ci;
        zr = t;
        k += 1;
        if zr * zr + zi * zi > 4.0 {
            return k;
        }
    }
    n
}

/// A parsed `.npy` file: the header's fields and the data.
struct Npy {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
    data: Vec<u32>,
}

/// Parse a `.npy` file per the NPY 1.0 format, checking everything the format demands.
fn read_npy(path: &Path) -> Npy {
    let bytes = std::fs::read(path).expect("read .npy");
    assert_eq!(&bytes[..6], b"\x93NUMPY", "magic");
    assert_eq!((bytes[6], bytes[7]), (1, 0), "format version 1.0");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let data_start = 10 + header_len;
    assert_eq!(data_start % 64, 0, "data must start 64-byte aligned");
    let header = std::str::from_utf8(&bytes[10..data_start]).expect("ASCII header");
    assert!(header.ends_with('\n'), "header ends with a newline");
    let dict = header.trim_end();
    assert!(
        dict.starts_with('{') && dict.ends_with('}'),
        "header is a dict: {dict}"
    );
    let field = |key: &str| -> String {
        let at = dict
            .find(&format!("'{key}':"))
            .unwrap_or_else(|| panic!("no {key} in {dict}"));
        let rest = dict[at + key.len() + 3..].trim_start();
        if rest.starts_with('(') {
            rest[..=rest.find(')').unwrap()].to_string()
        } else {
            rest[..rest.find(',').unwrap()].trim().to_string()
        }
    };
    let descr = field("descr").trim_matches('\'').to_string();
    let fortran_order = match field("fortran_order").as_str() {
        "False" => false,
        "True" => true,
        other => panic!("fortran_order {other}"),
    };
    let shape: Vec<usize> = field("shape")
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let data: Vec<u32> = bytes[data_start..]
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!((bytes.len() - data_start) % 4, 0, "whole uint32 values");
    Npy {
        descr,
        fortran_order,
        shape,
        data,
    }
}

/// What one run of the small image wrote and left.
struct Run {
    /// The counts, parsed from the `.npy` file.
    counts: Vec<u32>,
    /// The `.npy` file's bytes.
    npy: Vec<u8>,
    /// The PNG's bytes.
    png: Vec<u8>,
    /// What the run wrote on stderr (its drones' messages included).
    stderr: String,
    /// Segments its master still owned after it ended.
    left: Vec<String>,
}

/// Compute a small image with `args` added and return its counts (through `--counts`).
fn counts_of(dir: &Path, tag: &str, args: &[&str]) -> Vec<u32> {
    small_image(dir, tag, args, &[]).counts
}

/// Compute the small image with `args` added and extra environment, writing its counts
/// and its picture.
fn small_image(dir: &Path, tag: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let npy: PathBuf = dir.join(format!("{tag}.npy"));
    let png: PathBuf = dir.join(format!("{tag}.png"));
    let mut all = vec![
        "fractal",
        "--size",
        "67x53",
        "--center",
        "-0.75,0.1",
        "--scale",
        "2.8",
        "--max-iter",
        "400",
        "--tile",
        "9",
        "--counts",
        npy.to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let (out, pid) = polyshm_pid(&all, env);
    let parsed = read_npy(&npy);
    assert_eq!(parsed.shape, [53, 67]);
    Run {
        counts: parsed.data,
        npy: std::fs::read(&npy).expect("read .npy"),
        png: std::fs::read(&png).expect("read .png"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        left: segments_of(pid),
    }
}

#[test]
fn one_process_counts_match_an_independent_loop() {
    let dir = tempfile::tempdir().unwrap();
    let counts = counts_of(dir.path(), "one", &["--drones", "0"]);
    assert_eq!(counts.len(), 67 * 53);
    for j in 0..53 {
        for i in 0..67 {
            assert_eq!(
                counts[(j * 67 + i) as usize],
                count(&SMALL, i, j),
                "pixel ({i}, {j})"
            );
        }
    }
    // the picture shows both the set and its outside
    assert!(counts.contains(&400));
    assert!(counts.iter().any(|&c| c < 5));
}

#[test]
fn a_handful_of_pixels_of_the_default_view() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("default.npy");
    polyshm(
        &[
            "fractal",
            "--size",
            "191x186",
            "--drones",
            "0",
            "--counts",
            npy.to_str().unwrap(),
        ],
        &[],
    );
    let parsed = read_npy(&npy);
    assert_eq!(parsed.shape, [186, 191]);
    for (i, j) in [
        (0, 0),
        (190, 185),
        (95, 93),
        (60, 93),
        (130, 40),
        (100, 10),
        (47, 120),
    ] {
        assert_eq!(
            parsed.data[j * 191 + i],
            count(&DEFAULT_191, i as u32, j as u32),
            "pixel ({i}, {j})"
        );
    }
    // the centre, c = -0.5 + 0i up to half a pixel, lies inside the set
    assert_eq!(parsed.data[93 * 191 + 95], 1000);
}

#[test]
fn npy_header_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("h.npy");
    polyshm(
        &[
            "fractal",
            "--width",
            "13",
            "--height",
            "7",
            "--drones",
            "0",
            "--counts",
            npy.to_str().unwrap(),
        ],
        &[],
    );
    let parsed = read_npy(&npy);
    assert_eq!(parsed.descr, "<u4");
    assert!(!parsed.fortran_order);
    assert_eq!(parsed.shape, [7, 13]);
    assert_eq!(parsed.data.len(), 7 * 13);
    // row-major: row j holds the pixels of row j
    for j in 0..7 {
        for i in 0..13 {
            assert_eq!(
                parsed.data[j * 13 + i],
                count(
                    &Def {
                        width: 13,
                        height: 7,
                        ..DEFAULT_191
                    },
                    i as u32,
                    j as u32
                )
            );
        }
    }
}

#[test]
fn png_decodes_black_inside() {
    let dir = tempfile::tempdir().unwrap();
    let png_path = dir.path().join("m.png");
    let npy = dir.path().join("m.npy");
    polyshm(
        &[
            "fractal",
            "--size",
            "80x60",
            "--max-iter",
            "200",
            "--drones",
            "0",
            "--out",
            png_path.to_str().unwrap(),
            "--counts",
            npy.to_str().unwrap(),
        ],
        &[],
    );
    let counts = read_npy(&npy).data;
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (80, 60));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let mut colours = std::collections::HashSet::new();
    for (k, &c) in counts.iter().enumerate() {
        let px = [buf[3 * k], buf[3 * k + 1], buf[3 * k + 2]];
        if c == 200 {
            assert_eq!(px, [0, 0, 0], "inside the set is black (pixel {k})");
        }
        colours.insert(px);
    }
    assert!(
        colours.len() > 10,
        "a palette, not a flat picture: {} colours",
        colours.len()
    );
}

#[test]
fn json_logs_table_11() {
    let out = polyshm(
        &[
            "fractal",
            "--size",
            "191x186",
            "--max-iter",
            "50",
            "--drones",
            "0",
            "--json",
        ],
        &[],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["width"], 191);
    assert_eq!(v["height"], 186);
    assert_eq!(v["result_arrays"], 25); // 5 x 5 tiles of 42
    assert_eq!(v["total_size"], 191 * 186);
    assert!(v["seconds"].as_f64().unwrap() >= 0.0);
    // the study's row for the same image, read from its figures
    assert_eq!(v["study"]["result_arrays"], 16);
    assert_eq!(v["study"]["total_size"], 37050);
}

#[test]
fn bad_options_are_refused_with_a_reason() {
    for args in [
        &["fractal", "--size", "0x5", "--drones", "0"][..],
        &["fractal", "--size", "5", "--drones", "0"],
        &["fractal", "--scale=-1", "--drones", "0"],
        &["fractal", "--center", "1", "--drones", "0"],
        &["fractal", "--tile", "0", "--drones", "0"],
        &[
            "fractal",
            "--size",
            "9x9",
            "--drones",
            "1",
            "--transport",
            "carrier-pigeon",
        ],
        &[
            "fractal",
            "--size",
            "9x9",
            "--drones",
            "0",
            "--into",
            "carrier-pigeon",
        ],
    ] {
        let out = polyshm_status(args, &[]);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(!out.stderr.is_empty(), "{args:?} should say why");
    }
}

/// Every transport the team offers on this platform, by the names `--transport` takes
/// (`unix` only where there are Unix sockets).
fn transports() -> Vec<&'static str> {
    ["socket", "unix", "hybrid", "hybrid-unprotected", "shm"]
        .into_iter()
        .filter(|t| *t != "unix" || polyshm::sys::HAS_UNIX_SOCKETS)
        .collect()
}

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
