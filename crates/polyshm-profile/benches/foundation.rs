//! Foundation benchmark (not a test): the study's tables 1 and 2 beside the rivals,
//! in one run.
//!
//! `cargo bench -p polyshm-profile --bench foundation` (add `-- --quick` for fewer samples).
//!
//! Each row is one roundtrip between this process (the master, pinned to CPU 0) and a
//! child process (a clone of this executable, pinned to CPU 0 or CPU 1):
//!
//! - `semaphore`: a bare [`RemoteSemaphore`] pair in a segment: signal `ping`, the
//!   child waits and signals `pong`, the master waits;
//! - `relay signal`: the same over a connected [`Relay`] link (its `to_client` /
//!   `to_master` pair);
//! - `relay message/reply` (the study's "mutex roundtrip", table 1): the master writes
//!   a 9-byte request into the link's message area and signals; the child wakes, reads
//!   it, writes it back as the reply and signals; the master wakes and reads it;
//! - `relay connect` (table 1): [`Relay::connect`] in the child, from opening the
//!   segment to the master's answer, the master sitting in [`Relay::accept`];
//! - `udp relay message/reply` (table 2): the same message/reply over [`UdpRelay`];
//! - `unix socket`, `udp socket`: an 8-byte echo over a Unix stream socket and over a
//!   connected UDP socket on loopback, for comparison.
//!
//! Shared-memory roundtrip rows run with each wait strategy (`Block`, and the default
//! `SpinThenBlock` of 50 µs, set on both sides); relay connect (default strategy) and
//! the socket rows do not depend on it and run once per placement. Medians and p99 of
//! many repetitions (summarised as the profile does, `stats::Summary`); timings are
//! taken by the master.

use polyshm::relay::{Relay, RelayOptions, UdpRelay, RELAY_ENV, UDP_RELAY_ENV};
use polyshm::shm::{unique_name, RemoteSemaphore, SharedMemory};
use polyshm::sync::WaitStrategy;
use polyshm_profile::machine::Machine;
use polyshm_profile::probe;
use polyshm_profile::stats::Summary;
use std::io::Read;
use std::io::Write;
use std::net::{Ipv4Addr, UdpSocket};
// Rust's standard library has Unix sockets on Unix only: elsewhere that row is left out.
use polyshm::child::{tie_to_parent, ChildProcess, Spawn};
#[cfg(unix)]
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

const ROLE: &str = "POLYSHM_BENCH_CHILD";
const CPU: &str = "POLYSHM_BENCH_CPU";
const STRATEGY: &str = "POLYSHM_BENCH_BLOCK";
const ARG: &str = "POLYSHM_BENCH_ARG";
const COUNT: &str = "POLYSHM_BENCH_N";
const PATIENCE: Duration = Duration::from_secs(30);

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        // Die with the bench, however it ends.
        if tie_to_parent().expect("tie to the parent") {
            child(&role);
        }
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 2_000 } else { 20_000 };
    let connects = if quick { 100 } else { 1_000 };
    print_machine();
    let mut rows = Vec::new();
    let cpus = polyshm::sys::cpu_count();
    let placements: &[(&str, usize)] = if cpus >= 2 {
        &[("same CPU", 0), ("different CPUs", 1)]
    } else {
        &[("same CPU", 0)]
    };
    polyshm::sys::pin_current_thread(0).expect("pin the master to CPU 0");
    for &(place, cpu) in placements {
        for block in [true, false] {
            let strat = if block { "Block" } else { "SpinThenBlock" };
            let mut add = |what: &str, samples: Vec<Duration>| {
                rows.push(Row::new(what, place, strat, samples));
            };
            add("semaphore", semaphore_roundtrips(cpu, block, n));
            let (signals, messages) = relay_roundtrips(cpu, block, n);
            add("relay signal", signals);
            add("relay message/reply (study: mutex roundtrip)", messages);
        }
        let mut add = |what: &str, samples: Vec<Duration>| {
            rows.push(Row::new(what, place, "-", samples));
        };
        add("relay connect", relay_connects(cpu, connects));
        add("udp relay message/reply", udp_relay_roundtrips(cpu, n));
        #[cfg(unix)]
        add("unix socket", unix_roundtrips(cpu, n));
        add("udp socket", udp_roundtrips(cpu, n));
    }
    print_table(&rows);
}

/// One line of the report.
struct Row {
    what: String,
    place: &'static str,
    strategy: &'static str,
    summary: Summary,
}

