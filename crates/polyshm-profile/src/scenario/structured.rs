//! "Structured encoding" (after the study's table 5): tables 4 and 5 compared simple
//! and general encoding of integer arrays; this compares the two ways a structured
//! value travels — serde + postcard (the study's BOSS, decoded into owned values) and
//! an rkyv archive (written once, read in place after validation) — for 1 … 100,000
//! records, each the shape of one assessed function: a name of 10–17 characters
//! (`function_12345`), a `u64` id, an `f64` score and a `Vec<u32>` of four tags.
//!
//! | family | rows (`scenario`, transport) |
//! |---|---|
//! | `structured_codec` (one process) | `structured_encode` / `structured_decode` (`codec-serde`: postcard); `structured_write` (into a reused area), `structured_read_one` (validate, read one record's id), `structured_read_all` (validate, read every field of every record) (`codec-archive`) |
//! | `structured_roundtrip` (master and drone) | `structured_roundtrip_postcard`, `structured_roundtrip_archive` over `tcp` and `shm`: the master asks for `n` records, the drone answers the records it keeps (no clone: postcard from a borrowed slice, the archive from a borrowed `Vec`), the master reads every record (postcard: decoded, then read; archive: `Team::run_archived`, validated and read in the mailbox) |
//!
//! The ratios the issue sets as targets, from the same run, are notes of the report
//! and lines of its "at a glance" ([`glance`]): reading 100,000 records in place,
//! validation included, against decoding them with postcard (≥ 8× faster), and the
//! `shm` + archive roundtrip of 100,000 records against `tcp` + postcard (≤ 0.25×).
//!
//! Drones must know the two tasks: the `polyshm` binary registers them with
//! [`crate::register_tasks`].

use super::team::{spawn_with, team_err};
use super::{Context, Scenario};
use crate::config::Config;
use crate::error::ProfileError;
use crate::row::{Placement, Row, TableRef, Unit};
use polyshm::codec::{self, Placed};
use polyshm::rkyv::{self, Archived};
use polyshm::team::{ArchivedTask, Task, Tasks, Transport};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Mutex;

/// The record counts measured (the same in `--quick` and full runs).
pub const SIZES: &[u64] = &[1, 10, 100, 1_000, 10_000, 100_000];
/// The count the targets are set at.
const TARGET_SIZE: u64 = 100_000;

/// One assessed function.
#[derive(
    Clone,
    Debug,
    PartialEq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(crate = polyshm::rkyv)]
pub struct Record {
    /// `function_<k>`: 10–17 characters.
    pub name: String,
    /// An id.
    pub id: u64,
    /// A score.
    pub score: f64,
    /// Four tags.
    pub tags: Vec<u32>,
}

/// `n` records, the same in every process.
pub fn records(n: usize) -> Vec<Record> {
    (0..n as u64)
        .map(|i| Record {
            name: format!("function_{}", i * 7_919 % 100_000_000),
            id: i * 1_000_003 + 17,
            score: (i % 1_000) as f64 * 0.37,
            tags: vec![
                (i % 7) as u32,
                (i as u32).wrapping_mul(2_654_435_761) >> 8,
                42,
                i as u32,
            ],
        })
        .collect()
}

/// What reading every field of every record adds up to (owned records).
pub fn digest(rs: &[Record]) -> u64 {
    rs.iter().fold(0u64, |h, r| {
        let tags = r
            .tags
            .iter()
            .fold(0u64, |a, t| a.wrapping_add(u64::from(*t)));
        h.wrapping_add(r.id ^ r.score.to_bits())
            .wrapping_add(tags)
            .wrapping_add(r.name.len() as u64)
    })
}

/// The same, read in place from an archive.
pub fn digest_archived(rs: &Archived<Vec<Record>>) -> u64 {
    rs.iter().fold(0u64, |h, r| {
        let tags = r
            .tags
            .iter()
            .fold(0u64, |a, t| a.wrapping_add(u64::from(t.to_native())));
        h.wrapping_add(r.id.to_native() ^ r.score.to_native().to_bits())
            .wrapping_add(tags)
            .wrapping_add(r.name.len() as u64)
    })
}

/// The records a drone keeps, by count (made once, kept for the drone's life).
fn kept(n: u32) -> &'static Vec<Record> {
    static KEPT: Mutex<BTreeMap<u32, &'static Vec<Record>>> = Mutex::new(BTreeMap::new());
    let mut kept = KEPT.lock().unwrap_or_else(|p| p.into_inner());
    kept.entry(n)
        .or_insert_with(|| Box::leak(Box::new(records(n as usize))))
}

/// The keys of the two roundtrip tasks.
#[derive(Clone, Debug)]
pub struct Keys {
    /// `profile.structured_postcard`: `n` kept records, postcard-encoded.
    pub postcard: Task<u32, Cow<'static, [Record]>>,
    /// `profile.structured_archive`: `n` kept records, as an archive.
    pub archive: ArchivedTask<u32, Vec<Record>>,
}

