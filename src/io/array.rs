//! The typed n-dimensional array the readers return and the writers take, its element types,
//! their byte encodings, and the NaN/infinity finder used for "NaN or infinite weights" errors.
//!
//! [`Array`] is one enum over `ndarray::ArrayD<T>` for every supported [`DType`]; the generic
//! accessors ([`Array::get`], [`Array::into_typed`]) work through the sealed [`Element`] trait.

use super::error::{ErrorKind, IoError};
use ndarray::{ArrayBase, ArrayD, Data, Dimension};
use std::fmt;

/// The element types the readers and writers support (NumPy's names in [`DType::name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl DType {
    /// Every supported dtype, in declaration order.
    pub const ALL: [DType; 11] = [
        DType::Bool,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::F32,
        DType::F64,
    ];

    /// NumPy's name: `bool`, `int8`, …, `float64`.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::I16 => "int16",
            DType::U16 => "uint16",
            DType::I32 => "int32",
            DType::U32 => "uint32",
            DType::I64 => "int64",
            DType::U64 => "uint64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::I8 | DType::U8 => 1,
            DType::I16 | DType::U16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 => 8,
        }
    }

    /// True for the signed and unsigned integer types (not `bool`).
    pub fn is_integer(self) -> bool {
        !matches!(self, DType::Bool | DType::F32 | DType::F64)
    }

    /// True for `float32` and `float64`.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// The NumPy type character: `b`, `i`, `u` or `f`.
    pub(crate) fn kind_char(self) -> char {
        match self {
            DType::Bool => 'b',
            DType::I8 | DType::I16 | DType::I32 | DType::I64 => 'i',
            DType::U8 | DType::U16 | DType::U32 | DType::U64 => 'u',
            DType::F32 | DType::F64 => 'f',
        }
    }

    /// The dtype of NumPy type character `kind` and `size` bytes, if supported.
    pub(crate) fn from_kind(kind: char, size: usize) -> Option<DType> {
        DType::ALL
            .into_iter()
            .find(|d| d.kind_char() == kind && d.size() == size)
    }

    /// The little-endian `.npy` descriptor NumPy writes: `<f4`, `|u1`, `|b1`, …
    pub(crate) fn npy_descr(self) -> String {
        let order = if self.size() == 1 { '|' } else { '<' };
        format!("{order}{}{}", self.kind_char(), self.size())
    }

    /// The list used in "supported dtypes" help texts.
    pub(crate) fn supported_list() -> String {
        let names: Vec<&str> = DType::ALL.iter().map(|d| d.name()).collect();
        names.join(", ")
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

mod sealed {
    /// Byte codec of an element type; private so that only this module implements [`Element`].
    ///
    /// [`Element`]: super::Element
    pub trait Codec: Sized {
        /// Decodes one element from exactly `size()` bytes.
        fn decode(bytes: &[u8], big_endian: bool) -> Self;
        /// Appends the little-endian bytes of `self`.
        fn encode_le(self, out: &mut Vec<u8>);
        /// The value as an integer, for integer types only.
        fn to_integer(self) -> Option<i128>;
        /// The value as `f64` when it is NaN or infinite (floats only).
        fn non_finite(self) -> Option<f64>;
    }
}

/// An element type of [`Array`]: `bool`, `i8`…`i64`, `u8`…`u64`, `f32`, `f64`.
pub trait Element: sealed::Codec + Copy + Default + PartialEq + fmt::Debug + 'static {
    /// The dtype of this element type.
    const DTYPE: DType;
    /// Wraps a typed array.
    fn wrap(array: ArrayD<Self>) -> Array;
    /// The typed array inside `array`, if it has this element type.
    fn peek(array: &Array) -> Option<&ArrayD<Self>>;
    /// The typed array inside `array`, or `array` back if it has another element type.
    fn unwrap(array: Array) -> Result<ArrayD<Self>, Array>;
}

macro_rules! element_impls {
    ($($variant:ident($t:ty)),* $(,)?) => {
        /// An n-dimensional array of one of the supported element types, in logical (C) order.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Array {
            $(
                #[doc = concat!("An array of `", stringify!($t), "`.")]
                $variant(ArrayD<$t>),
            )*
        }

        /// Runs `$body` with `$a` bound to the typed array inside `$array`.
        macro_rules! with_array {
            ($array:expr, $a:ident => $body:expr) => {
                match $array {
                    $(Array::$variant($a) => $body,)*
                }
            };
        }

        $(
            impl Element for $t {
                const DTYPE: DType = DType::$variant;
                fn wrap(array: ArrayD<$t>) -> Array {
                    Array::$variant(array)
                }
                fn peek(array: &Array) -> Option<&ArrayD<$t>> {
                    match array {
                        Array::$variant(a) => Some(a),
                        _ => None,
                    }
                }
                fn unwrap(array: Array) -> Result<ArrayD<$t>, Array> {
                    match array {
                        Array::$variant(a) => Ok(a),
                        other => Err(other),
                    }
                }
            }

            impl From<ArrayD<$t>> for Array {
                fn from(array: ArrayD<$t>) -> Array {
                    Array::$variant(array)
                }
            }
        )*
    };
}

