//! Soak: many roundtrips through every transport, with task panics and drone deaths
//! mixed in, checking that no result is lost, duplicated or corrupted, and that memory
//! and shared-memory segments stay flat.
//!
//! ```text
//! cargo run --release -p polyshm --example soak -- --roundtrips 100000 [--drones 4] [--seed S]
//!     [--transports shm,hybrid,...] [--faults PER_MILLE]
//! ```
//!
//! Every payload carries a sequence number, an operation and a checksum. The drone
//! task checks the checksum, marks the payload as verified and echoes it; the master
//! checks the sequence number, the mark, the checksum and every byte against what it
//! sent. Operations other than "echo" (each `--faults` per mille, default 2):
//!
//! - panic: the task panics; the master must get `TeamError::Panicked`;
//! - die: the task ends its drone's process; `run` must answer `TeamError::DroneDied`
//!   and the team must replace the drone;
//! - die-once (inside a `map` batch, with `retry_dead`): the task ends its drone the
//!   first time it sees that payload and echoes it on the retry; the batch must come
//!   back complete.
//!
//! The program exits with status 1 on any lost, duplicated or corrupted result, on a
//! segment of this run left behind, or if the master's resident memory grew past its
//! warmed-up size by more than 64 MiB plus 50 %.

use polyshm::team::{drone_main, PodTask, Tasks, Team, TeamError, Transport};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const HEAD: usize = 16;
const TAIL: usize = 8;
const MAX_BODY: usize = 4 << 20;
const OP_ECHO: u8 = 0;
const OP_PANIC: u8 = 1;
const OP_DIE: u8 = 2;
const OP_DIE_ONCE: u8 = 3;
/// Byte the drone sets to 1 when the checksum it computed matched.
const VERIFIED_AT: usize = 9;
const PANIC_TEXT: &str = "soak: panic on request";
/// Environment variable naming the directory for the die-once markers.
const MARKS_ENV: &str = "POLYSHM_SOAK_MARKS";

/// A 64-bit checksum of the sequence number, the operation and the body (the byte the
/// drone marks is left out).
fn checksum(p: &[u8]) -> u64 {
    let mut h = 0x9e37_79b9_7f4a_7c15u64 ^ p.len() as u64;
    let mut mix = |w: u64| {
        h = (h ^ w).wrapping_mul(0xff51_afd7_ed55_8ccd).rotate_left(29);
    };
    mix(u64::from_le_bytes(p[..8].try_into().expect("8 bytes")));
    mix(p[8] as u64);
    let body = &p[HEAD..p.len() - TAIL];
    let mut words = body.chunks_exact(8);
    for w in &mut words {
        mix(u64::from_le_bytes(w.try_into().expect("8 bytes")));
    }
    let mut last = [0u8; 8];
    last[..words.remainder().len()].copy_from_slice(words.remainder());
    mix(u64::from_le_bytes(last));
    h ^ (h >> 31)
}

fn stamp(p: &mut [u8]) {
    let n = p.len();
    let c = checksum(p);
    p[n - TAIL..].copy_from_slice(&c.to_le_bytes());
}

fn checksum_ok(p: &[u8]) -> bool {
    p.len() >= HEAD + TAIL && checksum(p).to_le_bytes() == p[p.len() - TAIL..]
}

/// The drone's task: check, act on the operation, echo with the mark set.
fn soak_task(p: &[u8]) -> Vec<u8> {
    if p.len() < HEAD + TAIL {
        return b"short".to_vec();
    }
    let ok = checksum_ok(p);
    let seq = u64::from_le_bytes(p[..8].try_into().expect("8 bytes"));
    match p[8] {
        OP_PANIC => panic!("{PANIC_TEXT} (seq {seq})"),
        OP_DIE => std::process::exit(86),
        OP_DIE_ONCE => {
            // The first attempt creates the marker and dies; a retry finds it and echoes.
            if let Some(dir) = std::env::var_os(MARKS_ENV) {
                let mark = PathBuf::from(dir).join(format!("{seq}"));
                if std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&mark)
                    .is_ok()
                {
                    std::process::exit(87);
                }
            }
        }
        _ => {}
    }
    let mut out = p.to_vec();
    out[VERIFIED_AT] = ok as u8;
    out
}

/// The soak's task registry and its echo key.
fn tasks() -> (Tasks, PodTask<u8, u8>) {
    let mut t = Tasks::new();
    let echo = t.pod_task("soak.echo", |p: &[u8]| soak_task(p));
    (t, echo)
}

/// The pids of the drones now serving.
fn drone_pids(team: &Team) -> Vec<u32> {
    team.pids().iter().flatten().map(|p| p.pid).collect()
}

