//! Weight quantizers: the table of quantizer kinds, `quantizer NAME = …` definitions, quantizer
//! calls, `quantizer:` arguments (a reference or an inline call), and the checks of bit-widths
//! (weights and activations). Scale formulas of `linear` are [`super::formula`]'s.

use super::args::{bind, k, required, Bound, Param};
use super::error::LowerError;
use super::layers;
use super::lower::Cx;
use super::suggest::{code_list_and, did_you_mean};
use super::values;
use super::QuantizerRef;
use crate::quant::{QuantizerKind, QuantizerSpec};
use crate::source::Span;
use crate::syntax::ast::{self, Call, Expr, ExprKind};

/// The widest bit-width anything takes.
pub(super) const MAX_BITS: i64 = 32;

/// A quantizer of the file (or of the command line).
pub(super) struct QuantizerEntry {
    /// `None` when the definition itself had errors (uses then report nothing more).
    pub spec: Option<QuantizerSpec>,
    pub name_span: Span,
    pub used: bool,
}

impl QuantizerEntry {
    /// A quantizer given from outside the file (never reported unused).
    pub fn given(spec: QuantizerSpec) -> QuantizerEntry {
        QuantizerEntry {
            spec: Some(spec),
            name_span: Span::default(),
            used: true,
        }
    }
}

/// One quantizer kind: its call name, signature, and how its kind is read from a bound call.
struct QuantizerDef {
    name: &'static str,
    params: &'static [Param],
    /// A call with the required arguments, for "missing argument" help.
    example: &'static str,
    /// The kind, given the call and its bit-width (`None` when `bits` had errors).
    kind: fn(&mut Cx, &Bound, Option<u32>) -> Option<QuantizerKind>,
}

// CNN2SNN's quantizers default to 4 bits.
const BITS: Param = k("bits", "4");
const THRESHOLD: Param = k("threshold", "3");

/// Every quantizer kind, in the order of the language reference.
static QUANTIZERS: &[QuantizerDef] = &[
    QuantizerDef {
        name: "max",
        params: &[BITS],
        example: "max(bits: 4)",
        kind: |_, _, _| Some(QuantizerKind::Max),
    },
    QuantizerDef {
        name: "max_per_axis",
        params: &[BITS],
        example: "max_per_axis(bits: 4)",
        kind: |_, _, _| Some(QuantizerKind::MaxPerAxis),
    },
    QuantizerDef {
        name: "std",
        params: &[BITS, THRESHOLD],
        example: "std(bits: 4)",
        kind: |cx, b, _| {
            cx.threshold(b)
                .map(|threshold| QuantizerKind::Std { threshold })
        },
    },
    QuantizerDef {
        name: "std_per_axis",
        params: &[BITS, THRESHOLD],
        example: "std_per_axis(bits: 4)",
        kind: |cx, b, _| {
            cx.threshold(b)
                .map(|threshold| QuantizerKind::StdPerAxis { threshold })
        },
    },
    QuantizerDef {
        name: "linear",
        params: &[BITS, required("scale", "EXPR"), k("per_axis", "false")],
        example: "linear(bits: 4, scale: kmax / max(abs(w)))",
        kind: Cx::linear,
    },
];

/// Whether `name` is a quantizer kind (`max`, `linear`, …).
pub(super) fn is_quantizer_kind(name: &str) -> bool {
    QUANTIZERS.iter().any(|q| q.name == name)
}

impl Cx {
    pub(super) fn quantizer_def(&mut self, def: &ast::QuantizerDef) {
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

    /// Warns about every quantizer of the file that no layer uses.
    pub(super) fn unused_quantizers(&mut self) {
        for (name, q) in &self.quantizers {
            // A definition with errors was reported already; "unused" would only add noise.
            if !q.used && q.spec.is_some() {
                self.errs.push(LowerError::UnusedQuantizer {
                    name: name.clone(),
                    span: q.name_span,
                });
            }
        }
    }

    /// A quantizer call: `max(bits: 4)`, `linear(bits: 4, scale: …)`, ….
    fn quantizer_call(&mut self, call: &Call) -> Option<QuantizerSpec> {
        let name = call.callee.name.as_str();
        let Some(def) = QUANTIZERS.iter().find(|q| q.name == name) else {
            let names: Vec<&str> = QUANTIZERS.iter().map(|q| q.name).collect();
            let help = if layers::find(name).is_some() {
                format!("`{name}` is a layer, not a quantizer")
            } else {
                match did_you_mean(name, &names) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("quantizers are {}", code_list_and(&names)),
                }
            };
            self.errs.push(LowerError::UnknownQuantizerKind {
                name: name.to_string(),
                span: call.callee.span,
                help: Some(help),
            });
            return None;
        };
        let b = bind(call, def.params, &mut self.errs);
        // Unknown or surplus arguments do not make the quantizer unusable.
        let errors_before = self.errs.len();
        let bits = b.value_or("bits", 4, |e| self.weight_bits(e, "bits"));
        let kind = (def.kind)(self, &b, bits);
        b.check_required(def.example, &mut self.errs);
        if self.errs.len() != errors_before {
            return None;
        }
        Some(QuantizerSpec {
            kind: kind?,
            bits: bits?,
        })
    }

