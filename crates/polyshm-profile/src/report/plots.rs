//! SVG plots redrawing the study's Images 1–4: log-log, the study's points beside
//! ours, every series labelled.

use crate::error::ProfileError;
use crate::row::{Placement, Row, TableRef, Unit};
use crate::study;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// The plot files and their titles.
pub const PLOTS: &[(&str, &str)] = &[
    (
        "image1_raw_shm.svg",
        "Image 1: shared memory raw read / write vs bytes",
    ),
    (
        "image2_socket_bytes.svg",
        "Image 2: socket request vs bytes (the socket's fixed overhead)",
    ),
    (
        "image3_socket_vs_shm.svg",
        "Image 3: socket vs shared memory, integer arrays",
    ),
    (
        "image4_factor.svg",
        "Image 4: shared memory ÷ socket, integer arrays (below 1: shared memory is faster)",
    ),
];

/// One line of a plot.
#[derive(Clone, Debug)]
struct Series {
    label: String,
    points: Vec<(f64, f64)>,
    study: bool,
    /// Index into [`HUES`]: the study's series and ours of the same kind share it.
    hue: usize,
    /// Ours: which placement (cross is drawn lighter, with triangles).
    placement: Option<Placement>,
}

/// Distinct, print-safe colours.
const HUES: [RGBColor; 7] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
    RGBColor(140, 86, 75),
];

fn study_series(label: &str, table: u8, scenario: &str, unit: Unit, factor: bool) -> Series {
    let points = study::table(TableRef::Study(table))
        .filter(|f| f.scenario == scenario && f.unit() == Some(unit))
        .filter_map(|f| {
            let y = if factor { f.study_factor? } else { f.study_us };
            Some((f.size? as f64, y))
        })
        .collect();
    Series {
        label: format!("study: {label}"),
        points,
        study: true,
        hue: 0,
        placement: None,
    }
}

/// Give every series of `kinds[i]` the hue `i`.
fn hue(mut v: Vec<Series>, i: usize) -> Vec<Series> {
    for s in &mut v {
        s.hue = i;
    }
    v
}

fn our_series(
    rows: &[Row],
    label: &str,
    keep: impl Fn(&Row) -> bool,
    y: impl Fn(&Row) -> Option<f64>,
) -> Vec<Series> {
    let mut out = Vec::new();
    for placement in [Placement::Single, Placement::Same, Placement::Cross] {
        let points: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.placement == placement && keep(r))
            .filter_map(|r| Some((r.size? as f64, y(r)?)))
            .collect();
        if points.is_empty() {
            continue;
        }
        let label = match placement {
            Placement::Single => format!("ours: {label}"),
            p => format!("ours: {label} ({p})"),
        };
        out.push(Series {
            label,
            points,
            study: false,
            hue: 0,
            placement: Some(placement),
        });
    }
    out
}

fn is(r: &Row, scenario: &str, transport: &str, unit: Unit) -> bool {
    r.scenario == scenario && r.transport == transport && r.unit == Some(unit)
}

