//! Image-classification datasets on disk: a directory holding MNIST-style IDX files or NumPy
//! image/label pairs, loaded as `u8` images `(N, H, W, C)` and `u8` labels `(N,)`.
//!
//! For each split and role exactly one of these names must exist (train shown; the test split
//! uses `t10k` and `test`):
//!
//! | role | names |
//! |---|---|
//! | images | `train-images-idx3-ubyte`, `train-images.idx3-ubyte` (each also `.gz`), `x_train.npy` |
//! | labels | `train-labels-idx1-ubyte`, `train-labels.idx1-ubyte` (each also `.gz`), `y_train.npy` |
//!
//! IDX images `(N, H, W)` get a channel axis of 1. NumPy images must be `uint8` of shape
//! `(N, H, W)` or `(N, H, W, C)`; NumPy labels may be any integer type of shape `(N,)` with
//! values in `0..=255`. Images and labels must agree on `N`, which must be positive.

use super::array::Array;
use super::error::{fmt_shape, ErrorKind, IoError};
use super::idx::{read_idx_images, read_idx_labels};
use super::npy::read_npy;
use ndarray::{Array1, Array4, Axis, Ix3, Ix4};
use std::fs;
use std::path::{Path, PathBuf};

/// Which half of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SplitKind {
    Train,
    Test,
}

impl SplitKind {
    /// `training` or `test`, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            SplitKind::Train => "training",
            SplitKind::Test => "test",
        }
    }

    fn idx_stem(self) -> &'static str {
        match self {
            SplitKind::Train => "train",
            SplitKind::Test => "t10k",
        }
    }

    fn npy_suffix(self) -> &'static str {
        match self {
            SplitKind::Train => "train",
            SplitKind::Test => "test",
        }
    }
}

/// One split: images, labels and the files they came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// `(N, H, W, C)` pixels.
    pub images: Array4<u8>,
    /// `(N,)` class labels.
    pub labels: Array1<u8>,
    /// The file the images were read from.
    pub images_path: PathBuf,
    /// The file the labels were read from.
    pub labels_path: PathBuf,
}

impl Split {
    /// Refuses the first label that is not one of `classes` classes, naming the labels file:
    /// `{what} label 7 is 12, but {owner} has 10 classes`.
    pub fn check_labels(&self, classes: usize, what: &str, owner: &str) -> Result<(), IoError> {
        let Some((index, bad)) = self
            .labels
            .iter()
            .enumerate()
            .find(|(_, &l)| usize::from(l) >= classes)
        else {
            return Ok(());
        };
        Err(IoError::new(
            ErrorKind::BadValue,
            format!("{what} label {index} is {bad}, but {owner} has {classes} classes"),
        )
        .at(&self.labels_path)
        .with_help(format!("labels must lie in 0..{classes}")))
    }
}

/// Both splits of a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub train: Split,
    pub test: Split,
}

/// Loads the training and test splits from `dir`.
pub fn load_dataset(dir: &Path) -> Result<Dataset, IoError> {
    Ok(Dataset {
        train: load_split(dir, SplitKind::Train)?,
        test: load_split(dir, SplitKind::Test)?,
    })
}

/// Loads one split from `dir`.
pub fn load_split(dir: &Path, kind: SplitKind) -> Result<Split, IoError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(IoError::new(ErrorKind::Os, "is not a directory")
                .at(dir)
                .with_help("give the directory that holds the dataset files"))
        }
        Err(_) => return Err(IoError::new(ErrorKind::NotFound, "no such directory").at(dir)),
    }
    let images_path = find_one(dir, &candidates(kind, Role::Images), kind, Role::Images)?;
    let labels_path = find_one(dir, &candidates(kind, Role::Labels), kind, Role::Labels)?;
    let images = load_images(&images_path)?;
    let labels = load_labels(&labels_path)?;
    let (n_images, n_labels) = (images.len_of(Axis(0)), labels.len());
    if n_images != n_labels {
        return Err(IoError::new(
            ErrorKind::CountMismatch,
            format!(
                "`{}` holds {n_images} images but `{}` holds {n_labels} labels",
                file_name(&images_path),
                file_name(&labels_path)
            ),
        )
        .at(dir)
        .with_help("each image needs exactly one label"));
    }
    if n_images == 0 {
        return Err(IoError::new(ErrorKind::WrongShape, "holds no images").at(&images_path));
    }
    Ok(Split {
        images,
        labels,
        images_path,
        labels_path,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Images,
    Labels,
}

impl Role {
    fn word(self) -> &'static str {
        match self {
            Role::Images => "images",
            Role::Labels => "labels",
        }
    }
}

