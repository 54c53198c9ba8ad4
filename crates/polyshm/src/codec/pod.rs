//! Plain-old-data arrays: a `&[T]` is its own bytes, no encode step.

use super::CodecError;

/// The bytes of `v`, in place (no copy).
pub fn pod_bytes<T: bytemuck::Pod>(v: &[T]) -> &[u8] {
    bytemuck::cast_slice(v)
}

/// A copy of `b` as values of `T`; checks that the length is a whole number of
/// elements (any alignment of `b` is fine).
pub fn pod_from_bytes<T: bytemuck::Pod>(b: &[u8]) -> Result<Vec<T>, CodecError> {
    let elem = std::mem::size_of::<T>();
    if elem == 0 {
        return Ok(Vec::new());
    }
    if !b.len().is_multiple_of(elem) {
        return Err(CodecError::Length {
            len: b.len(),
            elem,
            type_name: std::any::type_name::<T>(),
        });
    }
    let n = b.len() / elem;
    let mut out: Vec<T> = Vec::with_capacity(n);
    // SAFETY: `out` has room for `n` values, i.e. `b.len()` bytes; the source is a
    // distinct borrowed slice, so they do not overlap; after the copy every byte of the
    // `n` values is initialised, and `T: Pod` makes any bytes a valid `T`. (No zeroing
    // first: for 8 MB that pass costs half a memcpy.)
    unsafe {
        std::ptr::copy_nonoverlapping(b.as_ptr(), out.as_mut_ptr().cast::<u8>(), b.len());
        out.set_len(n);
    }
    Ok(out)
}

/// `b` seen as values of `T` in place (no copy); fails if the length is not a whole
/// number of elements or `b` is not aligned for `T`.
pub fn pod_view<T: bytemuck::Pod>(b: &[u8]) -> Result<&[T], CodecError> {
    let elem = std::mem::size_of::<T>();
    if elem == 0 || !b.len().is_multiple_of(elem) {
        return Err(CodecError::Length {
            len: b.len(),
            elem,
            type_name: std::any::type_name::<T>(),
        });
    }
    bytemuck::try_cast_slice(b).map_err(|_| CodecError::Misaligned {
        addr: b.as_ptr() as usize,
        align: std::mem::align_of::<T>(),
        type_name: std::any::type_name::<T>(),
    })
}

/// `b` seen as mutable values of `T` in place (no copy); same checks as [`pod_view`].
pub fn pod_view_mut<T: bytemuck::Pod>(b: &mut [u8]) -> Result<&mut [T], CodecError> {
    let elem = std::mem::size_of::<T>();
    if elem == 0 || !b.len().is_multiple_of(elem) {
        return Err(CodecError::Length {
            len: b.len(),
            elem,
            type_name: std::any::type_name::<T>(),
        });
    }
    let addr = b.as_ptr() as usize;
    bytemuck::try_cast_slice_mut(b).map_err(|_| CodecError::Misaligned {
        addr,
        align: std::mem::align_of::<T>(),
        type_name: std::any::type_name::<T>(),
    })
}

/// A `Vec<T>` that lends its bytes (`AsRef<[u8]>`) without a copy: how a drone hands
/// a plain-old-data result to the transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodVec<T: bytemuck::Pod>(pub Vec<T>);

impl<T: bytemuck::Pod> AsRef<[u8]> for PodVec<T> {
    fn as_ref(&self) -> &[u8] {
        pod_bytes(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_lengths() {
        let v: Vec<f64> = (0..100).map(|i| i as f64 * 0.5).collect();
        let b = pod_bytes(&v);
        assert_eq!(b.len(), 800);
        assert_eq!(pod_from_bytes::<f64>(b).unwrap(), v);
        assert_eq!(pod_view::<f64>(b).unwrap(), &v[..]);
        assert!(matches!(
            pod_from_bytes::<i64>(&b[..7]),
            Err(CodecError::Length {
                len: 7,
                elem: 8,
                ..
            })
        ));
        // An odd start is not aligned for i64, but a copy still works.
        let bytes: Vec<u8> = (0..17).collect();
        assert!(matches!(
            pod_view::<i64>(&bytes[1..17]),
            Err(CodecError::Misaligned { .. }) | Ok(_)
        ));
        assert_eq!(pod_from_bytes::<i64>(&bytes[1..17]).unwrap().len(), 2);
        assert_eq!(PodVec(vec![1u16, 2]).as_ref(), pod_bytes(&[1u16, 2]));
        assert!(pod_from_bytes::<u8>(&[]).unwrap().is_empty());
    }
}
