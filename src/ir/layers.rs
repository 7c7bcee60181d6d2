//! The layer table: every layer kind of the `.q` language, listed once.
//!
//! [`LAYERS`] holds, per kind, the `.q` call name, Keras' automatic-name prefix, the other
//! spellings a Keras user may write, the signature (positional and keyword parameters with the
//! defaults the language reference shows) and the constructor of its [`Op`]. Lowering, automatic
//! naming, "did you mean" suggestions, unknown-argument checks and the language reference's
//! layer table (checked by the tests below) all come from it; nothing else lists layers.

use super::args::{bind, k, p, unset, Bound, Param, ParamDefault};
use super::error::LowerError;
use super::lower::Cx;
use super::values;
use super::{BatchNorm, Conv, Dense, Op, Padding, Pool, SeparableConv};
use crate::quant::ActivationSpec;
use crate::syntax::ast::{Call, Expr};

/// One layer kind of the `.q` language.
pub struct LayerDef {
    /// The `.q` call name: `max_pool`.
    pub name: &'static str,
    /// The prefix of Keras' automatic names for its layers: `max_pooling2d` names them
    /// `max_pooling2d`, `max_pooling2d_1`, ….
    pub auto_prefix: &'static str,
    /// Other spellings that mean it (Keras class names and common abbreviations), lower case
    /// without underscores, besides its name and prefix: `convolution2d`, `bn`.
    pub aliases: &'static [&'static str],
    /// Its parameters, positional ones first, with their defaults.
    pub params: &'static [Param],
    /// A shortest valid call, shown in "missing argument" help: `conv2d(8, 3)`.
    pub example: &'static str,
    /// Its op from the bound arguments; `None` when an argument has errors (recorded).
    build: fn(&mut Cx, &Bound) -> Option<Op>,
}

const STRIDES: Param = k("strides", "1");
const PADDING: Param = k("padding", "valid");
const USE_BIAS: Param = k("use_bias", "true");
const QUANTIZER: Param = unset("quantizer", "Q");
const MAX_VALUE: Param = unset("max_value", "M");
/// Keras: `pool_size` (2, 2), strides default to the pool size.
const POOL: &[Param] = &[p("pool_size").or("2"), k("strides", "pool_size"), PADDING];
/// CNN2SNN: `QuantizedReLU(bitwidth=1, max_value=None → 2^bits − 1)`.
const ACTIVATION_BITS: Param = p("bits").or("1");

