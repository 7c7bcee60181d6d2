//! Syntax errors: what the text should have held at the first place it went wrong.
//!
//! pest reports the grammar rules it tried; [`describe`] turns each into words so that a message
//! reads `expected a layer call like `conv2d(8, 3)`, found `)`` rather than naming rules.

use super::parser::Rule;
use crate::source::Span;
use miette::Diagnostic;
use thiserror::Error;

/// The first syntax error of a file (pest stops there).
#[derive(Clone, Debug, Error, Diagnostic, PartialEq)]
pub enum SyntaxError {
    #[error("expected {expected}, found {found}")]
    #[diagnostic(code(syntax::expected))]
    Expected {
        expected: String,
        found: String,
        #[label("{label}")]
        span: Span,
        label: String,
        /// The bracket or brace left open, when the error is that it was not closed.
        #[label("{opened_label}")]
        opened: Option<Span>,
        opened_label: String,
        #[help]
        help: Option<String>,
    },

    #[error("the expression nests too deeply: {what}")]
    #[diagnostic(
        code(syntax::too_deep),
        help("simplify the expression; `.q` values are short formulas")
    )]
    TooDeep {
        what: String,
        #[label("limit reached here")]
        span: Span,
    },

    #[error("unclosed block comment")]
    #[diagnostic(
        code(syntax::unclosed_comment),
        help("close the comment with `*/`; block comments do not nest")
    )]
    UnclosedComment {
        #[label("this comment is never closed")]
        span: Span,
    },

    #[error("number `{text}` is too large")]
    #[diagnostic(
        code(syntax::number_too_large),
        help("numbers must fit a 64-bit float (about 1.8e308)")
    )]
    NumberTooLarge {
        text: String,
        #[label("does not fit a 64-bit float")]
        span: Span,
    },
}

impl SyntaxError {
    pub fn span(&self) -> Span {
        match self {
            SyntaxError::Expected { span, .. }
            | SyntaxError::TooDeep { span, .. }
            | SyntaxError::UnclosedComment { span }
            | SyntaxError::NumberTooLarge { span, .. } => *span,
        }
    }
}

/// What a grammar rule stands for, in words. `None` for rules never reported on their own.
pub(crate) fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::file => "a `quantizer` or `model` definition",
        Rule::call_only => "a call like `max(bits: 4)`",
        Rule::quantizer_def | Rule::kw_quantizer | Rule::model_def | Rule::kw_model => {
            "a `quantizer` or `model` definition"
        }
        Rule::EOI => "end of file",
        Rule::statement => "a layer call like `conv2d(8, 3)`",
        Rule::call => "a call like `max(bits: 4)`",
        Rule::arg | Rule::expr => "a value",
        Rule::ident => "a name",
        Rule::quantizer_name => "a quantizer name",
        Rule::model_name => "a model name",
        Rule::layer_name => "a layer name",
        Rule::callee => "a call like `conv2d(8, 3)`",
        Rule::key => "an argument name",
        Rule::number => "a number",
        Rule::boolean => "`true` or `false`",
        Rule::list => "a list like `[3, 3]`",
        Rule::paren => "`(`",
        Rule::add | Rule::sub | Rule::mul | Rule::div => "an operator",
        Rule::neg => "`-`",
        Rule::assign => "`=`",
        Rule::colon => "`:`",
        Rule::comma => "`,`",
        Rule::lparen => "`(`",
        Rule::rparen => "`)`",
        Rule::lbrace => "`{`",
        Rule::rbrace => "`}`",
        Rule::lbracket => "`[`",
        Rule::rbracket => "`]`",
        Rule::WHITESPACE | Rule::COMMENT => return None,
        // Silent helper rules and `infix`/`primary`/`keyword`/`ident_char` never appear in errors
        // (they are `_{ }` rules), but the match must stay exhaustive.
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// Joins phrases as `a, b or c`, without repeats, keeping first-seen order.
pub(crate) fn join_alternatives(phrases: &[&str]) -> String {
    let mut uniq: Vec<&str> = Vec::new();
    for p in phrases {
        if !uniq.contains(p) {
            uniq.push(p);
        }
    }
    match uniq.len() {
        0 => "something else".to_string(),
        1 => uniq[0].to_string(),
        n => format!("{} or {}", uniq[..n - 1].join(", "), uniq[n - 1]),
    }
}
