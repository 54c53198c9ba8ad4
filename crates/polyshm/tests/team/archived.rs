//! Archived tasks (issue 11, part 1) on every transport: structured values — nested
//! structs, enums, `Vec`, `String`, maps, options — written once as rkyv archives and
//! read in place; archives larger than the transport's areas; an invalid request
//! refused by the drone, a corrupt result (a drone that writes one; a scribbling
//! process that changes one before the master reads it) refused by the master, both
//! as `TeamError::InvalidArchive` naming the task; a drone killed while it writes an
//! archive replaced.

use crate::support::{self, pids, team, trial};
use libtest_mimic::{Failed, Trial};
use polyshm::rkyv::{self, rancor, Archive, Deserialize, Serialize};
use polyshm::team::{ArchivedTask, Task, Tasks, TeamError, Transport};
use std::collections::{BTreeMap, HashMap};

/// One assessed function: the profile's record.
#[derive(Archive, Serialize, Deserialize, Debug, PartialEq, Clone)]
#[rkyv(crate = polyshm::rkyv)]
pub struct Record {
    pub name: String,
    pub id: u64,
    pub score: f64,
    pub tags: Vec<u32>,
}

#[derive(Archive, Serialize, Deserialize, Debug, PartialEq, Clone)]
#[rkyv(crate = polyshm::rkyv)]
pub enum Shape {
    Flat,
    Nested { depth: u8, label: String },
    Named(String),
}

#[derive(Archive, Serialize, Deserialize, Debug, PartialEq, Clone)]
#[rkyv(crate = polyshm::rkyv)]
pub struct Query {
    pub names: Vec<String>,
    pub factor: f64,
    pub limit: Option<u32>,
    pub shape: Shape,
}

#[derive(Archive, Serialize, Deserialize, Debug, PartialEq, Clone)]
#[rkyv(crate = polyshm::rkyv)]
pub struct Report {
    pub title: String,
    pub records: Vec<Record>,
    pub by_name: BTreeMap<String, u64>,
    pub lengths: HashMap<u32, Vec<u16>>,
    pub shape: Shape,
    pub best: Option<Record>,
    pub missing: Option<String>,
}

/// `n` records, the i-th named `function_<i>` (names of 10–20 characters).
pub fn records(n: u32) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            name: format!("function_{}", i * 7919),
            id: u64::from(i) << 20 | 5,
            score: f64::from(i) * 0.25,
            tags: vec![i, i ^ 3, i.wrapping_mul(31), 4],
        })
        .collect()
}

/// What the `archived.report` task answers.
pub fn report_of(names: &[&str], factor: f64, limit: Option<u32>, shape: Shape) -> Report {
    let take = limit.map_or(names.len(), |l| names.len().min(l as usize));
    let records: Vec<Record> = names[..take]
        .iter()
        .enumerate()
        .map(|(i, n)| Record {
            name: n.to_string(),
            id: i as u64,
            score: factor * n.len() as f64,
            tags: n.bytes().map(u32::from).take(4).collect(),
        })
        .collect();
    Report {
        title: format!("{} of {} names", take, names.len()),
        by_name: records.iter().map(|r| (r.name.clone(), r.id)).collect(),
        lengths: names
            .iter()
            .map(|n| (n.len() as u32, n.encode_utf16().collect()))
            .collect(),
        best: records
            .iter()
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .cloned(),
        missing: None,
        shape,
        records,
    }
}

/// Sum of ids and tags (what `archived.tag_sum` answers).
pub fn tag_sum(rs: &[Record]) -> u64 {
    rs.iter()
        .map(|r| r.id + r.tags.iter().map(|t| u64::from(*t)).sum::<u64>())
        .sum()
}

/// The records the `archived.cached` task keeps and answers without a clone.
fn cached() -> &'static Vec<Record> {
    static KEPT: std::sync::OnceLock<Vec<Record>> = std::sync::OnceLock::new();
    KEPT.get_or_init(|| records(3000))
}

/// The keys of the archived tasks these tests register.
#[derive(Clone, Debug)]
pub struct Keys {
    pub report: ArchivedTask<Query, Report>,
    pub records: ArchivedTask<u32, Vec<Record>>,
    pub tag_sum: ArchivedTask<Vec<Record>, u64>,
    pub cached: ArchivedTask<(), Vec<Record>>,
    /// The drone's mailbox segment (from its spawn spec; empty over sockets).
    #[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
    pub mailbox: Task<(), String>,
}

