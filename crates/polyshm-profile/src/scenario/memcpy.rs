//! Reference rows: a plain `memcpy` of each payload size, the physical floor of every
//! data path (a transport moves each payload at least once each way).

use super::{Context, Scenario};
use crate::config::{Config, DECADES_FROM_1};
use crate::error::ProfileError;
use crate::row::{Row, TableRef, Unit};
use std::hint::black_box;

/// `copy_from_slice` between two private buffers, in one process.
pub struct Memcpy;

impl Scenario for Memcpy {
    fn id(&self) -> &'static str {
        "memcpy"
    }
    fn table(&self) -> TableRef {
        TableRef::Ref
    }
    fn title(&self) -> &'static str {
        "plain memcpy of each payload (bytes, and 8-byte integers)"
    }
    fn row_ids(&self) -> &'static [&'static str] {
        &["memcpy"]
    }
    fn two_process(&self) -> bool {
        false
    }
    fn points(&self, config: &Config) -> usize {
        2 * config.sizes(DECADES_FROM_1).len()
    }
    fn run(&self, ctx: &mut Context<'_>) -> Result<Vec<Row>, ProfileError> {
        let budget = ctx.budget;
        let mut rows = Vec::new();
        for unit in [Unit::Bytes, Unit::Ints] {
            for size in ctx.config.sizes(DECADES_FROM_1) {
                let n = unit.payload_bytes(size) as usize;
                let src = super::byte_payload(n);
                let mut dst = vec![0u8; n];
                let row = ctx.point(
                    budget,
                    TableRef::Ref,
                    "memcpy",
                    "memcpy",
                    Some((size, unit)),
                    || {
                        black_box(&mut dst).copy_from_slice(black_box(&src));
                        Ok::<(), ProfileError>(())
                    },
                )?;
                if dst != src {
                    return Err(ProfileError::Wrong {
                        scenario: "memcpy",
                        what: format!("copy of {n} bytes"),
                        expected: "the source bytes".into(),
                        found: "different bytes".into(),
                    });
                }
                rows.push(row);
            }
        }
        Ok(rows)
    }
}
