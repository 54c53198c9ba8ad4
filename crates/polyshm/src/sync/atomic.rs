//! The one door through which the sync layer reaches atomics, so that a model checker
//! (loom) could replace them in tests.

pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
