//! `polyshm fractal`, driven through the built binary: counts against an independent
//! escape-time loop, the `.npy` header, the PNG, and byte-identical files however the
//! image is computed (one process, every transport, results sent back or written into
//! a shared matrix). Every run of the binary has a watchdog: a hang fails the test.

mod common;
#[path = "fractal/drones.rs"]
mod drones;
#[path = "fractal/one_process.rs"]
mod one_process;
#[path = "fractal/support.rs"]
mod support;