/// Every layer kind, in the order of the language reference.
pub static LAYERS: &[LayerDef] = &[
    LayerDef {
        name: "conv2d",
        auto_prefix: "conv2d",
        aliases: &["convolution2d"],
        params: &[
            p("filters"),
            p("kernel_size"),
            STRIDES,
            PADDING,
            USE_BIAS,
            QUANTIZER,
        ],
        example: "conv2d(8, 3)",
        build: conv2d,
    },
    LayerDef {
        name: "separable_conv2d",
        auto_prefix: "separable_conv2d",
        aliases: &["separableconvolution2d"],
        params: &[
            p("filters"),
            p("kernel_size"),
            STRIDES,
            PADDING,
            USE_BIAS,
            QUANTIZER,
            unset("quantizer_dw", "QDW"),
        ],
        example: "separable_conv2d(8, 3)",
        build: separable_conv2d,
    },
    LayerDef {
        name: "dense",
        auto_prefix: "dense",
        aliases: &["fullyconnected", "linear"],
        params: &[p("units"), USE_BIAS, QUANTIZER],
        example: "dense(10)",
        build: dense,
    },
    LayerDef {
        name: "max_pool",
        auto_prefix: "max_pooling2d",
        aliases: &["maxpool2d", "maxpooling"],
        params: POOL,
        example: "max_pool()",
        build: |cx, b| pool(cx, b).map(Op::MaxPool),
    },
    LayerDef {
        name: "avg_pool",
        auto_prefix: "average_pooling2d",
        aliases: &["avgpool2d", "averagepooling"],
        params: POOL,
        example: "avg_pool()",
        build: |cx, b| pool(cx, b).map(Op::AvgPool),
    },
    LayerDef {
        name: "global_avg_pool",
        auto_prefix: "global_average_pooling2d",
        aliases: &["globalavgpool2d"],
        params: &[],
        example: "global_avg_pool()",
        build: |_, _| Some(Op::GlobalAvgPool),
    },
    LayerDef {
        name: "batch_norm",
        auto_prefix: "batch_normalization",
        aliases: &["bn"],
        params: &[
            k("epsilon", "1e-3"),
            k("momentum", "0.99"),
            unset("gamma_min", "G"),
        ],
        example: "batch_norm()",
        build: batch_norm,
    },
    LayerDef {
        name: "relu",
        auto_prefix: "re_lu",
        aliases: &[],
        params: &[MAX_VALUE],
        example: "relu()",
        build: |cx, b| {
            Some(Op::Relu {
                max_value: cx.max_value(b)?,
            })
        },
    },
    LayerDef {
        name: "quantized_relu",
        auto_prefix: "quantized_re_lu",
        aliases: &[],
        params: &[ACTIVATION_BITS, MAX_VALUE],
        example: "quantized_relu()",
        build: |cx, b| {
            let bits = cx.relu_bits(b);
            let max_value = cx.max_value(b);
            Some(Op::QuantizedActivation(ActivationSpec::QuantizedRelu {
                bits: bits?,
                max_value: max_value?,
            }))
        },
    },
    LayerDef {
        name: "discrete_relu",
        auto_prefix: "activation_discrete_relu",
        aliases: &[],
        params: &[ACTIVATION_BITS],
        example: "discrete_relu()",
        build: |cx, b| {
            let bits = cx.relu_bits(b)?;
            Some(Op::QuantizedActivation(ActivationSpec::DiscreteRelu {
                bits,
            }))
        },
    },
    LayerDef {
        name: "flatten",
        auto_prefix: "flatten",
        aliases: &[],
        params: &[],
        example: "flatten()",
        build: |_, _| Some(Op::Flatten),
    },
    LayerDef {
        name: "dropout",
        auto_prefix: "dropout",
        aliases: &[],
        params: &[p("rate")],
        example: "dropout(0.5)",
        build: |cx, b| {
            let rate = b.value("rate").and_then(|e| {
                values::number_where(
                    e,
                    "rate",
                    "at least 0 and below 1",
                    |v| (0.0..1.0).contains(&v),
                    &mut cx.errs,
                )
            });
            Some(Op::Dropout { rate: rate? })
        },
    },
    LayerDef {
        name: "softmax",
        auto_prefix: "softmax",
        aliases: &[],
        params: &[],
        example: "softmax()",
        build: |_, _| Some(Op::Softmax),
    },
];

/// The layer kind called `name` in `.q` files.
pub(super) fn find(name: &str) -> Option<&'static LayerDef> {
    LAYERS.iter().find(|l| l.name == name)
}

/// The layer kind a Keras class name, automatic-name prefix or other spelling stands for
/// (`MaxPooling2D`, `max_pooling2d`, `QuantizedDense`, `BN`, …), compared without case and
/// underscores.
pub(super) fn keras_alias(name: &str) -> Option<&'static LayerDef> {
    let norm = normalized(name);
    let norm = norm
        .strip_prefix("quantized")
        .filter(|r| *r != "relu")
        .unwrap_or(&norm);
    LAYERS.iter().find(|l| {
        normalized(l.name) == norm || normalized(l.auto_prefix) == norm || l.aliases.contains(&norm)
    })
}

fn normalized(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

impl LayerDef {
    /// The call as the language reference shows it: positional parameters by name, keyword
    /// ones with their default or placeholder, e.g. `dense(units, use_bias: true, quantizer: Q)`.
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| match p.default {
                _ if p.positional => p.name.to_string(),
                ParamDefault::Required(shown)
                | ParamDefault::Value(shown)
                | ParamDefault::Unset(shown) => format!("{}: {shown}", p.name),
            })
            .collect();
        format!("{}({})", self.name, params.join(", "))
    }
}

