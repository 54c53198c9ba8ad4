//! The one door through which the sync layer reaches atomics, so that the model
//! checker (loom, built with `--cfg loom`, see `scripts/loom.sh`) replaces them in the
//! model tests: the models run the very code the processes run.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