/// Register the archived tasks in `t`.
pub fn register(t: &mut Tasks) -> Keys {
    Keys {
        report: t.archived_task("archived.report", |q: &ArchivedQuery| {
            let names: Vec<&str> = q.names.iter().map(|s| s.as_str()).collect();
            let shape = rkyv::deserialize::<Shape, rancor::Error>(&q.shape).expect("a shape");
            let limit = q.limit.as_ref().map(|l| l.to_native());
            report_of(&names, q.factor.to_native(), limit, shape)
        }),
        records: t.archived_task("archived.records", |n: &rkyv::Archived<u32>| {
            records(n.to_native())
        }),
        tag_sum: t.archived_task("archived.tag_sum", |rs: &rkyv::Archived<Vec<Record>>| {
            rs.iter()
                .map(|r| {
                    r.id.to_native() + r.tags.iter().map(|t| u64::from(t.to_native())).sum::<u64>()
                })
                .sum::<u64>()
        }),
        cached: t.archived_task("archived.cached", |_: &()| cached()),
        mailbox: t.task("archived.mailbox", |()| {
            let spec = std::env::var(polyshm::team::DRONE_ENV).unwrap_or_default();
            spec.split('\u{1f}')
                .find_map(|f| f.strip_prefix("mailbox="))
                .unwrap_or_default()
                .to_string()
        }),
    }
}

type Case = fn(Transport) -> Result<(), Failed>;

/// The archived trials for transport `t` (part of the conformance suite).
pub fn trials(t: Transport) -> Vec<Trial> {
    let mut cases: Vec<(&str, Case)> = Vec::new();
    cases.push(("archived_values_of_nested_types_roundtrip", nested));
    cases.push(("archives_past_the_areas_grow_them", large));
    cases.push((
        "an_invalid_request_archive_is_refused_by_the_drone",
        bad_request,
    ));
    #[cfg(feature = "failpoints")]
    {
        cases.push(("a_corrupt_result_archive_is_a_typed_error", faults::corrupt));
        cases.push(("a_drone_killed_mid_archive_is_replaced", faults::killed));
        if t == Transport::Shm || matches!(t, Transport::Hybrid { .. }) {
            cases.push((
                "an_archive_scribbled_before_it_is_read_is_refused",
                faults::scribbled,
            ));
        }
    }
    cases
        .into_iter()
        .map(|(name, f)| {
            trial(format!("{}::{name}", t.id().replace('-', "_")), move || {
                f(t)
            })
        })
        .collect()
}

fn query(n: usize) -> Query {
    Query {
        names: (0..n)
            .map(|i| format!("name_{i}_{}", "é".repeat(i % 3)))
            .collect(),
        factor: 1.5,
        limit: Some(n as u32 - 1),
        shape: Shape::Nested {
            depth: 3,
            label: "a label longer than eight bytes".into(),
        },
    }
}

fn want_of(q: &Query) -> Report {
    let names: Vec<&str> = q.names.iter().map(String::as_str).collect();
    report_of(&names, q.factor, q.limit, q.shape.clone())
}

/// Structured values both ways, through every call: `run_archived` (read in place),
/// `run`, `map`, `submit` (owned answers).
fn nested(t: Transport) -> Result<(), Failed> {
    let team = team(t, 2);
    let k = support::keys().archived;
    let q = query(12);
    let want = want_of(&q);
    {
        let reply = team.run_archived(&k.report, &q)?;
        // Read in place, field by field, as the archived types.
        assert_eq!(reply.title.as_str(), want.title);
        assert_eq!(reply.records.len(), 11);
        assert_eq!(reply.records[3].name.as_str(), "name_3_");
        assert_eq!(
            reply.by_name.get("name_5_éé").map(|v| v.to_native()),
            Some(5)
        );
        assert_eq!(reply.lengths.len(), want.lengths.len());
        assert!(
            matches!(&reply.shape, ArchivedShape::Nested { depth: 3, label } if label.as_str() == "a label longer than eight bytes")
        );
        assert_eq!(
            reply.best.as_ref().map(|b| b.name.as_str()),
            want.best.as_ref().map(|b| b.name.as_str())
        );
        assert!(reply.missing.is_none());
        assert!(reply.archive_len() > 0);
        let whole = rkyv::deserialize::<Report, rancor::Error>(&*reply)?;
        assert_eq!(whole, want);
    }
    assert_eq!(team.run(&k.report, &q)?, want);
    let qs: Vec<Query> = [2, 5, 9, 1].into_iter().map(query).collect();
    let got = team.map(&k.report, &qs)?;
    assert_eq!(got, qs.iter().map(want_of).collect::<Vec<_>>());
    let other = Query {
        shape: Shape::Named("named".into()),
        limit: None,
        ..query(3)
    };
    assert_eq!(
        team.submit(&k.report, other.clone()).wait()?,
        want_of(&other)
    );
    // Every kind of task on the same drones.
    assert_eq!(team.run(&support::keys().add, (2, 3))?, 5);
    Ok(())
}

