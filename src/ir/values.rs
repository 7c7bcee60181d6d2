//! Argument values: constant evaluation and the typed readers (numbers, integers, pairs,
//! booleans, enumeration words) that check one argument and report its type or range problem.
//!
//! Every reader records its error and returns `None`, so lowering goes on.

use super::error::LowerError;
use super::suggest::{code_list, did_you_mean};
use crate::syntax::ast::{BinOp, Expr, ExprKind};
use crate::syntax::print::expr_to_string;

/// An expression as written, in backticks, for messages.
pub(crate) fn shown(e: &Expr) -> String {
    format!("`{}`", expr_to_string(e))
}

/// Evaluates constant arithmetic to a number.
pub(crate) fn number(e: &Expr, arg: &str, errs: &mut Vec<LowerError>) -> Option<f64> {
    match &e.kind {
        ExprKind::Number { value, .. } => Some(*value),
        ExprKind::Neg(inner) => number(inner, arg, errs).map(|v| -v),
        ExprKind::Binary(op, l, r) => {
            let (lv, rv) = (number(l, arg, errs), number(r, arg, errs));
            let (lv, rv) = (lv?, rv?);
            let v = match op {
                BinOp::Add => lv + rv,
                BinOp::Sub => lv - rv,
                BinOp::Mul => lv * rv,
                BinOp::Div => {
                    if rv == 0.0 {
                        errs.push(LowerError::DivisionByZero { span: r.span });
                        return None;
                    }
                    lv / rv
                }
            };
            if !v.is_finite() {
                errs.push(out_of_range(arg, e, "a finite number", None));
                return None;
            }
            Some(v)
        }
        _ => {
            errs.push(type_mismatch(arg, "a number", e));
            None
        }
    }
}

/// `arg` is `e`, which is not `requirement`.
pub(crate) fn out_of_range(
    arg: &str,
    e: &Expr,
    requirement: &str,
    help: Option<String>,
) -> LowerError {
    LowerError::OutOfRange {
        arg: arg.to_string(),
        value: expr_to_string(e),
        requirement: requirement.to_string(),
        span: e.span,
        help,
    }
}

pub(crate) fn type_mismatch(arg: &str, expected: &str, e: &Expr) -> LowerError {
    LowerError::TypeMismatch {
        arg: arg.to_string(),
        expected: expected.to_string(),
        found: shown(e),
        span: e.span,
        help: None,
    }
}

/// An integer in `min..=max`.
pub(crate) fn integer(
    e: &Expr,
    arg: &str,
    min: i64,
    max: i64,
    errs: &mut Vec<LowerError>,
) -> Option<i64> {
    if !matches!(
        e.kind,
        ExprKind::Number { .. } | ExprKind::Neg(_) | ExprKind::Binary(..)
    ) {
        errs.push(type_mismatch(arg, "an integer", e));
        return None;
    }
    let v = number(e, arg, errs)?;
    if v.fract() != 0.0 {
        errs.push(type_mismatch(arg, "an integer", e));
        return None;
    }
    if v < min as f64 || v > max as f64 {
        let requirement = if max == i64::MAX {
            format!("at least {min}")
        } else {
            format!("between {min} and {max}")
        };
        errs.push(out_of_range(arg, e, &requirement, None));
        return None;
    }
    Some(v as i64)
}

/// A number satisfying `ok`, described by `requirement` when it does not.
pub(crate) fn number_where(
    e: &Expr,
    arg: &str,
    requirement: &str,
    ok: impl Fn(f64) -> bool,
    errs: &mut Vec<LowerError>,
) -> Option<f64> {
    let v = number(e, arg, errs)?;
    if !ok(v) {
        errs.push(out_of_range(arg, e, requirement, None));
        return None;
    }
    Some(v)
}

/// A number greater than 0.
pub(crate) fn positive(e: &Expr, arg: &str, errs: &mut Vec<LowerError>) -> Option<f64> {
    number_where(e, arg, "greater than 0", |v| v > 0.0, errs)
}

/// An integer or a pair `[a, b]` of integers, each in `min..=max`.
pub(crate) fn pair(
    e: &Expr,
    arg: &str,
    min: i64,
    max: i64,
    errs: &mut Vec<LowerError>,
) -> Option<[usize; 2]> {
    match &e.kind {
        ExprKind::List(items) if items.len() == 2 => {
            let a = integer(&items[0], arg, min, max, errs);
            let b = integer(&items[1], arg, min, max, errs);
            Some([a? as usize, b? as usize])
        }
        ExprKind::List(_) => {
            errs.push(type_mismatch(arg, "an integer or a pair `[h, w]`", e));
            None
        }
        _ => integer(e, arg, min, max, errs).map(|v| [v as usize, v as usize]),
    }
}

pub(crate) fn boolean(e: &Expr, arg: &str, errs: &mut Vec<LowerError>) -> Option<bool> {
    match &e.kind {
        ExprKind::Bool(b) => Some(*b),
        _ => {
            errs.push(type_mismatch(arg, "`true` or `false`", e));
            None
        }
    }
}

/// One of the bare words `options`.
pub(crate) fn choice<'o>(
    e: &Expr,
    arg: &str,
    options: &[&'o str],
    errs: &mut Vec<LowerError>,
) -> Option<&'o str> {
    let listed = code_list(options);
    match &e.kind {
        ExprKind::Ident(word) => {
            if let Some(o) = options.iter().find(|o| **o == word) {
                return Some(o);
            }
            errs.push(LowerError::UnknownValue {
                arg: arg.to_string(),
                value: word.clone(),
                span: e.span,
                options: listed,
                help: did_you_mean(word, options).map(|s| format!("did you mean `{s}`?")),
            });
            None
        }
        _ => {
            errs.push(type_mismatch(arg, &format!("one of {listed}"), e));
            None
        }
    }
}