impl Cx {
    /// The op of a layer call; `None` when its arguments have errors (already recorded).
    pub(super) fn layer_op(&mut self, def: &LayerDef, call: &Call) -> Option<Op> {
        let errors_before = self.errs.len();
        let b = bind(call, def.params, &mut self.errs);
        b.check_required(def.example, &mut self.errs);
        let op = (def.build)(self, &b);
        op.filter(|_| self.errs.len() == errors_before)
    }

    /// A size (filters, units): an integer from 1 to the largest dimension.
    fn size(&mut self, e: &Expr, arg: &str) -> Option<usize> {
        let max = self.limits.max_dim as i64;
        values::integer(e, arg, 1, max, &mut self.errs).map(|v| v as usize)
    }

    /// A window size or stride: a size or a pair of sizes.
    fn size_pair(&mut self, e: &Expr, arg: &str) -> Option<[usize; 2]> {
        let max = self.limits.max_dim as i64;
        values::pair(e, arg, 1, max, &mut self.errs)
    }

    fn padding(&mut self, b: &Bound) -> Option<Padding> {
        b.value_or("padding", Padding::Valid, |e| {
            values::choice(e, "padding", &["valid", "same"], &mut self.errs).map(|c| {
                if c == "same" {
                    Padding::Same
                } else {
                    Padding::Valid
                }
            })
        })
    }

    fn use_bias(&mut self, b: &Bound) -> Option<bool> {
        b.value_or("use_bias", true, |e| {
            values::boolean(e, "use_bias", &mut self.errs)
        })
    }

    fn max_value(&mut self, b: &Bound) -> Option<Option<f64>> {
        b.value_or("max_value", None, |e| {
            values::positive(e, "max_value", &mut self.errs).map(Some)
        })
    }

    fn relu_bits(&mut self, b: &Bound) -> Option<u32> {
        b.value_or("bits", 1, |e| self.activation_bits(e, "bits"))
    }

    /// What `conv2d` and `separable_conv2d` share, up to the quantizer.
    fn conv_window(&mut self, b: &Bound) -> Option<ConvWindow> {
        let filters = b.value("filters").and_then(|e| self.size(e, "filters"));
        let kernel = b
            .value("kernel_size")
            .and_then(|e| self.size_pair(e, "kernel_size"));
        let strides = b.value_or("strides", [1, 1], |e| self.size_pair(e, "strides"));
        let padding = self.padding(b);
        let use_bias = self.use_bias(b);
        Some(ConvWindow {
            filters: filters?,
            kernel: kernel?,
            strides: strides?,
            padding: padding?,
            use_bias: use_bias?,
        })
    }
}

/// The arguments `conv2d` and `separable_conv2d` share, up to the quantizer.
struct ConvWindow {
    filters: usize,
    kernel: [usize; 2],
    strides: [usize; 2],
    padding: Padding,
    use_bias: bool,
}

fn conv2d(cx: &mut Cx, b: &Bound) -> Option<Op> {
    let window = cx.conv_window(b);
    let quantizer = cx.opt_quantizer(b, "quantizer");
    let ConvWindow {
        filters,
        kernel,
        strides,
        padding,
        use_bias,
    } = window?;
    Some(Op::Conv2D(Conv {
        filters,
        kernel,
        strides,
        padding,
        use_bias,
        quantizer: quantizer?,
    }))
}

fn separable_conv2d(cx: &mut Cx, b: &Bound) -> Option<Op> {
    let window = cx.conv_window(b);
    let quantizer = cx.opt_quantizer(b, "quantizer");
    let quantizer_dw = cx.opt_quantizer(b, "quantizer_dw");
    if b.get("quantizer").is_none() {
        if let Some(a) = b.get("quantizer_dw") {
            cx.errs.push(LowerError::QuantizerDwAlone { span: a.span });
        }
    }
    let ConvWindow {
        filters,
        kernel,
        strides,
        padding,
        use_bias,
    } = window?;
    let quantizer = quantizer?;
    // CNN2SNN: `quantizer_dw` defaults to a copy of `quantizer`.
    let quantizer_dw = quantizer_dw?.or_else(|| quantizer.clone());
    Some(Op::SeparableConv2D(SeparableConv {
        filters,
        kernel,
        strides,
        padding,
        use_bias,
        quantizer,
        quantizer_dw,
    }))
}

