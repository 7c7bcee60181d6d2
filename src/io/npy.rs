//! NumPy `.npy` files: a validating reader and a deterministic writer.
//!
//! The reader checks the magic, the version (1.0, 2.0, 3.0), the header length (at most
//! [`MAX_HEADER_LEN`]), the header dictionary (a small Python-literal parser with a nesting
//! limit), the dtype, the layout and the shape, then compares the payload length the shape
//! needs with what the file holds and with the memory budget, all before allocating the
//! array. Fortran-order arrays (with more than one non-trivial axis), object arrays, structured
//! and complex dtypes are refused with a message saying how to re-save the data.
//!
//! The writer produces exactly the bytes `np.save` writes (version 1.0, the same header text
//! and padding to 64 bytes, little-endian C-order payload), so the same array always gives the
//! same file.
//!
//! `ndarray-npy` is not used: its reader allocates a header buffer of whatever size the header
//! length field says (up to 4 GiB) and offers no hook to check the payload size against a
//! budget before allocating the array.

use super::array::{Array, DType};
use super::atomic::write_atomic;
use super::error::{fmt_shape, ErrorKind, IoError};
use super::read::{hex_prefix, open_input, read_full, read_payload, Layout, Source};
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

/// The six magic bytes every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The longest header accepted (NumPy itself refuses headers over 10 000 bytes by default).
pub const MAX_HEADER_LEN: usize = 100_000;

/// The most axes accepted (NumPy's own limit).
pub const MAX_DIMS: usize = 64;

/// Deepest nesting of brackets accepted in a header dictionary.
const MAX_NESTING: usize = 16;

/// What a `.npy` header describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NpyHeader {
    /// Type, shape and size of the payload.
    pub layout: Layout,
    /// Bytes before the payload: magic, version, length field and header text.
    pub header_len: u64,
}

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<Array, IoError> {
    let (file, len) = open_input(path)?;
    let mut reader = BufReader::new(file);
    decode(&mut reader, Some(len), Source::File, 0).map_err(|e| e.at(path))
}

/// Reads a `.npy` stream whose length is not known in advance (errors carry no path).
pub fn read_npy_from(mut reader: impl Read) -> Result<Array, IoError> {
    decode(&mut reader, None, Source::File, 0)
}

/// Decodes one `.npy` stream. `known_len` is the total length when the file system knows it;
/// `budget_base` is memory already committed by the caller (earlier members of an archive)
/// that counts towards the budget together with this array.
pub(crate) fn decode(
    reader: &mut dyn Read,
    known_len: Option<u64>,
    source: Source,
    budget_base: u64,
) -> Result<Array, IoError> {
    let header = read_header(reader, known_len, source)?;
    // read_header has checked that a known length covers the header.
    let known_payload = known_len.map(|len| len - header.header_len);
    read_payload(reader, &header.layout, known_payload, source, budget_base)
}

/// Reads and validates the magic, version, length field and header dictionary.
pub(crate) fn read_header(
    reader: &mut dyn Read,
    known_len: Option<u64>,
    source: Source,
) -> Result<NpyHeader, IoError> {
    let mut prefix = [0u8; 8];
    let got = read_full(reader, &mut prefix).map_err(|e| source.error(&e))?;
    check_magic(&prefix[..got])?;
    if got < prefix.len() {
        return Err(truncated_header(got as u64));
    }
    let length_bytes = match (prefix[6], prefix[7]) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        (major, minor) => {
            return Err(IoError::new(
                ErrorKind::BadVersion,
                format!("unsupported `.npy` format version {major}.{minor}"),
            )
            .with_help("NumPy writes versions 1.0, 2.0 and 3.0; re-save the array with `np.save`"))
        }
    };
    let mut raw_len = [0u8; 4];
    let got = read_full(reader, &mut raw_len[..length_bytes]).map_err(|e| source.error(&e))?;
    if got < length_bytes {
        return Err(truncated_header(8 + got as u64));
    }
    let text_len = u32::from_le_bytes(raw_len) as usize;
    if text_len > MAX_HEADER_LEN {
        return Err(IoError::new(
            ErrorKind::BadHeader,
            format!("header length {text_len} exceeds the {MAX_HEADER_LEN}-byte limit"),
        ));
    }
    let header_len = 8 + length_bytes as u64 + text_len as u64;
    if let Some(len) = known_len {
        if len < header_len {
            return Err(truncated_header(len));
        }
    }
    let mut text = vec![0u8; text_len];
    let got = read_full(reader, &mut text).map_err(|e| source.error(&e))?;
    if got < text_len {
        return Err(truncated_header(8 + length_bytes as u64 + got as u64));
    }
    let text = decode_header_text(&text, prefix[6] == 3)?;
    let dict = HeaderParser::new(&text).parse_all()?;
    interpret(dict, header_len)
}

