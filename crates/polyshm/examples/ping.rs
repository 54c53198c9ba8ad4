//! Two processes, one segment: the master writes numbers into shared memory and
//! signals; a child (this same program, started again) sums them, writes the sum
//! back and signals in return.
//!
//! `cargo run --example ping -p polyshm`

use polyshm::shm::{unique_name, RemoteSemaphore, SharedMemory};
use std::error::Error;
use std::time::Duration;

const SEGMENT_ENV: &str = "PING_SEGMENT";
const REQUEST: usize = 0; // semaphore, master → child
const REPLY: usize = 64; // semaphore, child → master
const NUMBERS: usize = 128; // five i64
const SUM: usize = 192; // one i64

fn main() -> Result<(), Box<dyn Error>> {
    if let Ok(name) = std::env::var(SEGMENT_ENV) {
        return child(&name);
    }
    let name = unique_name("ping");
    let shm = SharedMemory::create(&name, 4096)?; // removed when `shm` drops
    let request = RemoteSemaphore::in_segment(&shm, REQUEST)?;
    let reply = RemoteSemaphore::in_segment(&shm, REPLY)?;
    shm.write_from::<i64>(NUMBERS, &[1, 2, 3, 4, 5])?;

    let mut drone = std::process::Command::new(std::env::current_exe()?)
        .env(SEGMENT_ENV, &name)
        .spawn()?;
    request.signal()?;
    reply.wait_timeout(Duration::from_secs(10))?;
    println!(
        "the child (pid {}) summed 1..=5: {}",
        drone.id(),
        shm.copy_out::<i64>(SUM, 1)?[0]
    );
    drone.wait()?;
    Ok(())
}

fn child(name: &str) -> Result<(), Box<dyn Error>> {
    let shm = SharedMemory::open(name)?; // a client: never removes the segment
    let request = RemoteSemaphore::in_segment(&shm, REQUEST)?;
    let reply = RemoteSemaphore::in_segment(&shm, REPLY)?;
    request.wait_timeout(Duration::from_secs(10))?;
    let sum: i64 = shm.copy_out::<i64>(NUMBERS, 5)?.iter().sum();
    shm.write_from(SUM, &[sum])?;
    reply.signal()?;
    Ok(())
}
