//! The canonical pretty-printer behind `qnnc fmt`.
//!
//! Layout: one item per paragraph, four-space indentation inside models, one statement per
//! line, `key: value` arguments separated by `, `, minimal parentheses. Comments are kept: a
//! comment on the same line as the end of a statement stays there; any other comment is
//! printed on its own lines before the next statement (or before the closing brace). Single
//! blank lines between statements are kept. `parse(format(x))` gives the same tree as
//! `parse(x)`.

use super::ast::*;
use crate::source::Span;
use std::fmt::Write;

/// Formats a parsed file. `text` is the source the tree was parsed from (for comments and
/// blank lines).
pub fn format(file: &File, text: &str) -> String {
    let mut p = Printer::new(file, text);
    p.file(file);
    p.out
}

/// Prints one expression canonically.
pub fn expr_to_string(e: &Expr) -> String {
    let mut s = String::new();
    write_expr(&mut s, e);
    s
}

/// Prints one call canonically.
pub fn call_to_string(c: &Call) -> String {
    let mut s = String::new();
    write_call(&mut s, c);
    s
}

/// Where a comment goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Place {
    /// On its own line(s) before the anchor with this start offset.
    Before(u32),
    /// At the end of the line of the anchor with this end offset.
    After(u32),
    /// After everything else.
    End,
}

struct Printer<'a> {
    text: &'a str,
    out: String,
    /// Each comment with its place, in source order.
    comments: Vec<(Place, &'a Comment)>,
}

/// The places comments can attach to: (start, end, kind) in source order.
#[derive(Clone, Copy)]
struct Anchor {
    span: Span,
    /// Comments inside this anchor's span move in front of it.
    absorbs_inner: bool,
    /// Trailing comments may sit after this anchor on its line.
    takes_trailing: bool,
}

impl<'a> Printer<'a> {
    fn new(file: &'a File, text: &'a str) -> Self {
        let mut anchors = Vec::new();
        for item in &file.items {
            match item {
                Item::Quantizer(q) => anchors.push(Anchor {
                    span: q.span,
                    absorbs_inner: true,
                    takes_trailing: true,
                }),
                Item::Model(m) => {
                    // The header `model NAME {` absorbs comments inside it and takes a trailing
                    // comment after the brace.
                    anchors.push(Anchor {
                        span: m.span.until(m.open).with_end(m.open.end),
                        absorbs_inner: true,
                        takes_trailing: true,
                    });
                    for s in &m.statements {
                        anchors.push(Anchor {
                            span: s.span,
                            absorbs_inner: true,
                            takes_trailing: true,
                        });
                    }
                    anchors.push(Anchor {
                        span: m.close,
                        absorbs_inner: false,
                        takes_trailing: true,
                    });
                }
            }
        }
        let comments = file
            .comments
            .iter()
            .map(|c| (place(text, &anchors, c), c))
            .collect();
        Printer {
            text,
            out: String::new(),
            comments,
        }
    }

    fn file(&mut self, file: &File) {
        for (i, item) in file.items.iter().enumerate() {
            if i > 0 {
                // Models stand in their own paragraph; consecutive quantizer definitions stay
                // together unless the source separated them.
                let prev = &file.items[i - 1];
                let both_quantizers =
                    matches!(prev, Item::Quantizer(_)) && matches!(item, Item::Quantizer(_));
                let first = self
                    .first_leading(item.span().start)
                    .unwrap_or(item.span().start);
                let prev_end = self
                    .last_trailing_end(prev.span())
                    .unwrap_or(prev.span().end);
                if !both_quantizers || blank_line_between(self.text, prev_end, first) {
                    self.out.push('\n');
                }
            }
            match item {
                Item::Quantizer(q) => {
                    self.leading(q.span, 0, i > 0);
                    write!(self.out, "quantizer {} = ", q.name.name).unwrap();
                    write_call(&mut self.out, &q.call);
                    self.trailing(q.span);
                    self.out.push('\n');
                }
                Item::Model(m) => self.model(m, i > 0),
            }
        }
        let end: Vec<&Comment> = self
            .comments
            .iter()
            .filter(|(p, _)| *p == Place::End)
            .map(|(_, c)| *c)
            .collect();
        for (k, c) in end.iter().enumerate() {
            let prev_end = if k == 0 {
                file.items.last().map(|i| i.span().end)
            } else {
                Some(end[k - 1].span.end)
            };
            if let Some(prev) = prev_end {
                if blank_line_between(self.text, prev, c.span.start) || k == 0 {
                    self.out.push('\n');
                }
            }
            self.out.push_str(&c.text);
            self.out.push('\n');
        }
    }

    fn model(&mut self, m: &ModelDef, not_first: bool) {
        let header_start = m.span.start;
        self.leading_at(header_start, 0, not_first);
        write!(self.out, "model {} {{", m.name.name).unwrap();
        self.trailing(m.span.until(m.open).with_end(m.open.end));
        self.out.push('\n');
        let mut prev_end: Option<u32> = None;
        for s in &m.statements {
            if let Some(prev) = prev_end {
                let first = self.first_leading(s.span.start).unwrap_or(s.span.start);
                if blank_line_between(self.text, prev, first) {
                    self.out.push('\n');
                }
            }
            self.leading(s.span, 1, false);
            self.out.push_str("    ");
            if let Some(n) = &s.name {
                write!(self.out, "{} = ", n.name).unwrap();
            }
            write_call(&mut self.out, &s.call);
            self.trailing(s.span);
            self.out.push('\n');
            prev_end = Some(self.last_trailing_end(s.span).unwrap_or(s.span.end));
        }
        if let (Some(prev), Some(first)) = (prev_end, self.first_leading(m.close.start)) {
            if blank_line_between(self.text, prev, first) {
                self.out.push('\n');
            }
        }
        self.leading(m.close, 1, false);
        self.out.push('}');
        self.trailing(m.close);
        self.out.push('\n');
    }

