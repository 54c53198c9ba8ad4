//! Study table 1: relay connect client to master, and the mutex roundtrip (a message
//! to the client and its answer through the relay's shared memory and semaphores).
//! A reference row adds the bare semaphore roundtrip (a signal answered by a signal).

use super::helper::{Helper, TIMEOUT};
use super::{Context, Scenario};
use crate::config::Config;
use crate::error::ProfileError;
use crate::probe;
use crate::row::{Row, TableRef};
use crate::stats::{measure_timed, Samples};
use polyshm::relay::{self, Relay as ShmRelay, RelayError, RelayOptions};
use polyshm::shm::unique_name;
use std::time::Duration;

/// The study's `SemaphoreEventRelay`: connect, mutex roundtrip.
pub struct Relay;

const ID: &str = "relay";

/// Map a relay error of `scenario` (tables 1 and 2 alike) to a profile error.
pub(crate) fn relay_err(
    scenario: &'static str,
    what: &'static str,
) -> impl Fn(RelayError) -> ProfileError {
    move |e| ProfileError::Helper {
        scenario,
        detail: format!("{what}: {e}"),
    }
}

impl Scenario for Relay {
    fn id(&self) -> &'static str {
        ID
    }
    fn table(&self) -> TableRef {
        TableRef::Study(1)
    }
    fn title(&self) -> &'static str {
        "Shared memory overhead: relay connect, mutex roundtrip"
    }
    fn row_ids(&self) -> &'static [&'static str] {
        &["relay_connect", "mutex_roundtrip", "signal_roundtrip"]
    }
    fn two_process(&self) -> bool {
        true
    }
    fn points(&self, _: &Config) -> usize {
        3
    }
    fn run(&self, ctx: &mut Context<'_>) -> Result<Vec<Row>, ProfileError> {
        let program = ctx.program()?;
        let (_, drone_cpu) = ctx.cpus();
        let budget = ctx.budget.roundtrip();
        let mut rows = Vec::new();

        // Connect: the helper connects `n` times and reports each connect time.
        let connects = budget.warmup
            + budget
                .min_samples
                .max(if ctx.config.quick { 30 } else { 200 });
        let relay = ShmRelay::create(&unique_name("prof-relay"), RelayOptions::default())
            .map_err(relay_err(ID, "open the relay"))?;
        let helper = Helper::spawn(
            ID,
            &program,
            &format!("relay-connect:{connects}"),
            drone_cpu,
            &[(relay::RELAY_ENV, relay.name())],
        )?;
        probe::accept_many(&relay, connects, TIMEOUT)
            .map_err(relay_err(ID, "accept the helper's connects"))?;
        let printed = helper.finish()?;
        let mut times = parse_times(&printed).map_err(|detail| ProfileError::Helper {
            scenario: ID,
            detail,
        })?;
        if times.len() != connects {
            return Err(ProfileError::Wrong {
                scenario: ID,
                what: "connect times reported by the helper".into(),
                expected: connects.to_string(),
                found: times.len().to_string(),
            });
        }
        let durations = times.split_off(budget.warmup.min(times.len()));
        let samples = Samples {
            durations,
            batch: 1,
        };
        rows.push(ctx.record(TableRef::Study(1), "relay_connect", "relay", None, &samples));

        // Roundtrips: the helper connects once and serves.
        let helper = Helper::spawn(
            ID,
            &program,
            "relay-serve",
            drone_cpu,
            &[(relay::RELAY_ENV, relay.name())],
        )?;
        let link = relay
            .accept(Some(TIMEOUT))
            .map_err(relay_err(ID, "accept the helper"))?;
        let samples = measure_timed(&budget, 100, |n| {
            probe::echo_roundtrips(&link, &[], n, TIMEOUT)
        })
        .map_err(relay_err(ID, "mutex roundtrip"))?;
        rows.push(ctx.record(
            TableRef::Study(1),
            "mutex_roundtrip",
            "relay",
            None,
            &samples,
        ));
        let samples = measure_timed(&budget, 100, |n| {
            probe::signal_roundtrips(&link, n, TIMEOUT)
        })
        .map_err(relay_err(ID, "signal roundtrip"))?;
        rows.push(ctx.record(TableRef::Ref, "signal_roundtrip", "relay", None, &samples));
        probe::finish(&link, TIMEOUT).map_err(relay_err(ID, "stop the helper"))?;
        helper.finish()?;
        Ok(rows)
    }
}

/// Durations printed one per line, in nanoseconds.
pub(crate) fn parse_times(text: &str) -> Result<Vec<Duration>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim()
                .parse::<u64>()
                .map(Duration::from_nanos)
                .map_err(|_| format!("the helper printed `{l}`, not a time in ns"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_times_parse() {
        assert_eq!(
            parse_times("1000\n2500\n\n").unwrap(),
            vec![Duration::from_nanos(1000), Duration::from_nanos(2500)]
        );
        assert!(parse_times("12\nabc\n").unwrap_err().contains("abc"));
    }
}
