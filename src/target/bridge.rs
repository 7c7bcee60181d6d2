//! The bridge to BrainChip's akida package: a [`Program`] from and to the JSON of an Akida 1.0
//! model (`akida.Model.to_json()` / `akida.model_from_json()` of akida 2.19, IP version `v1`, as
//! `cnn2snn.convert` produces).
//!
//! - [`program_from_json`] imports a model converted by BrainChip's own flow, so that it runs in
//!   the qnnc simulator (how the simulator is checked against the reference dumps).
//! - [`program_to_json`] exports a qnnc program in that same form: `akida.model_from_json`
//!   rebuilds it as an `akida.Model` of InputConvolutional / Convolutional /
//!   SeparableConvolutional / FullyConnected layers, which BrainChip's engine runs and its
//!   runtime maps on a real AKD1000 (`python/qnnc_akida`, `docs/akida-bridge.md`).
//!
//! Akida names the spatial axes `(x, y)` with `x` the Keras height (docs/conversion.md §7.2), so
//! `kernel_width`, `stride_x`, `pooling_width`, `pooling_stride_x` and `input_width` are the
//! first (height) components here.

use crate::backend::nsoc::{
    Dims, Layer, LayerKind, Padding, Pooling, Program, ProgramError, SourceHash, Target,
};
use serde_json::Value;

/// Why an Akida JSON dump could not be imported.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ImportError {
    #[error("the akida dump is not valid json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the akida dump has no {what}{}", layer_suffix(.layer))]
    Missing { what: String, layer: Option<String> },
    #[error("{what} is not supported{}", layer_suffix(.layer))]
    #[diagnostic(help("only Akida 1.0 (IP v1) models made of InputConvolutional, Convolutional, SeparableConvolutional and FullyConnected layers can be imported"))]
    Unsupported { what: String, layer: Option<String> },
    #[error(transparent)]
    Invalid(#[from] ProgramError),
}

fn layer_suffix(layer: &Option<String>) -> String {
    layer
        .as_ref()
        .map(|name| format!(" in layer `{}`", name.escape_debug()))
        .unwrap_or_default()
}

/// Builds and validates the program described by `json` (the text of `Model.to_json()`).
/// `source` is hashed into the program's `source_sha256`.
pub fn program_from_json(
    json: &str,
    model_name: &str,
    source: &[u8],
) -> Result<Program, ImportError> {
    let root: Value = serde_json::from_str(json)?;
    let missing = |what: &str| ImportError::Missing {
        what: what.to_owned(),
        layer: None,
    };
    let ip = root
        .get("IP version")
        .and_then(Value::as_str)
        .ok_or_else(|| missing("`IP version`"))?;
    if ip != "v1" {
        return Err(ImportError::Unsupported {
            what: format!("ip version `{ip}`"),
            layer: None,
        });
    }
    let input = dims(root.get("input_shape")).ok_or_else(|| missing("`input_shape`"))?;
    let layers = root
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| missing("`layers`"))?
        .iter()
        .map(import_layer)
        .collect::<Result<Vec<_>, _>>()?;
    let program = Program {
        model_name: model_name.to_owned(),
        source_sha256: SourceHash::of(source),
        target: Target::Software,
        input,
        layers,
    };
    program.validate()?;
    Ok(program)
}

fn dims(value: Option<&Value>) -> Option<Dims> {
    let v: Vec<u32> = serde_json::from_value(value?.clone()).ok()?;
    match v[..] {
        [h, w, c] => Some(Dims::new(h, w, c)),
        _ => None,
    }
}

/// Reads one layer object.
struct LayerReader<'a> {
    name: &'a str,
    params: &'a Value,
    variables: &'a Value,
}

impl LayerReader<'_> {
    fn missing(&self, what: String) -> ImportError {
        ImportError::Missing {
            what,
            layer: Some(self.name.to_owned()),
        }
    }

    fn int(&self, key: &str) -> Result<i64, ImportError> {
        self.params
            .get(key)
            .and_then(Value::as_i64)
            .ok_or_else(|| self.missing(format!("parameter `{key}`")))
    }

    fn small(&self, key: &str) -> Result<u32, ImportError> {
        let v = self.int(key)?;
        u32::try_from(v).map_err(|_| ImportError::Unsupported {
            what: format!("parameter `{key}` = {v}"),
            layer: Some(self.name.to_owned()),
        })
    }

    fn pair(&self, x: &str, y: &str) -> Result<[u32; 2], ImportError> {
        Ok([self.small(x)?, self.small(y)?])
    }

    /// The flattened `data` of variable `key`.
    fn variable(&self, key: &str) -> Result<Vec<f64>, ImportError> {
        fn flatten(v: &Value, out: &mut Vec<f64>) -> bool {
            match v {
                Value::Array(items) => items.iter().all(|i| flatten(i, out)),
                Value::Number(n) => n.as_f64().map(|x| out.push(x)).is_some(),
                _ => false,
            }
        }
        let data = self
            .variables
            .get(key)
            .and_then(|v| v.get("data"))
            .ok_or_else(|| self.missing(format!("variable `{key}`")))?;
        let mut out = Vec::new();
        if !flatten(data, &mut out) {
            return Err(self.missing(format!("numeric data of variable `{key}`")));
        }
        Ok(out)
    }

    fn integers<T: TryFrom<i64>>(&self, key: &str) -> Result<Vec<T>, ImportError> {
        self.variable(key)?
            .into_iter()
            .map(|x| {
                let ok = x.fract() == 0.0 && x.abs() < 2f64.powi(53);
                ok.then(|| T::try_from(x as i64).ok())
                    .flatten()
                    .ok_or_else(|| ImportError::Unsupported {
                        what: format!("value {x} of variable `{key}`"),
                        layer: Some(self.name.to_owned()),
                    })
            })
            .collect()
    }
}

