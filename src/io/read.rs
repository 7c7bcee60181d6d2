//! Shared reading machinery: opening input files with clear errors, and reading a payload of
//! a size a header announced without trusting that header with memory.
//!
//! When the payload length is known from the file system it has been checked against the
//! header before [`read_elements`] runs, so the buffer is allocated at once. When it is not
//! (a zip member, a gzip stream) the buffer grows with the data actually read, never past the
//! announced size, so a short stream never causes the announced allocation.

use super::array::{decode_into, Array, DType, Element};
use super::budget;
use super::error::{describe_os_error, fmt_shape, ErrorKind, IoError};
use ndarray::{ArrayD, IxDyn};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Bytes read per step.
const CHUNK: usize = 1 << 16;

/// Capacity a growing buffer starts with when the payload size is not yet confirmed.
const INITIAL_ELEMENTS: usize = 1 << 16;

/// Trailing bytes counted (at most) to report how many follow the payload of a stream.
pub(crate) const TRAILING_COUNT_CAP: u64 = 1 << 20;

/// Where bytes come from, which decides how a read error is phrased.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// A plain file: read errors are OS errors.
    File,
    /// A zip member or a gzip stream: read errors mean damaged data.
    Compressed,
}

impl Source {
    /// The error for a failed read.
    pub(crate) fn error(self, err: &io::Error) -> IoError {
        match self {
            Source::File => IoError::os("read the file", err),
            Source::Compressed if err.kind() == io::ErrorKind::UnexpectedEof => IoError::new(
                ErrorKind::Truncated,
                "the data ends early (it is truncated)",
            ),
            Source::Compressed => IoError::new(
                ErrorKind::Corrupt,
                format!("the data is corrupt: {}", describe_os_error(err)),
            ),
        }
    }
}

/// Why [`read_elements`] stopped.
#[derive(Debug)]
pub(crate) enum ReadFail {
    /// A read error.
    Io(io::Error),
    /// The data ended after `got` bytes.
    Short { got: u64 },
}

/// Opens `path` for reading and returns it with its length; a directory is refused.
pub(crate) fn open_input(path: &Path) -> Result<(File, u64), IoError> {
    let file = File::open(path).map_err(|e| open_error(path, &e))?;
    let meta = file.metadata().map_err(|e| open_error(path, &e))?;
    if meta.is_dir() {
        return Err(IoError::new(ErrorKind::Os, "is a directory, not a file")
            .at(path)
            .with_help("give the path of a file inside it"));
    }
    Ok((file, meta.len()))
}

fn open_error(path: &Path, err: &io::Error) -> IoError {
    match err.kind() {
        io::ErrorKind::NotFound => IoError::new(ErrorKind::NotFound, "no such file").at(path),
        _ => IoError::os("open the file", err).at(path),
    }
}

/// The type, shape and size of an array payload, as a header announced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub big_endian: bool,
    /// Number of values (product of the shape).
    pub values: usize,
    /// Payload bytes (values × element size).
    pub bytes: u64,
}

impl Layout {
    /// The layout of `shape`, refusing shapes no machine can hold.
    pub(crate) fn new(
        dtype: DType,
        shape: Vec<usize>,
        big_endian: bool,
    ) -> Result<Layout, IoError> {
        let too_large = || {
            IoError::new(
                ErrorKind::TooLarge,
                format!(
                    "shape {} of {dtype} has more values than any machine can hold",
                    fmt_shape(&shape)
                ),
            )
        };
        // ndarray requires the product of the non-zero axis lengths to fit in `isize`.
        let nonzero = shape
            .iter()
            .filter(|&&d| d > 0)
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n <= isize::MAX as usize)
            .ok_or_else(too_large)?;
        let values = if shape.contains(&0) { 0 } else { nonzero };
        let bytes = (values as u64)
            .checked_mul(dtype.size() as u64)
            .filter(|&b| b <= isize::MAX as u64)
            .ok_or_else(too_large)?;
        Ok(Layout {
            dtype,
            shape,
            big_endian,
            values,
            bytes,
        })
    }

    /// `shape (3, 3, 1, 8) of float32`.
    fn describe(&self) -> String {
        format!("shape {} of {}", fmt_shape(&self.shape), self.dtype)
    }

    fn truncated(&self, got: u64) -> IoError {
        IoError::new(
            ErrorKind::Truncated,
            format!(
                "header says {} ({} values, {} bytes) but the payload holds {got} bytes",
                self.describe(),
                self.values,
                self.bytes
            ),
        )
    }
}

