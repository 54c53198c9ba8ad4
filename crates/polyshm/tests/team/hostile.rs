//! The scribbler (issue 9, part 4): while a master and its drones run a stream of echo
//! tasks, this test process writes crafted values into their live mailbox segments —
//! lengths past the end, wrong magic and version, out-of-order sequence numbers,
//! unknown kinds and statuses, forged area descriptors, spurious signals. Every call
//! must come back as an answer or a typed error (an answer may be wrong while a
//! scribble rewrites a request or reply in flight: forged data, which the trust model
//! allows; they are counted); the master must not crash or hang (watchdog), and once
//! the scribbling stops the team must serve correct (checksum-verified) results again.
//!
//! The master runs in a child process (this binary again, role [`SCRIBBLED_ENV`]) so
//! that the scribbler finds its segments by owner and touches no other test's.

use crate::support::{self, trial};
use libtest_mimic::{Failed, Trial};
use polyshm::child::Spawn;
// The mailbox layout (offsets in the control segment's data region), the library's own.
use polyshm::hostile::mailbox_layout::{
    AREAS, AREAS_GEN, AREAS_NAME, AREAS_NAME_LEN, AREAS_REQ_CAP, AREAS_RES_CAP, DESC_KIND,
    DESC_LEN, DESC_NAME_LEN, DESC_SEQ, DESC_STATUS, HELLO, IDENT, IDENT_LAYOUT, INLINE_CAP, LAYOUT,
    REPLY, REQUEST, TO_DRONE, TO_MASTER,
};
use polyshm::shm::{admin, SharedMemory};
use polyshm::team::{TeamError, Transport};
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Selects the "scribbled master" role of this binary; the value is the transport.
pub const SCRIBBLED_ENV: &str = "POLYSHM_TEST_SCRIBBLED_MASTER";
/// Calls the scribbled master makes while the scribbler writes.
const CALLS: u64 = 1500;
/// Calls after the scribbling stopped, all of which must succeed.
const CALM_CALLS: u64 = 50;
/// Longest the whole exchange may take before the test calls it a hang.
const PATIENCE: Duration = Duration::from_secs(90);

pub fn trials() -> Vec<Trial> {
    [Transport::Shm, Transport::Hybrid { protected: true }]
        .into_iter()
        .map(|t| {
            trial(
                format!(
                    "{}::scribbled_mailboxes_give_errors_or_correct_results",
                    t.id()
                ),
                move || scribble(t),
            )
        })
        .collect()
}

/// An echo payload: `n` values, the last the checksum of the others.
fn payload(seed: u64, n: usize) -> Vec<i64> {
    let mut x = seed | 1;
    let mut v: Vec<i64> = (0..n.max(2) - 1)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as i64
        })
        .collect();
    v.push(checksum(&v));
    v
}

fn checksum(v: &[i64]) -> i64 {
    v.iter().fold(0x2545_f491_4f6c_dd1di64, |h, &x| {
        (h ^ x).wrapping_mul(0x0100_0000_01b3).rotate_left(17)
    })
}

fn verified(v: &[i64]) -> bool {
    v.len() >= 2 && checksum(&v[..v.len() - 1]) == v[v.len() - 1]
}

/// The scribbled master: a team on `transport`, CALLS echo calls while the scribbler
/// writes, then (after a line on stdin) CALM_CALLS that must all be correct. Prints
/// `result ok=… errors=… wrong=… calm_ok=…` and exits 0 unless it crashed.
pub fn scribbled_master(transport: &str) -> ! {
    let t: Transport = transport.parse().expect("transport");
    let team = polyshm::team::Team::builder(support::tasks().0)
        .drones(2)
        .transport(t)
        // A scribbled (lost) signal leaves the master waiting for a reply that never
        // comes while its drone lives: only a deadline ends that wait.
        .task_timeout(Duration::from_secs(3))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn a team on {t}: {e}"));
    println!("ready");
    let (mut ok, mut errors, mut wrong) = (0u64, 0u64, 0u64);
    let mut kinds = std::collections::BTreeMap::<String, u64>::new();
    let mut call = |i: u64| -> Result<(), String> {
        // Sizes on both sides of the inline area (8192 i64), so the mailbox grows.
        let n = [3usize, 100, 5000, 9000, 20_000][(i % 5) as usize];
        let v = payload(i.wrapping_mul(0x9e37_79b9) + 1, n);
        match team.run(&polyshm::team::builtin::ECHO_I64, &v) {
            Ok(r) if r == v && verified(&r) => {
                ok += 1;
                Ok(())
            }
            Ok(r) => {
                wrong += 1;
                Err(format!(
                    "call {i}: {} values back for {}, checksum {}",
                    r.len(),
                    v.len(),
                    verified(&r)
                ))
            }
            Err(e) => {
                errors += 1;
                let kind = match &e {
                    TeamError::DroneDied { .. } => "DroneDied",
                    TeamError::TimedOut { .. } => "TimedOut",
                    TeamError::Transport { .. } => "Transport",
                    TeamError::Failed { .. } => "Failed",
                    TeamError::Panicked { .. } => "Panicked",
                    TeamError::UnknownTask { .. } => "UnknownTask",
                    TeamError::Codec { .. } => "Codec",
                    TeamError::Spawn { .. } => "Spawn",
                    _ => "other",
                };
                *kinds.entry(kind.into()).or_default() += 1;
                Err(e.to_string())
            }
        }
    };
    for i in 0..CALLS {
        if let Err(e) = call(i) {
            eprintln!("scribbled: {e}");
        }
    }
    println!("scribbled");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    let mut calm_ok = 0;
    for i in CALLS..CALLS + CALM_CALLS {
        // The first calm call may still meet a drone that a scribble made fail.
        match call(i) {
            Ok(()) => calm_ok += 1,
            Err(e) => eprintln!("calm: {e}"),
        }
    }
    println!("result ok={ok} errors={errors} wrong={wrong} calm_ok={calm_ok} kinds={kinds:?}");
    drop(team);
    // Wrong results while the scribbler writes are what the trust model allows: a
    // hostile writer that rewrites a request or a reply in flight (a descriptor's
    // length, an earlier reply with the awaited number) forges data the protocol
    // cannot tell from real (a CI run saw one: a 20,000-value echo answered with 9,000
    // values after a scribbled request length). What it must never cause is checked
    // here and by the caller: no crash (this exit), no hang (the watchdog), every call
    // an answer or a typed error, and correct answers again once the scribbling stops.
    std::process::exit(0);
}

