//! Roundtrip benchmark of the drone team (not a test): the empty task and echo of
//! arrays of 10 … 1,000,000 i64 (the request carries the array, the result is the same
//! array back), per transport, with master and drone pinned to the same CPU and to
//! different CPUs, and a plain memcpy of 8 MB in the same run.
//!
//! The zero-copy path (a loaned request, the reply read in place) and the plain `run`
//! stand beside the memcpy, alternating with it.
//!
//! `cargo bench -p polyshm --bench team [-- --quick] [-- --paired] [-- --roundtrip]`
//! (`--paired`: only the 1,000,000-i64 cases beside the memcpy; `--roundtrip`: only the
//! echo of 10 i64 through `Shm` beside a bare semaphore roundtrip between two processes
//! and the same with the echo's 80 bytes moved each way through the segment,
//! alternating in blocks, on one CPU and across CPUs). Prints medians and p99 (µs) and
//! the ratios the issue asks for. The bench binary is its own drone, and the bare
//! semaphore's peer.

use polyshm::child::{tie_to_parent, Spawn};
use polyshm::shm::{unique_name, RemoteSemaphore, SharedMemory};
use polyshm::sync::WaitStrategy;
use polyshm::team::{builtin, drone_main, Call, Input, Tasks, Team, TeamError, Transport};
use std::time::{Duration, Instant};

/// The bare semaphore's peer: `segment:cpu:count` in this variable.
const SEM_PEER: &str = "POLYSHM_BENCH_SEM_PEER";
const PATIENCE: Duration = Duration::from_secs(30);

/// Where the bare semaphore variant with data puts the 80 bytes it sends (master to
/// peer) and those it gets back (peer to master): each on lines of its own.
const DATA_OUT: usize = 4096;
const DATA_BACK: usize = 8192;
/// The bytes of 10 i64, what the team's echo moves each way.
const DATA_LEN: usize = 80;

/// The peer of [`semaphore_vs_team`], pinned to `cpu`: `rounds` rounds of `block`
/// bare pings, then `block` pings with data (read the 80 bytes sent, write 80 back), in
/// the master's order.
fn semaphore_peer(spec: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut it = spec.split(':');
    let (name, cpu, block, rounds) = (
        it.next().ok_or("segment")?,
        it.next().ok_or("cpu")?.parse::<usize>()?,
        it.next().ok_or("block")?.parse::<usize>()?,
        it.next().ok_or("rounds")?.parse::<usize>()?,
    );
    polyshm::sys::pin_current_thread(cpu)?;
    let shm = SharedMemory::open(name)?;
    let ping = RemoteSemaphore::in_segment(&shm, 0)?;
    let pong = RemoteSemaphore::in_segment(&shm, 64)?;
    let mut data = [0u8; DATA_LEN];
    for _ in 0..rounds {
        for _ in 0..block {
            ping.wait_timeout(PATIENCE)?;
            pong.signal()?;
        }
        for _ in 0..block {
            ping.wait_timeout(PATIENCE)?;
            shm.read_into(DATA_OUT, &mut data[..])?;
            shm.write_from(DATA_BACK, &data[..])?;
            pong.signal()?;
        }
    }
    Ok(())
}

/// Samples of one roundtrip variant.
type Samples = Vec<Duration>;