/// Results and requests larger than the areas (the mailbox's inline 64 KiB, the
/// socket's first buffer): they spill once, the area grows, and they land in place
/// after; a result the drone keeps goes out without a clone.
fn large(t: Transport) -> Result<(), Failed> {
    let team = team(t, 1);
    let k = support::keys().archived;
    for n in [0u32, 10, 20_000, 20_000, 50] {
        let want = records(n);
        let reply = team.run_archived(&k.records, n)?;
        assert_eq!(reply.len(), n as usize);
        let sum: u64 = reply
            .iter()
            .map(|r| r.id.to_native() + u64::from(r.tags[2].to_native()))
            .sum();
        assert_eq!(
            sum,
            want.iter()
                .map(|r| r.id + u64::from(r.tags[2]))
                .sum::<u64>()
        );
        if let Some(last) = reply.last() {
            assert_eq!(last.name.as_str(), want[n as usize - 1].name);
            assert_eq!(last.score.to_native(), want[n as usize - 1].score);
        }
        drop(reply);
        assert_eq!(
            team.run_archived(&k.tag_sum, &want)?.to_native(),
            tag_sum(&want)
        );
        assert_eq!(team.run(&k.tag_sum, &want)?, tag_sum(&want));
    }
    let kept = team.run_archived(&k.cached, ())?;
    assert_eq!(kept.len(), 3000);
    assert_eq!(
        rkyv::deserialize::<Vec<Record>, rancor::Error>(&*kept)?,
        *cached()
    );
    Ok(())
}

/// A request that is not a valid archive of the task's argument (a key whose types
/// differ from the drone's task, made by registering the name again elsewhere): the
/// drone refuses it before the task runs, the caller gets `InvalidArchive` naming the
/// task, and the drone goes on.
fn bad_request(t: Transport) -> Result<(), Failed> {
    let team = team(t, 1);
    let k = support::keys();
    let pid = team.run(&k.pid, ())?;
    let wrong: ArchivedTask<u64, u64> =
        Tasks::new().archived_task("archived.tag_sum", |_: &rkyv::Archived<u64>| 0u64);
    for e in [
        team.run_archived(&wrong, u64::MAX)
            .map(|r| r.to_native())
            .unwrap_err(),
        team.run(&wrong, u64::MAX).unwrap_err(),
    ] {
        match &e {
            TeamError::InvalidArchive { task, what, .. } => {
                assert_eq!(
                    (task.as_str(), *what),
                    ("archived.tag_sum", "request"),
                    "{e}"
                )
            }
            _ => return Err(format!("expected InvalidArchive, got {e}").into()),
        }
    }
    assert_eq!(pids(&team), [pid], "the drone goes on");
    assert_eq!(
        team.run(&k.archived.tag_sum, records(3))?,
        tag_sum(&records(3))
    );
    // A name the master holds as another kind is refused before anything is sent.
    let not_archived: ArchivedTask<u64, u64> =
        Tasks::new().archived_task("add", |_: &rkyv::Archived<u64>| 0u64);
    let e = team.run_archived(&not_archived, 1).unwrap_err();
    assert!(matches!(e, TeamError::UnknownTask { .. }), "{e}");
    Ok(())
}

/// The cases that need fault points in the drones.
#[cfg(feature = "failpoints")]
pub mod faults;
