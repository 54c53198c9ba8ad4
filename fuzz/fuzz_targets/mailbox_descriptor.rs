//! A drone's mailbox: the input is written over the request and reply descriptors,
//! the areas field, the hello and the task name of a live mailbox, then the drone's
//! `read_request` (and `request`), the master's `read_reply` (and `result`) and
//! `read_hello` run on it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use polyshm::hostile::MailboxProbe;

fuzz_target!(|data: &[u8]| {
    // A fresh mailbox each time (dropped, so nothing is left in /dev/shm).
    let mut probe = MailboxProbe::new().expect("a mailbox");
    let _ = probe.decode(data).expect("writing the mailbox");
});
