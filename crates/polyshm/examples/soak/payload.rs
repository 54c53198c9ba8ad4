//! The soak's payloads: their layout (sequence number, operation, verified mark, body,
//! checksum), how the master makes them, what the drone's task does with them, and how
//! the master checks what comes back.

use std::collections::HashSet;
use std::path::PathBuf;

/// Sequence number (8 bytes), operation, verified mark, padding.
const HEAD: usize = 16;
/// The checksum.
const TAIL: usize = 8;
/// Largest body.
const MAX_BODY: usize = 4 << 20;
pub const OP_ECHO: u8 = 0;
pub const OP_PANIC: u8 = 1;
pub const OP_DIE: u8 = 2;
pub const OP_DIE_ONCE: u8 = 3;
/// Byte the drone sets to 1 when the checksum it computed matched.
const VERIFIED_AT: usize = 9;
pub const PANIC_TEXT: &str = "soak: panic on request";
/// Environment variable naming the directory for the die-once markers.
pub const MARKS_ENV: &str = "POLYSHM_SOAK_MARKS";

/// A 64-bit checksum of the sequence number, the operation and the body (the byte the
/// drone marks is left out).
fn checksum(p: &[u8]) -> u64 {
    let mut h = 0x9e37_79b9_7f4a_7c15u64 ^ p.len() as u64;
    let mut mix = |w: u64| {
        h = (h ^ w).wrapping_mul(0xff51_afd7_ed55_8ccd).rotate_left(29);
    };
    mix(u64::from_le_bytes(p[..8].try_into().expect("8 bytes")));
    mix(p[8] as u64);
    let body = &p[HEAD..p.len() - TAIL];
    let mut words = body.chunks_exact(8);
    for w in &mut words {
        mix(u64::from_le_bytes(w.try_into().expect("8 bytes")));
    }
    let mut last = [0u8; 8];
    last[..words.remainder().len()].copy_from_slice(words.remainder());
    mix(u64::from_le_bytes(last));
    h ^ (h >> 31)
}

/// Write the checksum of `p` into its tail.
fn stamp(p: &mut [u8]) {
    let n = p.len();
    let c = checksum(p);
    p[n - TAIL..].copy_from_slice(&c.to_le_bytes());
}

/// Whether `p` is long enough and carries its own checksum.
fn checksum_ok(p: &[u8]) -> bool {
    p.len() >= HEAD + TAIL && checksum(p).to_le_bytes() == p[p.len() - TAIL..]
}

/// The drone's task: check, act on the operation, echo with the mark set.
pub fn soak_task(p: &[u8]) -> Vec<u8> {
    if p.len() < HEAD + TAIL {
        return b"short".to_vec();
    }
    let ok = checksum_ok(p);
    let seq = u64::from_le_bytes(p[..8].try_into().expect("8 bytes"));
    match p[8] {
        OP_PANIC => panic!("{PANIC_TEXT} (seq {seq})"),
        OP_DIE => std::process::exit(86),
        OP_DIE_ONCE => {
            // The first attempt creates the marker and dies; a retry finds it and echoes.
            if let Some(dir) = std::env::var_os(MARKS_ENV) {
                let mark = PathBuf::from(dir).join(format!("{seq}"));
                if std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&mark)
                    .is_ok()
                {
                    std::process::exit(87);
                }
            }
        }
        _ => {}
    }
    let mut out = p.to_vec();
    out[VERIFIED_AT] = ok as u8;
    out
}

/// A small, seedable generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// 0..=MAX_BODY, log-uniform (small sizes dominate), 0 one time in 64.
    fn size(&mut self) -> usize {
        if self.below(64) == 0 {
            return 0;
        }
        let max = (MAX_BODY as f64).ln();
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * max).exp() as usize).min(MAX_BODY)
    }
}

/// What became of the roundtrips of one transport, or of all.
#[derive(Default)]
pub struct Counts {
    pub roundtrips: u64,
    pub ok: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub corrupted: u64,
    pub panics: u64,
    pub died: u64,
    pub died_retried: u64,
    pub replaced: u64,
    pub bytes: u64,
}

