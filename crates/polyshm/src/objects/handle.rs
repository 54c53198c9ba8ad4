//! Handles: what a task gets to open a shared object (segment name, instance, shape
//! and the fingerprint of the element type), as plain serde data.

use super::ObjectError;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;

/// The fingerprint of a cell type: size, alignment, and its name with a hash of it.
///
/// Two fingerprints match when size, alignment and name hash agree (the name itself
/// is kept for messages). The name is [`std::any::type_name`], which is the same for
/// the same type in one build (the team's drones run the master's own program); a
/// program built by another compiler may name a type otherwise, and then opening is
/// refused rather than guessed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ElementType {
    /// `size_of::<T>()`.
    pub size: u64,
    /// `align_of::<T>()`.
    pub align: u64,
    /// `type_name::<T>()` (at most 160 bytes are kept in the segment).
    pub name: String,
    /// FNV-1a hash of the whole name.
    pub hash: u64,
}

impl ElementType {
    /// The fingerprint of `T`.
    pub fn of<T: bytemuck::Pod>() -> ElementType {
        let name = std::any::type_name::<T>();
        ElementType {
            size: std::mem::size_of::<T>() as u64,
            align: std::mem::align_of::<T>() as u64,
            name: name.to_owned(),
            hash: fnv1a(name.as_bytes()),
        }
    }

    /// Whether `self` and `other` describe the same cell type.
    pub fn matches(&self, other: &ElementType) -> bool {
        self.size == other.size && self.align == other.align && self.hash == other.hash
    }
}

impl PartialEq for ElementType {
    fn eq(&self, other: &ElementType) -> bool {
        self.matches(other)
    }
}

impl Eq for ElementType {}

impl std::fmt::Display for ElementType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` ({} bytes, align {}, hash {:#018x})",
            self.name, self.size, self.align, self.hash
        )
    }
}

/// FNV-1a, 64 bits: a hash that every build computes alike (std's hasher is not
/// promised to).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The shape of a shared object, with its partition into parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shape {
    /// `len` cells in parts of `part_len` (the last may be shorter).
    Array {
        /// Cells.
        len: usize,
        /// Cells per part.
        part_len: usize,
    },
    /// `rows` × `cols` cells, row-major, in tiles of `tile_rows` × `tile_cols` (those
    /// at the right and bottom edges may be smaller).
    Matrix {
        /// Rows.
        rows: usize,
        /// Columns.
        cols: usize,
        /// Rows per tile.
        tile_rows: usize,
        /// Columns per tile.
        tile_cols: usize,
    },
}

impl Shape {
    /// `"array"` or `"matrix"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Shape::Array { .. } => "array",
            Shape::Matrix { .. } => "matrix",
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Shape::Array { len, part_len } => {
                write!(f, "an array of {len} cells in parts of {part_len}")
            }
            Shape::Matrix {
                rows,
                cols,
                tile_rows,
                tile_cols,
            } => write!(
                f,
                "a {rows} × {cols} matrix in tiles of {tile_rows} × {tile_cols}"
            ),
        }
    }
}

/// The untyped description of a shared object: everything a typed handle carries.
/// Build a typed handle from it with [`ArrayHandle::from_untyped`] /
/// [`MatrixHandle::from_untyped`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectHandle {
    /// The segment's name.
    pub segment: String,
    /// The object's instance: a random number its creator drew, so that an object
    /// made again under the same name is told from the old one.
    pub instance: u64,
    /// Shape and partition.
    pub shape: Shape,
    /// The cells' type.
    pub element: ElementType,
}

impl ObjectHandle {
    /// Check that this handle describes a `kind` object of `T` cells.
    pub(crate) fn check<T: bytemuck::Pod>(&self, kind: &'static str) -> Result<(), ObjectError> {
        let wanted = ElementType::of::<T>();
        if !self.element.matches(&wanted) {
            return Err(ObjectError::HandleType {
                segment: self.segment.clone(),
                handle: self.element.to_string(),
                wanted: wanted.to_string(),
            });
        }
        if self.shape.kind() != kind {
            return Err(ObjectError::WrongKind {
                segment: self.segment.clone(),
                found: self.shape.kind(),
                wanted: kind,
            });
        }
        Ok(())
    }
}