/// The echo of 10 i64 through `Shm` beside two bare semaphore roundtrips (signal, wait
/// for the answer; both sides the default wait strategy): one that moves nothing, and
/// one that moves what the echo moves, 80 bytes each way through the segment (the
/// least any transport of 10 i64 over shared memory must do). In alternating blocks of
/// `block` roundtrips, `rounds` times after a warm-up round: (bare, bare with data,
/// team) samples.
fn semaphore_vs_team(
    drone_cpu: usize,
    block: usize,
    rounds: usize,
) -> Result<(Samples, Samples, Samples), Box<dyn std::error::Error>> {
    let team = Team::builder(Tasks::new())
        .drones(1)
        .transport(Transport::Shm)
        .pin_drones(vec![drone_cpu])
        .spawn()?;
    let shm = SharedMemory::create(&unique_name("bench-sem"), 3 * 4096)?;
    let ping = RemoteSemaphore::in_segment(&shm, 0)?;
    let pong = RemoteSemaphore::in_segment(&shm, 64)?;
    let mut peer = Spawn::this_program()?
        .env(
            SEM_PEER,
            format!("{}:{drone_cpu}:{block}:{}", shm.name(), rounds + 1),
        )
        .start()?;
    let v: Vec<i64> = (0..10).collect();
    let (mut sem, mut sem_data, mut team_s) = (Vec::new(), Vec::new(), Vec::new());
    let mut back = [0u8; DATA_LEN];
    for round in 0..=rounds {
        // Round 0 warms all three up, untimed.
        for _ in 0..block {
            let t = Instant::now();
            ping.signal()?;
            pong.wait_timeout(PATIENCE)?;
            if round > 0 {
                sem.push(t.elapsed());
            }
        }
        for _ in 0..block {
            let t = Instant::now();
            shm.write_from(DATA_OUT, polyshm::codec::pod_bytes(&v))?;
            ping.signal()?;
            pong.wait_timeout(PATIENCE)?;
            shm.read_into(DATA_BACK, &mut back[..])?;
            std::hint::black_box(&back);
            if round > 0 {
                sem_data.push(t.elapsed());
            }
        }
        for _ in 0..block {
            let t = Instant::now();
            std::hint::black_box(team.run(&builtin::ECHO_I64, &v)?);
            if round > 0 {
                team_s.push(t.elapsed());
            }
        }
    }
    let status = peer
        .wait_timeout(PATIENCE)?
        .ok_or("the semaphore peer hangs")?;
    if !status.success() {
        return Err(format!("the semaphore peer failed: {status}").into());
    }
    Ok((sem, sem_data, team_s))
}

/// Median and 99th percentile of some samples.
#[derive(Clone, Copy, Debug)]
struct Summary {
    median: Duration,
    p99: Duration,
}