fn check_magic(start: &[u8]) -> Result<(), IoError> {
    if start.is_empty() {
        return Err(IoError::new(ErrorKind::Empty, "the file is empty"));
    }
    let n = start.len().min(MAGIC.len());
    if start[..n] == MAGIC[..n] {
        return Ok(());
    }
    let mut e = IoError::new(
        ErrorKind::BadMagic,
        format!(
            "not a `.npy` file: it starts with bytes {} instead of the magic `\\x93NUMPY`",
            hex_prefix(start)
        ),
    );
    if start.starts_with(b"PK") {
        e = e.with_help("this looks like a zip archive; a `.npz` file is read with its own reader");
    } else if start.starts_with(&[0x1f, 0x8b]) {
        e = e.with_help("this looks like gzip data; decompress it first");
    }
    Err(e)
}

fn truncated_header(got: u64) -> IoError {
    IoError::new(
        ErrorKind::Truncated,
        format!("the data ends inside the `.npy` header, after {got} bytes"),
    )
}

/// Version 1.0 and 2.0 headers are Latin-1, version 3.0 headers UTF-8.
fn decode_header_text(bytes: &[u8], utf8: bool) -> Result<String, IoError> {
    if utf8 {
        String::from_utf8(bytes.to_vec()).map_err(|_| {
            IoError::new(
                ErrorKind::BadHeader,
                "the version 3.0 header is not valid UTF-8",
            )
        })
    } else {
        Ok(bytes.iter().map(|&b| char::from(b)).collect())
    }
}

/// Turns the parsed dictionary into a header, checking keys, dtype, layout and shape.
fn interpret(dict: Py, header_len: u64) -> Result<NpyHeader, IoError> {
    let Py::Dict(entries) = dict else {
        return Err(bad_header("the header is not a dictionary"));
    };
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (key, value) in entries {
        match key {
            Py::Str(k) if k == "descr" => descr = Some(value),
            Py::Str(k) if k == "fortran_order" => fortran = Some(value),
            Py::Str(k) if k == "shape" => shape = Some(value),
            Py::Str(k) => {
                return Err(bad_header(&format!(
                    "the header has an unexpected key `{k}`"
                )))
            }
            _ => return Err(bad_header("the header has a key that is not a string")),
        }
    }
    let missing = |name: &str| bad_header(&format!("the header has no `{name}` key"));
    let (dtype, big_endian) = parse_descr(descr.ok_or_else(|| missing("descr"))?)?;
    let fortran = match fortran.ok_or_else(|| missing("fortran_order"))? {
        Py::Bool(b) => b,
        _ => return Err(bad_header("`fortran_order` is not `True` or `False`")),
    };
    let shape = parse_shape(shape.ok_or_else(|| missing("shape"))?)?;
    if fortran && shape.iter().filter(|&&d| d > 1).count() > 1 {
        return Err(IoError::new(
            ErrorKind::FortranOrder,
            format!(
                "the array of shape {} is stored in Fortran (column-major) order",
                fmt_shape(&shape)
            ),
        )
        .with_help("save it in C order: `np.save(path, np.ascontiguousarray(x))`"));
    }
    Ok(NpyHeader {
        layout: Layout::new(dtype, shape, big_endian)?,
        header_len,
    })
}

