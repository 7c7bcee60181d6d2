//! pest wiring: the generated parser and one small function per grammar rule that builds the
//! AST from pest's pairs.

use super::ast::*;
use super::error::{describe, join_alternatives, SyntaxError};
use crate::source::Span;
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser as _;
use std::sync::OnceLock;

#[derive(pest_derive::Parser)]
#[grammar = "grammar/q.pest"]
pub(crate) struct QParser;

/// Parses a whole file. Comments must already have been checked (see `super::comments`).
pub(crate) fn parse_file(text: &str, comments: Vec<Comment>) -> Result<File, SyntaxError> {
    let mut pairs = QParser::parse(Rule::file, text).map_err(|e| convert_error(text, e))?;
    let file = pairs
        .next()
        .expect("the `file` rule always yields one pair");
    let mut items = Vec::new();
    for pair in file.into_inner() {
        match pair.as_rule() {
            Rule::quantizer_def => items.push(Item::Quantizer(quantizer_def(pair)?)),
            Rule::model_def => items.push(Item::Model(model_def(pair)?)),
            Rule::EOI => {}
            rule => unexpected(rule),
        }
    }
    Ok(File { items, comments })
}

fn unexpected(rule: Rule) -> ! {
    unreachable!("the grammar produced rule {rule:?} where the AST builder does not expect it")
}

fn span_of(pair: &Pair<Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

fn ident(pair: Pair<Rule>) -> Ident {
    Ident {
        name: pair.as_str().to_string(),
        span: span_of(&pair),
    }
}

fn quantizer_def(pair: Pair<Rule>) -> Result<QuantizerDef, SyntaxError> {
    let span = span_of(&pair);
    let mut name = None;
    let mut call_ = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::quantizer_name => name = Some(ident(p)),
            Rule::call => call_ = Some(call(p)?),
            Rule::kw_quantizer | Rule::assign => {}
            rule => unexpected(rule),
        }
    }
    Ok(QuantizerDef {
        name: name.expect("grammar: quantizer_def has a name"),
        call: call_.expect("grammar: quantizer_def has a call"),
        span,
    })
}

fn model_def(pair: Pair<Rule>) -> Result<ModelDef, SyntaxError> {
    let span = span_of(&pair);
    let mut name = None;
    let mut statements = Vec::new();
    let mut open = span;
    let mut close = span;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::model_name => name = Some(ident(p)),
            Rule::statement => statements.push(statement(p)?),
            Rule::rbrace => close = span_of(&p),
            Rule::lbrace => open = span_of(&p),
            Rule::kw_model => {}
            rule => unexpected(rule),
        }
    }
    Ok(ModelDef {
        name: name.expect("grammar: model_def has a name"),
        statements,
        span,
        open,
        close,
    })
}

fn statement(pair: Pair<Rule>) -> Result<Statement, SyntaxError> {
    let span = span_of(&pair);
    let mut name = None;
    let mut call_ = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::layer_name => name = Some(ident(p)),
            Rule::call => call_ = Some(call(p)?),
            Rule::assign => {}
            rule => unexpected(rule),
        }
    }
    Ok(Statement {
        name,
        call: call_.expect("grammar: statement has a call"),
        span,
    })
}

fn call(pair: Pair<Rule>) -> Result<Call, SyntaxError> {
    let span = span_of(&pair);
    let mut callee = None;
    let mut args = Vec::new();
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::callee => callee = Some(ident(p)),
            Rule::arg => args.push(arg(p)?),
            Rule::lparen | Rule::rparen | Rule::comma => {}
            rule => unexpected(rule),
        }
    }
    Ok(Call {
        callee: callee.expect("grammar: call has a callee"),
        args,
        span,
    })
}

fn arg(pair: Pair<Rule>) -> Result<Arg, SyntaxError> {
    let span = span_of(&pair);
    let mut key = None;
    let mut value = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::key => key = Some(ident(p)),
            Rule::expr => value = Some(expr(p)?),
            Rule::colon => {}
            rule => unexpected(rule),
        }
    }
    Ok(Arg {
        key,
        value: value.expect("grammar: arg has a value"),
        span,
    })
}

fn pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    PRATT.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left))
            .op(Op::prefix(Rule::neg))
    })
}

