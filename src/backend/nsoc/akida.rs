//! Import of BrainChip-converted models: builds a [`Program`] from the JSON an Akida 1.0 model
//! writes with `akida.Model.to_json()` (IP version `v1`, as `cnn2snn.convert` produces).
//!
//! This lets a model converted by BrainChip's own flow run in the qnnc simulator, which is how
//! the simulator is checked against the reference dumps. Akida names the spatial axes `(x, y)`
//! with `x` the Keras height (spec §7.2), so `kernel_width`, `stride_x`, `pooling_width` and
//! `pooling_stride_x` are the first (height) components here.

use super::program::{
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