fn bad_header(cause: &str) -> IoError {
    IoError::new(ErrorKind::BadHeader, cause.to_string())
}

fn parse_descr(descr: Py) -> Result<(DType, bool), IoError> {
    let text = match descr {
        Py::Str(s) => s,
        Py::List(_) => {
            return Err(IoError::new(
                ErrorKind::UnsupportedDtype,
                "structured dtypes (records with named fields) are not supported",
            )
            .with_help("save each field as its own array"))
        }
        _ => return Err(bad_header("`descr` is not a string")),
    };
    let mut chars = text.chars();
    let (order, rest) = match chars.next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (Some(c), chars.as_str()),
        _ => (None, text.as_str()),
    };
    let mut rest_chars = rest.chars();
    let kind = rest_chars.next().unwrap_or(' ');
    let size: Option<usize> = rest_chars.as_str().parse().ok();
    let dtype = size.and_then(|size| DType::from_kind(kind, size));
    let Some(dtype) = dtype else {
        let what = match (kind, size) {
            ('O', _) => " (Python objects)",
            ('c', _) => " (complex numbers)",
            ('U' | 'S' | 'a', _) => " (strings)",
            ('V', _) => " (raw bytes)",
            ('M' | 'm', _) => " (dates or time spans)",
            ('f', Some(2)) => " (float16)",
            ('f', _) | ('g', _) => " (extended precision)",
            _ => "",
        };
        let help = if kind == 'O' {
            "save a numeric array, e.g. `np.save(path, x.astype(np.float32))`".to_string()
        } else {
            format!(
                "convert the array to one of {} before saving it",
                DType::supported_list()
            )
        };
        return Err(IoError::new(
            ErrorKind::UnsupportedDtype,
            format!("dtype `{text}`{what} is not supported"),
        )
        .with_help(help));
    };
    let big_endian = match order {
        Some('>') => true,
        Some('<') => false,
        _ => cfg!(target_endian = "big"),
    };
    Ok((dtype, big_endian))
}

fn parse_shape(shape: Py) -> Result<Vec<usize>, IoError> {
    let Py::Tuple(items) = shape else {
        return Err(bad_header("`shape` is not a tuple"));
    };
    if items.len() > MAX_DIMS {
        return Err(bad_header(&format!(
            "`shape` has {} axes, more than the {MAX_DIMS} NumPy allows",
            items.len()
        )));
    }
    items
        .into_iter()
        .map(|item| match item {
            Py::Int(Some(n)) if n < 0 => {
                Err(bad_header(&format!("`shape` has a negative length {n}")))
            }
            Py::Int(Some(n)) => usize::try_from(n).map_err(|_| {
                IoError::new(
                    ErrorKind::TooLarge,
                    format!("`shape` has an axis of length {n}, more than any machine can hold"),
                )
            }),
            Py::Int(None) => Err(IoError::new(
                ErrorKind::TooLarge,
                "`shape` has an axis length too large to represent",
            )),
            _ => Err(bad_header("`shape` holds something other than integers")),
        })
        .collect()
}

/// Writes `array` to `path` atomically, byte for byte as `np.save` would.
pub fn write_npy(path: &Path, array: &Array) -> Result<(), IoError> {
    write_atomic(path, |w| encode_npy(w, array))
}

/// Writes the `.npy` encoding of `array` to `w`.
pub fn encode_npy(w: &mut dyn Write, array: &Array) -> io::Result<()> {
    w.write_all(&header_bytes(array.dtype(), array.shape()))?;
    array.encode_le_chunked(|chunk| w.write_all(chunk))
}

