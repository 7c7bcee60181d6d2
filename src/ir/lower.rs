//! `lower`: AST → IR. Resolves names, binds and checks arguments, fills in the Keras/CNN2SNN
//! defaults, names unnamed layers the way Keras does, and infers every shape.
//!
//! All problems of a file are collected; the module is returned only when there is no error
//! (warnings alone do not stop it).

use super::args::{self, bind, did_you_mean, k, p, Param};
use super::error::LowerError;
use super::shape::{window_out, Limits};
use super::summary::thousands;
use super::*;
use crate::quant::{
    ActivationSpec, BinOp as QBinOp, QuantizerKind, QuantizerSpec, ScaleExpr, ScaleFn,
};
use crate::syntax::ast::{self, Call, Expr, ExprKind};
use miette::Diagnostic;
use std::collections::BTreeMap;

/// The result of lowering: the module when there was no error, and every diagnostic.
#[derive(Debug)]
pub struct Lowering {
    pub module: Option<Module>,
    pub diagnostics: Vec<LowerError>,
}

/// Lowers a parsed file to IR.
pub fn lower(file: &ast::File) -> Lowering {
    let mut cx = Cx {
        errs: Vec::new(),
        quantizers: BTreeMap::new(),
        limits: Limits::DEFAULT,
    };
    for item in &file.items {
        if let ast::Item::Quantizer(def) = item {
            cx.quantizer_def(def);
        }
    }
    let mut models: Vec<Model> = Vec::new();
    let mut seen_models: BTreeMap<&str, Span> = BTreeMap::new();
    let mut any_model = false;
    for m in file.models() {
        any_model = true;
        if let Some(first) = seen_models.get(m.name.name.as_str()) {
            cx.errs.push(LowerError::DuplicateModel {
                name: m.name.name.clone(),
                span: m.name.span,
                first: *first,
            });
        } else {
            seen_models.insert(&m.name.name, m.name.span);
        }
        if let Some(model) = cx.model(m) {
            models.push(model);
        }
    }
    if !any_model {
        let end = file.len as usize;
        cx.errs.push(LowerError::NoModel {
            span: Span::new(end, end),
        });
    }
    for (name, q) in &cx.quantizers {
        // A definition with errors was reported already; "unused" would only add noise.
        if !q.used && q.spec.is_some() {
            cx.errs.push(LowerError::UnusedQuantizer {
                name: name.clone(),
                span: q.name_span,
            });
        }
    }
    let has_error = cx
        .errs
        .iter()
        .any(|e| e.severity().unwrap_or(miette::Severity::Error) == miette::Severity::Error);
    cx.errs.sort_by_key(|e| first_span(e).start);
    Lowering {
        module: (!has_error).then(|| Module {
            models,
            quantizers: cx
                .quantizers
                .iter()
                .filter_map(|(n, q)| Some((n.clone(), q.spec.clone()?)))
                .collect(),
        }),
        diagnostics: cx.errs,
    }
}

/// Lowers one quantizer call (`max(bits: 4)`, or a bare name of `named`), as given on the
/// command line.
pub fn lower_quantizer(
    expr: &ast::Expr,
    named: &BTreeMap<String, QuantizerSpec>,
) -> Result<QuantizerSpec, Vec<LowerError>> {
    let mut cx = Cx {
        errs: Vec::new(),
        quantizers: named
            .iter()
            .map(|(n, q)| {
                (
                    n.clone(),
                    QuantizerEntry {
                        spec: Some(q.clone()),
                        name_span: Span::default(),
                        used: true,
                    },
                )
            })
            .collect(),
        limits: Limits::DEFAULT,
    };
    match cx.quantizer_arg(expr, "quantizer") {
        Some(q) if cx.errs.is_empty() => Ok(q.spec),
        _ => Err(cx.errs),
    }
}

fn first_span(e: &LowerError) -> Span {
    e.labels()
        .and_then(|mut l| l.next())
        .map(|l| Span::new(l.offset(), l.offset() + l.len()))
        .unwrap_or_default()
}

struct QuantizerEntry {
    /// `None` when the definition itself had errors (uses then report nothing more).
    spec: Option<QuantizerSpec>,
    name_span: Span,
    used: bool,
}

struct Cx {
    errs: Vec<LowerError>,
    quantizers: BTreeMap<String, QuantizerEntry>,
    limits: Limits,
}

const LAYERS: &[&str] = &[
    "conv2d",
    "separable_conv2d",
    "dense",
    "max_pool",
    "avg_pool",
    "global_avg_pool",
    "batch_norm",
    "relu",
    "quantized_relu",
    "discrete_relu",
    "flatten",
    "dropout",
    "softmax",
];

const QUANTIZER_KINDS: &[&str] = &["max", "max_per_axis", "std", "std_per_axis", "linear"];

/// The `.q` layer for a Keras class name or automatic-name prefix (`MaxPooling2D`,
/// `max_pooling2d`, `QuantizedDense`, …), compared without case and underscores.
fn keras_alias(name: &str) -> Option<&'static str> {
    let norm: String = name
        .chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    let norm = norm
        .strip_prefix("quantized")
        .filter(|r| *r != "relu")
        .unwrap_or(&norm);
    Some(match norm {
        "conv2d" | "convolution2d" => "conv2d",
        "separableconv2d" | "separableconvolution2d" => "separable_conv2d",
        "dense" | "fullyconnected" | "linear" => "dense",
        "maxpooling2d" | "maxpool2d" | "maxpool" | "maxpooling" => "max_pool",
        "averagepooling2d" | "avgpool2d" | "avgpool" | "averagepooling" => "avg_pool",
        "globalaveragepooling2d" | "globalavgpool2d" | "globalavgpool" => "global_avg_pool",
        "batchnormalization" | "batchnorm" | "bn" => "batch_norm",
        "relu" => "relu",
        "quantizedrelu" => "quantized_relu",
        "activationdiscreterelu" | "discreterelu" => "discrete_relu",
        "flatten" => "flatten",
        "dropout" => "dropout",
        "softmax" => "softmax",
        _ => return None,
    })
}

