//! `lower`: AST → IR, the entry points and the lowering context.
//!
//! [`lower`] lowers a whole file: the quantizer definitions first ([`super::quantizer`]), then
//! each model ([`super::model`]), then the file-wide checks (duplicate models, no model, unused
//! quantizers). [`Cx`] is what every part of lowering shares: the diagnostics so far, the
//! file's quantizers and the size limits. All problems of a file are collected; the module is
//! returned only when there is no error (warnings alone do not stop it).

use super::error::LowerError;
use super::quantizer::QuantizerEntry;
use super::shape::Limits;
use super::{Model, Module};
use crate::quant::QuantizerSpec;
use crate::source::Span;
use crate::syntax::ast;
use miette::{Diagnostic, Severity};
use std::collections::BTreeMap;

/// The result of lowering: the module when there was no error, and every diagnostic.
#[derive(Debug)]
pub struct Lowering {
    pub module: Option<Module>,
    pub diagnostics: Vec<LowerError>,
}

/// What lowering shares: every diagnostic so far, the file's quantizers, the size limits.
pub(super) struct Cx {
    pub errs: Vec<LowerError>,
    pub quantizers: BTreeMap<String, QuantizerEntry>,
    pub limits: Limits,
}

impl Cx {
    fn new(quantizers: BTreeMap<String, QuantizerEntry>) -> Cx {
        Cx {
            errs: Vec::new(),
            quantizers,
            limits: Limits::DEFAULT,
        }
    }

    /// How many of the diagnostics so far are errors (not warnings).
    pub fn error_count(&self) -> usize {
        self.errs.iter().filter(|e| is_error(e)).count()
    }
}

fn is_error(e: &LowerError) -> bool {
    e.severity().unwrap_or(Severity::Error) == Severity::Error
}

/// Lowers a parsed file to IR.
pub fn lower(file: &ast::File) -> Lowering {
    let mut cx = Cx::new(BTreeMap::new());
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
    cx.unused_quantizers();
    let has_error = cx.error_count() > 0;
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
    let mut cx = Cx::new(
        named
            .iter()
            .map(|(n, q)| (n.clone(), QuantizerEntry::given(q.clone())))
            .collect(),
    );
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