/// Register the roundtrip tasks in `t` (master and drones alike).
pub fn register(t: &mut Tasks) -> Keys {
    Keys {
        postcard: t.task("profile.structured_postcard", |n: u32| {
            Cow::Borrowed(&kept(n)[..])
        }),
        archive: t.archived_task("profile.structured_archive", |n: &Archived<u32>| {
            kept(n.to_native())
        }),
    }
}

fn codec_err(scenario: &'static str) -> impl Fn(codec::CodecError) -> ProfileError {
    move |source| ProfileError::Codec { scenario, source }
}

fn expect(scenario: &'static str, what: String, got: u64, want: u64) -> Result<(), ProfileError> {
    if got == want {
        return Ok(());
    }
    Err(ProfileError::Wrong {
        scenario,
        what,
        expected: format!("digest {want:#x}"),
        found: format!("digest {got:#x}"),
    })
}

/// The median of the row `scenario`/`transport` at [`TARGET_SIZE`] records in `placement`.
fn median(rows: &[&Row], scenario: &str, transport: &str, placement: Placement) -> Option<f64> {
    rows.iter()
        .find(|r| {
            r.scenario == scenario
                && r.transport == transport
                && r.size == Some(TARGET_SIZE)
                && r.unit == Some(Unit::Records)
                && r.placement == placement
        })
        .map(|r| r.median_us)
}

/// The target ratios found in `rows` (one run), as sentences.
pub fn glance(rows: &[&Row]) -> Vec<String> {
    let mut out = Vec::new();
    let decode = median(rows, "structured_decode", "codec-serde", Placement::Single);
    let read = median(
        rows,
        "structured_read_all",
        "codec-archive",
        Placement::Single,
    );
    if let (Some(d), Some(r)) = (decode, read) {
        out.push(format!(
            "Structured encoding, 100,000 records: read in place, validation included, {:.1}× faster than a postcard decode (target ≥ 8×; {} µs vs {} µs)",
            d / r,
            crate::report::micros(r),
            crate::report::micros(d)
        ));
    }
    for p in [Placement::Same, Placement::Cross] {
        let tcp = median(rows, "structured_roundtrip_postcard", "tcp", p);
        let shm = median(rows, "structured_roundtrip_archive", "shm", p);
        if let (Some(t), Some(s)) = (tcp, shm) {
            out.push(format!(
                "Structured encoding, 100,000 records ({p}): the roundtrip through shm with an archive is {:.3}× the same through tcp with postcard (target ≤ 0.25×; {} µs vs {} µs)",
                s / t,
                crate::report::micros(s),
                crate::report::micros(t)
            ));
        }
    }
    out
}

/// The one-process rows: encode, decode, write, read.
pub struct Codec;

impl Scenario for Codec {
    fn id(&self) -> &'static str {
        "structured_codec"
    }
    fn table(&self) -> TableRef {
        TableRef::Ref
    }
    fn title(&self) -> &'static str {
        "Structured encoding: records (name, id, score, four tags), serde + postcard vs archives (rkyv) read in place"
    }
    fn row_ids(&self) -> &'static [&'static str] {
        &[
            "structured",
            "structured_encode",
            "structured_decode",
            "structured_write",
            "structured_read_one",
            "structured_read_all",
        ]
    }
    fn two_process(&self) -> bool {
        false
    }
    fn points(&self, config: &Config) -> usize {
        5 * config.sizes(SIZES).len()
    }
    fn run(&self, ctx: &mut Context<'_>) -> Result<Vec<Row>, ProfileError> {
        const ID: &str = "structured_codec";
        let budget = ctx.budget;
        let t = TableRef::Ref;
        let mut rows = Vec::new();
        for size in ctx.config.sizes(SIZES) {
            let n = size as usize;
            let v = records(n);
            let want = digest(&v);
            let unit = Some((size, Unit::Records));
            let mut bytes = Vec::new();
            rows.push(
                ctx.point(budget, t, "structured_encode", "codec-serde", unit, || {
                    bytes = codec::encode(black_box(&v)).map_err(codec_err(ID))?;
                    Ok::<(), ProfileError>(())
                })?,
            );
            let mut back: Vec<Record> = Vec::new();
            rows.push(
                ctx.point(budget, t, "structured_decode", "codec-serde", unit, || {
                    back = codec::decode(black_box(&bytes[..])).map_err(codec_err(ID))?;
                    Ok::<(), ProfileError>(())
                })?,
            );
            expect(
                ID,
                format!("postcard decode of {n} records"),
                digest(&back),
                want,
            )?;
            // The area a transport would lend, reused: the archive is written once.
            let whole = codec::archive(&v).map_err(codec_err(ID))?;
            let mut area = rkyv::util::AlignedVec::<16>::with_capacity(whole.len());
            area.resize(whole.len(), 0);
            let mut len = 0;
            rows.push(
                ctx.point(budget, t, "structured_write", "codec-archive", unit, || {
                    match codec::archive_into(black_box(&v), &mut area).map_err(codec_err(ID))? {
                        Placed::Area(n) => len = n,
                        Placed::Spilled(_) => unreachable!("the area holds the archive"),
                    }
                    Ok::<(), ProfileError>(())
                })?,
            );
            let archive = &area[..len];
            let mut one = 0;
            rows.push(ctx.point(
                budget,
                t,
                "structured_read_one",
                "codec-archive",
                unit,
                || {
                    let rs =
                        codec::access::<Vec<Record>>(black_box(archive)).map_err(codec_err(ID))?;
                    one = rs[rs.len() / 2].id.to_native();
                    Ok::<(), ProfileError>(())
                },
            )?);
            expect(ID, format!("record {} of {n}", n / 2), one, v[n / 2].id)?;
            let mut all = 0;
            rows.push(ctx.point(
                budget,
                t,
                "structured_read_all",
                "codec-archive",
                unit,
                || {
                    let rs =
                        codec::access::<Vec<Record>>(black_box(archive)).map_err(codec_err(ID))?;
                    all = digest_archived(rs);
                    Ok::<(), ProfileError>(())
                },
            )?);
            expect(
                ID,
                format!("archive of {n} records read in place"),
                all,
                want,
            )?;
        }
        let refs: Vec<&Row> = rows.iter().collect();
        ctx.notes.extend(glance(&refs));
        Ok(rows)
    }
}

