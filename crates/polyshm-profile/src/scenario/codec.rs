//! Study tables 4 and 5: encoding and decoding integer arrays, simple (the study's
//! Array ↔ UninterpretedBytes; ours: plain-old-data, an array is its bytes) and
//! general (the study's BOSS; ours: serde).
//!
//! Simple encode is `pod_bytes(v).to_vec()`: the array's bytes in a buffer of their
//! own, what a sender hands to a transport (viewing the bytes in place costs nothing
//! at all). Simple decode is `pod_from_bytes`, which checks the length and copies
//! into a new array.

use super::{int_payload, Context, Scenario};
use crate::config::{Config, DECADES_FROM_1, DECADES_FROM_10};
use crate::error::ProfileError;
use crate::row::{Row, TableRef, Unit};
use polyshm::codec;
use std::hint::black_box;

/// Table 4: plain-old-data encode/decode.
pub struct Simple;
/// Table 5: serde encode/decode.
pub struct General;

fn codec_err(scenario: &'static str) -> impl Fn(codec::CodecError) -> ProfileError {
    move |source| ProfileError::Codec { scenario, source }
}

fn check(scenario: &'static str, back: &[i64], want: &[i64]) -> Result<(), ProfileError> {
    if back == want {
        return Ok(());
    }
    Err(ProfileError::Wrong {
        scenario,
        what: "decoded array".into(),
        expected: format!("{} integers equal to the encoded ones", want.len()),
        found: format!("{} integers, not all equal", back.len()),
    })
}

impl Scenario for Simple {
    fn id(&self) -> &'static str {
        "simple_codec"
    }
    fn table(&self) -> TableRef {
        TableRef::Study(4)
    }
    fn title(&self) -> &'static str {
        "Simple encoding/decoding of integer arrays (plain-old-data)"
    }
    fn row_ids(&self) -> &'static [&'static str] {
        &["simple_encode", "simple_decode"]
    }
    fn two_process(&self) -> bool {
        false
    }
    fn points(&self, config: &Config) -> usize {
        2 * config.sizes(DECADES_FROM_10).len()
    }
    fn run(&self, ctx: &mut Context<'_>) -> Result<Vec<Row>, ProfileError> {
        const ID: &str = "simple_codec";
        let budget = ctx.budget;
        let t = TableRef::Study(4);
        let mut rows = Vec::new();
        for size in ctx.config.sizes(DECADES_FROM_10) {
            let v = int_payload(size as usize);
            let unit = Some((size, Unit::Ints));
            let mut bytes = Vec::new();
            rows.push(
                ctx.point(budget, t, "simple_encode", "codec-pod", unit, || {
                    bytes = codec::pod_bytes(black_box(&v[..])).to_vec();
                    Ok::<(), ProfileError>(())
                })?,
            );
            let mut back: Vec<i64> = Vec::new();
            rows.push(
                ctx.point(budget, t, "simple_decode", "codec-pod", unit, || {
                    back = codec::pod_from_bytes(black_box(&bytes[..])).map_err(codec_err(ID))?;
                    Ok::<(), ProfileError>(())
                })?,
            );
            check(ID, &back, &v)?;
        }
        Ok(rows)
    }
}

impl Scenario for General {
    fn id(&self) -> &'static str {
        "general_codec"
    }
    fn table(&self) -> TableRef {
        TableRef::Study(5)
    }
    fn title(&self) -> &'static str {
        "General (serde; the study's BOSS) encoding/decoding of integer arrays"
    }
    fn row_ids(&self) -> &'static [&'static str] {
        &["general_encode", "general_decode"]
    }
    fn two_process(&self) -> bool {
        false
    }
    fn points(&self, config: &Config) -> usize {
        2 * config.sizes(DECADES_FROM_1).len()
    }
    fn run(&self, ctx: &mut Context<'_>) -> Result<Vec<Row>, ProfileError> {
        const ID: &str = "general_codec";
        let budget = ctx.budget;
        let t = TableRef::Study(5);
        let mut rows = Vec::new();
        for size in ctx.config.sizes(DECADES_FROM_1) {
            let v = int_payload(size as usize);
            let unit = Some((size, Unit::Ints));
            let mut bytes = Vec::new();
            rows.push(
                ctx.point(budget, t, "general_encode", "codec-serde", unit, || {
                    bytes = codec::encode(black_box(&v)).map_err(codec_err(ID))?;
                    Ok::<(), ProfileError>(())
                })?,
            );
            let mut back: Vec<i64> = Vec::new();
            rows.push(
                ctx.point(budget, t, "general_decode", "codec-serde", unit, || {
                    back = codec::decode(black_box(&bytes[..])).map_err(codec_err(ID))?;
                    Ok::<(), ProfileError>(())
                })?,
            );
            check(ID, &back, &v)?;
        }
        Ok(rows)
    }
}