/// The file names that can hold `role` of split `kind`, in a fixed order.
fn candidates(kind: SplitKind, role: Role) -> Vec<String> {
    let (idx, npy) = match role {
        Role::Images => ("idx3", "x"),
        Role::Labels => ("idx1", "y"),
    };
    let stem = kind.idx_stem();
    let word = role.word();
    let mut names = Vec::new();
    for base in [
        format!("{stem}-{word}-{idx}-ubyte"),
        format!("{stem}-{word}.{idx}-ubyte"),
    ] {
        names.push(format!("{base}.gz"));
        names.push(base);
    }
    names.push(format!("{npy}_{}.npy", kind.npy_suffix()));
    names
}

fn find_one(dir: &Path, names: &[String], kind: SplitKind, role: Role) -> Result<PathBuf, IoError> {
    let present: Vec<&String> = names.iter().filter(|n| dir.join(n).is_file()).collect();
    match present.as_slice() {
        [one] => Ok(dir.join(one)),
        [] => {
            let listed: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            Err(IoError::new(
                ErrorKind::NotFound,
                format!(
                    "no {} {}: expected one of {}",
                    kind.describe(),
                    role.word(),
                    listed.join(", ")
                ),
            )
            .at(dir))
        }
        several => {
            let listed: Vec<String> = several.iter().map(|n| format!("`{n}`")).collect();
            Err(IoError::new(
                ErrorKind::Ambiguous,
                format!(
                    "several {} {} files: {}",
                    kind.describe(),
                    role.word(),
                    listed.join(", ")
                ),
            )
            .at(dir)
            .with_help("remove or rename all but one of them"))
        }
    }
}

fn is_npy(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "npy")
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn load_images(path: &Path) -> Result<Array4<u8>, IoError> {
    let images = if is_npy(path) {
        npy_images(read_npy(path)?).map_err(|e| e.at(path))?
    } else {
        read_idx_images(path)?.insert_axis(Axis(3))
    };
    if images.shape()[1..].contains(&0) {
        return Err(IoError::new(
            ErrorKind::WrongShape,
            format!(
                "images of shape {} have an empty axis",
                fmt_shape(images.shape())
            ),
        )
        .at(path));
    }
    Ok(images)
}

fn npy_images(array: Array) -> Result<Array4<u8>, IoError> {
    let shape = array.shape().to_vec();
    let array = array.into_typed::<u8>().map_err(|other| {
        IoError::new(
            ErrorKind::WrongDtype,
            format!("holds {} images; images must be uint8", other.dtype()),
        )
        .with_help("save them as bytes: `np.save(path, x.astype(np.uint8))`")
    })?;
    match shape.len() {
        3 => Ok(array
            .into_dimensionality::<Ix3>()
            .expect("three axes checked")
            .insert_axis(Axis(3))),
        4 => Ok(array
            .into_dimensionality::<Ix4>()
            .expect("four axes checked")),
        _ => Err(IoError::new(
            ErrorKind::WrongShape,
            format!(
                "holds images of shape {}; images must be (N, H, W) or (N, H, W, C)",
                fmt_shape(&shape)
            ),
        )),
    }
}

fn load_labels(path: &Path) -> Result<Array1<u8>, IoError> {
    if is_npy(path) {
        npy_labels(read_npy(path)?).map_err(|e| e.at(path))
    } else {
        read_idx_labels(path)
    }
}

fn npy_labels(array: Array) -> Result<Array1<u8>, IoError> {
    if array.shape().len() != 1 {
        return Err(IoError::new(
            ErrorKind::WrongShape,
            format!(
                "holds labels of shape {}; labels must be (N,)",
                fmt_shape(array.shape())
            ),
        )
        .with_help("flatten them: `np.save(path, y.reshape(-1))`"));
    }
    let values = array.integer_values().ok_or_else(|| {
        IoError::new(
            ErrorKind::WrongDtype,
            format!("holds {} labels; labels must be integers", array.dtype()),
        )
        .with_help("save them as integers: `np.save(path, y.astype(np.uint8))`")
    })?;
    let labels = values
        .enumerate()
        .map(|(i, v)| {
            u8::try_from(v).map_err(|_| {
                IoError::new(
                    ErrorKind::BadValue,
                    format!("label {v} at index {i} is outside 0..=255"),
                )
            })
        })
        .collect::<Result<Vec<u8>, IoError>>()?;
    Ok(Array1::from(labels))
}
