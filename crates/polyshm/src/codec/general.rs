//! Any serde type, via postcard (the study's BOSS: "binary object streaming service").

use super::CodecError;
use serde::{de::DeserializeOwned, Serialize};

/// Encode `v` (postcard: compact, varint integers).
pub fn encode<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, CodecError> {
    postcard::to_stdvec(v).map_err(|e| CodecError::Encode {
        type_name: std::any::type_name::<T>(),
        detail: e.to_string(),
    })
}

/// Decode bytes made by [`encode`]; the bytes must be used up exactly.
pub fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T, CodecError> {
    let err = |detail: String| CodecError::Decode {
        type_name: std::any::type_name::<T>(),
        len: b.len(),
        detail,
    };
    let (v, rest) = postcard::take_from_bytes::<T>(b).map_err(|e| err(e.to_string()))?;
    if !rest.is_empty() {
        return Err(err(format!("{} bytes left over", rest.len())));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reports_mismatches() {
        let v = (vec![1i64, -2, 3], "x".to_string(), Some(2.5f64));
        let b = encode(&v).unwrap();
        assert_eq!(decode::<(Vec<i64>, String, Option<f64>)>(&b).unwrap(), v);
        assert!(matches!(
            decode::<(Vec<i64>, String, Option<f64>)>(&b[..b.len() - 1]),
            Err(CodecError::Decode { .. })
        ));
        let e = decode::<u8>(&encode(&(1u8, 2u8)).unwrap()).unwrap_err();
        assert!(e.to_string().contains("left over"), "{e}");
        assert_eq!(decode::<()>(&encode(&()).unwrap()), Ok(()));
    }
}
