//! The report writers on a real (quick, one-process) run: every file is written, the
//! JSON parses and holds every field, the CSV has its header, the Markdown has every
//! table, the plots are SVG.

use polyshm_profile::report::{self, read_json};
use polyshm_profile::{run, Config, Placement, Silent, TableRef, Unit};

fn quick_single_process_run(dir: &std::path::Path) -> polyshm_profile::Outcome {
    let config = Config {
        quick: true,
        scenarios: vec!["raw".into(), "memcpy".into()],
        out: dir.to_path_buf(),
        ..Config::default()
    };
    run(&config, &mut Silent).expect("a run of one-process scenarios")
}

#[test]
fn every_report_file_is_written_and_readable() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = quick_single_process_run(dir.path());
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    let written = report::write(&outcome, dir.path()).unwrap();

    // JSON: one array of rows, every field present, the values of the run.
    let text = std::fs::read_to_string(&written.json).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let array = value.as_array().expect("results.json is one array");
    assert_eq!(array.len(), outcome.rows().count());
    for field in [
        "table",
        "scenario",
        "transport",
        "size",
        "unit",
        "median_us",
        "p99_us",
        "mean_us",
        "min_us",
        "count",
        "study_us",
        "placement",
        "factor_vs_study",
        "factor_vs_socket",
        "study_factor",
    ] {
        for row in array {
            assert!(row.get(field).is_some(), "row lacks `{field}`: {row}");
        }
    }
    let raw_1000 = array
        .iter()
        .find(|r| r["scenario"] == "raw_read" && r["size"] == 1000)
        .expect("a raw_read row at 1,000 bytes");
    assert_eq!(raw_1000["table"], 3);
    assert_eq!(raw_1000["unit"], "bytes");
    assert_eq!(raw_1000["study_us"], 1.0);
    assert_eq!(raw_1000["placement"], "single");
    let memcpy = array
        .iter()
        .find(|r| r["scenario"] == "memcpy")
        .expect("memcpy rows");
    assert_eq!(memcpy["table"], "ref");
    assert!(memcpy["study_us"].is_null());
    let back = read_json(&written.json).unwrap();
    assert_eq!(back, outcome.rows().cloned().collect::<Vec<_>>());

    // Every measured statistic is a positive, ordered number.
    for r in &back {
        assert!(
            r.min_us > 0.0 && r.min_us <= r.median_us && r.median_us <= r.p99_us,
            "{r:?}"
        );
        assert!(r.count >= 10, "{r:?}");
        assert!(
            r.size.unwrap() <= 100_000,
            "--quick stops at 100,000: {r:?}"
        );
        assert_eq!(r.placement, Placement::Single);
    }

    // CSV: a header naming the fields, one line per row.
    let csv = std::fs::read_to_string(&written.csv).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with(
            "table,scenario,transport,size,unit,median_us,p99_us,mean_us,min_us,count"
        ),
        "{header}"
    );
    assert!(
        header.contains("study_us") && header.ends_with("placement"),
        "{header}"
    );
    assert_eq!(lines.count(), back.len());

    // Markdown: every table of the run, the machine, how to read it, the plots.
    let md = std::fs::read_to_string(&written.markdown).unwrap();
    assert!(md.contains("## Table 3:"), "{md}");
    assert!(md.contains("## Reference: plain memcpy"));
    for key in [
        "| machine |",
        "| other processes during the run |",
        "| CPU |",
        "| kernel |",
        "| compiler |",
        "| commit |",
        "ours ÷ our tcp",
        "ours ÷ study",
    ] {
        assert!(md.contains(key), "report.md lacks {key}");
    }
    assert!(
        md.lines().any(|l| l.starts_with("| raw_write_read")
            && l.contains("| 10,000 B")
            && l.contains("| single")),
        "report.md has the raw_write_read row at 10,000 bytes"
    );
    for p in &written.plots {
        let name = p.file_name().unwrap().to_string_lossy();
        assert!(md.contains(&format!("]({name})")), "report.md links {name}");
    }

    // Plots: the four images, SVG, labelled.
    assert_eq!(written.plots.len(), 4);
    for p in &written.plots {
        let svg = std::fs::read_to_string(p).unwrap();
        assert!(svg.starts_with("<svg"), "{}", p.display());
        assert!(
            svg.contains("study:"),
            "{} labels the study's points",
            p.display()
        );
    }
    let img1 = std::fs::read_to_string(dir.path().join("image1_raw_shm.svg")).unwrap();
    assert!(img1.contains("ours: read") && img1.contains("ours: memcpy"));
}

#[test]
fn rows_carry_the_study_figures() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = quick_single_process_run(dir.path());
    let t3: Vec<_> = outcome
        .rows()
        .filter(|r| r.table == TableRef::Study(3))
        .collect();
    // 3 operations × 3 sizes (1,000 … 100,000) in a quick run.
    assert_eq!(t3.len(), 9);
    for r in t3 {
        assert_eq!(r.unit, Some(Unit::Bytes));
        let study = r.study_us.expect("the study measured every table 3 point");
        assert_eq!(r.factor_vs_study, Some(r.median_us / study));
    }
}

#[test]
fn an_unknown_scenario_is_refused() {
    let config = Config {
        scenarios: vec!["table_99".into()],
        ..Config::default()
    };
    let err = run(&config, &mut Silent).expect_err("refused").to_string();
    assert!(err.contains("table_99"), "{err}");
}