fn dense(cx: &mut Cx, b: &Bound) -> Option<Op> {
    let units = b.value("units").and_then(|e| cx.size(e, "units"));
    let use_bias = cx.use_bias(b);
    let quantizer = cx.opt_quantizer(b, "quantizer");
    Some(Op::Dense(Dense {
        units: units?,
        use_bias: use_bias?,
        quantizer: quantizer?,
    }))
}

fn pool(cx: &mut Cx, b: &Bound) -> Option<Pool> {
    let size = b.value_or("pool_size", [2, 2], |e| cx.size_pair(e, "pool_size"));
    let strides = match b.value("strides") {
        None => size,
        Some(e) => cx.size_pair(e, "strides"),
    };
    let padding = cx.padding(b);
    Some(Pool {
        size: size?,
        strides: strides?,
        padding: padding?,
    })
}

fn batch_norm(cx: &mut Cx, b: &Bound) -> Option<Op> {
    let epsilon = b.value_or("epsilon", 1e-3, |e| {
        values::positive(e, "epsilon", &mut cx.errs)
    });
    let momentum = b.value_or("momentum", 0.99, |e| {
        values::number_where(
            e,
            "momentum",
            "between 0 and 1",
            |v| (0.0..=1.0).contains(&v),
            &mut cx.errs,
        )
    });
    let gamma_min = b.value_or("gamma_min", None, |e| {
        values::positive(e, "gamma_min", &mut cx.errs).map(Some)
    });
    Some(Op::BatchNorm(BatchNorm {
        epsilon: epsilon?,
        momentum: momentum?,
        gamma_min: gamma_min?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::documents::{readme_list, reference_table};
    use crate::source::SourceFile;
    use std::collections::BTreeSet;

    /// The op of `call`, lowered as the only layer of a model on an 8×8×4 image.
    fn op_of(call: &str) -> Op {
        let text = format!("model m {{\n  input([8, 8, 4])\n  {call}\n}}\n");
        let file = crate::syntax::parse(&SourceFile::new("t.q", text)).expect("parses");
        let lowering = super::super::lower(&file);
        let module = lowering
            .module
            .unwrap_or_else(|| panic!("`{call}` lowers: {:?}", lowering.diagnostics));
        module.models[0].layers[0].op.clone()
    }

    /// Which kind of layer an op is. Exhaustive on purpose: a new `Op` variant (or activation)
    /// does not compile until it is counted here, and then the test below wants a table
    /// entry for it.
    fn kind(op: &Op) -> usize {
        match op {
            Op::Conv2D(_) => 0,
            Op::SeparableConv2D(_) => 1,
            Op::Dense(_) => 2,
            Op::MaxPool(_) => 3,
            Op::AvgPool(_) => 4,
            Op::GlobalAvgPool => 5,
            Op::BatchNorm(_) => 6,
            Op::Relu { .. } => 7,
            Op::QuantizedActivation(ActivationSpec::QuantizedRelu { .. }) => 8,
            Op::QuantizedActivation(ActivationSpec::DiscreteRelu { .. }) => 9,
            Op::Flatten => 10,
            Op::Dropout { .. } => 11,
            Op::Softmax => 12,
        }
    }
    const KINDS: usize = 13;

    #[test]
    fn every_op_kind_comes_from_exactly_one_entry() {
        let kinds: Vec<usize> = LAYERS.iter().map(|l| kind(&op_of(l.example))).collect();
        let distinct: BTreeSet<usize> = kinds.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            LAYERS.len(),
            "two entries build one kind: {kinds:?}"
        );
        assert_eq!(distinct, (0..KINDS).collect(), "kinds without an entry");
    }

    #[test]
    fn names_prefixes_and_aliases_are_unambiguous() {
        let mut seen = BTreeSet::new();
        for l in LAYERS {
            assert!(seen.insert(l.name), "`{}` twice", l.name);
            assert_eq!(find(l.name).map(|d| d.name), Some(l.name));
        }
        let prefixes: BTreeSet<&str> = LAYERS.iter().map(|l| l.auto_prefix).collect();
        assert_eq!(
            prefixes.len(),
            LAYERS.len(),
            "automatic-name prefixes are unique"
        );
        let mut spellings = BTreeSet::new();
        for l in LAYERS {
            let own: BTreeSet<String> = [normalized(l.name), normalized(l.auto_prefix)]
                .into_iter()
                .chain(l.aliases.iter().map(|a| a.to_string()))
                .collect();
            for s in own {
                assert_eq!(normalized(&s), s, "alias `{s}` is normalized");
                assert!(spellings.insert(s.clone()), "`{s}` means two layers");
            }
        }
    }

    #[test]
    fn keras_classes_lead_back_to_their_entry() {
        for l in LAYERS {
            let op = op_of(l.example);
            let class = op.keras_class();
            assert_eq!(keras_alias(class).map(|d| d.name), Some(l.name), "{class}");
            assert_eq!(keras_alias(l.auto_prefix).map(|d| d.name), Some(l.name));
            if op.is_neural() {
                let quantized = format!("Quantized{class}");
                assert_eq!(keras_alias(&quantized).map(|d| d.name), Some(l.name));
            }
        }
        assert_eq!(keras_alias("BN").map(|d| d.name), Some("batch_norm"));
        assert_eq!(
            keras_alias("QuantizedReLU").map(|d| d.name),
            Some("quantized_relu")
        );
        assert!(keras_alias("LSTM").is_none());
    }

    /// Writing a documented default out changes nothing: the table's defaults are the ones
    /// the constructors apply.
    #[test]
    fn documented_defaults_are_the_defaults() {
        for l in LAYERS {
            let implicit = op_of(l.example);
            for param in l.params {
                let ParamDefault::Value(mut value) = param.default else {
                    continue;
                };
                // A default that names another parameter takes that one's default.
                if let Some(other) = l.params.iter().find(|o| o.name == value) {
                    let ParamDefault::Value(v) = other.default else {
                        panic!("`{}` defaults to a parameter without a default", param.name)
                    };
                    value = v;
                }
                let open = l.example.strip_suffix(')').expect("a call");
                let sep = if open.ends_with('(') { "" } else { ", " };
                let explicit = format!("{open}{sep}{}: {value})", param.name);
                assert_eq!(op_of(&explicit), implicit, "{explicit} vs {}", l.example);
            }
        }
    }

    /// The language reference's layer table lists exactly the table's layers, in order, with
    /// their signatures, and the defaults of positional parameters in its second column.
    #[test]
    fn language_reference_lists_the_table() {
        let rows = reference_table("## Layers");
        let documented: Vec<&str> = rows.iter().map(|r| r[0].trim_matches('`')).collect();
        let signatures: Vec<String> = LAYERS.iter().map(LayerDef::signature).collect();
        assert_eq!(documented, signatures);
        for (row, l) in rows.iter().zip(LAYERS) {
            for param in l.params.iter().filter(|p| p.positional) {
                if let ParamDefault::Value(v) = param.default {
                    let shown = format!("`{} = {v}`", param.name);
                    assert!(
                        row[1].contains(&shown),
                        "`{}`: {shown} in {:?}",
                        l.name,
                        row[1]
                    );
                }
            }
        }
    }

    /// The README's one-line list of layers is the table's names, in order.
    #[test]
    fn readme_lists_the_table() {
        let names: Vec<&str> = LAYERS.iter().map(|l| l.name).collect();
        assert_eq!(readme_list("Layers: ", "."), names);
    }
}
