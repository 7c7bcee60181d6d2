//! Model parameters: the float weights of a model, named `LAYER/VAR` as in Keras, and the
//! loader that checks a weights file against a model.
//!
//! A weights file holds the float, unfolded weights of the model *as written*
//! (`docs/language.md`, "Weights").
//! [`check`] reports every missing, mis-shaped, mistyped or non-finite array as a diagnostic
//! pointing at the layer in the `.q` file, and every array that belongs to no layer as a
//! warning. [`init`] makes Keras' default initial weights, deterministically from a seed.

use crate::io::{self, Array, ArrayMap, IoError};
use crate::ir::{Init, Model};
use crate::source::Span;
use miette::Diagnostic;
use ndarray::ArrayD;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use thiserror::Error;

/// The float parameters of a model, keyed `LAYER/VAR`, in a deterministic order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params {
    map: BTreeMap<String, ArrayD<f32>>,
}

/// `LAYER/VAR`
pub fn key(layer: &str, var: &str) -> String {
    format!("{layer}/{var}")
}

impl Params {
    pub fn new() -> Params {
        Params::default()
    }

    pub fn get(&self, layer: &str, var: &str) -> Option<&ArrayD<f32>> {
        self.map.get(&key(layer, var))
    }

    pub fn get_mut(&mut self, layer: &str, var: &str) -> Option<&mut ArrayD<f32>> {
        self.map.get_mut(&key(layer, var))
    }

    /// The array `LAYER/VAR`; panics if it is missing (callers have checked the weights).
    pub fn expect(&self, layer: &str, var: &str) -> &ArrayD<f32> {
        self.get(layer, var)
            .unwrap_or_else(|| panic!("weights were checked, yet `{layer}/{var}` is missing"))
    }

    pub fn insert(&mut self, layer: &str, var: &str, value: ArrayD<f32>) {
        self.map.insert(key(layer, var), value);
    }

    pub fn remove(&mut self, layer: &str, var: &str) -> Option<ArrayD<f32>> {
        self.map.remove(&key(layer, var))
    }

    /// Every `(LAYER/VAR, array)` in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &ArrayD<f32>)> {
        self.map.iter()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The arrays as an `.npz` map.
    pub fn to_array_map(&self) -> ArrayMap {
        self.map
            .iter()
            .map(|(k, v)| (k.clone(), Array::F32(v.clone())))
            .collect()
    }

    /// Writes the parameters as a deterministic `.npz`, atomically.
    pub fn save(&self, path: &Path) -> Result<(), IoError> {
        io::write_npz(path, &self.to_array_map())
    }
}

/// A problem with a weights file, located at the layer it concerns.
#[derive(Clone, Debug, Error, Diagnostic, PartialEq)]
pub enum WeightsError {
    #[error("`{file}` has no array `{name}` for layer `{layer}`")]
    #[diagnostic(code(weights::missing))]
    Missing {
        file: String,
        name: String,
        layer: String,
        #[label("needs `{name}` of shape {shape}")]
        span: Span,
        shape: String,
        #[help]
        help: Option<String>,
    },

    #[error("`{name}` in `{file}` has shape {found}, but layer `{layer}` needs {expected}")]
    #[diagnostic(code(weights::shape))]
    Shape {
        file: String,
        name: String,
        layer: String,
        expected: String,
        found: String,
        #[label("expects {expected}")]
        span: Span,
        #[help]
        help: Option<String>,
    },

    #[error("`{name}` in `{file}` is {found}, not float32")]
    #[diagnostic(
        code(weights::dtype),
        help("weights are float32; convert them with `array.astype(np.float32)`")
    )]
    DType {
        file: String,
        name: String,
        found: String,
        #[label("weights of this layer")]
        span: Span,
    },

    #[error("`{name}` in `{file}` holds {what}")]
    #[diagnostic(
        code(weights::non_finite),
        help("training diverged or the file is damaged; retrain or restore the weights")
    )]
    NonFinite {
        file: String,
        name: String,
        what: String,
        #[label("weights of this layer")]
        span: Span,
    },

    #[error("`{file}` holds `{name}`, which belongs to no layer of model `{model}`")]
    #[diagnostic(code(weights::unexpected), severity(Warning))]
    Unexpected {
        file: String,
        name: String,
        model: String,
        #[label("model `{model}`")]
        span: Span,
        #[help]
        help: Option<String>,
    },
}

fn shape_str(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!("({})", join_dims(shape)),
    }
}

