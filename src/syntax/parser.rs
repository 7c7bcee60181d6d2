//! pest wiring: the generated parser and one small function per grammar rule that builds the
//! AST from pest's pairs.

// A syntax error is built once, when parsing stops; its size does not matter.
#![allow(clippy::result_large_err)]

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

/// Parses a whole file. Comments must already have been checked and collected (`super::scan::scan`).
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
    Ok(File {
        items,
        comments,
        len: text.trim_end().len() as u32,
    })
}

/// Parses a single call, such as a quantizer given on the command line.
pub(crate) fn parse_call_only(text: &str) -> Result<Call, SyntaxError> {
    let mut pairs = QParser::parse(Rule::call_only, text).map_err(|e| convert_error(text, e))?;
    let top = pairs
        .next()
        .expect("the `call_only` rule always yields one pair");
    let inner = top
        .into_inner()
        .find(|p| p.as_rule() == Rule::call)
        .expect("grammar: call_only holds a call");
    call(inner)
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

/// Turns pest's error into ours: the expected rules in words, what was found instead, where
/// the problem really is (the end of the previous line when a bracket was left open), and a
/// fix for the common slips.
fn convert_error(text: &str, e: pest::error::Error<Rule>) -> SyntaxError {
    let pos = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let positives: Vec<Rule> = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let cx = Context::new(text, pos, &positives);
    let expected = cx.expected_phrase();
    let (mut found, mut span) = found_token(text, pos);
    let opener = innermost_open(text, pos);
    let mut opened = None;
    let mut opened_label = String::new();
    // Inside brackets, a token on a later line means the bracket was never closed: point at
    // the end of the line where it should have been.
    let in_brackets = cx.expects(Rule::rparen) || cx.expects(Rule::rbracket);
    if let Some((prev_end, newline)) = previous_token_end(text, pos) {
        if newline && in_brackets {
            found = "end of line".to_string();
            span = Span::new(prev_end, prev_end);
        }
    }
    if let Some((open_pos, ch)) = opener {
        let unclosed = found == "end of line" || found == "end of file";
        if unclosed && (in_brackets || (ch == '{' && cx.expects(Rule::rbrace))) {
            opened = Some(Span::new(open_pos, open_pos + 1));
            opened_label = format!("this `{ch}` is never closed");
        }
    }
    if found == "end of file" {
        let end = text.trim_end().len();
        span = Span::new(end, end);
    }
    let help = cx.hint(&found, opener);
    let label = if expected.chars().count() <= 40 {
        format!("expected {expected}")
    } else {
        format!("unexpected {found}")
    };
    SyntaxError::Expected {
        expected,
        found,
        span,
        label,
        opened,
        opened_label,
        help,
    }
}

/// What pest expected, with helpers to phrase it.
struct Context<'a> {
    text: &'a str,
    pos: usize,
    positives: &'a [Rule],
}

/// Rules that can start a value: when any is expected, they read as one phrase, "a value".
const VALUE_STARTS: &[Rule] = &[
    Rule::expr,
    Rule::arg,
    Rule::number,
    Rule::boolean,
    Rule::list,
    Rule::paren,
    Rule::neg,
    Rule::ident,
];

impl<'a> Context<'a> {
    fn new(text: &'a str, pos: usize, positives: &'a [Rule]) -> Self {
        Context {
            text,
            pos,
            positives,
        }
    }

    fn expects(&self, r: Rule) -> bool {
        self.positives.contains(&r)
    }

    /// Whether the error sits in a `quantizer NAME = …` definition.
    fn in_quantizer_def(&self) -> bool {
        let line_start = self.text[..self.pos]
            .rfind(['\n', '}'])
            .map_or(0, |i| i + 1);
        self.text[line_start..self.pos]
            .trim_start()
            .starts_with("quantizer")
    }

    fn expected_phrase(&self) -> String {
        let value_context = self.positives.iter().any(|r| VALUE_STARTS.contains(r));
        let mut phrases: Vec<&str> = Vec::new();
        for r in self.positives {
            let value_token = matches!(r, Rule::callee | Rule::lparen | Rule::lbracket);
            let phrase = if value_context && (VALUE_STARTS.contains(r) || value_token) {
                Some("a value")
            } else if *r == Rule::callee && self.in_quantizer_def() {
                Some("a quantizer call like `max(bits: 8)`")
            } else {
                describe(*r)
            };
            if let Some(p) = phrase {
                phrases.push(p);
            }
        }
        if phrases.len() > 1 {
            phrases.retain(|p| *p != "end of file");
        }
        join_alternatives(&phrases)
    }