impl Row {
    fn new(what: &str, place: &'static str, strategy: &'static str, s: Vec<Duration>) -> Row {
        let us: Vec<f64> = s.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        Row {
            what: what.into(),
            place,
            strategy,
            summary: Summary::from_us(&us).unwrap_or_else(|| panic!("{what}: no samples")),
        }
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!("| roundtrip | placement | wait | median µs | p99 µs | count |");
    println!("|---|---|---|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {} |",
            r.what, r.place, r.strategy, r.summary.median_us, r.summary.p99_us, r.summary.count
        );
    }
}

fn print_machine() {
    let m = Machine::probe();
    let load = m
        .load_before
        .map_or("unknown".into(), |l| format!("{l:.2}"));
    println!(
        "machine: {} CPUs ({}), {}, load average {load}, commit {}",
        m.cpus, m.cpu_model, m.kernel, m.commit
    );
}

/// Start this executable as a child in `role`, pinned to `cpu` (it dies with the bench;
/// the guard kills and reaps it if the bench fails first).
fn spawn(
    role: &str,
    cpu: usize,
    block: bool,
    arg: &str,
    n: usize,
    env: &[(&str, &str)],
) -> ChildProcess {
    let mut spawn = Spawn::this_program()
        .expect("current_exe")
        .env(ROLE, role)
        .env(CPU, cpu.to_string())
        .env(ARG, arg)
        .env(COUNT, n.to_string())
        .envs(env.iter().copied())
        .stdout(Stdio::piped());
    if block {
        spawn = spawn.env(STRATEGY, "1");
    }
    spawn.start().expect("spawn child")
}

/// Wait for a child and insist it succeeded; answers its standard output.
fn finish_child(mut child: ChildProcess) -> String {
    let mut out = String::new();
    if let Some(mut stdout) = child.take_stdout() {
        stdout
            .read_to_string(&mut out)
            .expect("read the child's output");
    }
    let status = child
        .wait_timeout(PATIENCE)
        .expect("wait for child")
        .expect("the child exits");
    assert!(status.success(), "child failed: {status}");
    out
}

fn strategy(block: bool) -> WaitStrategy {
    if block {
        WaitStrategy::Block
    } else {
        WaitStrategy::default()
    }
}

/// Warm-up repetitions before timing (page faults, caches, CPU frequency).
fn warmup(n: usize) -> usize {
    (n / 10).max(100)
}

fn semaphore_roundtrips(cpu: usize, block: bool, n: usize) -> Vec<Duration> {
    let name = unique_name("bench-sem");
    let shm = SharedMemory::create(&name, 4096).expect("segment");
    let ping = RemoteSemaphore::in_segment(&shm, 0).expect("ping");
    let mut pong = RemoteSemaphore::in_segment(&shm, 64).expect("pong");
    pong.set_wait_strategy(strategy(block));
    let total = warmup(n) + n;
    let child = spawn("semaphore", cpu, block, &name, total, &[]);
    let mut times = Vec::with_capacity(total);
    for _ in 0..total {
        let t = Instant::now();
        ping.signal().expect("signal");
        pong.wait_timeout(PATIENCE).expect("pong");
        times.push(t.elapsed());
    }
    finish_child(child);
    times.split_off(warmup(n))
}

fn relay_roundtrips(cpu: usize, block: bool, n: usize) -> (Vec<Duration>, Vec<Duration>) {
    let relay = Relay::create(&unique_name("bench-relay"), RelayOptions::default()).expect("relay");
    let child = spawn("relay", cpu, block, "", 0, &[(RELAY_ENV, relay.name())]);
    let mut link = relay.accept(Some(PATIENCE)).expect("accept");
    link.set_wait_strategy(strategy(block));
    let w = warmup(n);
    probe::signal_roundtrips(&link, w, PATIENCE).expect("warm-up");
    let signals = probe::signal_roundtrips(&link, n, PATIENCE).expect("signal roundtrips");
    probe::echo_roundtrips(&link, &[], w, PATIENCE).expect("warm-up");
    let messages = probe::echo_roundtrips(&link, &[], n, PATIENCE).expect("echo roundtrips");
    probe::finish(&link, PATIENCE).expect("finish");
    finish_child(child);
    (signals, messages)
}

fn relay_connects(cpu: usize, n: usize) -> Vec<Duration> {
    let relay = Relay::create(&unique_name("bench-conn"), RelayOptions::default()).expect("relay");
    let total = warmup(n) + n;
    let child = spawn("connect", cpu, false, relay.name(), total, &[]);
    probe::accept_many(&relay, total, PATIENCE).expect("accept");
    let out = finish_child(child);
    let mut times: Vec<Duration> = out
        .lines()
        .map(|l| Duration::from_nanos(l.parse().expect("nanoseconds")))
        .collect();
    assert_eq!(times.len(), total);
    times.split_off(warmup(n))
}

