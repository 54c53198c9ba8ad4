//! When `mpirun` tears the job down (a rank died, or the job was interrupted) it sends
//! every surviving rank SIGTERM, then SIGKILL. A master killed that way would leave
//! its mailbox segments in `/dev/shm`: on SIGTERM a thread of this process removes the
//! segments the process owns and, on a drone rank of the master's node, those of a
//! master that is dead already (its mailboxes, left by a kill -9), then exits at once
//! with 143 (128 + SIGTERM), without finalizing MPI (the job is going down).

use super::job::Job;
use crate::shm::{admin, registry};
use signal_hook::consts::SIGTERM;
use signal_hook::iterator::Signals;

/// Start the thread that waits for SIGTERM (under an MPI launcher only).
pub(super) fn install(job: &'static Job) {
    let mut signals = match Signals::new([SIGTERM]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("polyshm (MPI rank {}): no SIGTERM handler ({e}); segments may outlive a job that mpirun aborts", job.rank);
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("polyshm-mpi-teardown".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                // This process's own segments go with no other thread making or
                // unmaking one meanwhile, up to the end of the process.
                registry::remove_owned_then("", || {
                    remove_dead_masters(job);
                    // SAFETY: `_exit` ends the process at once, running no handler:
                    // nothing of this process is touched after it.
                    unsafe { libc::_exit(128 + SIGTERM) }
                })
            }
        });
    if let Err(e) = spawned {
        eprintln!("polyshm (MPI rank {}): no SIGTERM thread ({e})", job.rank);
    }
}

/// On a drone rank of the master's node: the mailboxes of a master that is dead
/// already (killed with -9, it could not remove them).
fn remove_dead_masters(job: &Job) {
    if job.rank != 0 {
        if let Some(master) = job.pid_of(0) {
            if !polyshm_sys::is_alive(master) {
                for stem in ["mbx", "mbd"] {
                    let _ = admin::clean_matching(&format!("{stem}-{:x}-", master.pid));
                }
            }
        }
    }
}
