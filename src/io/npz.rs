//! NumPy `.npz` archives: a validating reader and a deterministic writer.
//!
//! An archive maps names to arrays: member `conv1/kernel.npy` is the array `conv1/kernel`
//! (the `.npy` suffix is dropped, `/` is kept). Reading uses the `zip` crate for the container
//! (stored and deflated members, zip64, CRC checks) and this module's own `.npy` decoder for
//! each member, so every member's header is validated and its size checked against the memory
//! budget (together with the members read before it) before the array is allocated.
//!
//! Writing sorts the members by name and fixes every variable field of the archive: deflate
//! at level 6, the 1980-01-01 00:00 timestamp, Unix permissions `0o644`, no extra fields. The
//! same arrays therefore always give the same bytes (for a given `zip`/`flate2` version).

use super::array::Array;
use super::atomic::write_atomic;
use super::error::{lowercase_line, ErrorKind, IoError};
use super::npy::{self, MAGIC};
use super::read::{hex_prefix, open_input, read_full, Source};
use std::collections::BTreeMap;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use zip::result::ZipError;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

/// The arrays of an archive by name.
pub type ArrayMap = BTreeMap<String, Array>;

/// Deflate level used for every member.
const DEFLATE_LEVEL: i64 = 6;

/// Reads a `.npz` archive.
pub fn read_npz(path: &Path) -> Result<ArrayMap, IoError> {
    let (file, len) = open_input(path)?;
    if len == 0 {
        return Err(IoError::new(ErrorKind::Empty, "the file is empty").at(path));
    }
    read_npz_from(BufReader::new(file)).map_err(|e| e.at(path))
}

/// Reads a `.npz` archive from any seekable reader (errors carry no path).
pub fn read_npz_from<R: Read + Seek>(mut reader: R) -> Result<ArrayMap, IoError> {
    let start = sniff(&mut reader)?;
    let mut archive = ZipArchive::new(reader).map_err(|e| {
        let e = zip_error(&e);
        if start.starts_with(b"PK") || e.kind() != ErrorKind::Corrupt {
            e
        } else {
            IoError::new(
                ErrorKind::BadMagic,
                format!(
                    "not a `.npz` (zip) archive: it starts with bytes {}",
                    hex_prefix(&start)
                ),
            )
        }
    })?;
    let mut arrays = ArrayMap::new();
    let mut committed: u64 = 0;
    for index in 0..archive.len() {
        let name = archive
            .name_for_index(index)
            .expect("indices below len() have names")
            .to_string();
        if name.ends_with('/') {
            continue; // a directory entry, as `zip -r` writes them
        }
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        let array = read_member(&mut archive, index, committed).map_err(|e| e.in_member(&key))?;
        committed = committed.saturating_add(array.len() as u64 * array.dtype().size() as u64);
        if arrays.insert(key.clone(), array).is_some() {
            return Err(IoError::new(
                ErrorKind::DuplicateMember,
                "two members hold an array of this name",
            )
            .in_member(&key)
            .with_help("keep only one of `NAME` and `NAME.npy`"));
        }
    }
    Ok(arrays)
}

/// Reads the first bytes to give a clear error for an empty stream or a bare `.npy` file,
/// then rewinds.
fn sniff<R: Read + Seek>(reader: &mut R) -> Result<Vec<u8>, IoError> {
    let os = |e: io::Error| IoError::os("read the file", &e);
    let origin = reader.stream_position().map_err(os)?;
    let mut start = [0u8; 6];
    let got = read_full(reader, &mut start).map_err(os)?;
    reader.seek(SeekFrom::Start(origin)).map_err(os)?;
    let start = start[..got].to_vec();
    if start.is_empty() {
        return Err(IoError::new(ErrorKind::Empty, "the file is empty"));
    }
    if start == MAGIC[..] {
        return Err(IoError::new(
            ErrorKind::BadMagic,
            "this is a single-array `.npy` file, not a `.npz` archive",
        )
        .with_help("give a `.npz` file, e.g. one written by `np.savez`"));
    }
    Ok(start)
}

fn read_member<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    index: usize,
    committed: u64,
) -> Result<Array, IoError> {
    let mut member = archive.by_index(index).map_err(|e| zip_error(&e))?;
    npy::decode(&mut member, None, Source::Compressed, committed)
}

/// The error for a failure reported by the `zip` crate.
fn zip_error(err: &ZipError) -> IoError {
    match err {
        ZipError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => IoError::new(
            ErrorKind::Truncated,
            "the archive ends early (it is truncated)",
        ),
        ZipError::Io(e) => Source::Compressed.error(e),
        ZipError::UnsupportedArchive(what) => IoError::new(
            ErrorKind::Corrupt,
            format!("unsupported zip feature: {}", lowercase_line(what)),
        )
        .with_help(
            "NumPy writes stored or deflated members without encryption; re-save with `np.savez`",
        ),
        ZipError::InvalidArchive(what) if what.starts_with("Could not find EOCD") => IoError::new(
            ErrorKind::Corrupt,
            "not a valid zip archive: the end-of-archive record is missing (the file is truncated or not a zip archive)",
        ),
        ZipError::InvalidArchive(what) => IoError::new(
            ErrorKind::Corrupt,
            format!("not a valid zip archive: {}", lowercase_line(what)),
        ),
        other => IoError::new(
            ErrorKind::Corrupt,
            format!("not a valid zip archive: {}", lowercase_line(&other.to_string())),
        ),
    }
}

/// Writes `arrays` to `path` atomically as a `.npz` archive (deterministic bytes).
pub fn write_npz(path: &Path, arrays: &ArrayMap) -> Result<(), IoError> {
    for name in arrays.keys() {
        check_name(name).map_err(|e| e.at(path))?;
    }
    write_atomic(path, |w| encode_npz(w, arrays))
}

/// Writes the `.npz` encoding of `arrays` to `w`. Names must pass [`check_name`].
pub fn encode_npz<W: Write + Seek>(w: W, arrays: &ArrayMap) -> io::Result<()> {
    let mut zip = ZipWriter::new(w);
    for (name, array) in arrays {
        assert!(
            check_name(name).is_ok(),
            "encode_npz is given checked names (got `{name}`)"
        );
        let bytes = npy::header_bytes(array.dtype(), array.shape()).len() as u64
            + array.len() as u64 * array.dtype().size() as u64;
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(DEFLATE_LEVEL))
            .last_modified_time(DateTime::default())
            .unix_permissions(0o644)
            .large_file(bytes >= u64::from(u32::MAX));
        zip.start_file(format!("{name}.npy"), options)
            .map_err(zip_to_io)?;
        npy::encode_npy(&mut zip, array)?;
    }
    zip.finish().map_err(zip_to_io)?;
    Ok(())
}

fn zip_to_io(err: ZipError) -> io::Error {
    match err {
        ZipError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// Refuses names that cannot be archive members: empty, absolute, with empty, `.` or `..`
/// components, with a backslash or a NUL, or longer than a zip name can be.
pub fn check_name(name: &str) -> Result<(), IoError> {
    let problem = if name.is_empty() {
        Some("is empty")
    } else if name.starts_with('/') {
        Some("starts with `/`")
    } else if name.contains('\\') || name.contains('\0') {
        Some("contains a backslash or a NUL character")
    } else if name
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        Some("has an empty, `.` or `..` path component")
    } else if name.len() + 4 > usize::from(u16::MAX) {
        Some("is longer than a zip member name can be")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(why) => Err(IoError::new(
            ErrorKind::InvalidName,
            format!("the array name `{name}` {why}"),
        )),
    }
}
