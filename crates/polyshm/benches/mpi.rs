//! Roundtrip benchmark of the team over MPI ranks (feature `mpi`; not a test): the
//! echo of 10 and of 1,000,000 i64, in the same run, through
//!
//! - `mpi-shm`: drone rank 1, on this node: the mailbox (the shm path);
//! - `mpi-messages`: drone rank 2, named remote by `POLYSHM_MPI_REMOTE_RANKS=2`: MPI
//!   point-to-point messages (on one host, Open MPI carries them in its own shared
//!   memory transport, not over a network);
//! - `shm` and `tcp`: a drone spawned on this host, as without MPI.
//!
//! The variants take turns, one roundtrip each, round after round; medians and p99 in
//! µs, and the median and p99 of each variant's ratio to `mpi-shm` in the same round.
//!
//! ```sh
//! cargo bench -p polyshm --features mpi --bench mpi --no-run
//! POLYSHM_MPI_REMOTE_RANKS=2 mpirun -n 3 target/release/deps/mpi-… [--quick]
//! ```

use polyshm::shm::SharedMemory;
use polyshm::team::{builtin, drone_main, Tasks, Team, Transport};
use std::time::{Duration, Instant};

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn mailboxes() -> usize {
    SharedMemory::registry()
        .iter()
        .filter(|e| e.owner && e.name.starts_with("mbx"))
        .count()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    drone_main(&Tasks::new());
    if !polyshm::team::in_mpi_job() {
        return Err("run under mpirun: POLYSHM_MPI_REMOTE_RANKS=2 mpirun -n 3 <this bench>".into());
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let before = mailboxes();
    let mpi_shm = Team::builder(Tasks::new()).mpi().drones(1).spawn()?;
    if mailboxes() != before + 1 {
        return Err("the first drone rank did not get a mailbox: run with POLYSHM_MPI_REMOTE_RANKS=2 (not ALL_REMOTE)".into());
    }
    let mpi_msg = Team::builder(Tasks::new()).mpi().drones(1).spawn()?;
    if mailboxes() != before + 1 {
        return Err(
            "the second drone rank got a mailbox: run with POLYSHM_MPI_REMOTE_RANKS=2".into(),
        );
    }
    let shm = Team::builder(Tasks::new())
        .drones(1)
        .transport(Transport::Shm)
        .spawn()?;
    let tcp = Team::builder(Tasks::new())
        .drones(1)
        .transport(Transport::Tcp)
        .spawn()?;
    let variants = [
        ("mpi-shm", &mpi_shm),
        ("mpi-messages", &mpi_msg),
        ("shm", &shm),
        ("tcp", &tcp),
    ];
    println!(
        "echo of n i64, one roundtrip per variant per round; µs; ratio to mpi-shm in the same round"
    );
    println!(
        "{:>9} {:>13} {:>10} {:>10} {:>12} {:>12}",
        "n", "variant", "median", "p99", "ratio med", "ratio p99"
    );
    for (n, rounds) in [(10usize, 3000usize), (1_000_000, 150)] {
        let rounds = if quick { rounds / 10 } else { rounds };
        let v: Vec<i64> = (0..n as i64).collect();
        // Warm up: the areas grow, the pages are touched.
        for (_, t) in &variants {
            for _ in 0..5 {
                assert!(t.run(&builtin::ECHO_I64, &v)? == v);
            }
        }
        let mut samples = vec![Vec::with_capacity(rounds); variants.len()];
        for _ in 0..rounds {
            for (i, (_, t)) in variants.iter().enumerate() {
                let start = Instant::now();
                let back = t.run(&builtin::ECHO_I64, &v)?;
                let took = start.elapsed();
                assert_eq!(back.len(), n);
                samples[i].push(took);
            }
        }
        let us = |d: &Duration| d.as_secs_f64() * 1e6;
        for (i, (name, _)) in variants.iter().enumerate() {
            let mut t: Vec<f64> = samples[i].iter().map(us).collect();
            let mut r: Vec<f64> = samples[i]
                .iter()
                .zip(&samples[0])
                .map(|(a, b)| us(a) / us(b))
                .collect();
            println!(
                "{n:>9} {name:>13} {:>10.1} {:>10.1} {:>12.2} {:>12.2}",
                quantile(&mut t, 0.5),
                quantile(&mut t, 0.99),
                quantile(&mut r, 0.5),
                quantile(&mut r, 0.99)
            );
        }
    }
    Ok(())
}