    /// `std`'s and `std_per_axis`' `threshold`.
    fn threshold(&mut self, b: &Bound) -> Option<f64> {
        b.value_or("threshold", 3.0, |e| {
            values::positive(e, "threshold", &mut self.errs)
        })
    }

    /// `linear(bits, scale: FORMULA, per_axis: false)`.
    fn linear(&mut self, b: &Bound, bits: Option<u32>) -> Option<QuantizerKind> {
        let per_axis = b.value_or("per_axis", false, |e| {
            values::boolean(e, "per_axis", &mut self.errs)
        });
        match (b.value("scale"), per_axis) {
            (Some(e), Some(per_axis)) => self
                .scale_formula(e, per_axis, bits)
                .map(|scale| QuantizerKind::Linear { scale, per_axis }),
            _ => None,
        }
    }

    /// A `quantizer:` argument: a reference to a defined quantizer or an inline call.
    pub(super) fn quantizer_arg(&mut self, e: &Expr, arg: &str) -> Option<QuantizerRef> {
        match &e.kind {
            ExprKind::Ident(name) => {
                let Some(entry) = self.quantizers.get_mut(name) else {
                    let names: Vec<&str> = self.quantizers.keys().map(String::as_str).collect();
                    let help = if is_quantizer_kind(name) {
                        format!("write the call, e.g. `{arg}: {name}(bits: 4)`")
                    } else {
                        match did_you_mean(name, &names) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!(
                                "define it first: `quantizer {name} = max_per_axis(bits: 4)`"
                            ),
                        }
                    };
                    self.errs.push(LowerError::UnknownQuantizer {
                        name: name.clone(),
                        span: e.span,
                        help: Some(help),
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
                self.errs.push(values::type_mismatch(
                    arg,
                    "a quantizer name or a call like `max(bits: 4)`",
                    e,
                ));
                None
            }
        }
    }

    /// An optional `quantizer:`-like argument: `Some(None)` when it is not given, `None` when
    /// it is given with errors.
    pub(super) fn opt_quantizer(&mut self, b: &Bound, arg: &str) -> Option<Option<QuantizerRef>> {
        match b.value(arg) {
            None => Some(None),
            Some(e) => self.quantizer_arg(e, arg).map(Some),
        }
    }

    /// The bit-width of a weight quantizer: an integer from 2 to [`MAX_BITS`].
    pub(super) fn weight_bits(&mut self, e: &Expr, arg: &str) -> Option<u32> {
        self.bits(e, arg, 2, |bits| LowerError::WeightBits {
            bits,
            span: e.span,
            help: Some("weight quantizers take at least 2 bits (the AKD1000 takes 2, 4 or 8); CNN2SNN rejects 1-bit weights".to_string()),
        })
    }

    /// The bit-width of a quantized activation: an integer from 1 to [`MAX_BITS`].
    pub(super) fn activation_bits(&mut self, e: &Expr, arg: &str) -> Option<u32> {
        self.bits(e, arg, 1, |bits| LowerError::ActivationBits {
            bits,
            span: e.span,
        })
    }

    /// An integer bit-width from `min` to [`MAX_BITS`]; `below` is the error for one under
    /// `min`.
    fn bits(
        &mut self,
        e: &Expr,
        arg: &str,
        min: i64,
        below: impl FnOnce(i64) -> LowerError,
    ) -> Option<u32> {
        let v = values::number(e, arg, &mut self.errs)?;
        if v.fract() != 0.0 {
            self.errs.push(values::type_mismatch(arg, "an integer", e));
            return None;
        }
        if v > MAX_BITS as f64 {
            let requirement = format!("at most {MAX_BITS}");
            self.errs
                .push(values::out_of_range(arg, e, &requirement, None));
            return None;
        }
        let v = v as i64;
        if v < min {
            self.errs.push(below(v));
            return None;
        }
        Some(v as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::QUANTIZERS;
    use crate::ir::documents::{readme_list, reference_table};

    /// The quantizer kinds the README and the language reference list are the table's, in
    /// order.
    #[test]
    fn documents_list_the_table() {
        let names: Vec<&str> = QUANTIZERS.iter().map(|q| q.name).collect();
        assert_eq!(readme_list("Quantizers: ", " (a formula)"), names);
        let documented: Vec<&str> = reference_table("## Quantizers")
            .iter()
            .map(|row| {
                let call = row[0].trim_start_matches('`');
                &call[..call.find('(').expect("a call")]
            })
            .collect();
        assert_eq!(documented, names);
    }
}
