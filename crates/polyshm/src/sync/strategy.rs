//! How a waiter waits: spin a bounded time, then sleep.

use std::time::{Duration, Instant};

/// Polls between two yields while spinning. Few polls per yield hand the CPU to a peer
/// that shares it sooner: the team measured a same-CPU echo of 10 i64 at 1.7 µs with 4
/// polls against 2.7 µs with 32.
const POLLS_PER_YIELD: usize = 4;

/// How a waiter waits before it sleeps in the kernel.
///
/// On a machine where the peer runs on another CPU, a waiter still spinning when the
/// reply arrives avoids the 40–90 µs it costs to wake a halted CPU. On a shared CPU a
/// spinner only delays its peer, so each spin turn yields the CPU, and the spin is
/// always bounded: an unbounded spin there costs a scheduler tick (4 ms) per hand-over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitStrategy {
    /// Sleep in the kernel at once.
    Block,
    /// Poll (yielding the CPU on each turn) for at most `budget`, then sleep.
    SpinThenBlock {
        /// Longest time spent polling before sleeping.
        budget: Duration,
    },
}

impl Default for WaitStrategy {
    /// `SpinThenBlock { budget: 50 µs }`: long enough to catch a quick reply from
    /// another CPU, short enough to cost little when the peer shares the CPU.
    fn default() -> Self {
        WaitStrategy::SpinThenBlock {
            budget: Duration::from_micros(50),
        }
    }
}

/// Where the process a waiter waits for runs, as far as the waiter knows (a hint: a
/// process may move between CPUs at any time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PeerPlace {
    /// Not known: spin as on a shared CPU (each turn yields).
    #[default]
    Unknown,
    /// On the waiter's own CPU: spinning only delays it, so each turn yields.
    SameCpu,
    /// On another CPU: the answer can come while the waiter polls, so it first polls
    /// without yielding for up to [`UNYIELDING_SPIN`] (a yield is a system call, and
    /// on a busy machine hands the CPU to another process for a time slice), then
    /// yields on each turn like the others (a longer unyielding spin would take the
    /// CPU from processes that share it, drones included, when the machine is
    /// oversubscribed).
    OtherCpu,
}

impl PeerPlace {
    /// The place of a peer last seen on `peer`, from a waiter now on `mine` (either
    /// unknown: [`Unknown`](PeerPlace::Unknown)).
    pub fn of(mine: Option<usize>, peer: Option<usize>) -> PeerPlace {
        match (mine, peer) {
            (Some(a), Some(b)) if a == b => PeerPlace::SameCpu,
            (Some(_), Some(_)) => PeerPlace::OtherCpu,
            _ => PeerPlace::Unknown,
        }
    }
}

/// Polls between two looks at the clock when the peer runs on another CPU.
const POLLS_PER_CLOCK: usize = 64;

/// The longest a waiter polls without yielding beside a peer on another CPU: many
/// short answers (a 10-`i64` echo takes under a microsecond across CPUs), little CPU
/// taken from others when the answer is long in coming.
pub const UNYIELDING_SPIN: Duration = Duration::from_micros(5);

/// A gap this long between two looks at the clock during a spin means the spinner was
/// not running: another process had its CPU (a yield handed it over for a time slice,
/// or the scheduler preempted it). A turn of polls takes well under a microsecond, and
/// a yield to an idle CPU or a peer's short answer a few.
pub const PREEMPTED: Duration = Duration::from_micros(50);

/// How long a thread found preempted mid-spin sleeps at once instead of spinning, the
/// first time; each further preemption in a row doubles it, up to [`COOL_OFF_MAX`], and
/// a spin that catches its answer cleanly brings it back to this. One preemption on a
/// quiet machine (an interrupt, a daemon waking) costs little; a busy machine soon
/// sees a spin tried only every 128 ms.
///
/// On an oversubscribed CPU a spinner is runnable all the time, so it queues for the
/// CPU behind every other process, where a sleeper that is woken runs soon. Measured
/// with `polyshm assess` over shm at item granularity on six crates of the corpus
/// (syn, tokio, regex, serde, rayon-core, hyper), 2 drones beside two busy loops on the
/// 2-vCPU VM, 3 runs each, alternating: spinning as before these rules took 21–32 s
/// against 2.1–2.9 s with [`WaitStrategy::Block`]; with them, 3.2–5.3 s against
/// 3.1–4.6 s (unix sockets 3.6–4.6 s).
pub const COOL_OFF_FIRST: Duration = Duration::from_millis(1);

