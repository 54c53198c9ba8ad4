//! Windows backend: page-file-backed named file mappings, named kernel semaphores for
//! the sleep/wake path, process handles for identity, a job object for drones.
//!
//! Where Windows differs from POSIX, and what this backend does about it:
//!
//! - **A segment disappears with its last handle.** A named file mapping lives while
//!   some process holds a handle to it (or maps a view of it), and no longer: there is
//!   no way to keep one alive without a process, and no way to remove the name while
//!   handles remain. [`SEGMENTS_PERSIST`](crate::SEGMENTS_PERSIST) is `false`;
//!   [`unlink_segment`] can only check that the segment exists (the name goes when the
//!   last handle closes); [`list_segments`] answers `Unsupported`: polyshm lists the
//!   segments its creators entered in a per-user index instead ([`segment_index_dir`]).
//! - **`WaitOnAddress` works only inside one process**, so [`Parker`] sleeps on a
//!   named kernel semaphore derived from its key, while the word in shared memory
//!   stays the truth (see [`Parker`]).
//! - **No parent-death signal**: [`kill_with_parent`] starts a watcher thread in the
//!   child, and [`adopt_child`] puts a child in the parent's kill-on-close job object.
//!
//! Names live in the session namespace (`Local\polyshm.<name>`), and objects get the
//! creator's default security descriptor (the creating user, SYSTEM and
//! administrators may open them), the closest Windows has to POSIX mode 0600. Windows
//! compares object names without regard to case: `polyshm.A` and `polyshm.a` are two
//! segments on Linux and macOS, one on Windows.
//!
//! One file per concept, as in mio's `sys/windows`: [`handle`] (owned kernel handles,
//! UTF-16 names), [`segment`] (named file mappings), [`parker`] (wait/wake on a shared
//! word), [`process`] (identity, liveness, `kill`), [`child`] (a child ends with its
//! parent), [`sched`] (CPU pinning, yielding), [`socket`] (bounded socket waits),
//! [`window`] (message-only windows and `SendMessage`, the study's
//! `Win32MessageSending`).

mod child;
mod handle;
mod parker;
mod process;
mod sched;
mod segment;
mod socket;
mod window;

pub use child::{adopt_child, kill_with_parent, start_failure_is_transient};
pub use parker::Parker;
pub use process::{current_process, current_thread_id, is_alive, kill_process};
pub use sched::{cpu_count, current_cpu, pin_current_thread, yield_now};
pub use segment::{
    create_segment, create_segment_with_hook, list_segments, open_segment, segment_index_dir,
    segment_modified, unlink_segment, Mapping,
};
pub use socket::wait_socket;
pub use window::{find_window, send_message, MessageHandler, MessageWindow};

// Capabilities: the values for this platform; what each means is documented once, in
// lib.rs (`crate::PLATFORM` and the constants after it).
pub(crate) const PLATFORM: &str = "windows";
/// Windows allows far longer object names; polyshm keeps to macOS's 31.
pub(crate) const MAX_OS_NAME_LEN: usize = 31;
/// `WaitForSingleObject` takes a timeout.
pub(crate) const HAS_TIMED_WAIT: bool = true;
/// A named file mapping goes with its last handle (see the module docs).
pub(crate) const SEGMENTS_PERSIST: bool = false;
/// File mappings live in the object manager, not in a file system.
pub(crate) const SEGMENT_DIR: Option<&str> = None;
/// See [`list_segments`].
pub(crate) const CAN_LIST_SEGMENTS: bool = false;
/// Windows 10 has `AF_UNIX`, but Rust's standard library does not expose it (nor does
/// Wine).
pub(crate) const HAS_UNIX_SOCKETS: bool = false;
/// Winsock documents that after a timeout "an application has no guarantees as to how
/// much data was actually sent or received".
pub(crate) const TIMED_SOCKET_IO_IS_EXACT: bool = false;
/// `OpenThread`: process and thread ids come from one pool, so an id is never both.
pub(crate) const THREAD_IDS_CHECKABLE: bool = true;