/// Draw the four plots into `dir`; returns their paths.
pub fn draw_plots(rows: &[Row], dir: &Path) -> Result<Vec<PathBuf>, ProfileError> {
    let median = |r: &Row| Some(r.median_us);
    let mut written = Vec::new();

    // Image 1: raw shared memory.
    let mut s = Vec::new();
    for (i, (id, label)) in [
        ("raw_read", "read"),
        ("raw_write", "write"),
        ("raw_write_read", "write+read"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut kind = vec![study_series(label, 3, id, Unit::Bytes, false)];
        kind.extend(our_series(
            rows,
            label,
            |r| is(r, id, "shm-raw", Unit::Bytes),
            median,
        ));
        s.extend(hue(kind, i));
    }
    s.extend(hue(
        our_series(
            rows,
            "memcpy",
            |r| is(r, "memcpy", "memcpy", Unit::Bytes) && r.size >= Some(1_000),
            median,
        ),
        6,
    ));
    written.push(plot(dir, 0, "bytes", "µs", &s)?);

    // Image 2: socket requests of bytes.
    let mut s = vec![study_series(
        "Polycephaly request",
        7,
        "socket_request",
        Unit::Bytes,
        false,
    )];
    s.extend(our_series(
        rows,
        "tcp socket",
        |r| is(r, "socket_request", "tcp", Unit::Bytes),
        median,
    ));
    s.extend(hue(
        our_series(
            rows,
            "unix socket",
            |r| is(r, "socket_request", "unix", Unit::Bytes),
            median,
        ),
        3,
    ));
    s.extend(hue(
        our_series(
            rows,
            "memcpy",
            |r| is(r, "memcpy", "memcpy", Unit::Bytes),
            median,
        ),
        6,
    ));
    written.push(plot(dir, 1, "bytes", "µs", &s)?);

    // Image 3: socket vs shared memory, integer arrays.
    let mut s = vec![study_series(
        "Polycephaly request",
        7,
        "socket_request",
        Unit::Ints,
        false,
    )];
    s.extend(our_series(
        rows,
        "tcp socket",
        |r| is(r, "socket_request", "tcp", Unit::Ints),
        median,
    ));
    let mut shm = vec![study_series(
        "shared memory command",
        10,
        "shm_command",
        Unit::Ints,
        false,
    )];
    shm.extend(our_series(
        rows,
        "shm command",
        |r| is(r, "shm_command", "shm", Unit::Ints),
        median,
    ));
    s.extend(hue(shm, 2));
    s.extend(hue(
        our_series(
            rows,
            "memcpy",
            |r| is(r, "memcpy", "memcpy", Unit::Ints),
            median,
        ),
        6,
    ));
    written.push(plot(dir, 2, "integers", "µs", &s)?);

    // Image 4: the factors.
    let fac = |r: &Row| r.factor_vs_socket;
    let mut shm = vec![study_series(
        "shm command ÷ socket",
        10,
        "shm_command",
        Unit::Ints,
        true,
    )];
    shm.extend(our_series(
        rows,
        "shm command ÷ tcp",
        |r| is(r, "shm_command", "shm", Unit::Ints),
        fac,
    ));
    let mut hybrid = vec![study_series(
        "hybrid (protected) ÷ socket",
        8,
        "hybrid_result",
        Unit::Ints,
        true,
    )];
    hybrid.extend(our_series(
        rows,
        "hybrid ÷ tcp",
        |r| is(r, "hybrid_result", "hybrid", Unit::Ints),
        fac,
    ));
    let mut s = hue(shm, 2);
    s.extend(hue(hybrid, 4));
    // Beside the study's copying command: the request loaned, the answer read in place.
    s.extend(hue(
        our_series(
            rows,
            "shm zero-copy (loan + reply in place) ÷ tcp",
            |r| is(r, "shm_command_zero_copy", "shm", Unit::Ints),
            fac,
        ),
        5,
    ));
    written.push(plot(dir, 3, "integers", "factor", &s)?);
    Ok(written)
}

fn plot(
    dir: &Path,
    which: usize,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
) -> Result<PathBuf, ProfileError> {
    let (file, title) = PLOTS[which];
    let path = dir.join(file);
    let err = |e: String| ProfileError::Plot {
        path: path.clone(),
        message: e,
    };
    let pts = || {
        series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|(x, y)| *x > 0.0 && *y > 0.0)
    };
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts() {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (1.0, 10.0, 1.0, 10.0);
    }
    let (x0, x1, y0, y1) = (x0 / 2.0, x1 * 2.0, y0 / 2.0, y1 * 2.0);

    let root = SVGBackend::new(&path, (960, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| short(*v))
        .y_label_formatter(&|v| short(*v))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for s in series {
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| *x > 0.0 && *y > 0.0)
            .collect();
        if points.is_empty() {
            continue;
        }
        let base = HUES[s.hue % HUES.len()];
        let cross = s.placement == Some(Placement::Cross);
        let color = if cross { base.mix(0.5) } else { base.to_rgba() };
        let width = if s.study { 1 } else { 2 };
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(width)))
            .map_err(|e| err(e.to_string()))?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
            });
        if s.study {
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&p| Circle::new(p, 5, color.stroke_width(1))),
                )
                .map_err(|e| err(e.to_string()))?;
        } else if cross {
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&p| TriangleMarker::new(p, 4, color.filled())),
                )
                .map_err(|e| err(e.to_string()))?;
        } else {
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| err(e.to_string()))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    drop(chart);
    drop(root);
    Ok(path)
}

/// Axis labels: `1`, `10`, `1k`, `1M`, `0.1`.
fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_short() {
        assert_eq!(short(1_000_000.0), "1M");
        assert_eq!(short(2_500.0), "2.5k");
        assert_eq!(short(0.1), "0.1");
        assert_eq!(short(10.0), "10");
    }

    #[test]
    fn the_study_has_points_for_every_plot() {
        assert_eq!(
            study_series("r", 3, "raw_read", Unit::Bytes, false)
                .points
                .len(),
            4
        );
        assert_eq!(
            study_series("s", 10, "shm_command", Unit::Ints, true)
                .points
                .len(),
            6
        );
    }
}