fn udp_relay_roundtrips(cpu: usize, n: usize) -> Vec<Duration> {
    let relay = UdpRelay::bind().expect("udp relay");
    let child = spawn(
        "udp-relay",
        cpu,
        false,
        "",
        0,
        &[(UDP_RELAY_ENV, relay.name())],
    );
    let link = relay.accept(Some(PATIENCE)).expect("accept");
    probe::echo_roundtrips(&link, &[], warmup(n), PATIENCE).expect("warm-up");
    let times = probe::echo_roundtrips(&link, &[], n, PATIENCE).expect("echo");
    probe::finish(&link, PATIENCE).expect("finish");
    finish_child(child);
    times
}

#[cfg(unix)]
fn unix_roundtrips(cpu: usize, n: usize) -> Vec<Duration> {
    let path = std::env::temp_dir().join(format!("polyshm-bench-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).expect("bind unix socket");
    let total = warmup(n) + n;
    let child = spawn(
        "unix",
        cpu,
        false,
        path.to_str().expect("utf-8 path"),
        total,
        &[],
    );
    let (mut s, _) = listener.accept().expect("accept");
    let _ = std::fs::remove_file(&path);
    let mut buf = [0u8; 8];
    let mut times = Vec::with_capacity(total);
    for i in 0..total as u64 {
        let t = Instant::now();
        s.write_all(&i.to_le_bytes()).expect("write");
        s.read_exact(&mut buf).expect("read");
        times.push(t.elapsed());
        assert_eq!(u64::from_le_bytes(buf), i);
    }
    drop(s);
    finish_child(child);
    times.split_off(warmup(n))
}

fn udp_roundtrips(cpu: usize, n: usize) -> Vec<Duration> {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    sock.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let addr = sock.local_addr().expect("addr").to_string();
    let total = warmup(n) + n;
    let child = spawn("udp", cpu, false, &addr, total, &[]);
    let mut buf = [0u8; 8];
    let (_, from) = sock.recv_from(&mut buf).expect("hello");
    sock.connect(from).expect("connect");
    let mut times = Vec::with_capacity(total);
    for i in 0..total as u64 {
        let t = Instant::now();
        sock.send(&i.to_le_bytes()).expect("send");
        let got = sock.recv(&mut buf).expect("recv");
        times.push(t.elapsed());
        assert_eq!((got, u64::from_le_bytes(buf)), (8, i));
    }
    finish_child(child);
    times.split_off(warmup(n))
}

/// The child side of every row.
fn child(role: &str) {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let cpu: usize = env(CPU).parse().expect("cpu");
    polyshm::sys::pin_current_thread(cpu).expect("pin the child");
    let block = std::env::var(STRATEGY).is_ok();
    let arg = env(ARG);
    let n: usize = env(COUNT).parse().unwrap_or(0);
    match role {
        "semaphore" => {
            let shm = SharedMemory::open(&arg).expect("open");
            let mut ping = RemoteSemaphore::in_segment(&shm, 0).expect("ping");
            let pong = RemoteSemaphore::in_segment(&shm, 64).expect("pong");
            ping.set_wait_strategy(strategy(block));
            for _ in 0..n {
                ping.wait_timeout(PATIENCE).expect("ping");
                pong.signal().expect("signal");
            }
        }
        "relay" => {
            let mut link = Relay::connect_from_env(PATIENCE).expect("connect");
            link.set_wait_strategy(strategy(block));
            probe::serve(&link, PATIENCE).expect("serve");
        }
        "connect" => {
            let times = probe::connect_times(&arg, n, PATIENCE).expect("connect");
            let mut out = std::io::stdout().lock();
            for t in times {
                writeln!(out, "{}", t.as_nanos()).expect("stdout");
            }
        }
        "udp-relay" => {
            let link = UdpRelay::connect_from_env(PATIENCE).expect("connect");
            probe::serve(&link, PATIENCE).expect("serve");
        }
        #[cfg(unix)]
        "unix" => {
            let mut s = UnixStream::connect(&arg).expect("connect");
            let mut buf = [0u8; 8];
            for _ in 0..n {
                s.read_exact(&mut buf).expect("read");
                s.write_all(&buf).expect("write");
            }
        }
        "udp" => {
            let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
            sock.set_read_timeout(Some(PATIENCE)).expect("timeout");
            sock.connect(&arg).expect("connect");
            sock.send(b"hello").expect("hello");
            let mut buf = [0u8; 8];
            for _ in 0..n {
                let got = sock.recv(&mut buf).expect("recv");
                sock.send(&buf[..got]).expect("send");
            }
        }
        other => panic!("unknown bench role {other:?}"),
    }
}
