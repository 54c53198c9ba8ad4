//! Who the caller is and whether another process lives, as the robust mutex sees it.
//!
//! The real code asks the platform ([`OsHost`]); the loom models stand threads in for
//! processes with a host of their own, so that a "process" can die between two steps
//! of the protocol.

use polyshm_sys::ProcessId;

/// The identity a locker publishes: its process and its thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Me {
    /// The calling process (pid + start time).
    pub process: ProcessId,
    /// The calling thread (to tell threads of one process apart).
    pub tid: u32,
}

/// Identity, liveness and fault points, as the lock protocol needs them.
pub(crate) trait Host {
    /// The caller.
    fn me(&self) -> Me;
    /// Whether `p` names a live process (`start_time` 0: judge by the pid alone).
    fn is_alive(&self, p: ProcessId) -> bool;
    /// A named step of the protocol: a fault point (tests stop or kill the caller here).
    fn reach(&self, point: &'static str);
}

/// The platform: `polyshm_sys` identity and liveness, `fault` points.
pub(crate) struct OsHost;

impl Host for OsHost {
    fn me(&self) -> Me {
        Me {
            process: polyshm_sys::current_process(),
            tid: polyshm_sys::current_thread_id(),
        }
    }

    fn is_alive(&self, p: ProcessId) -> bool {
        polyshm_sys::is_alive(p)
    }

    #[inline(always)]
    fn reach(&self, _point: &'static str) {
        #[cfg(feature = "failpoints")]
        crate::fault::reach(_point);
    }
}
