//! The window messages of [`SemaphoreEventRelay`](super::SemaphoreEventRelay) and
//! [`EventBasedSemaphore`](super::EventBasedSemaphore): their codes and replies, the
//! study's `ST_EventRecord`. Public so that another program can speak to a polyshm
//! relay (or a test can play a hostile one).
//!
//! # The messages
//!
//! Every message is an application code above `WM_APP` (0x8000), sent synchronously
//! (`SendMessageTimeoutW`): the sender learns the receiver's answer. `wParam` and
//! `lParam` name the semaphore: `wParam` is the pair's id (given by the owner's relay),
//! `lParam` the sender's pid (a relay answers only the peer the pair was opened by).
//!
//! | code | name | `wParam` | `lParam` | reply |
//! |---|---|---|---|---|
//! | 0x8001 | [`CONNECT`] | the sender's relay window | the sender's pid | the receiver's pid |
//! | 0x8002 | [`OPEN_PAIR`] | pair id | sender pid | 1 + the signals pending in the owner's half |
//! | 0x8003 | [`SIGNAL`] (`#signalRemote`) | pair id | sender pid | [`DONE`] |
//! | 0x8004 | [`WAIT_REMOTE`] (`#waitRemote`) | pair id | sender pid | [`TOOK`] or [`BLOCKED`] |
//! | 0x8005 | [`CANCEL_WAIT`] | pair id | sender pid | [`DONE`] or [`TOO_LATE`] |
//! | 0x8006 | [`CLOSE_PAIR`] | pair id | sender pid | [`DONE`] |
//!
//! A reply of [`REFUSED`] (0) means the receiver knows no such pair, or not from this
//! sender (and it is what a failed `SendMessage` returns): the sender reports it, never
//! guesses.

/// A drone's relay introduces itself: `wParam` its window, `lParam` its pid; the
/// reply is the receiver's pid.
pub const CONNECT: u32 = 0x8001;
/// Open the client half of a pair: the owner's half is bound to the sender; the reply
/// is 1 + the signals pending in the owner's half.
pub const OPEN_PAIR: u32 = 0x8002;
/// `#signalRemote`: the receiver's half counts one more signal (`#signalLocal`
/// there).
pub const SIGNAL: u32 = 0x8003;
/// `#waitRemote`: the receiver's half takes one pending signal ([`TOOK`]) or, with
/// none pending, owes its next signal to the waiting side ([`BLOCKED`]): either way
/// the receiver's next `#waitLocal` meets a blocked semaphore, as the study asks.
pub const WAIT_REMOTE: u32 = 0x8004;
/// Undo a [`WAIT_REMOTE`] whose wait timed out: the owed signal is forgotten
/// ([`DONE`]), or it was sent already ([`TOO_LATE`]) and is in the waiter's count.
pub const CANCEL_WAIT: u32 = 0x8005;
/// The sender drops its half: waiters on the receiver's half are told.
pub const CLOSE_PAIR: u32 = 0x8006;

/// Reply: no such pair here, or not from this sender (also a failed send's value).
pub const REFUSED: isize = 0;
/// Reply: done.
pub const DONE: isize = 1;
/// Reply to [`WAIT_REMOTE`]: the receiver's half held a signal and gave it up.
pub const TOOK: isize = 1;
/// Reply to [`WAIT_REMOTE`]: no signal pending; the receiver's next one is owed.
pub const BLOCKED: isize = 2;
/// Reply to [`CANCEL_WAIT`]: the owed signal has been sent already.
pub const TOO_LATE: isize = 2;