/// One crafted scribble into a mailbox control segment.
fn scribble_once(seg: &SharedMemory, rng: &mut u64) {
    let mut next = || {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        *rng
    };
    let r = next();
    let desc = if r & 1 == 0 { REQUEST } else { REPLY };
    let huge = [u64::MAX, INLINE_CAP as u64 + 1, 1 << 40, (1 << 20) + 1][(r >> 1) as usize % 4];
    let _ = match (r >> 8) % 9 {
        // A length past the end of its area.
        0 => seg.write_at(desc + DESC_LEN, &huge.to_ne_bytes()),
        // An out-of-order sequence number: one behind or anything; in a request also
        // one ahead. (A reply's number one ahead — the number of the request the master
        // is waiting on — with a spurious signal is a forged reply, indistinguishable
        // from a real one: the trust model allows wrong data there, and the test saw
        // exactly that, an earlier result delivered again.)
        1 => {
            let mut b = [0u8; 8];
            let _ = seg.read_at(desc + DESC_SEQ, &mut b);
            let seq = u64::from_ne_bytes(b);
            let ahead = if desc == REQUEST {
                seq.wrapping_add(1)
            } else {
                next()
            };
            let forged = [seq.wrapping_sub(1), ahead, next()][(r >> 16) as usize % 3];
            seg.write_at(desc + DESC_SEQ, &forged.to_ne_bytes())
        }
        // An unknown kind or status.
        2 => seg.write_at(
            desc + [DESC_KIND, DESC_STATUS][(r >> 16) as usize % 2],
            &[0x63],
        ),
        // A name length past the limit.
        3 => seg.write_at(desc + DESC_NAME_LEN, &u16::MAX.to_ne_bytes()),
        // Wrong mailbox magic or layout version.
        4 if r & 2 == 0 => seg.write_at(IDENT, b"XXXXXXXX"),
        4 => seg.write_at(IDENT + IDENT_LAYOUT, &(LAYOUT + 1).to_ne_bytes()),
        // A forged area descriptor: a new generation naming no segment, or a name of
        // 200 bytes.
        5 => {
            let mut b = [0u8; 64];
            b[AREAS_GEN..][..8].copy_from_slice(&next().to_ne_bytes());
            b[AREAS_REQ_CAP..][..8].copy_from_slice(&huge.to_ne_bytes());
            b[AREAS_RES_CAP..][..8].copy_from_slice(&huge.to_ne_bytes());
            b[AREAS_NAME_LEN] = if r & 2 == 0 { 200 } else { 6 };
            b[AREAS_NAME..][..6].copy_from_slice(b"nosuch");
            seg.write_at(AREAS, &b)
        }
        // A hello length past its area.
        6 => seg.write_at(HELLO, &u32::MAX.to_ne_bytes()),
        // A spurious signal: the waiter wakes to a stale descriptor (its old sequence
        // number) — it must see that the reply is not its own.
        7 => {
            let at = if r & 2 == 0 { TO_MASTER } else { TO_DRONE };
            let mut b = [0u8; 4];
            let _ = seg.read_at(at, &mut b);
            let c = u32::from_ne_bytes(b);
            seg.write_at(at, &(c.saturating_add(1)).to_ne_bytes())
        }
        // Random bytes over a descriptor.
        _ => {
            let mut b = [0u8; 24];
            b.iter_mut().for_each(|x| *x = next() as u8);
            seg.write_at(desc, &b)
        }
    };
}

