//! Study table 3: unprotected raw read, write, and write+read of shared memory,
//! 1,000 … 1,000,000 bytes (the study's Image 1).

use super::{byte_payload, Context, Scenario};
use crate::config::{Config, DECADES_FROM_1000};
use crate::error::ProfileError;
use crate::row::{Row, TableRef, Unit};
use polyshm::shm::{unique_name, SharedMemory};
use std::hint::black_box;

/// Raw `read_at` / `write_at` of a segment, without its lock, in one process.
pub struct Raw;

const ID: &str = "raw";

impl Scenario for Raw {
    fn id(&self) -> &'static str {
        ID
    }
    fn table(&self) -> TableRef {
        TableRef::Study(3)
    }
    fn title(&self) -> &'static str {
        "SharedMemory unprotected read / write / write+read"
    }
    fn row_ids(&self) -> &'static [&'static str] {
        &["raw_read", "raw_write", "raw_write_read"]
    }
    fn two_process(&self) -> bool {
        false
    }
    fn points(&self, config: &Config) -> usize {
        3 * config.sizes(DECADES_FROM_1000).len()
    }
    fn run(&self, ctx: &mut Context<'_>) -> Result<Vec<Row>, ProfileError> {
        let sizes = ctx.config.sizes(DECADES_FROM_1000);
        let largest = sizes.iter().copied().max().unwrap_or(1) as usize;
        let shm_err = |what: &str| {
            let what = what.to_string();
            move |source| ProfileError::Shm {
                scenario: ID,
                what,
                source,
            }
        };
        let name = unique_name("prof-raw");
        let shm = SharedMemory::create(&name, largest).map_err(shm_err("create the segment"))?;
        let budget = ctx.budget;
        let t = TableRef::Study(3);
        let mut rows = Vec::new();
        for &size in &sizes {
            let n = size as usize;
            let data = byte_payload(n);
            let mut buf = vec![0u8; n];
            // Touch every page once, outside the timing (first-touch faults are not
            // what the study's table measures).
            shm.write_at(0, &data).map_err(shm_err("write"))?;
            let unit = Some((size, Unit::Bytes));
            rows.push(ctx.point(budget, t, "raw_read", "shm-raw", unit, || {
                shm.read_at(0, black_box(&mut buf)).map_err(shm_err("read"))
            })?);
            check(&buf, &data, "raw_read")?;
            rows.push(ctx.point(budget, t, "raw_write", "shm-raw", unit, || {
                shm.write_at(0, black_box(&data)).map_err(shm_err("write"))
            })?);
            rows.push(ctx.point(budget, t, "raw_write_read", "shm-raw", unit, || {
                shm.write_at(0, black_box(&data))
                    .map_err(shm_err("write"))?;
                shm.read_at(0, black_box(&mut buf)).map_err(shm_err("read"))
            })?);
            check(&buf, &data, "raw_write_read")?;
        }
        Ok(rows)
    }
}

fn check(got: &[u8], want: &[u8], what: &str) -> Result<(), ProfileError> {
    if got == want {
        return Ok(());
    }
    let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(0);
    Err(ProfileError::Wrong {
        scenario: ID,
        what: format!("{what}: byte {at} read back"),
        expected: want.get(at).map_or("-".into(), |b| b.to_string()),
        found: got.get(at).map_or("-".into(), |b| b.to_string()),
    })
}