element_impls! {
    Bool(bool),
    I8(i8),
    U8(u8),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    F32(f32),
    F64(f64),
}

/// `Codec` for the numeric types: `$integer` and `$non_finite` say what an element is as an
/// integer (none for floats) and as a non-finite float (none for integers).
macro_rules! numeric_codec {
    ($($t:ty: $integer:expr, $non_finite:expr;)*) => {$(
        impl sealed::Codec for $t {
            fn decode(bytes: &[u8], big_endian: bool) -> $t {
                let raw = bytes.try_into().expect("decode is given exactly one element's bytes");
                if big_endian { <$t>::from_be_bytes(raw) } else { <$t>::from_le_bytes(raw) }
            }
            fn encode_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn to_integer(self) -> Option<i128> {
                let integer: fn($t) -> Option<i128> = $integer;
                integer(self)
            }
            fn non_finite(self) -> Option<f64> {
                let non_finite: fn($t) -> Option<f64> = $non_finite;
                non_finite(self)
            }
        }
    )*};
}

numeric_codec! {
    i8: |v| Some(i128::from(v)), |_| None;
    u8: |v| Some(i128::from(v)), |_| None;
    i16: |v| Some(i128::from(v)), |_| None;
    u16: |v| Some(i128::from(v)), |_| None;
    i32: |v| Some(i128::from(v)), |_| None;
    u32: |v| Some(i128::from(v)), |_| None;
    i64: |v| Some(i128::from(v)), |_| None;
    u64: |v| Some(i128::from(v)), |_| None;
    f32: |_| None, |v| (!v.is_finite()).then_some(f64::from(v));
    f64: |_| None, |v| (!v.is_finite()).then_some(v);
}

impl sealed::Codec for bool {
    /// Any nonzero byte is `true`, as NumPy's `astype(bool)` reads it.
    fn decode(bytes: &[u8], _big_endian: bool) -> bool {
        bytes[0] != 0
    }
    fn encode_le(self, out: &mut Vec<u8>) {
        out.push(u8::from(self));
    }
    fn to_integer(self) -> Option<i128> {
        None
    }
    fn non_finite(self) -> Option<f64> {
        None
    }
}

impl Array {
    /// The element type.
    pub fn dtype(&self) -> DType {
        with_array!(self, a => element_dtype(a))
    }

    /// The shape (empty for a scalar).
    pub fn shape(&self) -> &[usize] {
        with_array!(self, a => a.shape())
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        with_array!(self, a => a.len())
    }

    /// True when the array holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The typed array, if the element type is `T`.
    pub fn get<T: Element>(&self) -> Option<&ArrayD<T>> {
        T::peek(self)
    }

    /// The typed array, or `self` back if the element type is not `T`.
    pub fn into_typed<T: Element>(self) -> Result<ArrayD<T>, Array> {
        T::unwrap(self)
    }

    /// The NaN and infinite values of a float array (`None` when all are finite, or for
    /// non-float arrays).
    pub fn non_finite(&self) -> Option<NonFinite> {
        match self {
            Array::F32(a) => find_non_finite(a),
            Array::F64(a) => find_non_finite(a),
            _ => None,
        }
    }

    /// The values as `i128` in logical order, for integer arrays only.
    pub(crate) fn integer_values(&self) -> Option<Box<dyn Iterator<Item = i128> + '_>> {
        if !self.dtype().is_integer() {
            return None;
        }
        Some(with_array!(self, a => Box::new(a.iter().map(|&v| {
            sealed::Codec::to_integer(v).expect("integer dtypes convert to i128")
        }))))
    }

    /// Appends the little-endian bytes of every value, in logical (C) order.
    pub(crate) fn encode_le_chunked(
        &self,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        with_array!(self, a => encode_values(a.iter().copied(), &mut sink))
    }
}

fn element_dtype<T: Element>(_: &ArrayD<T>) -> DType {
    T::DTYPE
}

/// Bytes buffered before each call of the sink while encoding.
const ENCODE_CHUNK: usize = 1 << 16;

fn encode_values<T: Element>(
    values: impl Iterator<Item = T>,
    sink: &mut impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut buffer = Vec::with_capacity(ENCODE_CHUNK + 8);
    for v in values {
        v.encode_le(&mut buffer);
        if buffer.len() >= ENCODE_CHUNK {
            sink(&buffer)?;
            buffer.clear();
        }
    }
    if !buffer.is_empty() {
        sink(&buffer)?;
    }
    Ok(())
}