/// Keras' automatic name prefix of each layer call.
fn auto_prefix(callee: &str) -> &'static str {
    match callee {
        "conv2d" => "conv2d",
        "separable_conv2d" => "separable_conv2d",
        "dense" => "dense",
        "max_pool" => "max_pooling2d",
        "avg_pool" => "average_pooling2d",
        "global_avg_pool" => "global_average_pooling2d",
        "batch_norm" => "batch_normalization",
        "relu" => "re_lu",
        "quantized_relu" => "quantized_re_lu",
        "discrete_relu" => "activation_discrete_relu",
        "flatten" => "flatten",
        "dropout" => "dropout",
        "softmax" => "softmax",
        other => unreachable!("`{other}` is not in the layer table"),
    }
}

const MAX_BITS: i64 = 32;

impl Cx {
    // ---------------------------------------------------------------- quantizers

    fn quantizer_def(&mut self, def: &ast::QuantizerDef) {
        if let Some(first) = self.quantizers.get(&def.name.name) {
            self.errs.push(LowerError::DuplicateQuantizer {
                name: def.name.name.clone(),
                span: def.name.span,
                first: first.name_span,
            });
            // Still check the second definition.
            self.quantizer_call(&def.call);
            return;
        }
        let spec = self.quantizer_call(&def.call);
        self.quantizers.insert(
            def.name.name.clone(),
            QuantizerEntry {
                spec,
                name_span: def.name.span,
                used: false,
            },
        );
    }