/// The two-process rows: a result of `n` records from a drone, each encoding over
/// `tcp` and `shm`.
pub struct Roundtrip;

impl Scenario for Roundtrip {
    fn id(&self) -> &'static str {
        "structured_roundtrip"
    }
    fn table(&self) -> TableRef {
        TableRef::Ref
    }
    fn title(&self) -> &'static str {
        "Structured encoding: a result of N records from a drone, postcard vs archive, over tcp and shm"
    }
    fn row_ids(&self) -> &'static [&'static str] {
        &[
            "structured",
            "structured_roundtrip_postcard",
            "structured_roundtrip_archive",
        ]
    }
    fn two_process(&self) -> bool {
        true
    }
    fn points(&self, config: &Config) -> usize {
        4 * config.sizes(SIZES).len()
    }
    fn run(&self, ctx: &mut Context<'_>) -> Result<Vec<Row>, ProfileError> {
        const ID: &str = "structured_roundtrip";
        let budget = ctx.budget.roundtrip();
        let mut tasks = Tasks::new();
        let keys = register(&mut tasks);
        let mut rows = Vec::new();
        for transport in [Transport::Tcp, Transport::Shm] {
            let team = spawn_with(ctx, ID, transport, tasks.clone())?;
            let tid = transport.to_string();
            for size in ctx.config.sizes(SIZES) {
                let n = size as u32;
                let want = digest(&records(n as usize));
                let unit = Some((size, Unit::Records));
                let what = format!("{n} records as postcard over {tid}");
                let mut got = 0;
                rows.push(ctx.point(
                    budget,
                    TableRef::Ref,
                    "structured_roundtrip_postcard",
                    &tid,
                    unit,
                    || {
                        let rs = team.run(&keys.postcard, n).map_err(team_err(ID, &what))?;
                        got = digest(&rs);
                        Ok::<(), ProfileError>(())
                    },
                )?);
                expect(ID, what, got, want)?;
                let what = format!("{n} records as an archive over {tid}");
                rows.push(ctx.point(
                    budget,
                    TableRef::Ref,
                    "structured_roundtrip_archive",
                    &tid,
                    unit,
                    || {
                        let reply = team
                            .run_archived(&keys.archive, n)
                            .map_err(team_err(ID, &what))?;
                        got = digest_archived(&reply);
                        Ok::<(), ProfileError>(())
                    },
                )?);
                expect(ID, what, got, want)?;
            }
        }
        let refs: Vec<&Row> = rows.iter().collect();
        ctx.notes.extend(glance(&refs));
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_have_the_asked_shape_and_both_readings_agree() {
        let v = records(1_000);
        assert!(v
            .iter()
            .all(|r| (10..=20).contains(&r.name.len()) && r.tags.len() == 4));
        let a = codec::archive(&v).unwrap();
        let rs = codec::access::<Vec<Record>>(&a).unwrap();
        assert_eq!(digest_archived(rs), digest(&v));
        let b = codec::encode(&v).unwrap();
        assert_eq!(codec::decode::<Vec<Record>>(&b).unwrap(), v);
        // What a drone answers borrowed is what the master decodes owned.
        let borrowed: Cow<'static, [Record]> = Cow::Borrowed(&kept(3)[..]);
        let back: Cow<'static, [Record]> =
            codec::decode(&codec::encode(&borrowed).unwrap()).unwrap();
        assert_eq!(back, records(3));
    }
}
