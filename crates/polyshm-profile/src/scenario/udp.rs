//! Study table 2: UDP message/reply roundtrip, the relay protocol over UDP on
//! loopback.

use super::helper::{Helper, TIMEOUT};
use super::{Context, Scenario};
use crate::config::Config;
use crate::error::ProfileError;
use crate::probe;
use crate::row::{Row, TableRef};
use crate::stats::measure_timed;
use polyshm::relay::{self, UdpRelay};

/// The study's second relay class, over UDP.
pub struct Udp;

const ID: &str = "udp_roundtrip";

impl Scenario for Udp {
    fn id(&self) -> &'static str {
        ID
    }
    fn table(&self) -> TableRef {
        TableRef::Study(2)
    }
    fn title(&self) -> &'static str {
        "UDP message/reply roundtrip"
    }
    fn row_ids(&self) -> &'static [&'static str] {
        &["udp_roundtrip"]
    }
    fn two_process(&self) -> bool {
        true
    }
    fn points(&self, _: &Config) -> usize {
        1
    }
    fn run(&self, ctx: &mut Context<'_>) -> Result<Vec<Row>, ProfileError> {
        let program = ctx.program()?;
        let (_, drone_cpu) = ctx.cpus();
        let budget = ctx.budget.roundtrip();
        let relay = UdpRelay::bind().map_err(super::relay::relay_err(ID, "bind the UDP relay"))?;
        let helper = Helper::spawn(
            ID,
            &program,
            "udp-serve",
            drone_cpu,
            &[(relay::UDP_RELAY_ENV, relay.name())],
        )?;
        let link = relay
            .accept(Some(TIMEOUT))
            .map_err(super::relay::relay_err(ID, "accept the helper"))?;
        let samples = measure_timed(&budget, 100, |n| {
            probe::echo_roundtrips(&link, &[], n, TIMEOUT)
        })
        .map_err(super::relay::relay_err(ID, "message/reply roundtrip"))?;
        let row = ctx.record(TableRef::Study(2), "udp_roundtrip", "udp", None, &samples);
        probe::finish(&link, TIMEOUT).map_err(super::relay::relay_err(ID, "stop the helper"))?;
        helper.finish()?;
        Ok(vec![row])
    }
}