    /// A quantizer call: `max(bits: 4)`, `linear(bits: 4, scale: …)`, ….
    fn quantizer_call(&mut self, call: &Call) -> Option<QuantizerSpec> {
        const MAX: &[Param] = &[k("bits")];
        const STD: &[Param] = &[k("bits"), k("threshold")];
        const LINEAR: &[Param] = &[k("bits"), k("scale"), k("per_axis")];
        let name = call.callee.name.as_str();
        let sig = match name {
            "max" | "max_per_axis" => MAX,
            "std" | "std_per_axis" => STD,
            "linear" => LINEAR,
            _ => {
                let help = if LAYERS.contains(&name) {
                    Some(format!("`{name}` is a layer, not a quantizer"))
                } else {
                    Some(match did_you_mean(name, QUANTIZER_KINDS) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "quantizers are `max`, `max_per_axis`, `std`, `std_per_axis` and `linear`".to_string(),
                    })
                };
                self.errs.push(LowerError::UnknownQuantizerKind {
                    name: name.to_string(),
                    span: call.callee.span,
                    help,
                });
                return None;
            }
        };
        let b = bind(call, sig, &mut self.errs);
        let errors_before = self.errs.len();
        let bits = match b.value("bits") {
            // CNN2SNN's quantizers default to 4 bits.
            None => Some(4),
            Some(e) => self.weight_bits(e, "bits"),
        };
        let kind = match name {
            "max" => Some(QuantizerKind::Max),
            "max_per_axis" => Some(QuantizerKind::MaxPerAxis),
            "std" | "std_per_axis" => {
                let threshold = match b.value("threshold") {
                    None => Some(3.0),
                    Some(e) => args::number_where(
                        e,
                        "threshold",
                        "greater than 0",
                        |v| v > 0.0,
                        &mut self.errs,
                    ),
                };
                threshold.map(|threshold| {
                    if name == "std" {
                        QuantizerKind::Std { threshold }
                    } else {
                        QuantizerKind::StdPerAxis { threshold }
                    }
                })
            }
            "linear" => {
                let per_axis = match b.value("per_axis") {
                    None => Some(false),
                    Some(e) => args::boolean(e, "per_axis", &mut self.errs),
                };
                b.check_required(
                    &["scale"],
                    "linear(bits: 4, scale: kmax / max(abs(w)))",
                    &mut self.errs,
                );
                let scale = b.value("scale");
                match (scale, per_axis) {
                    (Some(e), Some(per_axis)) => self
                        .scale_formula(e, per_axis, bits)
                        .map(|scale| QuantizerKind::Linear { scale, per_axis }),
                    _ => None,
                }
            }
            _ => unreachable!("quantizer kind checked above"),
        };
        if self.errs.len() != errors_before {
            return None;
        }
        Some(QuantizerSpec {
            kind: kind?,
            bits: bits?,
        })
    }

    /// An integer bit-width of at most [`MAX_BITS`] (the lower bound is the caller's rule).
    fn bits_value(&mut self, e: &Expr, arg: &str) -> Option<i64> {
        let v = args::number(e, arg, &mut self.errs)?;
        if v.fract() != 0.0 {
            self.errs.push(args::type_mismatch(arg, "an integer", e));
            return None;
        }
        if v > MAX_BITS as f64 {
            self.errs.push(LowerError::OutOfRange {
                arg: arg.to_string(),
                value: crate::syntax::print::expr_to_string(e),
                requirement: format!("at most {MAX_BITS}"),
                span: e.span,
                help: None,
            });
            return None;
        }
        Some(v as i64)
    }

    fn weight_bits(&mut self, e: &Expr, arg: &str) -> Option<u32> {
        let v = self.bits_value(e, arg)?;
        if v <= 1 {
            self.errs.push(LowerError::WeightBits {
                bits: v,
                span: e.span,
                help: Some("weight quantizers take at least 2 bits (the AKD1000 takes 2, 4 or 8); CNN2SNN rejects 1-bit weights".to_string()),
            });
            return None;
        }
        Some(v as u32)
    }

    fn activation_bits(&mut self, e: &Expr, arg: &str) -> Option<u32> {
        let v = self.bits_value(e, arg)?;
        if v <= 0 {
            self.errs.push(LowerError::ActivationBits {
                bits: v,
                span: e.span,
            });
            return None;
        }
        Some(v as u32)
    }

    /// The `scale:` formula of a linear quantizer.
    fn scale_formula(&mut self, e: &Expr, per_axis: bool, bits: Option<u32>) -> Option<ScaleExpr> {
        let (expr, rank) = self.scale_expr(e, per_axis)?;
        if rank == Rank::Tensor {
            self.errs.push(LowerError::ScaleNotReduced { span: e.span });
            return None;
        }
        let bits = bits?;
        let errors_before = self.errs.len();
        let constant = self.constant_part(e, bits);
        if self.errs.len() != errors_before {
            return None;
        }
        if let Some(v) = constant {
            if !(v.is_finite() && v > 0.0) {
                self.errs.push(LowerError::OutOfRange {
                    arg: "scale".to_string(),
                    value: crate::syntax::print::expr_to_string(e),
                    requirement: "a positive number".to_string(),
                    span: e.span,
                    help: Some("a constant scale factor must be positive and finite".to_string()),
                });
                return None;
            }
        }
        Some(expr)
    }

    /// The value of the parts of a formula that do not depend on `w` (in f64: this only
    /// checks for division by zero and a non-positive constant scale; the quantizer evaluates
    /// the formula in f32). `None` when the expression depends on `w`.
    fn constant_part(&mut self, e: &Expr, bits: u32) -> Option<f64> {
        match &e.kind {
            ExprKind::Number { value, .. } => Some(*value),
            ExprKind::Ident(n) => match n.as_str() {
                "kmax" => Some(((1u64 << (bits - 1)) - 1) as f64),
                "bits" => Some(bits as f64),
                _ => None,
            },
            ExprKind::Neg(x) => self.constant_part(x, bits).map(|v| -v),
            ExprKind::Binary(op, l, r) => {
                let (a, b) = (self.constant_part(l, bits), self.constant_part(r, bits));
                if *op == ast::BinOp::Div && b == Some(0.0) {
                    self.errs.push(LowerError::DivisionByZero { span: r.span });
                    return None;
                }
                let (a, b) = (a?, b?);
                Some(match op {
                    ast::BinOp::Add => a + b,
                    ast::BinOp::Sub => a - b,
                    ast::BinOp::Mul => a * b,
                    ast::BinOp::Div => a / b,
                })
            }
            ExprKind::Call(c) => {
                let vals: Vec<Option<f64>> = c
                    .args
                    .iter()
                    .map(|a| self.constant_part(&a.value, bits))
                    .collect();
                let vals: Vec<f64> = vals.into_iter().collect::<Option<_>>()?;
                match (c.callee.name.as_str(), vals.as_slice()) {
                    ("max" | "min" | "mean", [v]) => Some(*v),
                    ("std", [_]) => Some(0.0),
                    ("abs", [v]) => Some(v.abs()),
                    ("sqrt", [v]) => Some(v.sqrt()),
                    ("clip", [x, lo, hi]) => Some(x.max(*lo).min(*hi)),
                    _ => None,
                }
            }
            ExprKind::Bool(_) | ExprKind::List(_) => None,
        }
    }

    fn scale_expr(&mut self, e: &Expr, per_axis: bool) -> Option<(ScaleExpr, Rank)> {
        match &e.kind {
            ExprKind::Number { value, .. } => Some((ScaleExpr::Num(*value), Rank::Scalar)),
            ExprKind::Ident(name) => match name.as_str() {
                "w" => Some((ScaleExpr::W, Rank::Tensor)),
                "kmax" => Some((ScaleExpr::Kmax, Rank::Scalar)),
                "bits" => Some((ScaleExpr::Bits, Rank::Scalar)),
                _ => {
                    self.errs.push(LowerError::ScaleVariable {
                        name: name.clone(),
                        span: e.span,
                        help: Some(match did_you_mean(name, &["w", "kmax", "bits"]) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => "a formula can use `w` (the kernel), `kmax` (2^(bits-1) - 1) and `bits`".to_string(),
                        }),
                    });
                    None
                }
            },
            ExprKind::Neg(inner) => {
                let (x, r) = self.scale_expr(inner, per_axis)?;
                Some((ScaleExpr::Neg(Box::new(x)), r))
            }
            ExprKind::Binary(op, l, r) => {
                let l = self.scale_expr(l, per_axis);
                let r = self.scale_expr(r, per_axis);
                let ((l, rl), (r, rr)) = (l?, r?);
                let op = match op {
                    ast::BinOp::Add => QBinOp::Add,
                    ast::BinOp::Sub => QBinOp::Sub,
                    ast::BinOp::Mul => QBinOp::Mul,
                    ast::BinOp::Div => QBinOp::Div,
                };
                Some((ScaleExpr::Bin(op, Box::new(l), Box::new(r)), rl.max(rr)))
            }
            ExprKind::Call(call) => self.scale_call(call, per_axis),
            ExprKind::Bool(_) | ExprKind::List(_) => {
                self.errs.push(args::type_mismatch("scale", "a formula", e));
                None
            }
        }
    }

    fn scale_call(&mut self, call: &Call, per_axis: bool) -> Option<(ScaleExpr, Rank)> {
        const FUNCS: &[&str] = &["max", "min", "mean", "std", "abs", "sqrt", "clip"];
        let name = call.callee.name.as_str();
        let arity = if name == "clip" { 3 } else { 1 };
        if !FUNCS.contains(&name) {
            self.errs.push(LowerError::ScaleFunction {
                name: name.to_string(),
                span: call.callee.span,
                help: Some(match did_you_mean(name, FUNCS) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "formulas can use `max`, `min`, `mean`, `std`, `abs`, `sqrt` and `clip(x, lo, hi)`".to_string(),
                }),
            });
            return None;
        }
        if let Some(a) = call.args.iter().find(|a| a.key.is_some()) {
            let key = a.key.as_ref().expect("filtered on key");
            self.errs.push(LowerError::UnknownArgument {
                callee: name.to_string(),
                arg: key.name.clone(),
                span: key.span,
                help: Some("formula functions take positional arguments only".to_string()),
            });
            return None;
        }
        if call.args.len() != arity {
            self.errs.push(LowerError::ScaleArity {
                name: name.to_string(),
                expected: if arity == 1 {
                    "one argument".to_string()
                } else {
                    "three arguments `(x, lo, hi)`".to_string()
                },
                found: call.args.len(),
                span: call.span,
            });
            return None;
        }
        let mut lowered = Vec::new();
        for a in &call.args {
            lowered.push(self.scale_expr(&a.value, per_axis));
        }
        let lowered: Option<Vec<(ScaleExpr, Rank)>> = lowered.into_iter().collect();
        let mut lowered = lowered?;
        if name == "clip" {
            let (hi, rh) = lowered.pop().expect("three arguments");
            let (lo, rl) = lowered.pop().expect("three arguments");
            let (x, rx) = lowered.pop().expect("three arguments");
            return Some((
                ScaleExpr::Clip(Box::new(x), Box::new(lo), Box::new(hi)),
                rx.max(rl).max(rh),
            ));
        }
        let (x, r) = lowered.pop().expect("one argument");
        let f = match name {
            "max" => ScaleFn::Max,
            "min" => ScaleFn::Min,
            "mean" => ScaleFn::Mean,
            "std" => ScaleFn::Std,
            "abs" => ScaleFn::Abs,
            "sqrt" => ScaleFn::Sqrt,
            _ => unreachable!("function list checked above"),
        };
        let rank = if f.is_reduction() {
            match (r, per_axis) {
                (Rank::Tensor, true) | (Rank::Axis, _) => Rank::Axis,
                _ => Rank::Scalar,
            }
        } else {
            r
        };
        Some((ScaleExpr::Call(f, Box::new(x)), rank))
    }

    /// A `quantizer:` argument: a reference to a defined quantizer or an inline call.
    fn quantizer_arg(&mut self, e: &Expr, arg: &str) -> Option<QuantizerRef> {
        match &e.kind {
            ExprKind::Ident(name) => {
                let Some(entry) = self.quantizers.get_mut(name) else {
                    let names: Vec<&str> = self.quantizers.keys().map(String::as_str).collect();
                    let help = if QUANTIZER_KINDS.contains(&name.as_str()) {
                        Some(format!("write the call, e.g. `{arg}: {name}(bits: 4)`"))
                    } else {
                        did_you_mean(name, &names)
                            .map(|s| format!("did you mean `{s}`?"))
                            .or_else(|| {
                                Some(format!(
                                    "define it first: `quantizer {name} = max_per_axis(bits: 4)`"
                                ))
                            })
                    };
                    self.errs.push(LowerError::UnknownQuantizer {
                        name: name.clone(),
                        span: e.span,
                        help,
                    });
                    return None;
                };
                entry.used = true;
                Some(QuantizerRef {
                    spec: entry.spec.clone()?,
                    name: Some(name.clone()),
                    span: e.span,
                })
            }
            ExprKind::Call(call) => Some(QuantizerRef {
                spec: self.quantizer_call(call)?,
                name: None,
                span: e.span,
            }),
            _ => {
                self.errs.push(args::type_mismatch(
                    arg,
                    "a quantizer name or a call like `max(bits: 4)`",
                    e,
                ));
                None
            }
        }
    }

    // ---------------------------------------------------------------- models

    fn model(&mut self, m: &ast::ModelDef) -> Option<Model> {
        let errors_before = self.error_count();
        let mut input: Option<Input> = None;
        let mut input_span: Option<Span> = None;
        let mut quantize: Option<QuantizeSpec> = None;
        let mut pending: Vec<Pending> = Vec::new();
        let mut counters: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut first_layer: Option<Span> = None;
        let mut saw_unknown_layer = false;
        for s in &m.statements {
            let callee = s.call.callee.name.as_str();
            match callee {
                "input" | "quantize" => {
                    if let Some(n) = &s.name {
                        self.errs.push(LowerError::NamedStatement {
                            callee: callee.to_string(),
                            name: n.name.clone(),
                            span: n.span,
                        });
                    }
                    if callee == "input" {
                        if let Some(first) = input_span {
                            self.errs.push(LowerError::DuplicateInput {
                                model: m.name.name.clone(),
                                span: s.call.callee.span,
                                first,
                            });
                            continue;
                        }
                        input_span = Some(s.call.callee.span);
                        if let Some(after) = first_layer {
                            self.errs.push(LowerError::InputNotFirst {
                                span: s.call.callee.span,
                                after,
                            });
                        }
                        input = self.input(&s.call);
                    } else {
                        if let Some(q) = &quantize {
                            self.errs.push(LowerError::DuplicateQuantize {
                                model: m.name.name.clone(),
                                span: s.call.callee.span,
                                first: q.span,
                            });
                            continue;
                        }
                        let spec = self.quantize_stmt(&s.call);
                        quantize = Some(spec.unwrap_or(QuantizeSpec {
                            weights: 0,
                            activations: 0,
                            input_weights: 0,
                            span: s.call.callee.span,
                        }));
                    }
                }
                _ if LAYERS.contains(&callee) => {
                    first_layer.get_or_insert(s.call.callee.span);
                    let op = self.layer_op(&s.call);
                    let (name, name_span) = match &s.name {
                        Some(n) => (n.name.clone(), Some(n.span)),
                        None => {
                            let prefix = auto_prefix(callee);
                            let n = counters.entry(prefix).or_insert(0);
                            let name = if *n == 0 {
                                prefix.to_string()
                            } else {
                                format!("{prefix}_{n}")
                            };
                            *n += 1;
                            (name, None)
                        }
                    };
                    pending.push((name, s.span, name_span, op, s.call.callee.span));
                }
                _ => {
                    let help = if QUANTIZER_KINDS.contains(&callee) {
                        Some(format!(
                            "`{callee}` is a quantizer: define it with `quantizer q = {callee}(bits: 4)` and pass it as `quantizer: q`"
                        ))
                    } else if let Some(layer) = keras_alias(callee) {
                        Some(format!("`{callee}` is written `{layer}(…)` in `.q` files"))
                    } else {
                        let mut all: Vec<&str> = LAYERS.to_vec();
                        all.extend(["input", "quantize"]);
                        Some(match did_you_mean(callee, &all) {
                            Some(sug) => format!("did you mean `{sug}`?"),
                            None => format!(
                                "layers are {}",
                                LAYERS
                                    .iter()
                                    .map(|l| format!("`{l}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        })
                    };
                    saw_unknown_layer = true;
                    self.errs.push(LowerError::UnknownLayer {
                        name: callee.to_string(),
                        span: s.call.callee.span,
                        help,
                    });
                }
            }
        }
        // Duplicate layer names (explicit or automatic).
        let mut seen: BTreeMap<&str, (Span, Option<Span>)> = BTreeMap::new();
        for (name, stmt_span, name_span, _, callee_span) in &pending {
            match seen.get(name.as_str()) {
                Some((first_callee, first_name)) => {
                    let label = |n: &Option<Span>, first: bool| match (n, first) {
                        (Some(_), true) => "first named here".to_string(),
                        (Some(_), false) => "named again here".to_string(),
                        (None, _) => format!("automatic name `{name}`"),
                    };
                    self.errs.push(LowerError::DuplicateLayer {
                        name: name.clone(),
                        model: m.name.name.clone(),
                        span: name_span.unwrap_or(*callee_span),
                        second_label: label(name_span, false),
                        first: first_name.unwrap_or(*first_callee),
                        first_label: label(first_name, true),
                        help: Some(if name_span.is_none() || first_name.is_none() {
                            "Keras names unnamed layers `conv2d`, `conv2d_1`, …; give this layer a different name".to_string()
                        } else {
                            "layer names must be unique within a model".to_string()
                        }),
                    });
                    let _ = stmt_span;
                }
                None => {
                    seen.insert(name, (*callee_span, *name_span));
                }
            }
        }
        let Some(input_span_v) = input_span else {
            self.errs.push(LowerError::MissingInput {
                model: m.name.name.clone(),
                span: m.name.span,
            });
            return None;
        };
        if pending.is_empty() && !saw_unknown_layer {
            self.errs.push(LowerError::EmptyModel {
                model: m.name.name.clone(),
                span: m.name.span,
            });
            return None;
        }
        let _ = input_span_v;
        let input = input?;
        // Shape inference, as far as the layers are known.
        let mut layers = Vec::new();
        let mut shape = input.shape.clone();
        let mut total_params: u64 = 0;
        let mut flattened_by: Option<String> = None;
        for (name, span, _, op, callee_span) in pending {
            let Some(op) = op else {
                // Without this layer's arguments the shapes after it are unknown.
                return None;
            };
            let out = self.infer(&name, &op, &shape, callee_span, flattened_by.as_deref())?;
            if shape.is_image() && !out.is_image() {
                flattened_by = Some(name.clone());
            }
            let layer = Layer {
                name,
                op,
                input_shape: shape,
                output_shape: out.clone(),
                span,
                merged: Vec::new(),
            };
            for v in layer.variables() {
                let n: u64 = v.shape.iter().map(|&d| d as u64).product();
                if n > self.limits.max_params {
                    self.errs.push(LowerError::TooLarge {
                        what: format!(
                            "the `{}` of `{}` has {} parameters",
                            v.name,
                            layer.name,
                            thousands(n)
                        ),
                        limit: thousands(self.limits.max_params),
                        span: callee_span,
                        help: Some("check the sizes of this layer; qnnc refuses models this large before allocating them".to_string()),
                    });
                    return None;
                }
                total_params += n;
            }
            if total_params > self.limits.max_params {
                self.errs.push(LowerError::TooLarge {
                    what: format!(
                        "the model has {} parameters up to `{}`",
                        thousands(total_params),
                        layer.name
                    ),
                    limit: thousands(self.limits.max_params),
                    span: callee_span,
                    help: Some("check the sizes of the layers; qnnc refuses models this large before allocating them".to_string()),
                });
                return None;
            }
            shape = out;
            layers.push(layer);
        }
        if self.error_count() != errors_before {
            return None;
        }
        Some(Model {
            name: m.name.name.clone(),
            span: m.name.span,
            input,
            quantize,
            layers,
        })
    }

    fn error_count(&self) -> usize {
        self.errs
            .iter()
            .filter(|e| e.severity().unwrap_or(miette::Severity::Error) == miette::Severity::Error)
            .count()
    }

    fn input(&mut self, call: &Call) -> Option<Input> {
        const SIG: &[Param] = &[p("shape"), k("scale"), k("offset")];
        let b = bind(call, SIG, &mut self.errs);
        b.check_required(&["shape"], "input([28, 28, 1], scale: 255)", &mut self.errs);
        let shape = b.value("shape").and_then(|e| self.input_shape(e));
        let scale = match b.value("scale") {
            None => Some(1.0),
            Some(e) => {
                let v = args::number(e, "scale", &mut self.errs);
                match v {
                    Some(v) if v <= 0.0 => {
                        self.errs.push(LowerError::InputScale {
                            value: crate::syntax::print::expr_to_string(e),
                            span: e.span,
                        });
                        None
                    }
                    v => v,
                }
            }
        };
        let offset = match b.value("offset") {
            None => Some(0.0),
            Some(e) => args::number(e, "offset", &mut self.errs),
        };
        Some(Input {
            shape: shape?,
            scale: scale?,
            offset: offset?,
            span: call.span,
        })
    }

    fn input_shape(&mut self, e: &Expr) -> Option<Shape> {
        let ExprKind::List(items) = &e.kind else {
            self.errs
                .push(args::type_mismatch("shape", "a list like `[28, 28, 1]`", e));
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
            .map(|d| args::integer(d, "shape", 1, max, &mut self.errs))
            .collect();
        let dims: Vec<usize> = dims
            .into_iter()
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .map(|d| d as usize)
            .collect();
        let shape = Shape(dims);
        if shape.elements() > self.limits.max_tensor_elements {
            self.errs.push(LowerError::TooLarge {
                what: format!("the input has {} elements", thousands(shape.elements())),
                limit: thousands(self.limits.max_tensor_elements),
                span: e.span,
                help: Some(
                    "check the input shape; qnnc refuses tensors this large before allocating them"
                        .to_string(),
                ),
            });
            return None;
        }
        Some(shape)
    }

    fn quantize_stmt(&mut self, call: &Call) -> Option<QuantizeSpec> {
        const SIG: &[Param] = &[k("weights"), k("activations"), k("input_weights")];
        let b = bind(call, SIG, &mut self.errs);
        let weights_bits = |cx: &mut Cx, name: &str| -> Option<u32> {
            let e = b.value(name)?;
            let v = args::integer(e, name, 0, MAX_BITS, &mut cx.errs)?;
            if v == 1 {
                cx.errs.push(LowerError::WeightBits {
                    bits: v,
                    span: e.span,
                    help: Some(format!("use at least 2 bits (the AKD1000 takes 2, 4 or 8), or `{name}: 0` to keep them float")),
                });
                return None;
            }
            Some(v as u32)
        };
        let weights = match b.value("weights") {
            None => Some(0),
            Some(_) => weights_bits(self, "weights"),
        };
        let input_weights = match b.value("input_weights") {
            None => weights,
            Some(_) => weights_bits(self, "input_weights"),
        };
        let activations = match b.value("activations") {
            None => Some(0),
            Some(e) => {
                args::integer(e, "activations", 0, MAX_BITS, &mut self.errs).map(|v| v as u32)
            }
        };
        Some(QuantizeSpec {
            weights: weights?,
            activations: activations?,
            input_weights: input_weights?,
            span: call.span,
        })
    }

    /// The op of a layer call; `None` when its arguments have errors (already recorded).
    fn layer_op(&mut self, call: &Call) -> Option<Op> {
        const CONV: &[Param] = &[
            p("filters"),
            p("kernel_size"),
            k("strides"),
            k("padding"),
            k("use_bias"),
            k("quantizer"),
        ];
        const SEP: &[Param] = &[
            p("filters"),
            p("kernel_size"),
            k("strides"),
            k("padding"),
            k("use_bias"),
            k("quantizer"),
            k("quantizer_dw"),
        ];
        const DENSE: &[Param] = &[p("units"), k("use_bias"), k("quantizer")];
        const POOL: &[Param] = &[p("pool_size"), k("strides"), k("padding")];
        const BN: &[Param] = &[k("epsilon"), k("momentum"), k("gamma_min")];
        const RELU: &[Param] = &[k("max_value")];
        const QRELU: &[Param] = &[p("bits"), k("max_value")];
        const DRELU: &[Param] = &[p("bits")];
        const RATE: &[Param] = &[p("rate")];
        const NONE: &[Param] = &[];
        let callee = call.callee.name.as_str();
        let sig = match callee {
            "conv2d" => CONV,
            "separable_conv2d" => SEP,
            "dense" => DENSE,
            "max_pool" | "avg_pool" => POOL,
            "batch_norm" => BN,
            "relu" => RELU,
            "quantized_relu" => QRELU,
            "discrete_relu" => DRELU,
            "dropout" => RATE,
            "global_avg_pool" | "flatten" | "softmax" => NONE,
            other => unreachable!("`{other}` is not in the layer table"),
        };
        let errors_before = self.errs.len();
        let b = bind(call, sig, &mut self.errs);
        let max_dim = self.limits.max_dim as i64;
        let op = match callee {
            "conv2d" | "separable_conv2d" => {
                let example = format!("{callee}(8, 3)");
                b.check_required(&["filters", "kernel_size"], &example, &mut self.errs);
                let filters = b
                    .value("filters")
                    .and_then(|e| args::integer(e, "filters", 1, max_dim, &mut self.errs));
                let kernel = b
                    .value("kernel_size")
                    .and_then(|e| args::pair(e, "kernel_size", 1, max_dim, &mut self.errs));
                let strides = self.opt_pair(&b, "strides", [1, 1]);
                let padding = self.padding(&b);
                let use_bias = self.opt_bool(&b, "use_bias", true);
                let quantizer = b
                    .value("quantizer")
                    .map(|e| self.quantizer_arg(e, "quantizer"));
                if callee == "conv2d" {
                    Op::Conv2D(Conv {
                        filters: filters? as usize,
                        kernel: kernel?,
                        strides: strides?,
                        padding: padding?,
                        use_bias: use_bias?,
                        quantizer: quantizer.map(|q| q.ok_or(())).transpose().ok()?,
                    })
                } else {
                    let quantizer_dw = b
                        .value("quantizer_dw")
                        .map(|e| self.quantizer_arg(e, "quantizer_dw"));
                    if quantizer.is_none() {
                        if let Some(a) = b.get("quantizer_dw") {
                            self.errs
                                .push(LowerError::QuantizerDwAlone { span: a.span });
                        }
                    }
                    let quantizer = quantizer.map(|q| q.ok_or(())).transpose().ok()?;
                    let quantizer_dw = quantizer_dw.map(|q| q.ok_or(())).transpose().ok()?;
                    // CNN2SNN: `quantizer_dw` defaults to a copy of `quantizer`.
                    let quantizer_dw = quantizer_dw.or_else(|| quantizer.clone());
                    Op::SeparableConv2D(SeparableConv {
                        filters: filters? as usize,
                        kernel: kernel?,
                        strides: strides?,
                        padding: padding?,
                        use_bias: use_bias?,
                        quantizer,
                        quantizer_dw,
                    })
                }
            }
            "dense" => {
                b.check_required(&["units"], "dense(10)", &mut self.errs);
                let units = b
                    .value("units")
                    .and_then(|e| args::integer(e, "units", 1, max_dim, &mut self.errs));
                let use_bias = self.opt_bool(&b, "use_bias", true);
                let quantizer = b
                    .value("quantizer")
                    .map(|e| self.quantizer_arg(e, "quantizer"));
                Op::Dense(Dense {
                    units: units? as usize,
                    use_bias: use_bias?,
                    quantizer: quantizer.map(|q| q.ok_or(())).transpose().ok()?,
                })
            }
            "max_pool" | "avg_pool" => {
                // Keras: pool_size (2, 2), strides default to the pool size.
                let size = match b.value("pool_size") {
                    None => Some([2, 2]),
                    Some(e) => args::pair(e, "pool_size", 1, max_dim, &mut self.errs),
                };
                let strides = match b.value("strides") {
                    None => size,
                    Some(e) => args::pair(e, "strides", 1, max_dim, &mut self.errs),
                };
                let padding = self.padding(&b);
                let pool = Pool {
                    size: size?,
                    strides: strides?,
                    padding: padding?,
                };
                if callee == "max_pool" {
                    Op::MaxPool(pool)
                } else {
                    Op::AvgPool(pool)
                }
            }
            "global_avg_pool" => Op::GlobalAvgPool,
            "batch_norm" => {
                let epsilon = match b.value("epsilon") {
                    None => Some(1e-3),
                    Some(e) => args::number_where(
                        e,
                        "epsilon",
                        "greater than 0",
                        |v| v > 0.0,
                        &mut self.errs,
                    ),
                };
                let momentum = match b.value("momentum") {
                    None => Some(0.99),
                    Some(e) => args::number_where(
                        e,
                        "momentum",
                        "between 0 and 1",
                        |v| (0.0..=1.0).contains(&v),
                        &mut self.errs,
                    ),
                };
                let gamma_min = match b.value("gamma_min") {
                    None => Some(None),
                    Some(e) => args::number_where(
                        e,
                        "gamma_min",
                        "greater than 0",
                        |v| v > 0.0,
                        &mut self.errs,
                    )
                    .map(Some),
                };
                Op::BatchNorm(BatchNorm {
                    epsilon: epsilon?,
                    momentum: momentum?,
                    gamma_min: gamma_min?,
                })
            }
            "relu" => {
                let max_value = self.opt_max_value(&b);
                Op::Relu {
                    max_value: max_value?,
                }
            }
            "quantized_relu" => {
                // CNN2SNN: QuantizedReLU(bitwidth=1, max_value=None → 2^bits − 1).
                let bits = match b.value("bits") {
                    None => Some(1),
                    Some(e) => self.activation_bits(e, "bits"),
                };
                let max_value = self.opt_max_value(&b);
                Op::QuantizedActivation(ActivationSpec::QuantizedRelu {
                    bits: bits?,
                    max_value: max_value?,
                })
            }
            "discrete_relu" => {
                let bits = match b.value("bits") {
                    None => Some(1),
                    Some(e) => self.activation_bits(e, "bits"),
                };
                Op::QuantizedActivation(ActivationSpec::DiscreteRelu { bits: bits? })
            }
            "flatten" => Op::Flatten,
            "dropout" => {
                b.check_required(&["rate"], "dropout(0.5)", &mut self.errs);
                let rate = b.value("rate").and_then(|e| {
                    args::number_where(
                        e,
                        "rate",
                        "at least 0 and below 1",
                        |v| (0.0..1.0).contains(&v),
                        &mut self.errs,
                    )
                });
                Op::Dropout { rate: rate? }
            }
            "softmax" => Op::Softmax,
            other => unreachable!("`{other}` is not in the layer table"),
        };
        (self.errs.len() == errors_before).then_some(op)
    }

    fn opt_pair(&mut self, b: &args::Bound, name: &str, default: [usize; 2]) -> Option<[usize; 2]> {
        match b.value(name) {
            None => Some(default),
            Some(e) => args::pair(e, name, 1, self.limits.max_dim as i64, &mut self.errs),
        }
    }

    fn opt_bool(&mut self, b: &args::Bound, name: &str, default: bool) -> Option<bool> {
        match b.value(name) {
            None => Some(default),
            Some(e) => args::boolean(e, name, &mut self.errs),
        }
    }

    fn padding(&mut self, b: &args::Bound) -> Option<Padding> {
        match b.value("padding") {
            None => Some(Padding::Valid),
            Some(e) => args::choice(e, "padding", &["valid", "same"], &mut self.errs).map(|c| {
                if c == "same" {
                    Padding::Same
                } else {
                    Padding::Valid
                }
            }),
        }
    }

    fn opt_max_value(&mut self, b: &args::Bound) -> Option<Option<f64>> {
        match b.value("max_value") {
            None => Some(None),
            Some(e) => args::number_where(
                e,
                "max_value",
                "greater than 0",
                |v| v > 0.0,
                &mut self.errs,
            )
            .map(Some),
        }
    }

    // ---------------------------------------------------------------- shapes

    /// The output shape of `op` on `input`, Keras semantics.
    fn infer(
        &mut self,
        layer: &str,
        op: &Op,
        input: &Shape,
        span: Span,
        flattened_by: Option<&str>,
    ) -> Option<Shape> {
        let needs_image = |cx: &mut Cx, what: &str| -> bool {
            if input.is_image() {
                return true;
            }
            let help = match flattened_by {
                Some(by) => format!("`{by}` made the tensor flat; {what} work on `[H, W, C]` tensors, so move this layer before it"),
                None => format!("the model's input is a vector; {what} need an image input like `input([28, 28, 1])`"),
            };
            cx.errs.push(LowerError::NeedsImage {
                layer: layer.to_string(),
                class: op.keras_class().to_string(),
                found: input.to_string(),
                span,
                help: Some(help),
            });
            false
        };
        let windowed = |cx: &mut Cx,
                        kind: &str,
                        k: [usize; 2],
                        s: [usize; 2],
                        pad: Padding|
         -> Option<[usize; 2]> {
            let [h, w] = input.hw();
            match (
                window_out(h, k[0], s[0], pad),
                window_out(w, k[1], s[1], pad),
            ) {
                (Some(a), Some(b)) => Some([a, b]),
                _ => {
                    let strided = if s != [1, 1] { ", smaller strides" } else { "" };
                    cx.errs.push(LowerError::WindowTooLarge {
                        layer: layer.to_string(),
                        kind: kind.to_string(),
                        window: format!("{}×{}", k[0], k[1]),
                        input: format!("{h}×{w}"),
                        span,
                        help: Some(format!(
                            "use `padding: same`, a smaller {kind}{strided}, or fewer poolings and strides before it"
                        )),
                    });
                    None
                }
            }
        };
        let out = match op {
            Op::Conv2D(Conv {
                filters,
                kernel,
                strides,
                padding,
                ..
            })
            | Op::SeparableConv2D(SeparableConv {
                filters,
                kernel,
                strides,
                padding,
                ..
            }) => {
                if !needs_image(self, "convolutions") {
                    return None;
                }
                let [h, w] = windowed(self, "kernel", *kernel, *strides, *padding)?;
                Shape(vec![h, w, *filters])
            }
            Op::MaxPool(p) | Op::AvgPool(p) => {
                if !needs_image(self, "poolings") {
                    return None;
                }
                let [h, w] = windowed(self, "pool", p.size, p.strides, p.padding)?;
                Shape(vec![h, w, input.channels()])
            }
            Op::GlobalAvgPool => {
                if !needs_image(self, "poolings") {
                    return None;
                }
                Shape(vec![input.channels()])
            }
            Op::Dense(d) => {
                let mut dims = input.0.clone();
                *dims.last_mut().expect("shapes have rank ≥ 1") = d.units;
                Shape(dims)
            }
            Op::Flatten => Shape(vec![input.elements() as usize]),
            Op::BatchNorm(_)
            | Op::Relu { .. }
            | Op::QuantizedActivation(_)
            | Op::Dropout { .. }
            | Op::Softmax => input.clone(),
        };
        if out.elements() > self.limits.max_tensor_elements {
            self.errs.push(LowerError::TooLarge {
                what: format!(
                    "the output of `{layer}` has {} elements per sample",
                    thousands(out.elements())
                ),
                limit: thousands(self.limits.max_tensor_elements),
                span,
                help: Some("check the sizes of this layer; qnnc refuses tensors this large before allocating them".to_string()),
            });
            return None;
        }
        Some(out)
    }
}

/// A layer statement between argument checking and shape inference: its name, statement span,
/// explicit name span, op (`None` when its arguments had errors) and callee span.
type Pending = (String, Span, Option<Span>, Option<Op>, Span);

/// How much of a kernel a scale formula term depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Scalar,
    Axis,
    Tensor,
}
