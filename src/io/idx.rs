//! IDX files (the MNIST format), plain or gzipped.
//!
//! An IDX file is two zero bytes, a type byte (`0x08` u8, `0x09` i8, `0x0B` i16, `0x0C` i32,
//! `0x0D` f32, `0x0E` f64), the number of dimensions, one big-endian `u32` per dimension, then
//! the values, big-endian, in C order. Gzip is recognised by its `1f 8b` magic, whatever the
//! file is called. The dimensions are checked against the payload (the file length for plain
//! files, the decompressed stream otherwise) and the memory budget before the array is
//! allocated, and bytes after the payload are refused.

use super::array::{Array, DType};
use super::error::{fmt_shape, ErrorKind, IoError};
use super::read::{hex_prefix, open_input, read_full, read_payload, Layout, Source};
use flate2::read::MultiGzDecoder;
use ndarray::{Array1, Array3, Ix1, Ix3};
use std::io::{BufReader, Cursor, Read};
use std::path::Path;

/// The two bytes every gzip stream starts with.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads an IDX file of any supported type and rank.
pub fn read_idx(path: &Path) -> Result<Array, IoError> {
    let (file, len) = open_input(path)?;
    read_idx_stream(BufReader::new(file), Some(len)).map_err(|e| e.at(path))
}

/// Reads an IDX stream, plain or gzipped (errors carry no path).
pub fn read_idx_from(reader: impl Read) -> Result<Array, IoError> {
    read_idx_stream(reader, None)
}

/// Reads an IDX file that must hold images: unsigned bytes of shape `(count, rows, cols)`.
pub fn read_idx_images(path: &Path) -> Result<Array3<u8>, IoError> {
    let array = read_idx(path)?;
    let a = expect_u8(array, 3, "images", "(count, rows, cols)").map_err(|e| e.at(path))?;
    Ok(a.into_dimensionality::<Ix3>()
        .expect("expect_u8 has checked the number of axes"))
}

/// Reads an IDX file that must hold labels: unsigned bytes of shape `(count,)`.
pub fn read_idx_labels(path: &Path) -> Result<Array1<u8>, IoError> {
    let array = read_idx(path)?;
    let a = expect_u8(array, 1, "labels", "(count,)").map_err(|e| e.at(path))?;
    Ok(a.into_dimensionality::<Ix1>()
        .expect("expect_u8 has checked the number of axes"))
}

fn expect_u8(
    array: Array,
    ndim: usize,
    role: &str,
    axes: &str,
) -> Result<ndarray::ArrayD<u8>, IoError> {
    if array.shape().len() != ndim {
        return Err(IoError::new(
            ErrorKind::WrongShape,
            format!(
                "holds an array of shape {}; {role} must have {ndim} axes {axes}",
                fmt_shape(array.shape())
            ),
        ));
    }
    array.into_typed::<u8>().map_err(|other| {
        IoError::new(
            ErrorKind::WrongDtype,
            format!(
                "holds {} values; {role} must be unsigned bytes (IDX type 0x08)",
                other.dtype()
            ),
        )
    })
}

/// Detects gzip from the first two bytes, then decodes. `known_len` is the file length of a
/// plain file.
fn read_idx_stream(mut reader: impl Read, known_len: Option<u64>) -> Result<Array, IoError> {
    let mut first = [0u8; 2];
    let got = read_full(&mut reader, &mut first).map_err(|e| Source::File.error(&e))?;
    let mut stream = Cursor::new(first[..got].to_vec()).chain(reader);
    if got == 2 && first == GZIP_MAGIC {
        let mut gz = MultiGzDecoder::new(stream);
        decode(&mut gz, None, Source::Compressed)
    } else {
        decode(&mut stream, known_len, Source::File)
    }
}

/// The dtype of an IDX type byte.
fn dtype_of(code: u8) -> Option<DType> {
    match code {
        0x08 => Some(DType::U8),
        0x09 => Some(DType::I8),
        0x0B => Some(DType::I16),
        0x0C => Some(DType::I32),
        0x0D => Some(DType::F32),
        0x0E => Some(DType::F64),
        _ => None,
    }
}

fn decode(reader: &mut dyn Read, known_len: Option<u64>, source: Source) -> Result<Array, IoError> {
    let mut magic = [0u8; 4];
    let got = read_full(reader, &mut magic).map_err(|e| source.error(&e))?;
    if got == 0 {
        let cause = match source {
            Source::File => "the file is empty",
            Source::Compressed => "the decompressed data is empty",
        };
        return Err(IoError::new(ErrorKind::Empty, cause));
    }
    if magic[..got.min(2)].iter().any(|&b| b != 0) {
        let mut e = IoError::new(
            ErrorKind::BadMagic,
            format!(
                "not an IDX file: it starts with bytes {} instead of two zero bytes, a type byte and a rank",
                hex_prefix(&magic[..got])
            ),
        );
        if magic[..got].starts_with(&[0x93, b'N']) {
            e = e.with_help(
                "this looks like a `.npy` file; name it `x_train.npy` etc. to load it as one",
            );
        }
        return Err(e);
    }
    if got < 4 {
        return Err(truncated_header(got));
    }
    let dtype = dtype_of(magic[2]).ok_or_else(|| {
        IoError::new(
            ErrorKind::UnsupportedDtype,
            format!("unknown IDX type byte 0x{:02x}", magic[2]),
        )
        .with_help(
            "IDX types are 0x08 (u8), 0x09 (i8), 0x0b (i16), 0x0c (i32), 0x0d (f32), 0x0e (f64)",
        )
    })?;
    let rank = usize::from(magic[3]);
    if rank == 0 {
        return Err(IoError::new(
            ErrorKind::BadHeader,
            "the IDX header declares 0 dimensions",
        ));
    }
    let mut dims_raw = vec![0u8; 4 * rank];
    let got = read_full(reader, &mut dims_raw).map_err(|e| source.error(&e))?;
    if got < dims_raw.len() {
        return Err(truncated_header(4 + got));
    }
    let shape: Vec<usize> = dims_raw
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes(c.try_into().expect("chunks of 4")) as usize)
        .collect();
    let header_len = 4 + dims_raw.len() as u64;
    let layout = Layout::new(dtype, shape, true)?;
    let known_payload = known_len.map(|len| len.saturating_sub(header_len));
    read_payload(reader, &layout, known_payload, source, 0)
}

fn truncated_header(got: usize) -> IoError {
    IoError::new(
        ErrorKind::Truncated,
        format!("the data ends inside the IDX header, after {got} bytes"),
    )
}