/// A small, seedable generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// 0..=MAX_BODY, log-uniform (small sizes dominate), 0 one time in 64.
    fn size(&mut self) -> usize {
        if self.below(64) == 0 {
            return 0;
        }
        let max = (MAX_BODY as f64).ln();
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * max).exp() as usize).min(MAX_BODY)
    }
}

#[derive(Default)]
struct Counts {
    roundtrips: u64,
    ok: u64,
    lost: u64,
    duplicated: u64,
    corrupted: u64,
    panics: u64,
    died: u64,
    died_retried: u64,
    replaced: u64,
    bytes: u64,
}

struct Args {
    roundtrips: u64,
    drones: usize,
    seed: u64,
    transports: Vec<Transport>,
    faults: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        roundtrips: 10_000,
        drones: 4,
        seed: polyshm::shm::unique_name("s")
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
            }),
        transports: Transport::available(),
        faults: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| {
            v.replace('_', "")
                .parse::<f64>()
                .map_err(|e| format!("{flag} {v}: {e}"))
        };
        match flag.as_str() {
            "--roundtrips" => a.roundtrips = num(value()?)? as u64,
            "--drones" => a.drones = num(value()?)? as usize,
            "--seed" => a.seed = num(value()?)? as u64,
            "--faults" => a.faults = num(value()?)? as u64,
            "--transports" => {
                a.transports = value()?
                    .split(',')
                    .map(|t| t.parse().map_err(|e| format!("{e}")))
                    .collect::<Result<_, String>>()?
            }
            "-h" | "--help" => {
                return Err("usage: soak --roundtrips N [--drones 4] [--seed S] [--transports shm,tcp,...] [--faults PER_MILLE]".into())
            }
            other => return Err(format!("unknown argument `{other}`; try --help")),
        }
    }
    a.seed = a.seed.max(1);
    Ok(a)
}

/// Resident memory of this process in KiB (Linux: VmRSS of /proc/self/status).
fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn show_kib(k: Option<u64>) -> String {
    k.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

/// Segments of this run: made by this process or one of its drones.
fn our_segments(pids: &HashSet<u32>) -> Option<Vec<String>> {
    let list = polyshm::shm::admin::list().ok()?;
    Some(
        list.into_iter()
            .filter(|s| {
                s.owner.is_some_and(|o| pids.contains(&o.pid)) || {
                    // A segment whose header could not be read: count it if its name
                    // carries one of our pids (unique_name puts the pid in hex).
                    s.owner.is_none() && pids.iter().any(|p| s.name.contains(&format!("-{p:x}-")))
                }
            })
            .map(|s| s.name)
            .collect(),
    )
}

fn all_segments() -> Option<usize> {
    polyshm::shm::admin::list().ok().map(|l| l.len())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// What came back for payload `sent`: counted as ok, corrupted or duplicated.
fn check_reply(sent: &[u8], got: &[u8], seen: &mut HashSet<u64>, c: &mut Counts) {
    let seq = u64::from_le_bytes(sent[..8].try_into().expect("8 bytes"));
    if got.len() != sent.len() || got.len() < HEAD + TAIL {
        c.corrupted += 1;
        eprintln!(
            "CORRUPT seq {seq}: {} bytes back for {} sent",
            got.len(),
            sent.len()
        );
        return;
    }
    let got_seq = u64::from_le_bytes(got[..8].try_into().expect("8 bytes"));
    if got_seq != seq {
        if seen.contains(&got_seq) {
            c.duplicated += 1;
            eprintln!("DUPLICATE: seq {got_seq} came back again, for seq {seq}");
        } else {
            c.corrupted += 1;
            eprintln!("CORRUPT: seq {got_seq} came back for seq {seq}");
        }
        return;
    }
    if !seen.insert(seq) {
        c.duplicated += 1;
        eprintln!("DUPLICATE: seq {seq} came back twice");
        return;
    }
    let verified = got[VERIFIED_AT] == 1;
    if !verified || !checksum_ok(got) || got[HEAD..] != sent[HEAD..] || got[..9] != sent[..9] {
        c.corrupted += 1;
        eprintln!(
            "CORRUPT seq {seq} ({} bytes): drone verified {verified}, checksum back {}",
            sent.len(),
            checksum_ok(got)
        );
        return;
    }
    c.ok += 1;
    c.bytes += 2 * sent.len() as u64;
}

struct Soak<'a> {
    rng: Rng,
    pool: Vec<u8>,
    seq: u64,
    args: &'a Args,
}

impl Soak<'_> {
    fn payload(&mut self, op: u8) -> Vec<u8> {
        self.seq += 1;
        let n = self.rng.size();
        let mut p = vec![0u8; HEAD + n + TAIL];
        p[..8].copy_from_slice(&self.seq.to_le_bytes());
        p[8] = op;
        let from = self.rng.below((self.pool.len() - n + 1) as u64) as usize;
        p[HEAD..HEAD + n].copy_from_slice(&self.pool[from..from + n]);
        stamp(&mut p);
        p
    }

    fn fault(&mut self) -> bool {
        self.rng.below(1000) < self.args.faults
    }
}

