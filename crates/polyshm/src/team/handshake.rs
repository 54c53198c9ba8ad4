//! The hello / welcome handshake, both sides side by side: the drone says who it is
//! ([`hello`]), the master judges it ([`judge`]) and answers with a welcome that
//! accepts or refuses it, which the drone reads ([`check_welcome`]). Over a socket
//! each goes as a length-prefixed frame ([`write_framed`] / [`read_framed`]); through
//! the mailbox, in its hello field.

use super::drone::Spec;
use super::error::TeamError;
use super::protocol::{
    Hello, ProtocolError, CRATE_VERSION, HELLO_MAGIC, PROTOCOL_VERSION, WELCOME_MAGIC,
};
use super::transport::socket::{read_watched, write_watched, Stream};
use super::transport::{LinkError, Watch};
use polyshm_sys::ProcessId;

/// Longest hello or welcome on a socket.
const MAX_HELLO: usize = 256;

/// Drone: the hello it sends (claiming another protocol for the tests of the check).
pub(crate) fn hello(spec: &Spec) -> Vec<u8> {
    let mut me = Hello::me(spec.token);
    if let Some(p) = spec.claim_protocol {
        me.protocol = p;
    }
    me.encode(HELLO_MAGIC)
}

/// What the master makes of a hello.
pub(crate) enum Verdict {
    /// Accepted: send this welcome; `id` is the drone with its start time.
    Welcome { welcome: Vec<u8>, id: ProcessId },
    /// Refused for its version: send this welcome (it says so), then fail with the
    /// error.
    Refuse { welcome: Vec<u8>, error: TeamError },
    /// Not a drone of this team (bad bytes, wrong token or pid): say nothing, reap it.
    Reject(String),
}

/// Master: judge the hello of drone `index` (started as `id`, given `token`).
pub(crate) fn judge(index: usize, id: ProcessId, token: u64, hello: &[u8]) -> Verdict {
    let h = match Hello::decode(HELLO_MAGIC, hello) {
        Ok(h) => h,
        Err(e) => return Verdict::Reject(e.to_string()),
    };
    if h.token != token || h.pid != id.pid {
        return Verdict::Reject(format!(
            "a process (pid {}) connected with the wrong token; another team's drone?",
            h.pid
        ));
    }
    let mut me = Hello::me(token);
    me.accepted = h.compatible();
    let welcome = me.encode(WELCOME_MAGIC);
    if me.accepted {
        let id = ProcessId {
            pid: id.pid,
            start_time: h.start_time,
        };
        return Verdict::Welcome { welcome, id };
    }
    Verdict::Refuse {
        welcome,
        error: TeamError::VersionMismatch {
            drone: index,
            pid: id.pid,
            drone_version: h.crate_version.clone(),
            drone_protocol: h.protocol,
            master_version: me.crate_version.clone(),
            master_protocol: me.protocol,
        },
    }
}

/// Drone: read the master's welcome; an error says why this drone was refused.
pub(crate) fn check_welcome(spec: &Spec, bytes: &[u8]) -> Result<(), String> {
    let w = Hello::decode(WELCOME_MAGIC, bytes).map_err(|e| e.to_string())?;
    if !w.accepted {
        return Err(format!(
            "the master (polyshm {}, protocol {}) refused this drone (polyshm {CRATE_VERSION}, protocol {}); build both from the same version",
            w.crate_version,
            w.protocol,
            spec.claim_protocol.unwrap_or(PROTOCOL_VERSION)
        ));
    }
    Ok(())
}

/// Send a hello or welcome over a socket: its length (u32), then its bytes.
pub(crate) fn write_framed(
    s: &mut Stream,
    bytes: &[u8],
    watch: &Watch<'_>,
) -> Result<(), LinkError> {
    let mut framed = (bytes.len() as u32).to_le_bytes().to_vec();
    framed.extend_from_slice(bytes);
    write_watched(s, &framed, watch)
}

/// Read a hello or welcome from a socket (its length checked first).
pub(crate) fn read_framed(s: &mut Stream, watch: &Watch<'_>) -> Result<Vec<u8>, LinkError> {
    let mut lb = [0u8; 4];
    read_watched(s, &mut lb, watch)?;
    let len = u32::from_le_bytes(lb) as usize;
    if len > MAX_HELLO {
        return Err(
            ProtocolError(format!("a handshake of {len} bytes (at most {MAX_HELLO})")).into(),
        );
    }
    let mut b = vec![0u8; len];
    read_watched(s, &mut b, watch)?;
    Ok(b)
}
