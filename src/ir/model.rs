//! Models: the statements of `model NAME { … }` in order — `input(...)`, `quantize(...)` and
//! layer calls — with the rules between them (one input, first; one `quantize`; names only on
//! layers), Keras' automatic layer names (`conv2d`, `conv2d_1`, …), unique layer names, and
//! the help for a statement that is not a layer. The chain of shapes is [`super::infer`]'s.

use super::args::{bind, k, p, Param};
use super::error::LowerError;
use super::layers::{self, LayerDef, LAYERS};
use super::lower::Cx;
use super::quantizer::{is_quantizer_kind, MAX_BITS};
use super::suggest::{code_list, did_you_mean};
use super::values;
use super::{Input, Model, Op, QuantizeSpec, Shape};
use crate::source::Span;
use crate::syntax::ast::{self, Call, Expr, ExprKind};
use crate::syntax::print::expr_to_string;
use std::collections::BTreeMap;

/// The statements of a model that are not layers.
const STATEMENTS: &[&str] = &["input", "quantize"];

/// A layer statement between argument checking and shape inference.
pub(super) struct Pending {
    pub name: String,
    /// The whole statement.
    pub span: Span,
    /// The explicit name, if the layer has one.
    pub name_span: Option<Span>,
    /// `None` when its arguments had errors.
    pub op: Option<Op>,
    pub callee_span: Span,
}

/// What the statements of one model said, before shapes.
#[derive(Default)]
struct Statements {
    input: Option<Input>,
    /// Where the first `input` was, even when its arguments had errors.
    input_span: Option<Span>,
    quantize: Option<QuantizeSpec>,
    layers: Vec<Pending>,
    /// How many layers had each automatic-name prefix so far.
    counters: BTreeMap<&'static str, usize>,
    first_layer: Option<Span>,
    saw_unknown_layer: bool,
}

impl Cx {
    pub(super) fn model(&mut self, m: &ast::ModelDef) -> Option<Model> {
        let errors_before = self.error_count();
        let model = m.name.name.as_str();
        let mut st = Statements::default();
        for s in &m.statements {
            self.statement(model, s, &mut st);
        }
        self.duplicate_layer_names(model, &st.layers);
        if st.input_span.is_none() {
            self.errs.push(LowerError::MissingInput {
                model: model.to_string(),
                span: m.name.span,
            });
            return None;
        }
        if st.layers.is_empty() && !st.saw_unknown_layer {
            self.errs.push(LowerError::EmptyModel {
                model: model.to_string(),
                span: m.name.span,
            });
            return None;
        }
        let input = st.input?;
        let layers = self.chain(&input.shape, st.layers)?;
        if self.error_count() != errors_before {
            return None;
        }
        Some(Model {
            name: model.to_string(),
            span: m.name.span,
            input,
            quantize: st.quantize,
            layers,
        })
    }

    fn statement(&mut self, model: &str, s: &ast::Statement, st: &mut Statements) {
        let callee = s.call.callee.name.as_str();
        let callee_span = s.call.callee.span;
        if STATEMENTS.contains(&callee) {
            if let Some(n) = &s.name {
                self.errs.push(LowerError::NamedStatement {
                    callee: callee.to_string(),
                    name: n.name.clone(),
                    span: n.span,
                });
            }
        }
        match callee {
            "input" => {
                if let Some(first) = st.input_span {
                    self.errs.push(LowerError::DuplicateInput {
                        model: model.to_string(),
                        span: callee_span,
                        first,
                    });
                    return;
                }
                st.input_span = Some(callee_span);
                if let Some(after) = st.first_layer {
                    self.errs.push(LowerError::InputNotFirst {
                        span: callee_span,
                        after,
                    });
                }
                st.input = self.input(&s.call);
            }
            "quantize" => {
                if let Some(q) = &st.quantize {
                    self.errs.push(LowerError::DuplicateQuantize {
                        model: model.to_string(),
                        span: callee_span,
                        first: q.span,
                    });
                    return;
                }
                let spec = self.quantize_statement(&s.call);
                st.quantize = Some(spec.unwrap_or(QuantizeSpec {
                    weights: 0,
                    activations: 0,
                    input_weights: 0,
                    span: callee_span,
                }));
            }
            _ => match layers::find(callee) {
                Some(def) => {
                    st.first_layer.get_or_insert(callee_span);
                    let op = self.layer_op(def, &s.call);
                    let (name, name_span) = match &s.name {
                        Some(n) => (n.name.clone(), Some(n.span)),
                        None => (automatic_name(def, &mut st.counters), None),
                    };
                    st.layers.push(Pending {
                        name,
                        span: s.span,
                        name_span,
                        op,
                        callee_span,
                    });
                }
                None => {
                    st.saw_unknown_layer = true;
                    self.unknown_layer(&s.call);
                }
            },
        }
    }

    /// A statement that calls something other than a layer, `input` or `quantize`.
    fn unknown_layer(&mut self, call: &Call) {
        let callee = call.callee.name.as_str();
        let help = if is_quantizer_kind(callee) {
            format!(
                "`{callee}` is a quantizer: define it with `quantizer q = {callee}(bits: 4)` and pass it as `quantizer: q`"
            )
        } else if let Some(layer) = layers::keras_alias(callee) {
            format!("`{callee}` is written `{}(…)` in `.q` files", layer.name)
        } else {
            let names = LAYERS.iter().map(|l| l.name);
            let all: Vec<&str> = names.clone().chain(STATEMENTS.iter().copied()).collect();
            match did_you_mean(callee, &all) {
                Some(sug) => format!("did you mean `{sug}`?"),
                None => format!("layers are {}", code_list(names)),
            }
        };
        self.errs.push(LowerError::UnknownLayer {
            name: callee.to_string(),
            span: call.callee.span,
            help: Some(help),
        });
    }