/// The header `np.save` writes for a C-order little-endian array (magic to final newline).
pub fn header_bytes(dtype: DType, shape: &[usize]) -> Vec<u8> {
    // Same text, key order and growth padding as numpy/lib/_format_impl.py::_write_array_header.
    const GROWTH_AXIS_MAX_DIGITS: usize = 21;
    const ARRAY_ALIGN: usize = 64;
    let mut text = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
        dtype.npy_descr(),
        fmt_shape(shape)
    );
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        text.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    let text_len = text.len() + 1; // the final newline
    let padding = |prefix_len: usize| ARRAY_ALIGN - (prefix_len + text_len) % ARRAY_ALIGN;
    // Version 1.0 when its 2-byte length field can hold the padded text, else 2.0.
    let (version, length_bytes) = if text_len + padding(MAGIC.len() + 4) <= usize::from(u16::MAX) {
        (1u8, 2usize)
    } else {
        (2u8, 4usize)
    };
    let prefix_len = MAGIC.len() + 2 + length_bytes;
    let pad = padding(prefix_len);
    let field = u32::try_from(text_len + pad).expect("a header built from a shape fits in 4 GiB");
    let mut out = Vec::with_capacity(prefix_len + text_len + pad);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    out.extend_from_slice(&field.to_le_bytes()[..length_bytes]);
    out.extend_from_slice(text.as_bytes());
    out.extend(std::iter::repeat_n(b' ', pad));
    out.push(b'\n');
    out
}

/// A Python literal value, as far as `.npy` headers use them.
#[derive(Clone, Debug, PartialEq)]
enum Py {
    Str(String),
    /// An integer; `None` when it does not fit in `i128`.
    Int(Option<i128>),
    Bool(bool),
    None,
    Tuple(Vec<Py>),
    List(Vec<Py>),
    Dict(Vec<(Py, Py)>),
}

/// A recursive-descent parser for the Python literal subset of `.npy` headers.
struct HeaderParser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl HeaderParser {
    fn new(text: &str) -> HeaderParser {
        HeaderParser {
            chars: text.chars().collect(),
            pos: 0,
            depth: 0,
        }
    }

    /// One value followed only by whitespace.
    fn parse_all(mut self) -> Result<Py, IoError> {
        let value = self.value()?;
        self.skip_ws();
        if self.pos < self.chars.len() {
            return Err(self.error("unexpected text after the dictionary"));
        }
        Ok(value)
    }

