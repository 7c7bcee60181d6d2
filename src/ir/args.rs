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
    let mut surplus: Option<(Span, Span)> = None;
    let mut misplaced: Option<(Span, Span)> = None;
    for arg in &call.args {
        let index = match &arg.key {
            None => {
                if let Some(kw) = first_keyword {
                    // Reported once, over every misplaced argument; still bound in order so
                    // that nothing else (a "missing" argument) is reported for them.
                    match &mut misplaced {
                        Some((_, last)) => *last = arg.span,
                        None => misplaced = Some((arg.span, arg.span)),
                    }
                    let _ = kw;
                }
                if next_positional >= max_positional {
                    match &mut surplus {
                        Some((_, last)) => *last = arg.span,
                        None => surplus = Some((arg.span, arg.span)),
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
    if let (Some((first, last)), Some(keyword)) = (misplaced, first_keyword) {
        errs.push(LowerError::PositionalAfterKeyword {
            span: first.until(last),
            keyword,
        });
    }
    if let Some((first, last)) = surplus {
        let keyword_only: Vec<&str> = params.iter().skip(max_positional).map(|p| p.name).collect();
        let n = call.args.iter().filter(|a| a.key.is_none()).count() - max_positional;
        errs.push(LowerError::TooManyPositional {
            message: if max_positional == 0 {
                if params.is_empty() {
                    format!("`{callee}` takes no arguments")
                } else {
                    format!("`{callee}` takes no positional arguments")
                }
            } else {
                format!(
                    "`{callee}` takes at most {max_positional} positional argument{}",
                    if max_positional == 1 { "" } else { "s" }
                )
            },
            span: first.until(last),
            label: if n == 1 {
                "one too many".to_string()
            } else {
                format!("{n} too many")
            },
            help: Some(if keyword_only.is_empty() {
                format!("remove {}", if n == 1 { "it" } else { "them" })
            } else {
                format!(
                    "give {} by name: {}",
                    if max_positional == 0 {
                        "them"
                    } else {
                        "the others"
                    },
                    keyword_only
                        .iter()
                        .map(|n| format!("`{n}: …`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }),
        });
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

    /// Reports, in one error on the callee, every parameter of `names` that was not given.
    /// Returns whether all were given.
    pub fn check_required(
        &self,
        names: &[&str],
        example: &str,
        errs: &mut Vec<LowerError>,
    ) -> bool {
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| self.get(n).is_none())
            .collect();
        if missing.is_empty() {
            return true;
        }
        let listed: Vec<String> = missing.iter().map(|n| format!("`{n}`")).collect();
        let (what, label) = match listed.as_slice() {
            [one] => (format!("the argument {one}"), format!("{one} is missing")),
            [init @ .., last] => (
                format!("the arguments {} and {last}", init.join(", ")),
                format!("{} and {last} are missing", init.join(", ")),
            ),
            [] => unreachable!("checked non-empty"),
        };
        errs.push(LowerError::MissingArgument {
            callee: self.call.callee.name.clone(),
            what,
            span: self.call.callee.span,
            label,
            help: Some(format!("for example `{example}`")),
        });
        false
    }

    pub fn value(&self, name: &str) -> Option<&'a Expr> {
        self.get(name).map(|a| &a.value)
    }
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo: an edit
/// distance (a swap of two neighbours counts as one edit) of at most a third of the word, or
/// one being a prefix of the other (`conv` → `conv2d`, `maximum` → `max`).
pub fn did_you_mean<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(1);
    let close = candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    close.or_else(|| {
        candidates
            .iter()
            .filter(|c| {
                let (short, long) = if c.len() < word.len() {
                    (**c, word)
                } else {
                    (word, **c)
                };
                short.len() >= 3 && long.starts_with(short)
            })
            .min_by_key(|c| c.len().abs_diff(word.len()))
            .copied()
    })
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of
/// neighbours each cost one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, v) in d[0].iter_mut().enumerate() {
        *v = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
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

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("vaild", &["valid", "same"]), Some("valid"));
        assert_eq!(did_you_mean("conv", &["conv2d", "dense"]), Some("conv2d"));
        assert_eq!(
            did_you_mean("maximum", &["max", "max_per_axis"]),
            Some("max")
        );
        assert_eq!(
            did_you_mean("paddin", &["padding", "strides"]),
            Some("padding")
        );
        assert_eq!(did_you_mean("xyz", &["padding", "strides"]), None);
    }
}
