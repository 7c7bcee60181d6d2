//! Comment scanning: the language has no string literals, so every `//` and `/*` starts a
//! comment. The parser skips comments; this scan keeps them for the formatter and reports an
//! unclosed block comment where it starts (pest alone would only say that it hit the end).

use super::ast::Comment;
use super::error::SyntaxError;
use crate::source::Span;

pub(crate) fn scan(text: &str) -> Result<Vec<Comment>, SyntaxError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'/') => {
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
            }
            (b'/', b'*') => {
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
            }
            _ => i += 1,
        }
    }
    Ok(out)
}