    /// Reports every layer name (explicit or automatic) used twice in the model.
    fn duplicate_layer_names(&mut self, model: &str, layers: &[Pending]) {
        // Per name: the callee and explicit name spans of its first layer.
        let mut seen: BTreeMap<&str, (Span, Option<Span>)> = BTreeMap::new();
        for l in layers {
            let Some(&(first_callee, first_name)) = seen.get(l.name.as_str()) else {
                seen.insert(&l.name, (l.callee_span, l.name_span));
                continue;
            };
            let label = |n: Option<Span>, first: bool| match (n, first) {
                (Some(_), true) => "first named here".to_string(),
                (Some(_), false) => "named again here".to_string(),
                (None, _) => format!("automatic name `{}`", l.name),
            };
            self.errs.push(LowerError::DuplicateLayer {
                name: l.name.clone(),
                model: model.to_string(),
                span: l.name_span.unwrap_or(l.callee_span),
                second_label: label(l.name_span, false),
                first: first_name.unwrap_or(first_callee),
                first_label: label(first_name, true),
                help: Some(if l.name_span.is_none() || first_name.is_none() {
                    "Keras names unnamed layers `conv2d`, `conv2d_1`, …; give this layer a different name".to_string()
                } else {
                    "layer names must be unique within a model".to_string()
                }),
            });
        }
    }

    /// `input(SHAPE, scale: S, offset: O)`.
    fn input(&mut self, call: &Call) -> Option<Input> {
        const SIG: &[Param] = &[p("shape"), k("scale", "1"), k("offset", "0")];
        let b = bind(call, SIG, &mut self.errs);
        b.check_required("input([28, 28, 1], scale: 255)", &mut self.errs);
        let shape = b.value("shape").and_then(|e| self.input_shape(e));
        let scale = b.value_or("scale", 1.0, |e| {
            let v = values::number(e, "scale", &mut self.errs)?;
            if v <= 0.0 {
                self.errs.push(LowerError::InputScale {
                    value: expr_to_string(e),
                    span: e.span,
                });
                return None;
            }
            Some(v)
        });
        let offset = b.value_or("offset", 0.0, |e| {
            values::number(e, "offset", &mut self.errs)
        });
        Some(Input {
            shape: shape?,
            scale: scale?,
            offset: offset?,
            span: call.span,
        })
    }

    fn input_shape(&mut self, e: &Expr) -> Option<Shape> {
        let ExprKind::List(items) = &e.kind else {
            self.errs.push(values::type_mismatch(
                "shape",
                "a list like `[28, 28, 1]`",
                e,
            ));
            return None;
        };
        if items.len() != 1 && items.len() != 3 {
            let batch = items.len() == 4
                && matches!(items[0].kind, ExprKind::Number { value, .. } if value == 1.0);
            self.errs.push(LowerError::InputShape {
                found: format!("{} dimensions", items.len()),
                span: e.span,
                help: Some(if batch {
                    "leave out the batch dimension: images are `[H, W, C]`".to_string()
                } else {
                    "images are `[H, W, C]`, e.g. `input([28, 28, 1])`; vectors `[N]`".to_string()
                }),
            });
            return None;
        }
        let max = self.limits.max_dim as i64;
        let dims: Vec<Option<i64>> = items
            .iter()
            .map(|d| values::integer(d, "shape", 1, max, &mut self.errs))
            .collect();
        let dims: Vec<usize> = dims
            .into_iter()
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .map(|d| d as usize)
            .collect();
        let shape = Shape(dims);
        self.tensor_fits(
            &shape,
            |n| format!("the input has {n} elements"),
            e.span,
            "check the input shape",
        )
        .then_some(shape)
    }

    /// `quantize(weights: W, activations: A, input_weights: IW)`.
    fn quantize_statement(&mut self, call: &Call) -> Option<QuantizeSpec> {
        const SIG: &[Param] = &[
            k("weights", "0"),
            k("activations", "0"),
            k("input_weights", "weights"),
        ];
        let b = bind(call, SIG, &mut self.errs);
        let weights = b.value_or("weights", 0, |e| self.quantize_bits(e, "weights"));
        let input_weights = match b.value("input_weights") {
            None => weights,
            Some(e) => self.quantize_bits(e, "input_weights"),
        };
        let activations = b.value_or("activations", 0, |e| {
            values::integer(e, "activations", 0, MAX_BITS, &mut self.errs).map(|v| v as u32)
        });
        Some(QuantizeSpec {
            weights: weights?,
            activations: activations?,
            input_weights: input_weights?,
            span: call.span,
        })
    }

    /// The weight bits of `quantize(...)`: 0 (kept float) or 2 to [`MAX_BITS`].
    fn quantize_bits(&mut self, e: &Expr, arg: &str) -> Option<u32> {
        let v = values::integer(e, arg, 0, MAX_BITS, &mut self.errs)?;
        if v == 1 {
            self.errs.push(LowerError::WeightBits {
                bits: v,
                span: e.span,
                help: Some(format!("use at least 2 bits (the AKD1000 takes 2, 4 or 8), or `{arg}: 0` to keep them float")),
            });
            return None;
        }
        Some(v as u32)
    }
}

/// The next of Keras' automatic names for a layer of kind `def`: its prefix, then
/// `prefix_1`, `prefix_2`, ….
fn automatic_name(def: &LayerDef, counters: &mut BTreeMap<&'static str, usize>) -> String {
    let n = counters.entry(def.auto_prefix).or_insert(0);
    let name = if *n == 0 {
        def.auto_prefix.to_string()
    } else {
        format!("{}_{n}", def.auto_prefix)
    };
    *n += 1;
    name
}
