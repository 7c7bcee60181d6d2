//! Training checkpoints: what `qnnc train` writes after every epoch and `qnnc train --resume`
//! continues from, bit-identically to an uninterrupted run with the same seed and threads.
//!
//! A checkpoint is an `.npz` (written atomically, like every output) holding:
//! - `meta`: uint8, the UTF-8 JSON of [`Meta`] — format name and version, the model's name
//!   and SHA-256 (of its IR after the passes, so pass options count), the SHA-256 of the
//!   training split, the options that shape the run ([`Settings`]), the thread count, the
//!   epochs done, the optimizer's step count and both random streams' positions;
//! - `params/LAYER/VAR`: every parameter of the executed model (float32), batch-norm moving
//!   statistics included;
//! - `optimizer/first/LAYER/VAR` (Adam's first moment or SGD's velocity) and, for Adam,
//!   `optimizer/second/LAYER/VAR`, for every trainable parameter.
//!
//! Loading checks everything before anything is restored: the format and version, that the
//! model, the data and the options are those of the run being resumed (else an
//! `io::mismatch` error naming what differs), and every array's presence, dtype, shape and
//! finiteness.

use crate::backend::cpu::network::Network;
use crate::backend::cpu::train::{OptimizerState, RngState, Trainer, TrainerState};
use crate::io::{Array, ArrayMap, ErrorKind, IoError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The `format` field of every checkpoint.
pub const FORMAT: &str = "qnnc-checkpoint";
/// The checkpoint version this qnnc writes and reads.
pub const VERSION: u32 = 1;

/// The options of `qnnc train` that change the weights it produces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub epochs: usize,
    pub batch_size: usize,
    /// `adam` or `sgd`.
    pub optimizer: String,
    pub learning_rate: f32,
    pub momentum: f64,
    /// `constant` or `cosine`.
    pub schedule: String,
    pub seed: u64,
}

/// The JSON header of a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub format: String,
    pub version: u32,
    pub model: String,
    /// SHA-256 of the executed model's IR (RON, spans left out).
    pub model_sha256: String,
    /// SHA-256 of the training images and labels.
    pub data_sha256: String,
    pub settings: Settings,
    pub threads: usize,
    pub epochs_done: usize,
    pub optimizer_iterations: u64,
    /// [`RngState::to_text`] of the shuffling stream.
    pub shuffle_rng: String,
    /// [`RngState::to_text`] of the dropout stream.
    pub dropout_rng: String,
}

/// What identifies a run: the checkpoint of another run is refused.
#[derive(Clone, Debug, PartialEq)]
pub struct RunIdentity {
    pub model: String,
    pub model_sha256: String,
    pub data_sha256: String,
    pub settings: Settings,
    pub threads: usize,
}

/// SHA-256 of `parts`, each prefixed by its length, as lowercase hex.
pub fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The default checkpoint path of output `w.npz`: `w.ckpt.npz` beside it.
pub fn default_path(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    output.with_file_name(format!("{stem}.ckpt.npz"))
}

const META: &str = "meta";

fn param_key(layer: &str, var: &str) -> String {
    format!("params/{layer}/{var}")
}

fn moment_key(which: &str, layer: &str, var: &str) -> String {
    format!("optimizer/{which}/{layer}/{var}")
}

fn f32_array(values: &[f32], shape: &[usize]) -> Array {
    Array::F32(
        ndarray::ArrayD::from_shape_vec(shape.to_vec(), values.to_vec())
            .expect("optimizer state has one value per parameter"),
    )
}

/// Writes the checkpoint of `net` and `trainer` after their last epoch, atomically.
pub fn save(
    path: &Path,
    identity: &RunIdentity,
    net: &Network,
    trainer: &Trainer,
) -> Result<(), IoError> {
    let state = trainer.state(net);
    let meta = Meta {
        format: FORMAT.to_string(),
        version: VERSION,
        model: identity.model.clone(),
        model_sha256: identity.model_sha256.clone(),
        data_sha256: identity.data_sha256.clone(),
        settings: identity.settings.clone(),
        threads: identity.threads,
        epochs_done: state.epochs_done,
        optimizer_iterations: state.optimizer.iterations,
        shuffle_rng: state.shuffle.to_text(),
        dropout_rng: state.dropout.to_text(),
    };
    let json = serde_json::to_vec_pretty(&meta).expect("checkpoint metadata serializes");
    let mut arrays = ArrayMap::new();
    arrays.insert(
        META.to_string(),
        Array::U8(ndarray::ArrayD::from_shape_vec(vec![json.len()], json).expect("a vector")),
    );
    for p in net.parameters() {
        arrays.insert(param_key(&p.layer, p.var), Array::F32(p.value.clone()));
    }
    let trainable = net.parameters().iter().filter(|p| p.trainable);
    for (k, p) in trainable.enumerate() {
        if let Some(first) = state.optimizer.first.get(k) {
            arrays.insert(
                moment_key("first", &p.layer, p.var),
                f32_array(first, p.value.shape()),
            );
        }
        if let Some(second) = state.optimizer.second.get(k).filter(|v| !v.is_empty()) {
            arrays.insert(
                moment_key("second", &p.layer, p.var),
                f32_array(second, p.value.shape()),
            );
        }
    }
    crate::io::write_npz(path, &arrays)
}