fn summarize(samples: &[Duration]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let mut s = samples.to_vec();
    s.sort_unstable();
    let rank = |q: f64| s[((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
    Some(Summary {
        median: rank(0.5),
        p99: rank(0.99),
    })
}

/// Time `reps` runs of `key` on `input` (after `warmup` untimed ones).
fn roundtrips<K: Call>(
    team: &Team,
    key: &K,
    input: &K::In,
    warmup: usize,
    reps: usize,
) -> Result<Vec<Duration>, TeamError>
where
    for<'a> &'a K::In: Input<K::In>,
{
    for _ in 0..warmup {
        team.run(key, input)?;
    }
    let mut out = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        std::hint::black_box(team.run(key, input)?);
        out.push(t.elapsed());
    }
    Ok(out)
}

/// One echo of `src` with a loaned request and the reply read in place (its last
/// element): the zero-copy path.
fn loan_echo<K>(team: &Team, key: &K, src: &[i64]) -> Result<i64, TeamError>
where
    K: polyshm::team::PodCall<Item = i64, ReplyItem = i64>,
{
    let mut loan = team.loan(key, src.len())?;
    loan.copy_from_slice(src);
    let reply = loan.send()?;
    Ok(std::hint::black_box(reply[reply.len() - 1]))
}

const SIZES: [usize; 6] = [10, 100, 1_000, 10_000, 100_000, 1_000_000];

fn reps_for(size: usize, quick: bool) -> usize {
    let r = match size {
        0..=1_000 => 3000,
        1_001..=10_000 => 1500,
        10_001..=100_000 => 400,
        _ => 60,
    };
    if quick {
        r / 10
    } else {
        r
    }
}

/// The wait strategies the sweep compares (the default among them).
fn wait_strategies() -> Vec<WaitStrategy> {
    let mut v = vec![WaitStrategy::Block];
    for b in [2u64, 10, 50, 200] {
        v.push(WaitStrategy::SpinThenBlock {
            budget: Duration::from_micros(b),
        });
    }
    v
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn memcpy_8mb(reps: usize) -> Summary {
    let src: Vec<i64> = (0..1_000_000).collect();
    let mut dst = vec![0i64; 1_000_000];
    dst.copy_from_slice(&src); // fault the pages in
    let mut s = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        dst.copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&dst);
        s.push(t.elapsed());
    }
    summarize(&s).expect("samples")
}

/// The shm rows of 1,000,000 i64 measured in alternation with a plain memcpy of 8 MB
/// (one memcpy, one roundtrip, and again), so that both see the same machine load.
/// (case, shm roundtrip, memcpy) summaries.
type Paired = Vec<(&'static str, Summary, Summary)>;

fn shm_vs_memcpy(drone_cpu: usize, reps: usize) -> Result<Paired, Box<dyn std::error::Error>> {
    let team = Team::builder(Tasks::new())
        .drones(1)
        .transport(Transport::Shm)
        .pin_drones(vec![drone_cpu])
        .spawn()?;
    let src: Vec<i64> = (0..1_000_000).collect();
    let mut dst = vec![0i64; 1_000_000];
    let mut out = Vec::new();
    #[derive(Clone, Copy)]
    enum Case {
        Run,
        RunInPlaceTask,
        Loan,
        LoanInPlaceTask,
        Sum,
        Send,
    }
    let cases = [
        (
            "run echo_i64 (copied in, the drone copies it twice, copied out)",
            Case::Run,
        ),
        (
            "run echo_i64_in_place (copied in, copied out; the drone copies nothing)",
            Case::RunInPlaceTask,
        ),
        (
            "loan + Reply, echo_i64 (filled in place, the drone copies it twice, read in place)",
            Case::Loan,
        ),
        (
            "loan + Reply, echo_i64_in_place (filled in place, read in place: zero copy)",
            Case::LoanInPlaceTask,
        ),
        ("run sum_i64 (array in, one i64 back)", Case::Sum),
        ("run len (array in, its length back; not read)", Case::Send),
    ];
    for (say, case) in cases {
        let mut m = Vec::with_capacity(reps);
        let mut r = Vec::with_capacity(reps);
        for i in 0..reps + 5 {
            let t = Instant::now();
            dst.copy_from_slice(std::hint::black_box(&src));
            std::hint::black_box(&dst);
            let tm = t.elapsed();
            let t = Instant::now();
            match case {
                Case::Run => drop(std::hint::black_box(team.run(&builtin::ECHO_I64, &src)?)),
                Case::RunInPlaceTask => drop(std::hint::black_box(
                    team.run(&builtin::ECHO_I64_IN_PLACE, &src)?,
                )),
                Case::Loan => drop(loan_echo(&team, &builtin::ECHO_I64, &src)?),
                Case::LoanInPlaceTask => drop(loan_echo(&team, &builtin::ECHO_I64_IN_PLACE, &src)?),
                Case::Sum => drop(std::hint::black_box(team.run(&builtin::SUM_I64, &src)?)),
                Case::Send => drop(std::hint::black_box(
                    team.run(&builtin::LEN, polyshm::codec::pod_bytes(&src))?,
                )),
            }
            let tr = t.elapsed();
            if i >= 5 {
                m.push(tm);
                r.push(tr);
            }
        }
        out.push((
            say,
            summarize(&r).expect("samples"),
            summarize(&m).expect("samples"),
        ));
    }
    Ok(out)
}

struct Row {
    placement: &'static str,
    transport: Transport,
    what: String,
    s: Summary,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Ok(spec) = std::env::var(SEM_PEER) {
        if tie_to_parent()? {
            semaphore_peer(&spec)?;
        }
        return Ok(());
    }
    drone_main(&Tasks::new());
    let quick = std::env::args().any(|a| a == "--quick");
    if std::env::args().any(|a| a == "--roundtrip") {
        let cpus = polyshm::sys::cpu_count();
        println!("| placement | bare semaphore | semaphore + 80 bytes each way | team echo 10 i64 (Shm) | team ÷ bare | team ÷ with data |");
        println!("|---|---|---|---|---|---|");
        for (placement, drone_cpu) in [("same CPU", 0usize), ("different CPUs", 1)] {
            if drone_cpu >= cpus {
                continue;
            }
            polyshm::sys::pin_current_thread(0)?;
            let (block, rounds) = if quick { (500, 10) } else { (2000, 25) };
            let (sem, sem_data, team) = semaphore_vs_team(drone_cpu, block, rounds)?;
            let [s, d, t] = [&sem, &sem_data, &team].map(|v| summarize(v).expect("samples"));
            println!(
                "| {placement} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} | {:.2} |",
                us(s.median),
                us(s.p99),
                us(d.median),
                us(d.p99),
                us(t.median),
                us(t.p99),
                us(t.median) / us(s.median),
                us(t.median) / us(d.median)
            );
        }
        return Ok(());
    }
    let only_paired = std::env::args().any(|a| a == "--paired");
    let cpus = polyshm::sys::cpu_count();
    let mut placements = vec![("same CPU", 0usize, 0usize)];
    if cpus > 1 {
        placements.push(("different CPUs", 0, 1));
    }
    let mut rows = Vec::new();
    let mut memcpy = Vec::new();
    let mut sweep = Vec::new();
    let mut paired = Vec::new();
    for &(placement, master_cpu, drone_cpu) in &placements {
        polyshm::sys::pin_current_thread(master_cpu)?;
        for w in wait_strategies().into_iter().filter(|_| !only_paired) {
            let team = Team::builder(Tasks::new())
                .drones(1)
                .transport(Transport::Shm)
                .pin_drones(vec![drone_cpu])
                .wait_strategy(w)
                .spawn()?;
            let reps = reps_for(10, quick);
            let v: Vec<i64> = (0..10).collect();
            let s = roundtrips(&team, &builtin::ECHO_I64, &v[..], reps / 10, reps)?;
            sweep.push((placement, w, summarize(&s).expect("samples")));
        }
    }
    for (placement, master_cpu, drone_cpu) in placements {
        polyshm::sys::pin_current_thread(master_cpu)?;
        memcpy.push((placement, memcpy_8mb(if quick { 20 } else { 100 })));
        for t in Transport::ALL.into_iter().filter(|_| !only_paired) {
            let team = Team::builder(Tasks::new())
                .drones(1)
                .transport(t)
                .pin_drones(vec![drone_cpu])
                .spawn()?;
            let reps = reps_for(0, quick);
            let s = summarize(&roundtrips(&team, &builtin::EMPTY, &(), reps / 10, reps)?)
                .expect("samples");
            rows.push(Row {
                placement,
                transport: t,
                what: "empty".into(),
                s,
            });
            for n in SIZES {
                let v: Vec<i64> = (0..n as i64).collect();
                let reps = reps_for(n, quick);
                let samples =
                    roundtrips(&team, &builtin::ECHO_I64, &v[..], (reps / 10).max(3), reps)?;
                rows.push(Row {
                    placement,
                    transport: t,
                    what: format!("echo {n}"),
                    s: summarize(&samples).expect("samples"),
                });
            }
            let v: Vec<i64> = (0..1_000_000).collect();
            let reps = reps_for(1_000_000, quick);
            let sum = roundtrips(&team, &builtin::SUM_I64, &v[..], 5, reps)?;
            let bytes = polyshm::codec::pod_bytes(&v);
            let send = roundtrips(&team, &builtin::LEN, bytes, 5, reps)?;
            for (what, samples) in [("sum 1000000", sum), ("send 1000000", send)] {
                rows.push(Row {
                    placement,
                    transport: t,
                    what: what.into(),
                    s: summarize(&samples).expect("samples"),
                });
            }
            let mut samples = Vec::with_capacity(reps);
            for i in 0..reps + 5 {
                let t = Instant::now();
                loan_echo(&team, &builtin::ECHO_I64_IN_PLACE, &v)?;
                if i >= 5 {
                    samples.push(t.elapsed());
                }
            }
            rows.push(Row {
                placement,
                transport: t,
                what: "loan echo 1000000 in place".into(),
                s: summarize(&samples).expect("samples"),
            });
            eprintln!("measured {t} ({placement})");
        }
        paired.push((
            placement,
            shm_vs_memcpy(drone_cpu, if quick { 20 } else { 200 })?,
        ));
    }
    println!(
        "# team roundtrips (µs, median / p99), polyshm {}, {} CPUs, default wait {:?}",
        env!("CARGO_PKG_VERSION"),
        cpus,
        polyshm::team::DEFAULT_WAIT
    );
    for (placement, m) in &memcpy {
        println!(
            "memcpy 8 MB ({placement}): {:.1} / {:.1}",
            us(m.median),
            us(m.p99)
        );
    }
    if !only_paired {
        println!("\n## shm, echo of 10 i64, by wait strategy (µs, median / p99)\n");
        println!("| wait strategy | placement | median / p99 |");
        println!("|---|---|---|");
    }
    for (placement, w, s) in &sweep {
        println!(
            "| {w:?} | {placement} | {:.1} / {:.1} |",
            us(s.median),
            us(s.p99)
        );
    }
    let whats: Vec<String> = std::iter::once("empty".to_string())
        .chain(SIZES.iter().map(|n| format!("echo {n}")))
        .chain(
            ["loan echo 1000000 in place", "sum 1000000", "send 1000000"]
                .iter()
                .map(|s| s.to_string()),
        )
        .collect();
    let find = |p: &str, t: Transport, w: &str| {
        rows.iter()
            .find(|r| r.placement == p && r.transport == t && r.what == w)
            .map(|r| r.s)
    };
    for (placement, _) in &memcpy {
        println!("\n## {placement}\n");
        let whats = if only_paired { &[][..] } else { &whats[..] };
        if !only_paired {
            print!("| payload |");
            for t in Transport::ALL {
                print!(" {t} |");
            }
            println!(" shm/unix | shm/tcp |");
            print!("|---|");
            for _ in Transport::ALL {
                print!("---|");
            }
            println!("---|---|");
        }
        for w in whats {
            print!("| {w} |");
            for t in Transport::ALL {
                match find(placement, t, w) {
                    Some(s) => print!(" {:.1} / {:.1} |", us(s.median), us(s.p99)),
                    None => print!(" – |"),
                }
            }
            let shm = find(placement, Transport::Shm, w).map(|s| us(s.median));
            let unix = find(placement, Transport::Unix, w).map(|s| us(s.median));
            let tcp = find(placement, Transport::Tcp, w).map(|s| us(s.median));
            match (shm, unix, tcp) {
                (Some(s), Some(u), Some(t)) => println!(" {:.2} | {:.2} |", s / u, s / t),
                _ => println!(" – | – |"),
            }
        }
        if let Some((_, cases)) = paired.iter().find(|(p, _)| p == placement) {
            println!("\nshm, 1,000,000 i64, each roundtrip alternating with a memcpy of 8 MB (µs, median / p99):\n");
            println!("| case | shm | memcpy 8 MB | ratio of medians |");
            println!("|---|---|---|---|");
            for (say, r, m) in cases {
                println!(
                    "| {say} | {:.1} / {:.1} | {:.1} / {:.1} | {:.2} |",
                    us(r.median),
                    us(r.p99),
                    us(m.median),
                    us(m.p99),
                    us(r.median) / us(m.median)
                );
            }
        }
    }
    Ok(())
}
