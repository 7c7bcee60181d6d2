//! A lexical pre-pass over the text, before pest sees it.
//!
//! The language has no string literals, so every `//` and `/*` starts a comment. This scan
//! keeps the comments (the formatter needs them), reports an unclosed block comment where it
//! starts, and bounds how deeply an expression may nest: parentheses and brackets, runs of
//! unary minus, and chains of operators. Without those bounds a machine-generated file could
//! exhaust the stack of the recursive parser and of every pass over the tree.

use super::ast::Comment;
use super::error::SyntaxError;
use crate::source::Span;

/// Deepest nesting of `(` and `[`.
pub(crate) const MAX_DEPTH: usize = 64;
/// Longest run of unary minus signs.
pub(crate) const MAX_NEGATIONS: usize = 16;
/// Most operators in one expression between two brackets or commas.
pub(crate) const MAX_OPERATORS: usize = 256;

#[allow(clippy::result_large_err)] // built once, when scanning stops
pub(crate) fn scan(text: &str) -> Result<Vec<Comment>, SyntaxError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut depth = 0usize;
    let mut negations = 0usize;
    let mut operators = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        match (b, next) {
            (b'/', Some(b'/')) => {
                let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                let end = if end > i && bytes[end - 1] == b'\r' {
                    end - 1
                } else {
                    end
                };
                out.push(Comment {
                    text: text[i..end].to_string(),
                    span: Span::new(i, end),
                });
                i = end;
                continue;
            }
            (b'/', Some(b'*')) => {
                let Some(n) = text[i + 2..].find("*/") else {
                    return Err(SyntaxError::UnclosedComment {
                        span: Span::new(i, i + 2),
                    });
                };
                let end = i + 2 + n + 2;
                out.push(Comment {
                    text: text[i..end].to_string(),
                    span: Span::new(i, end),
                });
                i = end;
                continue;
            }
            (b'(' | b'[', _) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(too_deep(
                        i,
                        format!("more than {MAX_DEPTH} levels of brackets"),
                    ));
                }
                operators = 0;
                negations = 0;
            }
            (b')' | b']', _) => {
                depth = depth.saturating_sub(1);
                operators = 0;
                negations = 0;
            }
            (b',' | b'{' | b'}' | b':' | b'=', _) => {
                operators = 0;
                negations = 0;
            }
            (b'-', _) => {
                negations += 1;
                operators += 1;
                if negations > MAX_NEGATIONS {
                    return Err(too_deep(
                        i,
                        format!("more than {MAX_NEGATIONS} minus signs in a row"),
                    ));
                }
            }
            (b'+' | b'*' | b'/', _) => {
                operators += 1;
                negations = 0;
            }
            (b' ' | b'\t' | b'\r' | b'\n', _) => {}
            _ => negations = 0,
        }
        if operators > MAX_OPERATORS {
            return Err(too_deep(
                i,
                format!("more than {MAX_OPERATORS} operators in one expression"),
            ));
        }
        i += 1;
    }
    Ok(out)
}

fn too_deep(at: usize, what: String) -> SyntaxError {
    SyntaxError::TooDeep {
        what,
        span: Span::new(at, at + 1),
    }
}