fn expr(pair: Pair<Rule>) -> Result<Expr, SyntaxError> {
    debug_assert_eq!(pair.as_rule(), Rule::expr);
    pratt()
        .map_primary(primary)
        .map_prefix(|op, rhs| {
            let rhs = rhs?;
            let span = span_of(&op).until(rhs.span);
            Ok(Expr {
                kind: ExprKind::Neg(Box::new(rhs)),
                span,
            })
        })
        .map_infix(|lhs, op, rhs| {
            let (lhs, rhs) = (lhs?, rhs?);
            let bin = match op.as_rule() {
                Rule::add => BinOp::Add,
                Rule::sub => BinOp::Sub,
                Rule::mul => BinOp::Mul,
                Rule::div => BinOp::Div,
                rule => unexpected(rule),
            };
            let span = lhs.span.until(rhs.span);
            Ok(Expr {
                kind: ExprKind::Binary(bin, Box::new(lhs), Box::new(rhs)),
                span,
            })
        })
        .parse(pair.into_inner())
}

fn primary(pair: Pair<Rule>) -> Result<Expr, SyntaxError> {
    let span = span_of(&pair);
    let kind = match pair.as_rule() {
        Rule::number => {
            let text = pair.as_str();
            let value: f64 = text
                .parse()
                .expect("grammar: a number literal is valid Rust float syntax");
            if !value.is_finite() {
                return Err(SyntaxError::NumberTooLarge {
                    text: text.to_string(),
                    span,
                });
            }
            ExprKind::Number {
                value,
                text: text.to_string(),
            }
        }
        Rule::boolean => ExprKind::Bool(pair.as_str() == "true"),
        Rule::ident => ExprKind::Ident(pair.as_str().to_string()),
        Rule::call => ExprKind::Call(call(pair)?),
        Rule::list => {
            let mut items = Vec::new();
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::expr => items.push(expr(p)?),
                    Rule::lbracket | Rule::rbracket | Rule::comma => {}
                    rule => unexpected(rule),
                }
            }
            ExprKind::List(items)
        }
        Rule::paren => {
            let inner = pair
                .into_inner()
                .find(|p| p.as_rule() == Rule::expr)
                .expect("grammar: a parenthesised expression holds an expr");
            // Parentheses are not part of the tree; the span covers them though.
            let mut e = expr(inner)?;
            e.span = span;
            return Ok(e);
        }
        rule => unexpected(rule),
    };
    Ok(Expr { kind, span })
}

/// Turns pest's error into ours: the expected rules in words, and what was found instead.
fn convert_error(text: &str, e: pest::error::Error<Rule>) -> SyntaxError {
    let pos = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let positives: Vec<Rule> = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let mut phrases: Vec<&str> = positives.iter().filter_map(|r| describe(*r)).collect();
    if phrases.len() > 1 {
        phrases.retain(|p| *p != "end of file");
    }
    let expected = join_alternatives(&phrases);
    let (found, span) = found_token(text, pos);
    let help = hint(&positives, &found);
    SyntaxError::Expected {
        expected,
        found,
        span,
        help,
    }
}

/// The token at `pos`, in backticks, and its span (a word, a number or one character).
fn found_token(text: &str, pos: usize) -> (String, Span) {
    let rest = &text[pos..];
    let Some(first) = rest.chars().next() else {
        return ("end of file".to_string(), Span::new(pos, pos));
    };
    let len = if first.is_ascii_alphanumeric() || first == '_' || first == '.' {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len())
    } else {
        first.len_utf8()
    };
    let tok = &rest[..len];
    let shown = if first == '\n' || first == '\r' {
        "end of line".to_string()
    } else {
        format!("`{tok}`")
    };
    (shown, Span::new(pos, pos + len))
}

/// A fix for the common slips, when one is recognisable.
fn hint(positives: &[Rule], found: &str) -> Option<String> {
    let expects = |r: Rule| positives.contains(&r);
    if found == "`;`" {
        return Some("statements are separated by line breaks, not `;`".to_string());
    }
    if expects(Rule::statement) {
        return Some(
            "a model holds statements like `name = layer(ARGS)` or `layer(ARGS)`".to_string(),
        );
    }
    if found == "end of file" && expects(Rule::rbrace) {
        return Some("close the model with `}`".to_string());
    }
    if expects(Rule::file)
        || expects(Rule::quantizer_def)
        || expects(Rule::model_def)
        || expects(Rule::kw_quantizer)
        || expects(Rule::kw_model)
    {
        return Some(
            "a file holds `quantizer NAME = CALL` and `model NAME { … }` definitions".to_string(),
        );
    }
    if found == "`=`" && expects(Rule::colon) {
        return Some("keyword arguments use `:`, as in `padding: same`".to_string());
    }
    let starts_value = found
        .strip_prefix('`')
        .and_then(|f| f.chars().next())
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '[' || c == '.');
    if expects(Rule::comma) && starts_value {
        return Some("separate arguments and list items with `,`".to_string());
    }
    None
}