fn import_layer(value: &Value) -> Result<Layer, ImportError> {
    let name = value
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ImportError::Missing {
            what: "layer `name`".into(),
            layer: None,
        })?;
    let empty = Value::Null;
    let r = LayerReader {
        name,
        params: value.get("parameters").unwrap_or(&empty),
        variables: value.get("variables").unwrap_or(&empty),
    };
    let kind = match r.params.get("layer_type").and_then(Value::as_str) {
        Some("InputConvolutional") => LayerKind::InputConvolutional,
        Some("Convolutional") => LayerKind::Convolutional,
        Some("SeparableConvolutional") => LayerKind::SeparableConvolutional,
        Some("FullyConnected") => LayerKind::FullyConnected,
        Some(other) => {
            return Err(ImportError::Unsupported {
                what: format!("layer type `{other}`"),
                layer: Some(name.to_owned()),
            })
        }
        None => return Err(r.missing("parameter `layer_type`".into())),
    };
    let dense = kind == LayerKind::FullyConnected;
    let input_dims =
        dims(value.get("input_shape")).ok_or_else(|| r.missing("`input_shape`".into()))?;
    let output_dims =
        dims(value.get("output_shape")).ok_or_else(|| r.missing("`output_shape`".into()))?;
    let (kernel, strides, padding, pooling) = if dense {
        ([1, 1], [1, 1], Padding::Valid, Pooling::None)
    } else {
        let padding = match r.int("padding")? {
            0 => Padding::Valid,
            1 => Padding::Same,
            other => {
                return Err(ImportError::Unsupported {
                    what: format!("padding {other}"),
                    layer: Some(name.to_owned()),
                })
            }
        };
        let pooling = match r.int("pool_type")? {
            0 => Pooling::None,
            1 => Pooling::Max {
                size: r.pair("pooling_width", "pooling_height")?,
                stride: r.pair("pooling_stride_x", "pooling_stride_y")?,
            },
            2 => Pooling::GlobalAverage,
            other => {
                return Err(ImportError::Unsupported {
                    what: format!("pool type {other}"),
                    layer: Some(name.to_owned()),
                })
            }
        };
        (
            r.pair("kernel_width", "kernel_height")?,
            r.pair("stride_x", "stride_y")?,
            padding,
            pooling,
        )
    };
    let byte = |key: &str| -> Result<u8, ImportError> {
        let v = r.int(key)?;
        u8::try_from(v).map_err(|_| ImportError::Unsupported {
            what: format!("parameter `{key}` = {v}"),
            layer: Some(name.to_owned()),
        })
    };
    Ok(Layer {
        name: name.to_owned(),
        kind,
        input_dims,
        output_dims,
        kernel,
        strides,
        padding,
        padding_value: if kind == LayerKind::InputConvolutional {
            byte("padding_value")?
        } else {
            0
        },
        pooling,
        weights_bits: byte("weights_bits")?,
        act_bits: byte("act_bits")?,
        activation: r.int("activation")? != 0,
        weights: r.integers("weights")?,
        weights_pw: if kind == LayerKind::SeparableConvolutional {
            r.integers("weights_pw")?
        } else {
            Vec::new()
        },
        thresholds: r.integers("threshold")?,
        act_steps: r
            .variable("act_step")?
            .into_iter()
            .map(|x| x as f32)
            .collect(),
    })
}

/// The akida version whose JSON [`program_to_json`] writes: `akida.model_from_json` accepts only
/// its own major and minor version.
pub const AKIDA_VERSION: &str = "2.19.3";
/// Version of the `qnnc` header object [`program_to_json`] adds (ignored by akida).
pub const EXPORT_FORMAT: u32 = 1;