    fn error(&self, what: &str) -> IoError {
        bad_header(&format!(
            "the header is not a valid dictionary: {what} at character {}",
            self.pos
        ))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Result<Py, IoError> {
        self.skip_ws();
        match self.peek() {
            Some('{') => self.nested(|p| p.dict()),
            Some('(') => self.nested(|p| p.sequence(')')),
            Some('[') => self.nested(|p| p.sequence(']')),
            Some(q @ ('\'' | '"')) => self.string(q),
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' => self.integer(),
            Some(c) if c.is_ascii_alphabetic() => self.word(),
            Some(_) => Err(self.error("unexpected character")),
            None => Err(self.error("unexpected end")),
        }
    }

    fn nested(&mut self, f: impl FnOnce(&mut Self) -> Result<Py, IoError>) -> Result<Py, IoError> {
        if self.depth == MAX_NESTING {
            return Err(self.error("brackets nested too deeply"));
        }
        self.depth += 1;
        let value = f(self);
        self.depth -= 1;
        value
    }

    fn expect(&mut self, c: char) -> Result<(), IoError> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected `{c}`")))
        }
    }

    fn dict(&mut self) -> Result<Py, IoError> {
        self.expect('{')?;
        let mut entries = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(Py::Dict(entries));
            }
            let key = self.value()?;
            self.expect(':')?;
            let value = self.value()?;
            entries.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {}
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    /// A tuple (`close` = `)`) or list (`close` = `]`); `(x)` without a comma is just `x`.
    fn sequence(&mut self, close: char) -> Result<Py, IoError> {
        self.pos += 1; // the opening bracket, checked by `value`
        let mut items = Vec::new();
        let mut saw_comma = false;
        loop {
            self.skip_ws();
            if self.peek() == Some(close) {
                self.pos += 1;
                break;
            }
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.pos += 1;
                    saw_comma = true;
                }
                Some(c) if c == close => {}
                _ => return Err(self.error(&format!("expected `,` or `{close}`"))),
            }
        }
        Ok(match close {
            ')' if items.len() == 1 && !saw_comma => items.pop().expect("one item"),
            ')' => Py::Tuple(items),
            _ => Py::List(items),
        })
    }

    fn string(&mut self, quote: char) -> Result<Py, IoError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(Py::Str(out));
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        None => return Err(self.error("unterminated string")),
                        Some(c) => out.push(c),
                    }
                    self.pos += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn integer(&mut self) -> Result<Py, IoError> {
        let negative = match self.peek() {
            Some('-') => {
                self.pos += 1;
                true
            }
            Some('+') => {
                self.pos += 1;
                false
            }
            _ => false,
        };
        let start = self.pos;
        let mut value: Option<i128> = Some(0);
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            value = value
                .and_then(|v| v.checked_mul(10))
                .and_then(|v| v.checked_add(i128::from(d)));
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("expected digits"));
        }
        // Python 2 wrote long integers with an `L` suffix.
        if matches!(self.peek(), Some('L' | 'l')) {
            self.pos += 1;
        }
        if matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == '.') {
            return Err(self.error("expected an integer"));
        }
        Ok(Py::Int(if negative { value.map(|v| -v) } else { value }))
    }

    fn word(&mut self) -> Result<Py, IoError> {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        let word: String = self.chars[start..self.pos].iter().collect();
        match word.as_str() {
            "True" => Ok(Py::Bool(true)),
            "False" => Ok(Py::Bool(false)),
            "None" => Ok(Py::None),
            _ => {
                self.pos = start;
                Err(self.error(&format!("unknown name `{word}`")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Py, IoError> {
        HeaderParser::new(text).parse_all()
    }

    #[test]
    fn parses_header_literals() {
        let d = parse("{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4), }  \n").unwrap();
        let Py::Dict(entries) = d else {
            panic!("not a dict")
        };
        assert_eq!(
            entries[2].1,
            Py::Tuple(vec![Py::Int(Some(3)), Py::Int(Some(4))])
        );
        assert_eq!(parse("(5,)").unwrap(), Py::Tuple(vec![Py::Int(Some(5))]));
        assert_eq!(parse("(5)").unwrap(), Py::Int(Some(5)));
        assert_eq!(parse("()").unwrap(), Py::Tuple(vec![]));
        assert_eq!(
            parse("[('a', '<f4')]").unwrap(),
            Py::List(vec![Py::Tuple(vec![
                Py::Str("a".into()),
                Py::Str("<f4".into())
            ])])
        );
        assert_eq!(
            parse("99999999999999999999999999999999999999999").unwrap(),
            Py::Int(None)
        );
    }

    #[test]
    fn rejects_malformed_literals() {
        for text in [
            "{",
            "{'a' 1}",
            "{'a': 1,, }",
            "(1, 2",
            "'abc",
            "{'a': 1} x",
            "3.5",
            "Nope",
            "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]",
            "",
        ] {
            assert_eq!(
                parse(text).unwrap_err().kind(),
                ErrorKind::BadHeader,
                "{text}"
            );
        }
    }

    #[test]
    fn header_matches_numpy_layout() {
        let h = header_bytes(DType::F32, &[3, 3, 1, 8]);
        assert_eq!(h.len() % 64, 0);
        assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
        let text = std::str::from_utf8(&h[10..]).unwrap();
        assert!(
            text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 1, 8), }")
        );
        assert!(text.ends_with(" \n"));
        assert_eq!(header_bytes(DType::U8, &[]).len() % 64, 0);
    }

    #[test]
    fn descr_variants() {
        assert_eq!(
            parse_descr(Py::Str(">i2".into())).unwrap(),
            (DType::I16, true)
        );
        assert_eq!(
            parse_descr(Py::Str("|b1".into())).unwrap(),
            (DType::Bool, false)
        );
        for bad in ["|O", "<c8", "<U3", "<f2", "<M8[ns]", "", "<"] {
            let e = parse_descr(Py::Str(bad.into())).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::UnsupportedDtype, "{bad}");
        }
    }
}