/// A checkpoint read back, checked against the run that resumes it.
pub struct Checkpoint {
    pub meta: Meta,
    arrays: ArrayMap,
}

/// Reads a checkpoint and checks its format; [`Checkpoint::check`] then compares it with the
/// run, and [`Checkpoint::restore`] puts it into the network and trainer.
pub fn load(path: &Path) -> Result<Checkpoint, IoError> {
    if !path.exists() {
        return Err(
            IoError::new(ErrorKind::NotFound, "no checkpoint to resume from")
                .at(path)
                .with_help(
                    "train without `--resume` first, or give the checkpoint with `--checkpoint`",
                ),
        );
    }
    let mut arrays = crate::io::read_npz(path)?;
    let not_a_checkpoint = |why: &str| {
        IoError::new(
            ErrorKind::BadHeader,
            format!("not a qnnc checkpoint: {why}"),
        )
        .at(path)
        .with_help("give the `.ckpt.npz` file `qnnc train` wrote")
    };
    let meta_bytes = match arrays.remove(META) {
        Some(Array::U8(a)) => a.iter().copied().collect::<Vec<u8>>(),
        Some(_) => return Err(not_a_checkpoint("`meta` is not uint8 text")),
        None => return Err(not_a_checkpoint("no `meta` array")),
    };
    let value: serde_json::Value = serde_json::from_slice(&meta_bytes)
        .map_err(|e| not_a_checkpoint(&format!("`meta` is not JSON ({e})")))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(not_a_checkpoint("`meta` has no `format: qnnc-checkpoint`"));
    }
    match value.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(VERSION) => {}
        other => {
            return Err(IoError::new(
                ErrorKind::BadVersion,
                format!(
                    "checkpoint version {} is not the version {VERSION} this qnnc reads",
                    other.map_or("(none)".to_string(), |v| v.to_string())
                ),
            )
            .at(path)
            .with_help("train from the start without `--resume`"))
        }
    }
    let meta: Meta = serde_json::from_value(value)
        .map_err(|e| not_a_checkpoint(&format!("`meta` is incomplete ({e})")))?;
    Ok(Checkpoint { meta, arrays })
}

