//! Semaphore roundtrip between two processes, beside a pipe roundtrip in the same run.
//!
//! The master and a child (this program run again) ping-pong a pair of
//! `RemoteSemaphore`s placed in one segment: the master signals `ping` and waits on
//! `pong`; the child waits on `ping` and signals `pong`. Each roundtrip is timed on its
//! own; the report gives the median and the 99th percentile, per wait strategy and
//! placement (both processes pinned to one CPU, or to two), and the same for one byte
//! echoed through the child's stdin/stdout pipes (the operating system's plainest
//! cross-process hand-over), so that platforms can be compared by ratio.
//!
//! ```text
//! cargo run --release -p polyshm --example sem_roundtrip [ROUNDS]
//! ```
//!
//! Every wait has a timeout (10 s): a lost signal ends the run with an error instead of
//! a hang.

use polyshm::shm::{unique_name, RemoteSemaphore, SharedMemory};
use polyshm::sync::WaitStrategy;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WATCHDOG: Duration = Duration::from_secs(10);
const WARMUP: usize = 2_000;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn strategy(name: &str) -> WaitStrategy {
    match name {
        "block" => WaitStrategy::Block,
        _ => WaitStrategy::default(),
    }
}

fn pin(cpu: &str) -> Result<()> {
    if let Ok(cpu) = cpu.parse::<usize>() {
        polyshm::sys::pin_current_thread(cpu)?;
    }
    Ok(())
}

fn semaphores(shm: &SharedMemory, how: WaitStrategy) -> Result<(RemoteSemaphore, RemoteSemaphore)> {
    let mut ping = RemoteSemaphore::in_segment(shm, 0)?;
    let mut pong = RemoteSemaphore::in_segment(shm, 64)?;
    ping.set_wait_strategy(how);
    pong.set_wait_strategy(how);
    Ok((ping, pong))
}

/// The child: `child sem NAME STRATEGY CPU ROUNDS` or `child pipe CPU ROUNDS`.
fn child(args: &[String]) -> Result<()> {
    match args {
        [kind, name, how, cpu, rounds] if kind == "sem" => {
            pin(cpu)?;
            let shm = SharedMemory::open(name)?;
            let (ping, pong) = semaphores(&shm, strategy(how))?;
            for _ in 0..rounds.parse::<usize>()? {
                ping.wait_timeout(WATCHDOG)?;
                pong.signal()?;
            }
            Ok(())
        }
        [kind, cpu, rounds] if kind == "pipe" => {
            pin(cpu)?;
            let (mut input, mut output) = (std::io::stdin().lock(), std::io::stdout().lock());
            let mut b = [0u8; 1];
            for _ in 0..rounds.parse::<usize>()? {
                input.read_exact(&mut b)?;
                output.write_all(&b)?;
                output.flush()?;
            }
            Ok(())
        }
        _ => Err(format!("bad child arguments {args:?}").into()),
    }
}

/// Median and 99th percentile, in µs.
fn summary(mut ns: Vec<u64>) -> (f64, f64) {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    (at(0.5), at(0.99))
}

fn spawn(args: &[&str]) -> Result<std::process::Child> {
    Ok(Command::new(std::env::current_exe()?)
        .arg("child")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?)
}

fn finish(mut c: std::process::Child) -> Result<()> {
    drop(c.stdin.take());
    let give_up = Instant::now() + WATCHDOG;
    loop {
        if let Some(s) = c.try_wait()? {
            return if s.success() {
                Ok(())
            } else {
                Err(format!("child failed: {s}").into())
            };
        }
        if Instant::now() > give_up {
            let _ = c.kill();
            return Err("child did not finish".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn sem_run(how: &str, cpus: (&str, &str), rounds: usize) -> Result<(f64, f64)> {
    pin(cpus.0)?;
    let name = unique_name("bench");
    let shm = SharedMemory::create(&name, 128)?;
    let (ping, pong) = semaphores(&shm, strategy(how))?;
    let total = (WARMUP + rounds).to_string();
    let c = spawn(&["sem", &name, how, cpus.1, &total])?;
    let mut ns = Vec::with_capacity(rounds);
    for i in 0..WARMUP + rounds {
        let t = Instant::now();
        ping.signal()?;
        pong.wait_timeout(WATCHDOG)?;
        if i >= WARMUP {
            ns.push(t.elapsed().as_nanos() as u64);
        }
    }
    finish(c)?;
    Ok(summary(ns))
}

fn pipe_run(cpus: (&str, &str), rounds: usize) -> Result<(f64, f64)> {
    pin(cpus.0)?;
    let total = (WARMUP + rounds).to_string();
    let mut c = spawn(&["pipe", cpus.1, &total])?;
    let (mut to, mut from) = (
        c.stdin.take().ok_or("stdin")?,
        c.stdout.take().ok_or("stdout")?,
    );
    let mut ns = Vec::with_capacity(rounds);
    let mut b = [7u8; 1];
    for i in 0..WARMUP + rounds {
        let t = Instant::now();
        to.write_all(&b)?;
        to.flush()?;
        from.read_exact(&mut b)?;
        if i >= WARMUP {
            ns.push(t.elapsed().as_nanos() as u64);
        }
    }
    c.stdin = Some(to);
    finish(c)?;
    Ok(summary(ns))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("child") {
        return child(&args[1..]);
    }
    let rounds: usize = args.first().map_or(Ok(20_000), |a| a.parse())?;
    let mut placements = vec![("one CPU", ("0", "0"))];
    if polyshm::sys::cpu_count() >= 2 {
        placements.push(("two CPUs", ("0", "1")));
    }
    println!(
        "platform {}, {} CPUs, {rounds} roundtrips per row (after {WARMUP} warm-up)",
        polyshm::sys::PLATFORM,
        polyshm::sys::cpu_count()
    );
    println!(
        "{:<44} {:>10} {:>10} {:>12}",
        "variant", "median µs", "p99 µs", "median/pipe"
    );
    for (place, cpus) in placements {
        let pipe = pipe_run(cpus, rounds)?;
        for (label, how) in [
            ("semaphore, spin 50 µs then block", "spin"),
            ("semaphore, block", "block"),
        ] {
            let (med, p99) = sem_run(how, cpus, rounds)?;
            println!(
                "{:<44} {med:>10.2} {p99:>10.2} {:>12.2}",
                format!("{label} [{place}]"),
                med / pipe.0
            );
        }
        println!(
            "{:<44} {:>10.2} {:>10.2} {:>12.2}",
            format!("pipe, 1 byte [{place}]"),
            pipe.0,
            pipe.1,
            1.0
        );
    }
    Ok(())
}