/// Reads the payload `layout` announces and builds the array. `known_payload` is the number of
/// payload bytes the file holds when the file system knows it (then a mismatch is reported
/// before anything is allocated); otherwise the payload is read from a stream whose end is
/// then checked. `budget_base` is memory already committed by the caller that counts towards
/// the budget together with this array.
pub(crate) fn read_payload(
    reader: &mut dyn Read,
    layout: &Layout,
    known_payload: Option<u64>,
    source: Source,
    budget_base: u64,
) -> Result<Array, IoError> {
    if let Some(have) = known_payload {
        if have < layout.bytes {
            return Err(layout.truncated(have));
        }
        if have > layout.bytes {
            return Err(IoError::new(
                ErrorKind::TrailingBytes,
                format!(
                    "the payload holds {have} bytes but header {} needs {}",
                    layout.describe(),
                    layout.bytes
                ),
            ));
        }
    }
    if budget_base == 0 {
        budget::check(layout.bytes, &layout.describe())?;
    } else {
        budget::check(
            layout.bytes.saturating_add(budget_base),
            &format!("{} together with the members before it", layout.describe()),
        )?;
    }
    let preallocate = known_payload.is_some();
    macro_rules! typed {
        ($t:ty) => {
            read_typed::<$t>(reader, layout, preallocate, source).map(Array::from)
        };
    }
    let array = match layout.dtype {
        DType::Bool => typed!(bool),
        DType::I8 => typed!(i8),
        DType::U8 => typed!(u8),
        DType::I16 => typed!(i16),
        DType::U16 => typed!(u16),
        DType::I32 => typed!(i32),
        DType::U32 => typed!(u32),
        DType::I64 => typed!(i64),
        DType::U64 => typed!(u64),
        DType::F32 => typed!(f32),
        DType::F64 => typed!(f64),
    }?;
    if known_payload.is_none() {
        let extra = count_trailing(reader).map_err(|e| source.error(&e))?;
        if extra > 0 {
            return Err(IoError::new(
                ErrorKind::TrailingBytes,
                format!(
                    "{} follow the payload of header {} ({} bytes)",
                    describe_trailing(extra),
                    layout.describe(),
                    layout.bytes
                ),
            ));
        }
    }
    Ok(array)
}

fn read_typed<T: Element>(
    reader: &mut dyn Read,
    layout: &Layout,
    preallocate: bool,
    source: Source,
) -> Result<ArrayD<T>, IoError> {
    let values = read_elements::<T>(reader, layout.values, layout.big_endian, preallocate)
        .map_err(|fail| match fail {
            ReadFail::Io(e) => source.error(&e),
            ReadFail::Short { got } => layout.truncated(got),
        })?;
    Ok(ArrayD::from_shape_vec(IxDyn(&layout.shape), values)
        .expect("read_elements returns exactly the number of values of the shape"))
}

/// Reads until `buf` is full or the data ends; returns the number of bytes read.
pub(crate) fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads exactly `count` elements of `T`. With `preallocate` the buffer is allocated at once
/// (the caller has confirmed the data is there); otherwise it grows with the data read.
pub(crate) fn read_elements<T: Element>(
    reader: &mut dyn Read,
    count: usize,
    big_endian: bool,
    preallocate: bool,
) -> Result<Vec<T>, ReadFail> {
    let size = T::DTYPE.size();
    let mut out: Vec<T> = Vec::with_capacity(if preallocate {
        count
    } else {
        count.min(INITIAL_ELEMENTS)
    });
    let mut buf = vec![0u8; CHUNK];
    while out.len() < count {
        let want = ((count - out.len()) * size).min(CHUNK);
        let got = read_full(reader, &mut buf[..want]).map_err(ReadFail::Io)?;
        if got < want {
            let got_total = (out.len() * size + got) as u64;
            return Err(ReadFail::Short { got: got_total });
        }
        let needed = want / size;
        if out.capacity() - out.len() < needed {
            // Grow geometrically, but never past the announced count.
            let grow = needed.max(out.len()).min(count - out.len());
            out.reserve_exact(grow);
        }
        decode_into(&buf[..want], big_endian, &mut out);
    }
    assert_eq!(
        out.len(),
        count,
        "read_elements reads exactly `count` elements"
    );
    Ok(out)
}

/// Counts the bytes left in `reader`, stopping at [`TRAILING_COUNT_CAP`].
pub(crate) fn count_trailing(reader: &mut dyn Read) -> io::Result<u64> {
    io::copy(&mut reader.take(TRAILING_COUNT_CAP), &mut io::sink())
}

/// `N bytes` or `more than N bytes` for a count from [`count_trailing`].
pub(crate) fn describe_trailing(count: u64) -> String {
    if count >= TRAILING_COUNT_CAP {
        format!("more than {count} bytes")
    } else if count == 1 {
        "1 byte".to_string()
    } else {
        format!("{count} bytes")
    }
}

/// Up to the first six bytes of `bytes` in hex, for "it starts with …" messages.
pub(crate) fn hex_prefix(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes.iter().take(6).map(|b| format!("{b:02x}")).collect();
    shown.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_exact_counts_and_reports_short_data() {
        let bytes: Vec<u8> = (0..10u8).collect();
        let v: Vec<u16> = read_elements(&mut &bytes[..], 5, true, false).unwrap();
        assert_eq!(v, vec![0x0001, 0x0203, 0x0405, 0x0607, 0x0809]);
        match read_elements::<u32>(&mut &bytes[..], 3, false, false) {
            Err(ReadFail::Short { got }) => assert_eq!(got, 10),
            other => panic!("expected a short read, got {other:?}"),
        }
    }

    #[test]
    fn growing_buffer_never_exceeds_count() {
        let n = INITIAL_ELEMENTS * 3 + 7;
        let bytes = vec![1u8; n];
        let v: Vec<u8> = read_elements(&mut &bytes[..], n, false, false).unwrap();
        assert_eq!(v.len(), n);
        assert!(v.capacity() <= n);
    }
}
