//! A frame as a peer sends it: head and name (`Head::decode`, `parse_name`), and the
//! whole frame through a loopback socket into `SocketLink::recv`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = polyshm::hostile::frame_head(data);
    // The socket path, only for frames announcing at most 16 MiB: a peer announcing
    // more makes the receiver allocate it before refusing (issue 9, defect 9: the
    // team's fix adds the limit; then this guard can go).
    if data.len() >= 24 {
        let len = u64::from_le_bytes(data[16..24].try_into().unwrap());
        if len > 16 << 20 {
            return;
        }
    }
    let _ = polyshm::hostile::socket_frame(data);
});
