//! Argument binding and constant evaluation for calls in `.q` files.
//!
//! [`bind`] matches a call's positional and keyword arguments against a signature and reports
//! unknown, duplicate, misplaced and surplus arguments; the typed getters evaluate one argument
//! (constant arithmetic included) and report type and range problems. Every function records
//! its errors and returns `None` rather than stopping, so lowering can go on and report
//! everything in one run.

use super::error::LowerError;
use crate::source::Span;
use crate::syntax::ast::{Arg, BinOp, Call, Expr, ExprKind};
use crate::syntax::print::expr_to_string;

/// One parameter of a signature.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Param {
    pub name: &'static str,
    /// Whether it may be given by position (positional parameters come first).
    pub positional: bool,
}

/// `p("filters")` is positional, `k("padding")` keyword-only.
pub(crate) const fn p(name: &'static str) -> Param {
    Param {
        name,
        positional: true,
    }
}

pub(crate) const fn k(name: &'static str) -> Param {
    Param {
        name,
        positional: false,
    }
}

/// A call whose arguments were matched to a signature.
pub(crate) struct Bound<'a> {
    pub call: &'a Call,
    params: &'static [Param],
    slots: Vec<Option<&'a Arg>>,
}

/// Matches the arguments of `call` against `params`, recording every mismatch.
pub(crate) fn bind<'a>(
    call: &'a Call,
    params: &'static [Param],
    errs: &mut Vec<LowerError>,
) -> Bound<'a> {
    let callee = &call.callee.name;
    let mut slots: Vec<Option<&Arg>> = vec![None; params.len()];
    let max_positional = params.iter().take_while(|p| p.positional).count();
    let mut next_positional = 0;
    let mut first_keyword: Option<Span> = None;
    let mut surplus_reported = false;
    for arg in &call.args {
        let index = match &arg.key {
            None => {
                if let Some(kw) = first_keyword {
                    errs.push(LowerError::PositionalAfterKeyword {
                        span: arg.span,
                        keyword: kw,
                    });
                    continue;
                }
                if next_positional >= max_positional {
                    // Report the surplus once, on the first extra argument.
                    if !surplus_reported {
                        surplus_reported = true;
                        let keyword_only: Vec<&str> =
                            params.iter().skip(max_positional).map(|p| p.name).collect();
                        errs.push(LowerError::TooManyPositional {
                            callee: callee.clone(),
                            max: max_positional,
                            plural: if max_positional == 1 { "" } else { "s" },
                            span: arg.span,
                            help: Some(if keyword_only.is_empty() {
                                format!("`{callee}` takes no further arguments")
                            } else {
                                format!(
                                    "give the others by name: {}",
                                    keyword_only
                                        .iter()
                                        .map(|n| format!("`{n}: …`"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            }),
                        });
                    }
                    continue;
                }
                next_positional += 1;
                next_positional - 1
            }
            Some(key) => {
                first_keyword.get_or_insert(arg.span);
                match params.iter().position(|p| p.name == key.name) {
                    Some(i) => i,
                    None => {
                        let names: Vec<&str> = params.iter().map(|p| p.name).collect();
                        errs.push(LowerError::UnknownArgument {
                            callee: callee.clone(),
                            arg: key.name.clone(),
                            span: key.span,
                            help: Some(match did_you_mean(&key.name, &names) {
                                Some(s) => format!("did you mean `{s}`?"),
                                None if names.is_empty() => {
                                    format!("`{callee}` takes no arguments")
                                }
                                None => format!(
                                    "`{callee}` takes {}",
                                    names
                                        .iter()
                                        .map(|n| format!("`{n}`"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            }),
                        });
                        continue;
                    }
                }
            }
        };
        match slots[index] {
            Some(first) => errs.push(LowerError::DuplicateArgument {
                arg: params[index].name.to_string(),
                span: arg.span,
                first: first.span,
            }),
            None => slots[index] = Some(arg),
        }
    }
    Bound {
        call,
        params,
        slots,
    }
}

impl<'a> Bound<'a> {
    /// The argument bound to `name`, if given.
    pub fn get(&self, name: &str) -> Option<&'a Arg> {
        let i = self
            .params
            .iter()
            .position(|p| p.name == name)
            .unwrap_or_else(|| panic!("`{name}` is not a parameter of this signature"));
        self.slots[i]
    }

    /// The value of `name`, or a "missing argument" error with an example of the call.
    pub fn required(
        &self,
        name: &str,
        example: &str,
        errs: &mut Vec<LowerError>,
    ) -> Option<&'a Expr> {
        match self.get(name) {
            Some(a) => Some(&a.value),
            None => {
                errs.push(LowerError::MissingArgument {
                    callee: self.call.callee.name.clone(),
                    arg: name.to_string(),
                    span: self.call.span,
                    help: Some(format!("for example `{example}`")),
                });
                None
            }
        }
    }

    pub fn value(&self, name: &str) -> Option<&'a Expr> {
        self.get(name).map(|a| &a.value)
    }
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (levenshtein(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

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
            let (l, r) = (number(l, arg, errs), number(r, arg, errs));
            let (l, rv) = (l?, r?);
            let v = match op {
                BinOp::Add => l + rv,
                BinOp::Sub => l - rv,
                BinOp::Mul => l * rv,
                BinOp::Div => {
                    if rv == 0.0 {
                        let ExprKind::Binary(_, _, rhs) = &e.kind else {
                            unreachable!()
                        };
                        errs.push(LowerError::DivisionByZero { span: rhs.span });
                        return None;
                    }
                    l / rv
                }
            };
            if !v.is_finite() {
                errs.push(LowerError::OutOfRange {
                    arg: arg.to_string(),
                    value: expr_to_string(e),
                    requirement: "a finite number".to_string(),
                    span: e.span,
                    help: None,
                });
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
        errs.push(LowerError::OutOfRange {
            arg: arg.to_string(),
            value: expr_to_string(e),
            requirement: if max == i64::MAX {
                format!("at least {min}")
            } else {
                format!("between {min} and {max}")
            },
            span: e.span,
            help: None,
        });
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
        errs.push(LowerError::OutOfRange {
            arg: arg.to_string(),
            value: expr_to_string(e),
            requirement: requirement.to_string(),
            span: e.span,
            help: None,
        });
        return None;
    }
    Some(v)
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
    let listed = options
        .iter()
        .map(|o| format!("`{o}`"))
        .collect::<Vec<_>>()
        .join(", ");
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
            errs.push(LowerError::TypeMismatch {
                arg: arg.to_string(),
                expected: format!("one of {listed}"),
                found: shown(e),
                span: e.span,
                help: None,
            });
            None
        }
    }
}