fn scribble(t: Transport) -> Result<(), Failed> {
    if !polyshm::sys::SEGMENTS_PERSIST {
        // The scribbler finds the mailboxes by listing segments (not possible on
        // Windows, where a segment cannot be listed).
        return Ok(());
    }
    let mut child = Spawn::this_program()?
        .env(SCRIBBLED_ENV, t.id())
        .stdout(Stdio::piped())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .start()?;
    /// Kills and reaps the master (the `ChildProcess` guard), then removes the
    /// mailboxes it left: its drones die with it, a crashed master leaves its segments.
    struct Reap(polyshm::child::ChildProcess);
    impl Drop for Reap {
        fn drop(&mut self) {
            let pid = self.0.id();
            let _ = self.0.kill();
            let _ = self.0.wait();
            for s in support::segments_of(pid) {
                let _ = admin::remove(&s);
            }
        }
    }
    let pid = child.id();
    let out = child.take_stdout().expect("piped");
    let err = child.take_stderr().expect("piped");
    let mut stdin = child.take_stdin().expect("piped");
    let mut reap = Reap(child);
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Drain stderr so the child never blocks on it; keep the first lines for the report.
    let errs = std::thread::spawn(move || {
        BufReader::new(err)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let end = Instant::now() + PATIENCE;
    let expect = |what: &str| -> Result<(), Failed> {
        match rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Ok(l) if l == what => Ok(()),
            Ok(l) => Err(format!("the scribbled master said `{l}`, expected `{what}`").into()),
            Err(_) => Err(format!("the scribbled master hung or died before `{what}`").into()),
        }
    };
    expect("ready")?;
    let mut rng = 0x5eed_0000_0000_0001u64 ^ u64::from(pid);
    let mine = format!("{}mbx-{pid:x}-", polyshm::shm::name::PREFIX);
    let (mut rounds, mut seen) = (0u64, std::collections::BTreeSet::new());
    let finished = loop {
        match rx.try_recv() {
            Ok(l) => break l,
            Err(mpsc::TryRecvError::Disconnected) => break String::new(),
            Err(mpsc::TryRecvError::Empty) => {}
        }
        if Instant::now() > end {
            break String::new();
        }
        // The master's mailboxes now (a replaced drone gets a new one), found by name
        // (`unique_name` puts the creator's pid in it): nothing else is opened, so
        // segments of other programs (which may be truncated under a reader, SIGBUS)
        // are never touched.
        for os in polyshm::sys::list_segments().unwrap_or_default() {
            let Some(name) = os.strip_prefix(&mine) else {
                continue;
            };
            let name = format!("mbx-{pid:x}-{name}");
            if let Ok(seg) = SharedMemory::open(&name) {
                scribble_once(&seg, &mut rng);
                rounds += 1;
                seen.insert(name);
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    if finished != "scribbled" {
        // Dead (and how), or hung (then killed by `reap`).
        let mut status = None;
        for _ in 0..200 {
            status = reap.0.try_wait()?;
            if status.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(reap);
        let errs = errs.join().unwrap_or_default();
        return Err(format!(
            "after {rounds} scribbles the master {} (said `{finished}`); the end of its stderr: {:?}",
            status.map_or("hung".to_string(), |s| format!("died: {s}")),
            errs.iter()
                .filter(|l| l.contains("panicked") || l.contains("values back"))
                .chain(&errs[errs.len().saturating_sub(6)..])
                .collect::<Vec<_>>()
        )
        .into());
    }
    writeln!(stdin, "go")?;
    let result = rx
        .recv_timeout(end.saturating_duration_since(Instant::now()))
        .map_err(|_| "the scribbled master hung after the scribbling stopped")?;
    let status = loop {
        if let Some(s) = reap.0.try_wait()? {
            break s;
        }
        if Instant::now() > end {
            return Err("the scribbled master did not exit".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let errs = errs.join().unwrap_or_default();
    eprintln!(
        "{t}: {rounds} scribbles into {} mailboxes; {result}",
        seen.len()
    );
    if rounds == 0 {
        return Err("no mailbox found to scribble into".into());
    }
    if !status.success() {
        return Err(format!(
            "the scribbled master crashed ({status}): {result}; stderr: {:?}",
            errs.iter()
                .filter(|l| l.contains("values back") || l.contains("panicked"))
                .take(8)
                .collect::<Vec<_>>()
        )
        .into());
    }
    let calm_ok: u64 = result
        .split_whitespace()
        .find_map(|w| w.strip_prefix("calm_ok="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // After the scribbling stops, at most the first call may still fail.
    if calm_ok + 1 < CALM_CALLS {
        return Err(format!("the team did not recover: {result}").into());
    }
    let left = support::segments_of(pid);
    if !left.is_empty() {
        return Err(format!("the master left segments: {left:?}").into());
    }
    Ok(())
}
