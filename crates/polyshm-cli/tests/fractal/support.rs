//! Running the binary on a view, and reading what it wrote: the definition of a count
//! written again, the `.npy` parser, the small image every mode must reproduce.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// Longest any one run of the binary may take before the test fails.
pub(crate) const WATCHDOG: Duration = Duration::from_secs(120);

/// Run `polyshm` with `args` (and extra environment), killing it and failing the test if
/// it outlives the watchdog; fail if it exits non-zero.
pub(crate) fn polyshm(args: &[&str], env: &[(&str, &str)]) -> Output {
    polyshm_pid(args, env).0
}

/// [`polyshm`], also answering the pid of the run (the master).
pub(crate) fn polyshm_pid(args: &[&str], env: &[(&str, &str)]) -> (Output, u32) {
    let (out, pid) = crate::common::run_pid(
        crate::common::polyshm(args).envs(env.iter().copied()),
        b"",
        WATCHDOG,
    );
    (crate::common::succeeded(args, out), pid)
}

pub(crate) use crate::common::segments_of;

/// Run `polyshm` under the watchdog and return its output whatever the exit code.
pub(crate) fn polyshm_status(args: &[&str], env: &[(&str, &str)]) -> Output {
    crate::common::run(
        crate::common::polyshm(args).envs(env.iter().copied()),
        b"",
        WATCHDOG,
    )
}

/// A view as the README defines it: W×H pixels, centre X + iY, S units wide, limit N.
#[derive(Clone, Copy)]
pub(crate) struct Def {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) x: f64,
    pub(crate) y: f64,
    pub(crate) s: f64,
    pub(crate) n: u32,
}

/// The view of the small image most tests compute.
pub(crate) const SMALL: Def = Def {
    width: 67,
    height: 53,
    x: -0.75,
    y: 0.1,
    s: 2.8,
    n: 400,
};

/// The default view (centre -0.5, scale 3, limit 1000) at the study's smallest size.
pub(crate) const DEFAULT_191: Def = Def {
    width: 191,
    height: 186,
    x: -0.5,
    y: 0.0,
    s: 3.0,
    n: 1000,
};

/// The escape-time count of pixel (i, j), written again from the definition in the
/// README, independently of the binary's kernel: no cycle detection, no lanes.
pub(crate) fn count(d: &Def, i: u32, j: u32) -> u32 {
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
pub(crate) struct Npy {
    pub(crate) descr: String,
    pub(crate) fortran_order: bool,
    pub(crate) shape: Vec<usize>,
    pub(crate) data: Vec<u32>,
}

/// Parse a `.npy` file per the NPY 1.0 format, checking everything the format demands.
pub(crate) fn read_npy(path: &Path) -> Npy {
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
pub(crate) struct Run {
    /// The counts, parsed from the `.npy` file.
    pub(crate) counts: Vec<u32>,
    /// The `.npy` file's bytes.
    pub(crate) npy: Vec<u8>,
    /// The PNG's bytes.
    pub(crate) png: Vec<u8>,
    /// What the run wrote on stderr (its drones' messages included).
    pub(crate) stderr: String,
    /// Segments its master still owned after it ended.
    pub(crate) left: Vec<String>,
}

/// Compute a small image with `args` added and return its counts (through `--counts`).
pub(crate) fn counts_of(dir: &Path, tag: &str, args: &[&str]) -> Vec<u32> {
    small_image(dir, tag, args, &[]).counts
}

/// Compute the small image with `args` added and extra environment, writing its counts
/// and its picture.
pub(crate) fn small_image(dir: &Path, tag: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
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

/// Every transport the team offers on this platform, by the names `--transport` takes
/// (`unix` only where there are Unix sockets).
pub(crate) fn transports() -> Vec<&'static str> {
    ["socket", "unix", "hybrid", "hybrid-unprotected", "shm"]
        .into_iter()
        .filter(|t| *t != "unix" || polyshm::sys::HAS_UNIX_SOCKETS)
        .collect()
}
