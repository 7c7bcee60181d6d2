//! File formats and safe output: everything qnnc reads from or writes to disk goes through
//! here.
//!
//! - [`atomic`]: atomic writes ([`write_atomic`]) and output-path checks ([`check_output`]).
//! - [`budget`]: the memory budget every header-driven allocation is checked against first.
//! - [`npy`], [`npz`]: NumPy arrays and archives, validated on read, deterministic on write.
//! - [`idx`]: MNIST-style IDX files, plain or gzipped.
//! - [`dataset`]: a directory of IDX files or `.npy` image/label pairs as train/test splits.
//! - [`array`](mod@array): the typed [`Array`] the readers return, and [`find_non_finite`].
//!
//! Readers never panic on malformed input and never allocate what a header claims before the
//! claim has been checked; every problem is an [`IoError`] naming the file, the archive member
//! and the cause.

pub mod array;
pub mod atomic;
pub mod budget;
pub mod dataset;
mod error;
pub mod idx;
pub mod npy;
pub mod npz;
mod read;

pub use array::{find_non_finite, Array, DType, Element, NonFinite};
pub use atomic::{check_output, write_atomic, AtomicFile};
pub use dataset::{load_dataset, load_split, Dataset, Split, SplitKind};
pub use error::{ErrorKind, IoError};
pub use idx::{read_idx, read_idx_images, read_idx_labels};
pub use npy::{read_npy, write_npy};
pub use npz::{read_npz, write_npz, ArrayMap};

/// A lowercase, one-line reason for an I/O error.
pub fn reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "it is a directory".to_string(),
        _ => {
            let s = e.to_string();
            let s = s.split(" (os error").next().unwrap_or(&s).to_string();
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
                None => s,
            }
        }
    }
}