fn run_transport(
    t: Transport,
    quota: u64,
    soak: &mut Soak<'_>,
    total: &mut Counts,
    pids: &mut HashSet<u32>,
    started: Instant,
    last_progress: &mut Instant,
) -> Result<Vec<Duration>, TeamError> {
    let (tasks, echo) = tasks();
    let mut b = Team::builder(tasks)
        .drones(soak.args.drones)
        .transport(t)
        .retry_dead(true);
    if polyshm::sys::cpu_count() >= 2 {
        b = b.pin_drones(vec![0, 1]);
    }
    let team = b.spawn()?;
    pids.extend(drone_pids(&team));
    let mut c = Counts::default();
    let mut seen = HashSet::new();
    let mut lat = Vec::new();
    while c.roundtrips < quota {
        let before: HashSet<u32> = drone_pids(&team).into_iter().collect();
        if soak.rng.below(2) == 0 {
            // One call, `run` (never retried).
            let op = if soak.fault() {
                [OP_PANIC, OP_DIE][soak.rng.below(2) as usize]
            } else {
                OP_ECHO
            };
            let p = soak.payload(op);
            c.roundtrips += 1;
            let t0 = Instant::now();
            let r: Result<Vec<u8>, TeamError> = team.run(&echo, &p);
            let dt = t0.elapsed();
            match (op, r) {
                (OP_ECHO, Ok(v)) => {
                    lat.push(dt);
                    check_reply(&p, &v, &mut seen, &mut c);
                }
                (OP_PANIC, Err(TeamError::Panicked { message, .. }))
                    if message.contains(PANIC_TEXT) =>
                {
                    c.panics += 1
                }
                (OP_DIE, Err(TeamError::DroneDied { .. })) => c.died += 1,
                (op, Ok(_)) => {
                    c.lost += 1;
                    eprintln!("LOST: operation {op} answered a result instead of its fault");
                }
                (op, Err(e)) => {
                    c.lost += 1;
                    eprintln!("LOST: operation {op} (seq {}): {e}", soak.seq);
                }
            }
        } else {
            // A batch over the drones, `map` with retry_dead: one may die once.
            let n = soak.args.drones.max(1) * 2;
            let batch: Vec<Vec<u8>> = (0..n)
                .map(|_| {
                    let op = if soak.fault() { OP_DIE_ONCE } else { OP_ECHO };
                    soak.payload(op)
                })
                .collect();
            let die_once = batch.iter().filter(|p| p[8] == OP_DIE_ONCE).count() as u64;
            c.roundtrips += n as u64;
            match team.map(&echo, &batch) {
                Ok(out) => {
                    if out.len() != batch.len() {
                        c.lost += batch.len().abs_diff(out.len()) as u64;
                        eprintln!("LOST: {} results for {} inputs", out.len(), batch.len());
                    }
                    for (p, v) in batch.iter().zip(&out) {
                        check_reply(p, v, &mut seen, &mut c);
                    }
                    c.died_retried += die_once;
                }
                Err(e) => {
                    c.lost += n as u64;
                    eprintln!("LOST: a batch of {n} failed: {e}");
                }
            }
        }
        let after: Vec<u32> = drone_pids(&team);
        c.replaced += after.iter().filter(|p| !before.contains(p)).count() as u64;
        pids.extend(after);
        if last_progress.elapsed() >= Duration::from_secs(5) {
            *last_progress = Instant::now();
            println!(
                "  [{:>6.0} s] {t}: {} roundtrips, {} ok, lost {}, dup {}, corrupt {}, panics {}, died {}+{} retried, replaced {}, rss {}",
                started.elapsed().as_secs_f64(),
                c.roundtrips,
                c.ok,
                c.lost,
                c.duplicated,
                c.corrupted,
                c.panics,
                c.died,
                c.died_retried,
                c.replaced,
                show_kib(rss_kib())
            );
        }
    }
    drop(team);
    println!(
        "{t}: {} roundtrips ({} ok, {:.1} GB moved), lost {}, duplicated {}, corrupted {}, panics seen {}, drones died {} + {} retried, replaced {}",
        c.roundtrips,
        c.ok,
        c.bytes as f64 / 1e9,
        c.lost,
        c.duplicated,
        c.corrupted,
        c.panics,
        c.died,
        c.died_retried,
        c.replaced
    );
    total.roundtrips += c.roundtrips;
    total.ok += c.ok;
    total.lost += c.lost;
    total.duplicated += c.duplicated;
    total.corrupted += c.corrupted;
    total.panics += c.panics;
    total.died += c.died;
    total.died_retried += c.died_retried;
    total.replaced += c.replaced;
    total.bytes += c.bytes;
    Ok(lat)
}

