//! Scale formulas of `linear` quantizers (`scale: kmax / max(abs(w))`): lowering to
//! [`ScaleExpr`], the check that a formula reduces the kernel to one scale factor (or one per
//! output channel with `per_axis: true`), and the checks of its constant parts (division by
//! zero, a constant scale that is not positive).

use super::error::LowerError;
use super::lower::Cx;
use super::suggest::did_you_mean;
use super::values;
use crate::quant::{BinOp as QBinOp, ScaleExpr, ScaleFn};
use crate::syntax::ast::{self, Call, Expr, ExprKind};

/// How much of a kernel a scale formula term depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Scalar,
    Axis,
    Tensor,
}

impl Cx {
    /// The `scale:` formula of a linear quantizer.
    pub(super) fn scale_formula(
        &mut self,
        e: &Expr,
        per_axis: bool,
        bits: Option<u32>,
    ) -> Option<ScaleExpr> {
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
                self.errs.push(values::out_of_range(
                    "scale",
                    e,
                    "a positive number",
                    Some("a constant scale factor must be positive and finite".to_string()),
                ));
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
                self.errs
                    .push(values::type_mismatch("scale", "a formula", e));
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
}