/// The `--flag value` form of the setting that differs, for messages.
fn differing_setting(saved: &Settings, now: &Settings) -> Option<(&'static str, String, String)> {
    fn pair<T: ToString>(flag: &'static str, a: T, b: T) -> (&'static str, String, String) {
        (flag, a.to_string(), b.to_string())
    }
    let pairs: [(&'static str, String, String); 7] = [
        pair("--epochs", saved.epochs, now.epochs),
        pair("--batch-size", saved.batch_size, now.batch_size),
        pair("--optimizer", &saved.optimizer, &now.optimizer),
        pair("--lr", saved.learning_rate, now.learning_rate),
        pair("--momentum", saved.momentum, now.momentum),
        pair("--schedule", &saved.schedule, &now.schedule),
        pair("--seed", saved.seed, now.seed),
    ];
    pairs.into_iter().find(|(_, a, b)| a != b)
}

impl Checkpoint {
    /// Refuses a checkpoint of another model, data set or options. A constant learning rate
    /// lets a run be extended (`--epochs` larger than the checkpoint's); a different thread
    /// count is allowed and returned as a warning (the weights then differ in the last bits
    /// from an uninterrupted run).
    pub fn check(&self, path: &Path, run: &RunIdentity) -> Result<Option<ThreadsChanged>, IoError> {
        let m = &self.meta;
        let mismatch = |cause: String, help: &str| {
            IoError::new(ErrorKind::Mismatch, cause)
                .at(path)
                .with_help(help.to_string())
        };
        let fresh = "resume with the same model, data and options, or train from the start without `--resume`";
        if m.model != run.model || m.model_sha256 != run.model_sha256 {
            return Err(mismatch(
                format!(
                    "the checkpoint is of model `{}` (sha256 {}…), not of this `{}` (sha256 {}…)",
                    m.model,
                    m.model_sha256.chars().take(12).collect::<String>(),
                    run.model,
                    &run.model_sha256[..12]
                ),
                fresh,
            ));
        }
        if m.data_sha256 != run.data_sha256 {
            return Err(mismatch(
                "the checkpoint was trained on other data (the training split differs)".to_string(),
                fresh,
            ));
        }
        let mut saved = m.settings.clone();
        let extending = saved.schedule == "constant" && run.settings.epochs >= m.epochs_done;
        if extending {
            saved.epochs = run.settings.epochs;
        }
        if let Some((flag, was, now)) = differing_setting(&saved, &run.settings) {
            return Err(mismatch(
                format!("the checkpoint was written with `{flag} {was}`, not `{flag} {now}`"),
                fresh,
            ));
        }
        if m.threads != run.threads {
            return Ok(Some(ThreadsChanged {
                was: m.threads,
                now: run.threads,
            }));
        }
        Ok(None)
    }

    /// The f32 array `key`, checked for presence, dtype, shape and finiteness.
    fn array(&self, path: &Path, key: &str, shape: &[usize]) -> Result<&[f32], IoError> {
        let at = |e: IoError| e.in_member(key).at(path);
        let array = self.arrays.get(key).ok_or_else(|| {
            at(
                IoError::new(ErrorKind::BadHeader, "missing from the checkpoint").with_help(
                    "the checkpoint is damaged; train from the start without `--resume`",
                ),
            )
        })?;
        let Some(values) = array.get::<f32>() else {
            return Err(at(IoError::new(
                ErrorKind::WrongDtype,
                format!("is {}, not float32", array.dtype().name()),
            )));
        };
        if values.shape() != shape {
            return Err(at(IoError::new(
                ErrorKind::WrongShape,
                format!(
                    "has shape {:?}, but the model's parameter has {:?}",
                    values.shape(),
                    shape
                ),
            )));
        }
        if let Some(bad) = array.non_finite() {
            return Err(at(bad.to_error()));
        }
        Ok(values
            .as_slice()
            .expect("arrays read from files are in standard layout"))
    }

    /// Checks every array, then puts the parameters, the optimizer's state and the random
    /// streams back into `net` and `trainer`. Nothing is changed when an array is wrong.
    pub fn restore(
        &self,
        path: &Path,
        net: &mut Network,
        trainer: &mut Trainer,
        adam: bool,
    ) -> Result<(), IoError> {
        let bad_rng = |which: &str| {
            IoError::new(
                ErrorKind::BadHeader,
                format!("not a qnnc checkpoint: `{which}` is not a random stream position"),
            )
            .at(path)
        };
        let shuffle =
            RngState::from_text(&self.meta.shuffle_rng).ok_or_else(|| bad_rng("shuffle_rng"))?;
        let dropout =
            RngState::from_text(&self.meta.dropout_rng).ok_or_else(|| bad_rng("dropout_rng"))?;
        let mut values = Vec::new();
        let (mut first, mut second) = (Vec::new(), Vec::new());
        for p in net.parameters() {
            let shape = p.value.shape();
            values.push(
                self.array(path, &param_key(&p.layer, p.var), shape)?
                    .to_vec(),
            );
            if p.trainable {
                first.push(
                    self.array(path, &moment_key("first", &p.layer, p.var), shape)?
                        .to_vec(),
                );
                second.push(if adam {
                    self.array(path, &moment_key("second", &p.layer, p.var), shape)?
                        .to_vec()
                } else {
                    Vec::new()
                });
            }
        }
        for (p, v) in net.parameters_mut().iter_mut().zip(values) {
            let dst = p.value.as_slice_mut().expect("parameters are contiguous");
            dst.copy_from_slice(&v);
        }
        trainer.restore(
            net,
            TrainerState {
                epochs_done: self.meta.epochs_done,
                optimizer: OptimizerState {
                    iterations: self.meta.optimizer_iterations,
                    first,
                    second,
                },
                shuffle,
                dropout,
            },
        );
        Ok(())
    }
}

/// A resumed run on another thread count: allowed, but not bit-identical.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("the checkpoint was written with {was} thread(s), this run uses {now}: the weights will differ in the last bits from an uninterrupted run")]
#[diagnostic(
    code(cli::threads_changed),
    severity(Warning),
    help("resume with `--threads {was}` for the same bytes as an uninterrupted run")
)]
pub struct ThreadsChanged {
    pub was: usize,
    pub now: usize,
}