fn main() {
    // Quiet the requested panics (in the drones); show any other.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !msg.starts_with(PANIC_TEXT) {
            default_hook(info);
        }
    }));
    drone_main(&tasks().0);

    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let marks = std::env::temp_dir().join(polyshm::shm::unique_name("soak-marks"));
    if let Err(e) = std::fs::create_dir_all(&marks) {
        eprintln!("cannot make {}: {e}", marks.display());
        std::process::exit(2);
    }
    // The drones inherit it.
    std::env::set_var(MARKS_ENV, &marks);

    let me = std::process::id();
    let mut pids: HashSet<u32> = [me].into();
    let seg_start = our_segments(&pids).map(|v| v.len());
    let all_start = all_segments();
    let rss_start = rss_kib();
    println!(
        "soak: {} roundtrips over {} ({} drones, faults {}‰, seed {}), master pid {me}",
        args.roundtrips,
        args.transports
            .iter()
            .map(|t| t.id())
            .collect::<Vec<_>>()
            .join(", "),
        args.drones,
        args.faults,
        args.seed
    );

    let mut rng = Rng(args.seed);
    let mut pool = vec![0u8; MAX_BODY];
    for w in pool.chunks_exact_mut(8) {
        w.copy_from_slice(&rng.next().to_le_bytes());
    }
    let mut soak = Soak {
        rng,
        pool,
        seq: 0,
        args: &args,
    };
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let mut total = Counts::default();
    let mut rss_warm = None;
    let mut failed_teams = 0;
    let mut summary = Vec::new();
    let k = args.transports.len().max(1) as u64;
    for (i, &t) in args.transports.iter().enumerate() {
        let quota = args.roundtrips / k + u64::from((i as u64) < args.roundtrips % k);
        let t0 = Instant::now();
        match run_transport(
            t,
            quota,
            &mut soak,
            &mut total,
            &mut pids,
            started,
            &mut last_progress,
        ) {
            Ok(mut lat) => {
                lat.sort();
                summary.push(format!(
                    "  {:<20} median {:>10.1?}  p99 {:>10.1?}  ({} single calls timed, {:.1} s)",
                    t.id(),
                    percentile(&lat, 0.5),
                    percentile(&lat, 0.99),
                    lat.len(),
                    t0.elapsed().as_secs_f64()
                ));
            }
            Err(e) => {
                failed_teams += 1;
                eprintln!("{t}: the team did not start: {e}");
            }
        }
        rss_warm.get_or_insert(rss_kib());
    }
    let _ = std::fs::remove_dir_all(&marks);
    let rss_end = rss_kib();
    let left = our_segments(&pids);
    let seg_end = left.as_ref().map(|v| v.len());
    let all_end = all_segments();
    let elapsed = started.elapsed();

    println!("roundtrip times (single calls; payloads of every size):");
    for s in &summary {
        println!("{s}");
    }
    let show = |n: Option<usize>| n.map_or("n/a".into(), |n| n.to_string());
    println!(
        "total: {} roundtrips in {:.1} s ({} ok, {:.1} GB moved): lost {}, duplicated {}, corrupted {}; panics seen {}; drones died {} (run) + {} (map, retried), replaced {}",
        total.roundtrips,
        elapsed.as_secs_f64(),
        total.ok,
        total.bytes as f64 / 1e9,
        total.lost,
        total.duplicated,
        total.corrupted,
        total.panics,
        total.died,
        total.died_retried,
        total.replaced
    );
    println!(
        "master RSS: start {}, after the first transport {}, end {}",
        show_kib(rss_start),
        show_kib(rss_warm.flatten()),
        show_kib(rss_end)
    );
    println!(
        "polyshm segments of this run: start {}, end {}  (all polyshm segments on the machine, other programs included: start {}, end {})",
        show(seg_start),
        show(seg_end),
        show(all_start),
        show(all_end)
    );
    let mut bad = Vec::new();
    if total.lost + total.duplicated + total.corrupted > 0 {
        bad.push("lost, duplicated or corrupted results".to_string());
    }
    if failed_teams > 0 {
        bad.push(format!("{failed_teams} team(s) did not start"));
    }
    if let (Some(a), Some(b)) = (seg_start, seg_end) {
        if b > a {
            bad.push(format!(
                "segments left behind: {:?}",
                left.unwrap_or_default()
            ));
        }
    }
    if let (Some(w), Some(e)) = (rss_warm.flatten(), rss_end) {
        if e > w + 64 * 1024 + w / 2 {
            bad.push(format!("master RSS grew from {w} KiB to {e} KiB"));
        }
    }
    if bad.is_empty() {
        println!("soak: OK");
    } else {
        println!("soak: FAILED: {}", bad.join("; "));
        std::process::exit(1);
    }
}