/// The longest cool-off (the seventh preemption in a row and later).
pub const COOL_OFF_MAX: Duration = Duration::from_millis(128);

/// Spins in a row that ended without the answer after which a thread stops spinning
/// on every wait and only probes: each spin that misses costs its whole budget of CPU,
/// which on a busy machine the peer (or anyone) may need.
const MISSES_TO_PROBE: u8 = 2;

/// The most misses counted: once probing, a thread spins on one wait in
/// `1 << misses` (4, 8, …, 64).
const MAX_MISSES: u8 = 6;

/// What a thread learnt from its recent spins.
#[derive(Clone, Copy, Debug, Default)]
struct Adapt {
    /// Until when it does not spin at all (it was found preempted mid-spin).
    cool_until: Option<Instant>,
    /// Spins in a row found preempted (saturating).
    preempted: u8,
    /// Spins in a row that ended without the answer (saturating at [`MAX_MISSES`]).
    misses: u8,
    /// Waits that skipped the spin since the last spin.
    skipped: u16,
}

/// How a spin ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// The answer came while spinning.
    Hit,
    /// The budget ran out first.
    Miss,
    /// The thread did not run for [`PREEMPTED`] or more.
    Preempted,
}

thread_local! {
    static ADAPT: std::cell::Cell<Adapt> = const {
        std::cell::Cell::new(Adapt { cool_until: None, preempted: 0, misses: 0, skipped: 0 })
    };
}

impl Adapt {
    /// Whether the wait beginning `now` spins (and count it either way).
    fn spin_now(now: Instant) -> bool {
        ADAPT.with(|c| {
            let mut a = c.get();
            let cooling = a.cool_until.is_some_and(|until| now < until);
            let probe = a.misses < MISSES_TO_PROBE || u32::from(a.skipped) + 1 >= 1 << a.misses;
            let spin = !cooling && probe;
            a.skipped = if spin { 0 } else { a.skipped.saturating_add(1) };
            c.set(a);
            spin
        })
    }

    /// Note how a spin ended, `now`.
    fn record(outcome: Outcome, now: Instant) {
        ADAPT.with(|c| {
            let mut a = c.get();
            match outcome {
                Outcome::Hit => (a.misses, a.preempted) = (0, 0),
                Outcome::Miss => a.misses = (a.misses + 1).min(MAX_MISSES),
                Outcome::Preempted => {
                    a.preempted = a.preempted.saturating_add(1);
                    let cool = (COOL_OFF_FIRST * (1 << (a.preempted - 1).min(7))).min(COOL_OFF_MAX);
                    a.cool_until = now.checked_add(cool);
                }
            }
            c.set(a);
        })
    }
}

impl WaitStrategy {
    /// Poll `ready` according to the strategy, up to the strategy's budget and the
    /// deadline; answers whether `ready` turned true.
    pub fn spin(&self, deadline: Deadline, ready: impl FnMut() -> bool) -> bool {
        self.spin_for(deadline, PeerPlace::Unknown, ready)
    }