macro_rules! typed_handle {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Serialize, Deserialize)]
        #[serde(transparent, bound = "")]
        pub struct $name<T> {
            object: ObjectHandle,
            #[serde(skip)]
            _cells: PhantomData<fn() -> T>,
        }

        impl<T: bytemuck::Pod> $name<T> {
            /// A typed handle from an untyped description, checked against `T` and
            /// the kind of object (the segment itself is checked when it is opened).
            pub fn from_untyped(object: ObjectHandle) -> Result<Self, ObjectError> {
                object.check::<T>($kind)?;
                Ok(Self::new_unchecked(object))
            }
        }

        impl<T> $name<T> {
            pub(crate) fn new_unchecked(object: ObjectHandle) -> Self {
                $name {
                    object,
                    _cells: PhantomData,
                }
            }

            /// The untyped description.
            pub fn object(&self) -> &ObjectHandle {
                &self.object
            }

            /// The segment's name.
            pub fn segment(&self) -> &str {
                &self.object.segment
            }

            /// Shape and partition.
            pub fn shape(&self) -> Shape {
                self.object.shape
            }
        }

        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                Self::new_unchecked(self.object.clone())
            }
        }

        impl<T> PartialEq for $name<T> {
            fn eq(&self, other: &Self) -> bool {
                self.object == other.object
            }
        }

        impl<T> Eq for $name<T> {}

        impl<T> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.object).finish()
            }
        }

        impl<T> From<$name<T>> for ObjectHandle {
            fn from(h: $name<T>) -> ObjectHandle {
                h.object
            }
        }
    };
}

typed_handle!(
    /// What a task needs to open a [`SharedArray<T>`](super::SharedArray): serde data
    /// (send it as a task argument), checked against `T` and against the segment
    /// when opened.
    ArrayHandle,
    "array"
);

typed_handle!(
    /// What a task needs to open a [`SharedMatrix<T>`](super::SharedMatrix): serde
    /// data (send it as a task argument), checked against `T` and against the segment
    /// when opened.
    MatrixHandle,
    "matrix"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C)]
    struct Pixel {
        r: u8,
        g: u8,
        b: u8,
        a: u8,
    }

    #[test]
    fn fingerprints_tell_types_of_one_size_apart() {
        let (u, f, p) = (
            ElementType::of::<u32>(),
            ElementType::of::<f32>(),
            ElementType::of::<Pixel>(),
        );
        assert_eq!((u.size, u.align), (4, 4));
        assert_eq!((p.size, p.align), (4, 1));
        assert!(u.matches(&ElementType::of::<u32>()));
        assert!(!u.matches(&f), "same size and alignment, another type");
        assert!(!u.matches(&p));
        assert!(p.name.ends_with("Pixel"), "{}", p.name);
        assert!(u.to_string().contains("`u32` (4 bytes, align 4"), "{u}");
    }

    #[test]
    fn fnv1a_is_the_published_function() {
        // Test vectors of the FNV-1a 64-bit reference.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    fn sample() -> ObjectHandle {
        ObjectHandle {
            segment: "m".into(),
            instance: 7,
            shape: Shape::Matrix {
                rows: 3,
                cols: 5,
                tile_rows: 2,
                tile_cols: 2,
            },
            element: ElementType::of::<u32>(),
        }
    }

    #[test]
    fn a_handle_survives_serde_and_is_checked_against_t_and_kind() {
        let h = MatrixHandle::<u32>::from_untyped(sample()).unwrap();
        let bytes = postcard::to_stdvec(&h).unwrap();
        let back: MatrixHandle<u32> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.segment(), "m");
        // Deserialised as the wrong cell type: the fingerprint inside says so.
        let wrong: MatrixHandle<f32> = postcard::from_bytes(&bytes).unwrap();
        match wrong.object().check::<f32>("matrix") {
            Err(ObjectError::HandleType { handle, wanted, .. }) => {
                assert!(
                    handle.contains("u32") && wanted.contains("f32"),
                    "{handle} / {wanted}"
                );
            }
            other => panic!("expected HandleType, got {other:?}"),
        }
        match MatrixHandle::<f32>::from_untyped(sample()) {
            Err(e @ ObjectError::HandleType { .. }) => {
                assert!(
                    e.to_string().contains("open it with the element type"),
                    "{e}"
                )
            }
            other => panic!("expected HandleType, got {other:?}"),
        }
        match ArrayHandle::<u32>::from_untyped(sample()) {
            Err(ObjectError::WrongKind { found, wanted, .. }) => {
                assert_eq!((found, wanted), ("matrix", "array"))
            }
            other => panic!("expected WrongKind, got {other:?}"),
        }
    }

    #[test]
    fn shapes_say_what_they_are() {
        assert_eq!(
            sample().shape.to_string(),
            "a 3 × 5 matrix in tiles of 2 × 2"
        );
        let a = Shape::Array {
            len: 10,
            part_len: 4,
        };
        assert_eq!(a.to_string(), "an array of 10 cells in parts of 4");
        assert_eq!(a.kind(), "array");
    }
}
