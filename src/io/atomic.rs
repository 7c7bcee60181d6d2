//! Atomic output: every file qnnc writes appears complete or not at all.
//!
//! [`write_atomic`] writes into a temporary file in the target's directory, flushes and
//! `fsync`s it, renames it over the target and `fsync`s the directory. If the writer returns an
//! error or panics, the temporary file is removed and an existing target is left untouched.
//! A new file gets the usual `0o666` less the umask (e.g. `0644`); a replaced file keeps its
//! permissions.
//!
//! The temporary file is hidden and names its target and its process:
//! `.NAME.qnnc-PID.XXXXXX.tmp`. A process killed outright (SIGKILL, power loss) cannot remove
//! it; such a leftover is never read by anything, and the next write of the same target removes
//! the leftovers of processes that no longer run (on Linux, where `/proc` tells; elsewhere they
//! stay, ignored).
//! [`check_output`] refuses, before any work is done, an output path that is a directory, whose
//! directory does not exist, or that is the same file as one of the inputs.

use super::error::{ErrorKind, IoError};
use std::fs;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// The file handed to a [`write_atomic`] writer: a buffered, seekable temporary file.
pub struct AtomicFile {
    inner: BufWriter<NamedTempFile>,
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Writes `path` atomically: `write` fills a temporary file next to it, which then replaces
/// `path` in one rename. On any error (or a panic in `write`) the temporary file is removed and
/// an existing `path` keeps its old contents. An existing file's permissions are kept; a
/// symbolic link is followed, so the file it points to is replaced.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut AtomicFile) -> io::Result<()>,
) -> Result<(), IoError> {
    check_output(path, &[])?;
    let target = follow_symlink(path);
    let dir = parent_dir(&target);
    let name = target
        .file_name()
        .expect("check_output refuses paths without a file name")
        .to_string_lossy()
        .into_owned();
    let existing = fs::metadata(&target).ok();

    remove_stale_temporaries(dir, &name);
    let prefix = format!("{}{}.", temp_prefix(&name), std::process::id());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // 0o666 less the umask, as for any newly created file.
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let temp = builder
        .tempfile_in(dir)
        .map_err(|e| IoError::os("create a temporary file in the output directory", &e).at(path))?;
    if let Some(meta) = &existing {
        fs::set_permissions(temp.path(), meta.permissions())
            .map_err(|e| IoError::os("copy the permissions of the old file", &e).at(path))?;
    }

    let mut out = AtomicFile {
        inner: BufWriter::new(temp),
    };
    write(&mut out).map_err(|e| IoError::os("write the file", &e).at(path))?;
    let temp = out
        .inner
        .into_inner()
        .map_err(|e| IoError::os("write the file", e.error()).at(path))?;
    temp.as_file()
        .sync_all()
        .map_err(|e| IoError::os("flush the file to disk", &e).at(path))?;
    temp.persist(&target)
        .map_err(|e| IoError::os("replace the file", &e.error).at(path))?;
    sync_dir(dir).map_err(|e| IoError::os("flush the directory to disk", &e).at(path))
}

/// The start of the temporary files' names for target `name`, before the process id.
fn temp_prefix(name: &str) -> String {
    format!(".{name}.qnnc-")
}

/// Removes `.NAME.qnnc-PID.XXXXXX.tmp` files in `dir` left by processes that no longer run
/// (killed before they could clean up). Best effort: a file that cannot be removed stays, and
/// nothing is removed where it cannot be told whether a process runs.
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let prefix = temp_prefix(name);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .filter(|rest| rest.ends_with(".tmp"))
            .and_then(|rest| rest.split('.').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if process_is_gone(pid) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// True when no process `pid` runs (known only where `/proc` exists).
fn process_is_gone(pid: u32) -> bool {
    if pid == std::process::id() {
        return false;
    }
    let proc_root = Path::new("/proc/self");
    proc_root.exists() && !Path::new("/proc").join(pid.to_string()).exists()
}

/// Refuses an output path that is an existing directory, whose directory does not exist, or
/// that is the same file as one of `inputs` (by canonical path, or by device and inode so hard
/// links count too).
pub fn check_output(output: &Path, inputs: &[&Path]) -> Result<(), IoError> {
    let is_dir = fs::metadata(output).map(|m| m.is_dir()).unwrap_or(false);
    if is_dir || output.file_name().is_none() {
        return Err(IoError::new(
            ErrorKind::OutputIsDirectory,
            "the output path is a directory",
        )
        .at(output)
        .with_help("give a file name, e.g. `out/weights.npz`"));
    }
    let dir = parent_dir(output);
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(IoError::new(
                ErrorKind::Os,
                format!("`{}` is not a directory", dir.display()),
            )
            .at(output))
        }
        Err(_) => {
            return Err(IoError::new(
                ErrorKind::NotFound,
                format!("the directory `{}` does not exist", dir.display()),
            )
            .at(output)
            .with_help("create the directory first"))
        }
    }
    if let Some(input) = inputs.iter().find(|input| same_file(output, input)) {
        return Err(IoError::new(
            ErrorKind::OutputIsInput,
            format!(
                "the output is the same file as the input `{}`",
                input.display()
            ),
        )
        .at(output)
        .with_help("write to a different file; the input would be overwritten"));
    }
    Ok(())
}

/// True when `a` and `b` name the same file (or would, once created).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(ma), Ok(mb)) => file_identity(&ma, a) == file_identity(&mb, b),
        _ => normalize(a) == normalize(b),
    }
}

#[cfg(unix)]
fn file_identity(meta: &fs::Metadata, _path: &Path) -> (u64, u64, PathBuf) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino(), PathBuf::new())
}

#[cfg(not(unix))]
fn file_identity(_meta: &fs::Metadata, path: &Path) -> (u64, u64, PathBuf) {
    (0, 0, normalize(path))
}

/// The canonical form of `path`, or of its directory joined with its name when it does not
/// exist yet, or `path` itself when neither can be resolved.
fn normalize(path: &Path) -> PathBuf {
    if let Ok(canonical) = fs::canonicalize(path) {
        return canonical;
    }
    match (fs::canonicalize(parent_dir(path)), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The file a symbolic link points to, so that writing replaces the file and keeps the link.
fn follow_symlink(path: &Path) -> PathBuf {
    let is_link = fs::symlink_metadata(path)
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(false);
    if is_link {
        if let Ok(target) = fs::canonicalize(path) {
            return target;
        }
    }
    path.to_path_buf()
}

/// Makes the rename durable. File systems that cannot sync a directory are not an error.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        match fs::File::open(dir).and_then(|d| d.sync_all()) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
                ) =>
            {
                Ok(())
            }
            other => other,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}