    /// [`spin`](Self::spin) knowing where the peer runs: beside a peer on another CPU
    /// the polls do not yield (still bounded by the budget and the deadline).
    ///
    /// Adaptive, per thread: a spin during which the thread was not running for
    /// [`PREEMPTED`] or more (the CPU is wanted by others) ends at once, and the
    /// thread's waits skip the spin (one poll, then sleep) for a cool-off
    /// ([`COOL_OFF_FIRST`], doubling while it recurs, up to [`COOL_OFF_MAX`]); after two
    /// spins in a row that missed the answer, only one wait in 4, 8, … 64 spins (a
    /// probe) until a spin catches the answer again.
    pub fn spin_for(
        &self,
        deadline: Deadline,
        peer: PeerPlace,
        mut ready: impl FnMut() -> bool,
    ) -> bool {
        let WaitStrategy::SpinThenBlock { .. } = *self else {
            return false;
        };
        let now = Instant::now();
        if !Adapt::spin_now(now) {
            return ready();
        }
        let (caught, outcome) = self.spin_inner(deadline, peer, ready, true, now);
        // Only a cool-off needs the time the spin ended; a hit or a miss is noted without
        // another look at the clock (this is on every hand-over's path).
        let end = match outcome {
            Outcome::Preempted => Instant::now(),
            Outcome::Hit | Outcome::Miss => now,
        };
        Adapt::record(outcome, end);
        caught
    }

    /// The spin itself: whether `ready` turned true, and what the spin teaches. With
    /// `watch_preemption`, a gap of [`PREEMPTED`] between two looks at the clock ends
    /// it as preempted, and so does an answer found after such a gap (the thread was
    /// off its CPU while the answer waited: a sleeper would have been woken sooner).
    fn spin_inner(
        &self,
        deadline: Deadline,
        peer: PeerPlace,
        mut ready: impl FnMut() -> bool,
        watch_preemption: bool,
        start: Instant,
    ) -> (bool, Outcome) {
        let WaitStrategy::SpinThenBlock { budget } = *self else {
            return (false, Outcome::Miss);
        };
        let last = std::cell::Cell::new(start);
        let gap = |now: Instant| {
            watch_preemption && now.saturating_duration_since(last.get()) >= PREEMPTED
        };
        let hit = || {
            let outcome = if gap(Instant::now()) {
                Outcome::Preempted
            } else {
                Outcome::Hit
            };
            (true, outcome)
        };
        // A look at the clock: whether to go on spinning, given `limit` of spin.
        let look = |limit: Duration| {
            let now = Instant::now();
            if gap(now) {
                return Some(Outcome::Preempted);
            }
            last.set(now);
            if deadline.passed_at(now) {
                return Some(Outcome::Miss);
            }
            (now.saturating_duration_since(start) >= limit).then_some(Outcome::Miss)
        };
        if peer == PeerPlace::OtherCpu {
            let unyielding = budget.min(UNYIELDING_SPIN);
            loop {
                for _ in 0..POLLS_PER_CLOCK {
                    if ready() {
                        return hit();
                    }
                    std::hint::spin_loop();
                }
                match look(unyielding) {
                    None => {}
                    Some(Outcome::Miss) if !deadline.passed() => break,
                    Some(end) => return (false, end),
                }
            }
        }
        loop {
            for _ in 0..POLLS_PER_YIELD {
                if ready() {
                    return hit();
                }
                std::hint::spin_loop();
            }
            if let Some(end) = look(budget) {
                return (false, end);
            }
            polyshm_sys::yield_now();
        }
    }
}