    fn first_leading(&self, start: u32) -> Option<u32> {
        self.comments
            .iter()
            .find(|(p, _)| *p == Place::Before(start))
            .map(|(_, c)| c.span.start)
    }

    fn last_trailing_end(&self, span: Span) -> Option<u32> {
        self.comments
            .iter()
            .rev()
            .find(|(p, _)| *p == Place::After(span.end))
            .map(|(_, c)| c.span.end)
    }

    fn leading(&mut self, span: Span, depth: usize, blank_before_first: bool) {
        self.leading_at(span.start, depth, blank_before_first)
    }

    /// Prints the comments placed before the anchor starting at `start`, keeping single blank
    /// lines between comment groups.
    fn leading_at(&mut self, start: u32, depth: usize, _blank_before_first: bool) {
        let indent = "    ".repeat(depth);
        let list: Vec<&Comment> = self
            .comments
            .iter()
            .filter(|(p, _)| *p == Place::Before(start))
            .map(|(_, c)| *c)
            .collect();
        for (k, c) in list.iter().enumerate() {
            if k > 0 && blank_line_between(self.text, list[k - 1].span.end, c.span.start) {
                self.out.push('\n');
            }
            self.out.push_str(&indent);
            self.out.push_str(&c.text);
            self.out.push('\n');
            let next = list.get(k + 1).map_or(start, |n| n.span.start);
            if k + 1 == list.len() && blank_line_between(self.text, c.span.end, next) {
                self.out.push('\n');
            }
        }
    }

    fn trailing(&mut self, span: Span) {
        let list: Vec<&Comment> = self
            .comments
            .iter()
            .filter(|(p, _)| *p == Place::After(span.end))
            .map(|(_, c)| *c)
            .collect();
        for c in list {
            self.out.push_str("  ");
            self.out.push_str(&c.text);
        }
    }
}

impl Span {
    fn with_end(self, end: u32) -> Span {
        Span {
            start: self.start,
            end,
        }
    }
}

/// Decides where a comment goes, given the anchors in source order.
fn place(text: &str, anchors: &[Anchor], c: &Comment) -> Place {
    // Inside an anchor (between the arguments of a call, say): before that anchor.
    if let Some(a) = anchors
        .iter()
        .find(|a| a.absorbs_inner && a.span.start < c.span.start && c.span.end <= a.span.end)
    {
        return Place::Before(a.span.start);
    }
    // Right after an anchor on the same line: trailing. A line comment ends its line, so only
    // comments that are the last thing on their line qualify.
    if let Some(a) = anchors
        .iter()
        .rev()
        .find(|a| a.takes_trailing && a.span.end <= c.span.start)
    {
        let between = &text[a.span.end as usize..c.span.start as usize];
        let rest_of_line = text[c.span.end as usize..].split('\n').next().unwrap_or("");
        if !between.contains('\n') && between.trim().is_empty() && rest_of_line.trim().is_empty() {
            return Place::After(a.span.end);
        }
    }
    match anchors.iter().find(|a| a.span.start >= c.span.end) {
        Some(a) => Place::Before(a.span.start),
        None => Place::End,
    }
}

fn blank_line_between(text: &str, from: u32, to: u32) -> bool {
    if from >= to {
        return false;
    }
    let between = &text[from as usize..to as usize];
    between.matches('\n').count() >= 2
        && between
            .split('\n')
            .skip(1)
            .take(between.matches('\n').count() - 1)
            .any(|l| l.trim().is_empty())
}

fn write_call(out: &mut String, c: &Call) {
    out.push_str(&c.callee.name);
    out.push('(');
    for (i, a) in c.args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if let Some(k) = &a.key {
            out.push_str(&k.name);
            out.push_str(": ");
        }
        write_expr(out, &a.value);
    }
    out.push(')');
}

fn precedence(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary(op, _, _) => op.precedence(),
        // Unary minus binds tighter than any infix operator; atoms tighter still.
        ExprKind::Neg(_) => 3,
        _ => 4,
    }
}

fn write_expr(out: &mut String, e: &Expr) {
    match &e.kind {
        ExprKind::Number { text, .. } => out.push_str(text),
        ExprKind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        ExprKind::Ident(n) => out.push_str(n),
        ExprKind::List(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(out, x);
            }
            out.push(']');
        }
        ExprKind::Call(c) => write_call(out, c),
        ExprKind::Neg(inner) => {
            out.push('-');
            write_operand(out, inner, precedence(inner) < 4);
        }
        ExprKind::Binary(op, l, r) => {
            write_operand(out, l, precedence(l) < op.precedence());
            write!(out, " {} ", op.symbol()).unwrap();
            write_operand(out, r, precedence(r) <= op.precedence());
        }
    }
}

fn write_operand(out: &mut String, e: &Expr, parens: bool) {
    if parens {
        out.push('(');
        write_expr(out, e);
        out.push(')');
    } else {
        write_expr(out, e);
    }
}
