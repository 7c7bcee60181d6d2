//! Signatures and argument binding for calls in `.q` files.
//!
//! A signature is a list of [`Param`]s: positional ones first, each with its [`ParamDefault`]. [`bind`]
//! matches a call's positional and keyword arguments against it and reports unknown, duplicate,
//! misplaced and surplus arguments; [`Bound::check_required`] reports the required ones that
//! are missing. Reading the values is [`super::values`]' job. Every function records its errors
//! and goes on, so lowering can report everything in one run.

use super::error::LowerError;
use super::suggest::{code_list, code_list_and, did_you_mean};
use crate::source::Span;
use crate::syntax::ast::{Arg, Call, Expr};

/// One parameter of a signature.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    /// Whether it may be given by position (positional parameters come first).
    pub positional: bool,
    pub default: ParamDefault,
}

/// What a parameter is when a call leaves it out, as the language reference writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamDefault {
    /// It must be given; the text is the reference's placeholder for a keyword parameter
    /// (`EXPR`), empty for a positional one.
    Required(&'static str),
    /// This value, as `.q` text (`1`, `valid`), or the name of the parameter whose value it
    /// takes (`pool_size`).
    Value(&'static str),
    /// No value (a layer without a quantizer); the text is the reference's placeholder (`Q`).
    Unset(&'static str),
}

/// `p("filters")`: a required positional parameter (`.or("2")` gives it a default).
pub(crate) const fn p(name: &'static str) -> Param {
    Param {
        name,
        positional: true,
        default: ParamDefault::Required(""),
    }
}

/// `k("padding", "valid")`: a keyword-only parameter with that default value.
pub(crate) const fn k(name: &'static str, default: &'static str) -> Param {
    Param {
        name,
        positional: false,
        default: ParamDefault::Value(default),
    }
}

/// `unset("quantizer", "Q")`: a keyword-only parameter that has no value when left out.
pub(crate) const fn unset(name: &'static str, placeholder: &'static str) -> Param {
    Param {
        name,
        positional: false,
        default: ParamDefault::Unset(placeholder),
    }
}

/// `required("scale", "EXPR")`: a keyword-only parameter that must be given.
pub(crate) const fn required(name: &'static str, placeholder: &'static str) -> Param {
    Param {
        name,
        positional: false,
        default: ParamDefault::Required(placeholder),
    }
}

impl Param {
    /// This positional parameter, with a default.
    pub(crate) const fn or(self, default: &'static str) -> Param {
        Param {
            default: ParamDefault::Value(default),
            ..self
        }
    }

    pub fn is_required(&self) -> bool {
        matches!(self.default, ParamDefault::Required(_))
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
                if first_keyword.is_some() {
                    // Reported once, over every misplaced argument; still bound in order so
                    // that nothing else (a "missing" argument) is reported for them.
                    extend(&mut misplaced, arg.span);
                }
                if next_positional >= max_positional {
                    extend(&mut surplus, arg.span);
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
                                None => format!("`{callee}` takes {}", code_list(&names)),
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

/// Grows the run of arguments `run` (first and last span) by `span`.
fn extend(run: &mut Option<(Span, Span)>, span: Span) {
    match run {
        Some((_, last)) => *last = span,
        None => *run = Some((span, span)),
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

    pub fn value(&self, name: &str) -> Option<&'a Expr> {
        self.get(name).map(|a| &a.value)
    }

    /// The value of `name` as `read` finds it, or `default` when the call leaves it out.
    pub fn value_or<T>(
        &self,
        name: &str,
        default: T,
        read: impl FnOnce(&'a Expr) -> Option<T>,
    ) -> Option<T> {
        match self.value(name) {
            None => Some(default),
            Some(e) => read(e),
        }
    }

    /// Reports, in one error on the callee, every required parameter that was not given,
    /// with `example` as the help. Returns whether all were given.
    pub fn check_required(&self, example: &str, errs: &mut Vec<LowerError>) -> bool {
        let missing: Vec<&str> = self
            .params
            .iter()
            .zip(&self.slots)
            .filter(|(p, slot)| p.is_required() && slot.is_none())
            .map(|(p, _)| p.name)
            .collect();
        if missing.is_empty() {
            return true;
        }
        let listed = code_list_and(&missing);
        let (what, label) = if missing.len() == 1 {
            (
                format!("the argument {listed}"),
                format!("{listed} is missing"),
            )
        } else {
            (
                format!("the arguments {listed}"),
                format!("{listed} are missing"),
            )
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
}