    fn hint(&self, found: &str, opener: Option<(usize, char)>) -> Option<String> {
        let rest = &self.text[self.pos..];
        if found == "`;`" {
            return Some("statements are separated by line breaks, not `;`".to_string());
        }
        if found.starts_with("`\"") || found.starts_with("`'") {
            return Some(
                "`.q` has no strings: write enumeration values as bare words, e.g. `padding: same`"
                    .to_string(),
            );
        }
        if rest.starts_with("*/") {
            return Some("block comments do not nest: this `*/` closes nothing".to_string());
        }
        if found == "end of file" && self.expects(Rule::rbrace) {
            return Some("close the model with `}`".to_string());
        }
        if found == "end of line" || found == "end of file" {
            match opener {
                Some((_, '(')) => return Some("close the call with `)`".to_string()),
                Some((_, '[')) => return Some("close the list with `]`".to_string()),
                _ => {}
            }
        }
        if found == "`,`" && self.expects(Rule::rparen) {
            if let Some((open, '(')) = opener {
                let before = self.text[..open].trim_end();
                let is_call = before
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                if !is_call {
                    return Some("pairs are written as lists: `[3, 3]`".to_string());
                }
            }
        }
        if self.expects(Rule::statement) {
            return Some(
                "a model holds statements like `name = layer(ARGS)` or `layer(ARGS)`".to_string(),
            );
        }
        let top_level = self.expects(Rule::kw_quantizer) || self.expects(Rule::kw_model);
        if top_level {
            let word = found.trim_matches('`');
            if let Some(s) = crate::ir::did_you_mean(word, &["quantizer", "model"]) {
                return Some(format!("did you mean `{s}`?"));
            }
            return Some(
                "a file holds `quantizer NAME = CALL` and `model NAME { … }` definitions"
                    .to_string(),
            );
        }
        if found == "`=`" && self.expects(Rule::colon) {
            return Some("keyword arguments use `:`, as in `padding: same`".to_string());
        }
        let starts_value = found
            .strip_prefix('`')
            .and_then(|f| f.chars().next())
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '[' || c == '.');
        if self.expects(Rule::comma) && starts_value {
            return Some("separate arguments and list items with `,`".to_string());
        }
        None
    }
}

/// The token at `pos`, in backticks, and its span (a word, a number, a quoted string or one
/// character).
fn found_token(text: &str, pos: usize) -> (String, Span) {
    let rest = &text[pos..];
    let Some(first) = rest.chars().next() else {
        return ("end of file".to_string(), Span::new(pos, pos));
    };
    let len = if first.is_ascii_alphanumeric() || first == '_' || first == '.' {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len())
    } else if first == '"' || first == '\'' {
        rest[1..].find([first, '\n']).map_or(rest.len(), |n| {
            1 + n + usize::from(rest[1 + n..].starts_with(first))
        })
    } else {
        first.len_utf8()
    };
    let tok = &rest[..len];
    let shown = match first {
        '\n' | '\r' => "end of line".to_string(),
        '\u{feff}' => "a byte order mark (U+FEFF)".to_string(),
        c if c.is_whitespace() || c.is_control() => format!("U+{:04X}", c as u32),
        _ => format!("`{tok}`"),
    };
    (shown, Span::new(pos, pos + len))
}

/// The end of the last token before `pos` (skipping whitespace and comments), and whether a
/// line break lies between it and `pos`.
fn previous_token_end(text: &str, pos: usize) -> Option<(usize, bool)> {
    let mut end = pos;
    loop {
        let before = &text[..end];
        let trimmed = before.trim_end();
        if trimmed.is_empty() {
            return None;
        }
        // A line comment ending right here: skip it.
        let line_start = trimmed.rfind('\n').map_or(0, |i| i + 1);
        if let Some(c) = trimmed[line_start..].find("//") {
            end = line_start + c;
            continue;
        }
        if trimmed.ends_with("*/") {
            if let Some(open) = trimmed.rfind("/*") {
                end = open;
                continue;
            }
        }
        let tok_end = trimmed.len();
        return Some((tok_end, text[tok_end..pos].contains('\n')));
    }
}

/// The innermost `(`, `[` or `{` still open at `pos` (comments skipped).
fn innermost_open(text: &str, pos: usize) -> Option<(usize, char)> {
    let mut stack: Vec<(usize, char)> = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < pos.min(b.len()) {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = text[i..].find('\n').map_or(text.len(), |n| i + n);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..]
                    .find("*/")
                    .map_or(text.len(), |n| i + 2 + n + 2);
                continue;
            }
            b'(' | b'[' | b'{' => stack.push((i, b[i] as char)),
            b')' | b']' | b'}' => {
                stack.pop();
            }
            _ => {}
        }
        i += 1;
    }
    stack.pop()
}