/// `from + t`, or, where that sum would overflow `Instant` (a timeout of
/// `Duration::MAX` means "for ever"), a point a century after `from`: a wait until
/// then is a wait for ever, and no caller panics adding a user's timeout.
pub fn saturating_deadline(from: Instant, t: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    from.checked_add(t.min(CENTURY))
        .or_else(|| from.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(from)
}

/// A point in time a wait must not pass; `None` waits for ever.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline(pub Option<Instant>);

impl Deadline {
    /// No deadline.
    pub const NEVER: Deadline = Deadline(None);

    /// `timeout` from now (`None`: never). A timeout too long to add to now (such
    /// as `Duration::MAX`) is never, not a panic.
    pub fn after(timeout: Option<Duration>) -> Deadline {
        Deadline(timeout.and_then(|t| Instant::now().checked_add(t)))
    }

    /// Whether the deadline has passed.
    pub fn passed(&self) -> bool {
        self.passed_at(Instant::now())
    }

    /// Whether the deadline has passed at `now`.
    pub fn passed_at(&self, now: Instant) -> bool {
        self.0.is_some_and(|d| now >= d)
    }

    /// Time left, capped at `cap` (so that a sleeper re-checks at least that often).
    pub fn remaining(&self, cap: Option<Duration>) -> Option<Duration> {
        let left = self.0.map(|d| d.saturating_duration_since(Instant::now()));
        match (left, cap) {
            (Some(l), Some(c)) => Some(l.min(c)),
            (l, c) => l.or(c),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Beside a peer on another CPU the spin polls until `ready` turns true, and
    /// gives up once the budget is spent; a passed deadline ends it too.
    #[test]
    fn spin_beside_another_cpu_is_bounded() {
        let long = WaitStrategy::SpinThenBlock {
            budget: Duration::from_secs(60),
        };
        // Preemption not watched here: a test thread preempted under a loaded CI must
        // not end the spin (the adaptive rules have their own tests below).
        let mut polls = 0;
        let end = long.spin_inner(
            Deadline::NEVER,
            PeerPlace::OtherCpu,
            || {
                polls += 1;
                polls == 10_000
            },
            false,
            Instant::now(),
        );
        assert_eq!((end, polls), ((true, Outcome::Hit), 10_000));
        let short = WaitStrategy::SpinThenBlock {
            budget: Duration::from_millis(1),
        };
        let end = short.spin_inner(
            Deadline::NEVER,
            PeerPlace::OtherCpu,
            || false,
            false,
            Instant::now(),
        );
        assert_eq!(end, (false, Outcome::Miss));
        let passed = Deadline::after(Some(Duration::ZERO));
        let end = long.spin_inner(passed, PeerPlace::OtherCpu, || false, false, Instant::now());
        assert_eq!(end, (false, Outcome::Miss));
        assert!(!WaitStrategy::Block.spin_for(Deadline::NEVER, PeerPlace::OtherCpu, || true));
    }

    /// Polls of one `spin_for` whose answer comes at poll `at` (never: 0).
    fn polls_of(w: WaitStrategy, place: PeerPlace, at: u64) -> (bool, u64) {
        let mut polls = 0;
        let caught = w.spin_for(Deadline::NEVER, place, || {
            polls += 1;
            polls == at
        });
        (caught, polls)
    }

    /// What this thread has learnt.
    fn learnt() -> Adapt {
        ADAPT.with(|c| c.get())
    }

    /// A spin during which the thread did not run for `PREEMPTED` (here: `ready` sleeps,
    /// as a thread descheduled for a time slice) ends at once, long before its budget,
    /// wherever the peer runs, and the thread learns it; so does a spin whose answer
    /// is found just after such a gap (it is taken).
    #[test]
    fn a_preempted_spin_ends_and_is_learnt() {
        let long = WaitStrategy::SpinThenBlock {
            budget: Duration::from_secs(60),
        };
        for place in [PeerPlace::OtherCpu, PeerPlace::SameCpu, PeerPlace::Unknown] {
            // Each on its own thread: what a thread learns is its own.
            std::thread::spawn(move || {
                let started = Instant::now();
                let mut polls = 0u64;
                let caught = long.spin_for(Deadline::NEVER, place, || {
                    polls += 1;
                    if polls == 100 {
                        std::thread::sleep(PREEMPTED * 2);
                    }
                    polls == 1_000_000
                });
                assert!(!caught, "{place:?}: the spin went on after a preemption");
                assert!(polls < 1_000_000 && started.elapsed() < Duration::from_secs(30));
                assert_eq!(learnt().preempted, 1, "{place:?}");
                assert!(learnt().cool_until.is_some_and(|u| u > started));
                // Found after a gap: taken, and learnt as a preemption.
                std::thread::sleep(COOL_OFF_MAX);
                let mut polls = 0;
                assert!(long.spin_for(Deadline::NEVER, place, || {
                    polls += 1;
                    if polls == 3 {
                        std::thread::sleep(PREEMPTED * 2);
                    }
                    polls == 3
                }));
                assert_eq!(learnt().preempted, 2, "{place:?}");
                // A clean catch (before the first look at the clock, so no gap can be
                // seen) forgets the preemptions. On a loaded machine (CI runs the tests
                // side by side on 2 CPUs) the scheduler may really take the CPU between
                // two polls, which is rightly learnt as one more preemption: so up to
                // 20 tries, each after the cool-off; a spin that never forgets fails
                // them all.
                let forgot = (0..20).any(|_| {
                    std::thread::sleep(COOL_OFF_MAX);
                    polls_of(long, place, 2) == (true, 2) && learnt().preempted == 0
                });
                assert!(forgot, "{place:?}: {:?}", learnt());
            })
            .join()
            .expect("spin thread");
        }
    }

    /// After a preemption the thread's waits poll once and do not spin for the
    /// cool-off: 1 ms, doubling with each preemption in a row up to 128 ms; a clean
    /// catch brings it back to 1 ms.
    #[test]
    fn the_cool_off_doubles_while_preemptions_recur() {
        std::thread::spawn(|| {
            let mut t = Instant::now();
            for n in 0..10u32 {
                let cool = (COOL_OFF_FIRST * (1 << n.min(7))).min(COOL_OFF_MAX);
                Adapt::record(Outcome::Preempted, t);
                assert!(
                    !Adapt::spin_now(t + cool - Duration::from_micros(100)),
                    "{n}"
                );
                assert!(Adapt::spin_now(t + cool), "{n}");
                t += cool;
            }
            assert_eq!(cool_of_next(t), COOL_OFF_MAX);
            Adapt::record(Outcome::Hit, t);
            assert_eq!(cool_of_next(t), COOL_OFF_FIRST);
        })
        .join()
        .expect("adapt thread");
    }

    /// The cool-off a preemption at `t` would start now (recorded, so the thread learns it).
    fn cool_of_next(t: Instant) -> Duration {
        Adapt::record(Outcome::Preempted, t);
        learnt().cool_until.expect("cooling").duration_since(t)
    }

    /// Two spins in a row that miss make the thread probe: one wait in 4 spins, then
    /// one in 8, … 64; a probe that catches the answer brings the spin back on every
    /// wait.
    #[test]
    fn spins_that_miss_make_the_thread_probe() {
        std::thread::spawn(|| {
            let now = Instant::now();
            assert!(Adapt::spin_now(now));
            Adapt::record(Outcome::Miss, now);
            assert!(Adapt::spin_now(now));
            Adapt::record(Outcome::Miss, now);
            for misses in 2..=MAX_MISSES + 1 {
                let every = 1usize << misses.min(MAX_MISSES);
                let pattern: Vec<bool> = (0..every).map(|_| Adapt::spin_now(now)).collect();
                let mut want = vec![false; every];
                want[every - 1] = true;
                assert_eq!(pattern, want, "after {misses} misses");
                Adapt::record(Outcome::Miss, now);
            }
            Adapt::record(Outcome::Hit, now);
            assert!((0..10).all(|_| Adapt::spin_now(now)));
        })
        .join()
        .expect("adapt thread");
    }

    #[test]
    fn peer_place_of_cpus() {
        assert_eq!(PeerPlace::of(Some(1), Some(1)), PeerPlace::SameCpu);
        assert_eq!(PeerPlace::of(Some(0), Some(1)), PeerPlace::OtherCpu);
        assert_eq!(PeerPlace::of(None, Some(1)), PeerPlace::Unknown);
        assert_eq!(PeerPlace::of(Some(1), None), PeerPlace::Unknown);
    }

    /// Defect 10 (issue 9, the sync part): `Instant + Duration::MAX` overflows; such a
    /// timeout means "never", not a panic.
    #[test]
    fn defect_10_deadline_after_duration_max_is_never() {
        assert_eq!(Deadline::after(Some(Duration::MAX)), Deadline::NEVER);
        assert!(!Deadline::after(Some(Duration::MAX)).passed());
        assert_eq!(Deadline::after(None), Deadline::NEVER);
        let d = Deadline::after(Some(Duration::from_secs(3600)));
        assert!(d.0.is_some() && !d.passed());
        assert!(Deadline::after(Some(Duration::ZERO)).passed());
    }
}