/// The JSON that `akida.model_from_json` (akida 2.19) turns into this program's `akida.Model`,
/// with a `qnnc` object naming the model, its source hash and target. Every value is exact:
/// integers as integers, each f32 act_step as the decimal of its exact value.
pub fn program_to_json(program: &Program) -> String {
    use serde_json::json;
    let shape = |d: Dims| json!([d.height, d.width, d.channels]);
    let mut previous: Option<&str> = None;
    let layers: Vec<Value> = program
        .layers
        .iter()
        .map(|l| {
            let mut params = serde_json::Map::new();
            let mut set = |k: &str, v: Value| {
                params.insert(k.to_owned(), v);
            };
            set("act_bits", json!(l.act_bits));
            set("activation", json!(u8::from(l.activation)));
            if l.kind == LayerKind::FullyConnected {
                set("units", json!(l.filters()));
            } else {
                set("filters", json!(l.filters()));
                if l.kind == LayerKind::InputConvolutional {
                    set("input_channels", json!(l.input_dims.channels));
                    set("input_height", json!(l.input_dims.width));
                    set("input_width", json!(l.input_dims.height));
                    set("padding_value", json!(l.padding_value));
                }
                set("kernel_height", json!(l.kernel[1]));
                set("kernel_width", json!(l.kernel[0]));
                set(
                    "padding",
                    json!(match l.padding {
                        Padding::Valid => 0,
                        Padding::Same => 1,
                    }),
                );
                let (pool_type, size, stride) = match l.pooling {
                    Pooling::None => (0, [-1, -1], [-1, -1]),
                    Pooling::Max { size, stride } => {
                        (1, size.map(i64::from), stride.map(i64::from))
                    }
                    Pooling::GlobalAverage => (2, [-1, -1], [-1, -1]),
                };
                set("pool_type", json!(pool_type));
                set("pooling_height", json!(size[1]));
                set("pooling_stride_x", json!(stride[0]));
                set("pooling_stride_y", json!(stride[1]));
                set("pooling_width", json!(size[0]));
                set("stride_x", json!(l.strides[0]));
                set("stride_y", json!(l.strides[1]));
            }
            set("weights_bits", json!(l.weights_bits));
            set("layer_type", json!(l.kind.as_str()));
            let mut variables = serde_json::Map::new();
            variables.insert(
                "act_step".into(),
                json!({
                    "shape": [l.act_steps.len()],
                    "dtype": "float32",
                    "bitwidth": 0,
                    // The exact value of each f32, which Python reads back exactly.
                    "data": l.act_steps.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
                }),
            );
            variables.insert(
                "threshold".into(),
                json!({
                    "shape": [l.thresholds.len()],
                    "dtype": "int32",
                    "bitwidth": 32,
                    "data": l.thresholds,
                }),
            );
            variables.insert(
                "weights".into(),
                int8_variable(&l.weights, l.weights_shape()),
            );
            if l.kind == LayerKind::SeparableConvolutional {
                variables.insert(
                    "weights_pw".into(),
                    int8_variable(&l.weights_pw, l.weights_pw_shape()),
                );
            }
            let inbounds: Vec<&str> = previous.into_iter().collect();
            previous = Some(&l.name);
            json!({
                "name": l.name,
                "parameters": Value::Object(params),
                "variables": Value::Object(variables),
                "inbounds": inbounds,
                "input_shape": shape(l.input_dims),
                "output_shape": shape(l.output_dims),
            })
        })
        .collect();
    let root = json!({
        "Akida version": AKIDA_VERSION,
        "IP version": "v1",
        "layers": layers,
        "learning": Value::Null,
        "input_shape": shape(program.input),
        "output_shape": program.output_dims().map_or(Value::Null, shape),
        "qnnc": {
            "format": EXPORT_FORMAT,
            "model": program.model_name,
            "source_sha256": program.source_sha256.to_hex(),
            "target": program.target.as_str(),
        },
    });
    let mut text = serde_json::to_string(&root).expect("a JSON value serializes");
    text.push('\n');
    text
}

/// An int8 variable with its data nested to `shape` (akida reshapes from the nesting).
fn int8_variable(values: &[i8], shape: [u64; 4]) -> Value {
    fn nest(values: &[i8], shape: &[u64]) -> Value {
        match shape {
            [] => Value::from(values[0]),
            [_] => Value::from(values.to_vec()),
            [n, rest @ ..] => {
                let chunk = values.len() / (*n as usize).max(1);
                Value::Array(
                    (0..*n as usize)
                        .map(|i| nest(&values[i * chunk..(i + 1) * chunk], rest))
                        .collect(),
                )
            }
        }
    }
    serde_json::json!({
        "shape": shape,
        "dtype": "int8",
        "bitwidth": 8,
        "data": nest(values, &shape),
    })
}