/// `28, 28, 1`: sizes as NumPy prints them inside a shape.
pub fn join_dims(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks the arrays of a weights file against `model`: the parameters when every variable
/// is present and valid, and every problem found.
pub fn check(file: &str, arrays: ArrayMap, model: &Model) -> (Option<Params>, Vec<WeightsError>) {
    let mut errs = Vec::new();
    let mut params = Params::new();
    let mut arrays = arrays;
    let mut wanted = std::collections::BTreeSet::new();
    for layer in &model.layers {
        for v in layer.variables() {
            let name = key(&layer.name, v.name);
            wanted.insert(name.clone());
            let Some(array) = arrays.remove(&name) else {
                let other_layer = arrays
                    .keys()
                    .find(|k| k.ends_with(&format!("/{}", v.name)) && !wanted.contains(*k))
                    .cloned();
                errs.push(WeightsError::Missing {
                    file: file.to_string(),
                    name: name.clone(),
                    layer: layer.name.clone(),
                    span: layer.span,
                    shape: shape_str(&v.shape),
                    help: Some(match other_layer {
                        Some(o) => format!("the file has `{o}`: were the weights saved from a model with other layer names?"),
                        None => "create initial weights with `qnnc init`, or train the model".to_string(),
                    }),
                });
                continue;
            };
            let Some(values) = array.get::<f32>() else {
                errs.push(WeightsError::DType {
                    file: file.to_string(),
                    name,
                    found: array.dtype().name().to_string(),
                    span: layer.span,
                });
                continue;
            };
            if values.shape() != v.shape.as_slice() {
                errs.push(WeightsError::Shape {
                    file: file.to_string(),
                    name,
                    layer: layer.name.clone(),
                    expected: shape_str(&v.shape),
                    found: shape_str(values.shape()),
                    span: layer.span,
                    help: Some("the layer's arguments or its input shape differ from the model the weights were saved from".to_string()),
                });
                continue;
            }
            if let Some(nf) = array.non_finite() {
                errs.push(WeightsError::NonFinite {
                    file: file.to_string(),
                    name,
                    what: nf.describe(),
                    span: layer.span,
                });
                continue;
            }
            params.insert(&layer.name, v.name, values.clone());
        }
    }
    for name in arrays.keys() {
        let layer = name.split('/').next().unwrap_or(name);
        let names: Vec<&str> = model.layers.iter().map(|l| l.name.as_str()).collect();
        errs.push(WeightsError::Unexpected {
            file: file.to_string(),
            name: name.clone(),
            model: model.name.clone(),
            span: model.span,
            help: Some(match crate::ir::did_you_mean(layer, &names) {
                Some(s) => format!("did you mean layer `{s}`?"),
                None => "it is ignored".to_string(),
            }),
        });
    }
    let ok = !errs
        .iter()
        .any(|e| e.severity().unwrap_or(miette::Severity::Error) == miette::Severity::Error);
    (ok.then_some(params), errs)
}

/// Reads a weights file and checks it against `model`.
pub fn load(path: &Path, model: &Model) -> Result<(Option<Params>, Vec<WeightsError>), IoError> {
    let arrays = io::read_npz(path)?;
    Ok(check(&path.display().to_string(), arrays, model))
}

/// Keras' default initial weights: glorot-uniform kernels, zero biases, BN gamma 1, beta 0,
/// moving mean 0, moving variance 1. Each variable draws from its own stream, derived from the
/// seed and its name, so the weights of one layer do not depend on the others.
pub fn init(model: &Model, seed: u64) -> Params {
    let mut params = Params::new();
    for layer in &model.layers {
        for v in layer.variables() {
            let n: usize = v.shape.iter().product();
            let values: Vec<f32> = match v.init {
                Init::Zeros => vec![0.0; n],
                Init::Ones => vec![1.0; n],
                Init::GlorotUniform => {
                    let (fan_in, fan_out) = fans(&v.shape);
                    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
                    let mut rng = stream(seed, &key(&layer.name, v.name));
                    (0..n).map(|_| rng.random_range(-limit..limit)).collect()
                }
            };
            let array = ArrayD::from_shape_vec(v.shape.clone(), values)
                .expect("the value count matches the shape");
            params.insert(&layer.name, v.name, array);
        }
    }
    params
}

/// Keras' fan-in and fan-out of a kernel shape (receptive field × input / output channels).
pub fn fans(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n] => (*n, *n),
        [i, o] => (*i, *o),
        _ => {
            let receptive: usize = shape[..shape.len() - 2].iter().product();
            (
                shape[shape.len() - 2] * receptive,
                shape[shape.len() - 1] * receptive,
            )
        }
    }
}

/// A random stream derived from a seed and a name (stable across platforms and versions).
pub fn stream(seed: u64, name: &str) -> ChaCha8Rng {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(name.as_bytes());
    ChaCha8Rng::from_seed(h.finalize().into())
}