/// "N roundtrips (K ok, X GB moved), lost …, duplicated …, corrupted …, panics seen …,
/// drones died A (run) + B (map, retried), replaced R".
impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} roundtrips ({} ok, {:.1} GB moved), lost {}, duplicated {}, corrupted {}, panics seen {}, drones died {} (run) + {} (map, retried), replaced {}",
            self.roundtrips,
            self.ok,
            self.bytes as f64 / 1e9,
            self.lost,
            self.duplicated,
            self.corrupted,
            self.panics,
            self.died,
            self.died_retried,
            self.replaced
        )
    }
}

impl Counts {
    /// Add the counts `c` of one transport to these.
    pub fn add(&mut self, c: &Counts) {
        self.roundtrips += c.roundtrips;
        self.ok += c.ok;
        self.lost += c.lost;
        self.duplicated += c.duplicated;
        self.corrupted += c.corrupted;
        self.panics += c.panics;
        self.died += c.died;
        self.died_retried += c.died_retried;
        self.replaced += c.replaced;
        self.bytes += c.bytes;
    }
}

/// What came back for payload `sent`: counted as ok, corrupted or duplicated.
pub fn check_reply(sent: &[u8], got: &[u8], seen: &mut HashSet<u64>, c: &mut Counts) {
    let seq = u64::from_le_bytes(sent[..8].try_into().expect("8 bytes"));
    if got.len() != sent.len() || got.len() < HEAD + TAIL {
        c.corrupted += 1;
        eprintln!(
            "CORRUPT seq {seq}: {} bytes back for {} sent",
            got.len(),
            sent.len()
        );
        return;
    }
    let got_seq = u64::from_le_bytes(got[..8].try_into().expect("8 bytes"));
    if got_seq != seq {
        if seen.contains(&got_seq) {
            c.duplicated += 1;
            eprintln!("DUPLICATE: seq {got_seq} came back again, for seq {seq}");
        } else {
            c.corrupted += 1;
            eprintln!("CORRUPT: seq {got_seq} came back for seq {seq}");
        }
        return;
    }
    if !seen.insert(seq) {
        c.duplicated += 1;
        eprintln!("DUPLICATE: seq {seq} came back twice");
        return;
    }
    let verified = got[VERIFIED_AT] == 1;
    if !verified || !checksum_ok(got) || got[HEAD..] != sent[HEAD..] || got[..9] != sent[..9] {
        c.corrupted += 1;
        eprintln!(
            "CORRUPT seq {seq} ({} bytes): drone verified {verified}, checksum back {}",
            sent.len(),
            checksum_ok(got)
        );
        return;
    }
    c.ok += 1;
    c.bytes += 2 * sent.len() as u64;
}

/// The master's payloads: numbered in order, bodies of random sizes cut from a pool of
/// random bytes, a fault operation `faults` times in 1000.
pub struct Payloads {
    rng: Rng,
    pool: Vec<u8>,
    seq: u64,
    faults: u64,
}

impl Payloads {
    /// Payloads drawn from seed `seed` (not 0).
    pub fn new(seed: u64, faults: u64) -> Payloads {
        let mut rng = Rng(seed.max(1));
        let mut pool = vec![0u8; MAX_BODY];
        for w in pool.chunks_exact_mut(8) {
            w.copy_from_slice(&rng.next().to_le_bytes());
        }
        Payloads {
            rng,
            pool,
            seq: 0,
            faults,
        }
    }

    /// The next payload, asking the drone for operation `op`.
    pub fn next(&mut self, op: u8) -> Vec<u8> {
        self.seq += 1;
        let n = self.rng.size();
        let mut p = vec![0u8; HEAD + n + TAIL];
        p[..8].copy_from_slice(&self.seq.to_le_bytes());
        p[8] = op;
        let from = self.rng.below((self.pool.len() - n + 1) as u64) as usize;
        p[HEAD..HEAD + n].copy_from_slice(&self.pool[from..from + n]);
        stamp(&mut p);
        p
    }

    /// The sequence number of the last payload.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Whether the next call should carry a fault.
    pub fn fault(&mut self) -> bool {
        self.rng.below(1000) < self.faults
    }

    /// One of `choices`, at random.
    pub fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        choices[self.rng.below(choices.len() as u64) as usize]
    }
}

/// The operation payload `p` asks for.
pub fn op(p: &[u8]) -> u8 {
    p[8]
}
