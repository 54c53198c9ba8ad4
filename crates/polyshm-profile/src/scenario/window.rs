//! Study table 1 with the study's own signalling (`--signal window`, Windows only):
//! `SemaphoreEventRelay` connect client to master and the mutex roundtrip over window
//! messages, beside the shared-memory relay's rows of the same table, and a reference
//! row: the signal roundtrip (a signal answered by a signal) over window messages.
//!
//! - `window_connect`: the helper's relay sends `CONNECT` to the master's relay and
//!   gets its answer (one synchronous `SendMessage`), timed in the helper.
//! - `window_mutex_roundtrip`: the master's `try_wait` on a pair with nothing pending:
//!   `#waitRemote` to the helper's relay and its answer, then the `CANCEL_WAIT` that
//!   keeps the mirror true (two synchronous messages; the study's figure covers the
//!   first).
//! - `window_signal_roundtrip`: the master signals `ping`, the helper's wait takes it
//!   and signals `pong`, the master's wait takes that (four messages: two
//!   `#signalRemote`, two `#waitRemote`).

use super::helper::{Helper, TIMEOUT};
use super::relay::parse_times;
use super::{Context, Scenario};
use crate::config::Config;
use crate::error::ProfileError;
use crate::row::{Row, TableRef};
use crate::stats::Samples;
use polyshm::sync::{EventBasedSemaphore, EventError, SemaphoreEventRelay};
use polyshm::sys::WindowHandle;
use polyshm::team::Signal;
use std::time::{Duration, Instant};

/// Table 1 over window messages.
pub struct WindowRelay;

const ID: &str = "window_relay";
const VARIANT: &str = "window";

fn err(what: &'static str) -> impl Fn(EventError) -> ProfileError {
    move |e| ProfileError::Helper {
        scenario: ID,
        detail: format!("{what}: {e}"),
    }
}

impl Scenario for WindowRelay {
    fn id(&self) -> &'static str {
        ID
    }
    fn table(&self) -> TableRef {
        TableRef::Study(1)
    }
    fn title(&self) -> &'static str {
        "SemaphoreEventRelay over window messages: connect, mutex roundtrip (--signal window)"
    }
    fn row_ids(&self) -> &'static [&'static str] {
        &[
            "window_connect",
            "window_mutex_roundtrip",
            "window_signal_roundtrip",
        ]
    }
    fn two_process(&self) -> bool {
        true
    }
    fn points(&self, config: &Config) -> usize {
        3 * usize::from(config.signal == Signal::Window)
    }
    fn run(&self, ctx: &mut Context<'_>) -> Result<Vec<Row>, ProfileError> {
        if ctx.config.signal != Signal::Window {
            return Ok(Vec::new());
        }
        let program = ctx.program()?;
        let (_, drone_cpu) = ctx.cpus();
        let budget = ctx.budget.roundtrip();
        let relay = SemaphoreEventRelay::process().map_err(err("start the relay"))?;
        let master = relay.handle().0;
        let mut rows = Vec::new();

        let connects = budget.warmup
            + budget
                .min_samples
                .max(if ctx.config.quick { 30 } else { 200 });
        let role = format!("window-connect:{connects}:{master}");
        let printed = Helper::spawn(ID, &program, &role, drone_cpu, &[])?.finish()?;
        let mut times = parse_times(&printed).map_err(|detail| ProfileError::Helper {
            scenario: ID,
            detail,
        })?;
        let durations = times.split_off(budget.warmup.min(times.len()));
        if durations.is_empty() {
            return Err(ProfileError::Helper {
                scenario: ID,
                detail: "the helper reported no connect times".into(),
            });
        }
        let samples = Samples {
            durations,
            batch: 1,
        };
        rows.push(ctx.record(
            TableRef::Study(1),
            "window_connect",
            VARIANT,
            None,
            &samples,
        ));

        let ping = EventBasedSemaphore::create(&relay, 0).map_err(err("create ping"))?;
        let pong = EventBasedSemaphore::create(&relay, 0).map_err(err("create pong"))?;
        let role = format!("window-pong:{master}:{}:{}", ping.id(), pong.id());
        let helper = Helper::spawn(ID, &program, &role, drone_cpu, &[])?;
        let until = Instant::now() + TIMEOUT;
        while ping.peer().is_none() || pong.peer().is_none() {
            if Instant::now() > until {
                return Err(ProfileError::Helper {
                    scenario: ID,
                    detail: format!("the helper did not open its pairs within {TIMEOUT:?}"),
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let row = ctx.point(
            budget,
            TableRef::Study(1),
            "window_mutex_roundtrip",
            VARIANT,
            None,
            || match pong.try_wait() {
                Ok(false) => Ok(()),
                Ok(true) => Err(ProfileError::Wrong {
                    scenario: ID,
                    what: "a signal nobody sent".into(),
                    expected: "none".into(),
                    found: "one".into(),
                }),
                Err(e) => Err(err("mutex roundtrip")(e)),
            },
        )?;
        rows.push(row);
        let row = ctx.point(
            budget,
            TableRef::Ref,
            "window_signal_roundtrip",
            VARIANT,
            None,
            || {
                ping.signal().map_err(err("signal ping"))?;
                pong.wait_timeout(TIMEOUT).map_err(err("wait for pong"))
            },
        )?;
        rows.push(row);
        // Closing the pairs ends the helper's wait: it exits.
        drop((ping, pong));
        helper.finish()?;
        Ok(rows)
    }
}

/// Helper roles: `window-connect:<n>:<master relay>` connects `n` times and prints
/// each time in ns; `window-pong:<master relay>:<ping>:<pong>` answers each ping with
/// a pong until the master closes the pairs.
pub(crate) fn serve(role: &str, rest: &str) -> Result<(), String> {
    let nums: Vec<u64> = rest
        .split(':')
        .map(|v| {
            v.parse()
                .map_err(|_| format!("bad number `{v}` in `{rest}`"))
        })
        .collect::<Result<_, _>>()?;
    let relay = SemaphoreEventRelay::process().map_err(|e| e.to_string())?;
    match (role, nums.as_slice()) {
        ("window-connect", &[n, master]) => {
            let mut lines = Vec::new();
            for _ in 0..n {
                let t = Instant::now();
                relay
                    .connect(WindowHandle(master))
                    .map_err(|e| e.to_string())?;
                lines.push(t.elapsed().as_nanos().to_string());
            }
            println!("{}", lines.join("\n"));
            Ok(())
        }
        ("window-pong", &[master, ping, pong]) => {
            let open = |id: u64| {
                EventBasedSemaphore::open(&relay, WindowHandle(master), id as u32)
                    .map_err(|e| e.to_string())
            };
            let (ping, pong) = (open(ping)?, open(pong)?);
            loop {
                match ping.wait() {
                    Ok(()) => pong.signal().map_err(|e| e.to_string())?,
                    Err(EventError::PeerClosed(_)) => return Ok(()),
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        _ => Err(format!("unknown helper role `{role}:{rest}`")),
    }
}
