//! One process: counts against the definition, the `.npy` header, the PNG, table 11,
//! and bad options refused.

use super::support::*;

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