/// Where and how many NaN or infinite values a float array holds.
///
/// Equality compares `first_value` bit for bit, so that a NaN record equals itself.
#[derive(Clone, Debug)]
pub struct NonFinite {
    /// How many values are NaN.
    pub nan: usize,
    /// How many values are `+inf` or `-inf`.
    pub infinite: usize,
    /// The index (one entry per axis) of the first such value in logical order.
    pub first_index: Vec<usize>,
    /// The first such value (NaN, `inf` or `-inf`), widened to `f64`.
    pub first_value: f64,
}

impl PartialEq for NonFinite {
    fn eq(&self, other: &NonFinite) -> bool {
        self.nan == other.nan
            && self.infinite == other.infinite
            && self.first_index == other.first_index
            && self.first_value.to_bits() == other.first_value.to_bits()
    }
}

impl NonFinite {
    /// NaN plus infinite values.
    pub fn count(&self) -> usize {
        self.nan + self.infinite
    }

    /// `3 NaN or infinite values (2 NaN, 1 infinite), the first at [0, 2, 0, 5] (NaN)`.
    pub fn describe(&self) -> String {
        let index: Vec<String> = self.first_index.iter().map(|i| i.to_string()).collect();
        let plural = if self.count() == 1 { "value" } else { "values" };
        format!(
            "{} NaN or infinite {plural} ({} NaN, {} infinite), the first at [{}] ({})",
            self.count(),
            self.nan,
            self.infinite,
            index.join(", "),
            self.first_value
        )
    }

    /// The error for an input that holds these values.
    pub fn to_error(&self) -> IoError {
        IoError::new(ErrorKind::NonFinite, self.describe()).with_help(
            "check how the file was produced (a diverged training run gives NaN weights)",
        )
    }
}

/// The NaN and infinite values of `array` (`None` when every value is finite).
pub fn find_non_finite<T, S, D>(array: &ArrayBase<S, D>) -> Option<NonFinite>
where
    T: Element,
    S: Data<Elem = T>,
    D: Dimension,
{
    let mut found: Option<NonFinite> = None;
    for (position, value) in array.iter().enumerate() {
        let Some(bad) = sealed::Codec::non_finite(*value) else {
            continue;
        };
        let record = found.get_or_insert_with(|| NonFinite {
            nan: 0,
            infinite: 0,
            first_index: unravel(position, array.shape()),
            first_value: bad,
        });
        if bad.is_nan() {
            record.nan += 1;
        } else {
            record.infinite += 1;
        }
    }
    found
}

/// The multi-index of logical (C-order) position `position` in `shape`.
fn unravel(mut position: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (axis, &len) in shape.iter().enumerate().rev() {
        index[axis] = position % len;
        position /= len;
    }
    index
}

/// Decodes `bytes` (a whole number of elements) and appends them to `out`.
pub(crate) fn decode_into<T: Element>(bytes: &[u8], big_endian: bool, out: &mut Vec<T>) {
    let size = T::DTYPE.size();
    assert!(
        bytes.len() % size == 0,
        "decode_into is given whole elements ({} bytes of {size}-byte elements)",
        bytes.len()
    );
    out.extend(
        bytes
            .chunks_exact(size)
            .map(|chunk| T::decode(chunk, big_endian)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2, IxDyn};

    #[test]
    fn finds_nan_and_inf_with_location() {
        let a = arr2(&[[1.0f32, 2.0], [f32::NAN, f32::INFINITY]]);
        let nf = find_non_finite(&a).unwrap();
        assert_eq!((nf.nan, nf.infinite, nf.count()), (1, 1, 2));
        assert_eq!(nf.first_index, vec![1, 0]);
        assert!(nf.first_value.is_nan());
        assert_eq!(
            nf.describe(),
            "2 NaN or infinite values (1 NaN, 1 infinite), the first at [1, 0] (NaN)"
        );
        assert!(find_non_finite(&arr1(&[1.0f64, -0.0])).is_none());
    }

    #[test]
    fn finds_in_transposed_views_in_logical_order() {
        let a = arr2(&[[0.0f32, f32::NEG_INFINITY], [0.0, 0.0]]);
        let nf = find_non_finite(&a.t()).unwrap();
        assert_eq!(nf.first_index, vec![1, 0]);
        assert_eq!(nf.first_value, f64::NEG_INFINITY);
    }

    #[test]
    fn typed_access() {
        let a = Array::from(ArrayD::<i32>::zeros(IxDyn(&[2, 3])));
        assert_eq!(a.dtype(), DType::I32);
        assert_eq!(a.shape(), &[2, 3]);
        assert!(a.get::<f32>().is_none());
        assert_eq!(a.get::<i32>().unwrap().len(), 6);
        assert!(a.clone().into_typed::<u8>().is_err());
        assert_eq!(DType::F32.npy_descr(), "<f4");
        assert_eq!(DType::Bool.npy_descr(), "|b1");
        assert_eq!(DType::from_kind('u', 2), Some(DType::U16));
        assert_eq!(DType::from_kind('f', 2), None);
    }
}
