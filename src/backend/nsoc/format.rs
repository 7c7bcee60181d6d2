//! The `.nsoc` binary file: a versioned, little-endian, checksummed encoding of a [`Program`].
//!
//! `docs/nsoc-format.md` specifies every byte. In short: a 24-byte header (magic, format version,
//! target, payload length, CRC-32) followed by the payload (model name, source hash, input dims,
//! then one record per layer). The CRC-32 covers the first 20 header bytes and the whole payload,
//! i.e. every byte but itself.
//!
//! Why CRC-32 rather than SHA-256: the checksum guards against accidental damage (truncated
//! copies, bit rot, a file that is not a program). CRC-32 detects every burst of up to 32 flipped
//! bits and all other damage with probability 1 − 2⁻³², at memory speed. A SHA-256 would add no
//! protection against a deliberate edit, since whoever edits the file can recompute it; the
//! reader's own validation is what makes hostile files harmless.
//!
//! Writing is deterministic (the encoding is canonical: each program has exactly one byte
//! image) and atomic. Reading checks the magic, the version, the length and the checksum, then
//! decodes with every length checked against the remaining bytes *before* anything is
//! allocated, every tag and reserved byte checked, and finally runs [`Program::validate`]. Any
//! damage becomes a one-line [`FormatError`] naming the byte offset and the layer; reading never
//! panics.

use super::program::{
    Dims, Layer, LayerKind, Padding, Pooling, Program, ProgramError, SourceHash, Target,
};
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The first eight bytes of every `.nsoc` file (`\x89NSOC\r\n\x1a`, PNG-style: a non-ASCII
/// first byte and a CR LF pair that text-mode transfers would damage).
pub const MAGIC: [u8; 8] = *b"\x89NSOC\r\n\x1a";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 24;
/// Header bytes covered by the checksum (everything before the checksum field).
const CHECKED_HEADER_LEN: usize = 20;
/// Smallest possible layer record: an empty name, the fixed fields and four empty arrays.
const MIN_LAYER_RECORD: usize = 4 + 8 + 24 + 32 + 4 * 4;

/// Where in the file a decoding error happened.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Location {
    /// Byte offset from the start of the file.
    pub offset: u64,
    /// Index of the layer record being read, with its name once known.
    pub layer: Option<(usize, Option<String>)>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}", self.offset)?;
        match &self.layer {
            Some((index, Some(name))) => write!(f, " (layer {index} `{}`)", name.escape_debug()),
            Some((index, None)) => write!(f, " (layer {index})"),
            None => Ok(()),
        }
    }
}

/// Why a `.nsoc` file could not be read or written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum FormatError {
    #[error("cannot read `{}`: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// Writing failed (the old file, if any, is left as it was).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Write(#[from] crate::io::IoError),
    #[error("not an nsoc program: the file does not start with the nsoc magic bytes")]
    #[diagnostic(help("`qnnc run` and `qnnc inspect` take files written by `qnnc compile`"))]
    Magic,
    #[error("unsupported nsoc format version {found} (this qnnc reads version {FORMAT_VERSION})")]
    #[diagnostic(help("recompile the model with this qnnc"))]
    Version { found: u16 },
    #[error("truncated file: {what} needs {needed} bytes {at} but only {available} remain")]
    #[diagnostic(help("the file was cut short; copy it again or recompile the model"))]
    Truncated {
        what: &'static str,
        needed: u64,
        available: u64,
        at: Location,
    },
    #[error(
        "checksum mismatch: the header says {stored:08x} but the contents give {computed:08x}"
    )]
    #[diagnostic(help("the file is damaged; copy it again or recompile the model"))]
    Checksum { stored: u32, computed: u32 },
    #[error("unexpected trailing data: {count} bytes after the {what} {at}")]
    Trailing {
        what: &'static str,
        count: u64,
        at: Location,
    },
    #[error("invalid {what} {value} {at}")]
    Tag {
        what: &'static str,
        value: u64,
        at: Location,
    },
    #[error("the {what} {at} is not valid utf-8")]
    Utf8 { what: &'static str, at: Location },
    #[error("invalid program{}: {source}", .record.map(|o| format!(" (layer record at byte {o})")).unwrap_or_default())]
    #[diagnostic(help("programs come from `qnnc compile`; recompile the model"))]
    Invalid {
        source: ProgramError,
        /// Byte offset of the offending layer's record, when the error is about a layer.
        record: Option<u64>,
    },
    #[error("cannot write an invalid program: {0}")]
    InvalidToWrite(ProgramError),
}

/// Encodes a valid program. Same program, same bytes.
pub fn encode(program: &Program) -> Result<Vec<u8>, ProgramError> {
    program.validate()?;
    let mut payload = Encoder::default();
    payload.string(&program.model_name);
    payload.bytes(&program.source_sha256.0);
    payload.dims(program.input);
    payload.u32(len_u32(program.layers.len()));
    for layer in &program.layers {
        payload.layer(layer);
    }
    let payload = payload.0;

    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.push(target_tag(program.target));
    out.push(0);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    let crc = checksum(&out[..CHECKED_HEADER_LEN], &payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Decodes and validates a program from the bytes of a `.nsoc` file.
pub fn decode(bytes: &[u8]) -> Result<Program, FormatError> {
    let target = check_header(bytes)?;
    let mut reader = Reader {
        bytes,
        pos: HEADER_LEN,
        layer: None,
    };
    let model_name = reader.string("model name")?;
    let source_sha256 = SourceHash(
        reader
            .take(32, "source hash")?
            .try_into()
            .expect("took exactly 32 bytes"),
    );
    let input = reader.dims("input dims")?;
    let count = reader.u32("layer count")? as usize;
    if count > reader.remaining() / MIN_LAYER_RECORD {
        return Err(reader.truncated(
            "the layer records",
            (count as u64).saturating_mul(MIN_LAYER_RECORD as u64),
        ));
    }
    let mut layers = Vec::with_capacity(count);
    let mut records = Vec::with_capacity(count);
    for index in 0..count {
        records.push(reader.pos as u64);
        reader.layer = Some((index, None));
        layers.push(reader.layer_record()?);
    }
    reader.layer = None;
    if reader.remaining() != 0 {
        return Err(FormatError::Trailing {
            what: "last layer record",
            count: reader.remaining() as u64,
            at: reader.location(),
        });
    }
    let program = Program {
        model_name,
        source_sha256,
        target,
        input,
        layers,
    };
    program.validate().map_err(|source| FormatError::Invalid {
        record: source.layer.as_ref().map(|l| records[l.index]),
        source,
    })?;
    Ok(program)
}

/// Writes `program` to `path` atomically through [`crate::io::write_atomic`]: the old file or
/// the new one, never a part (nothing is left behind on failure).
pub fn write_file(path: &Path, program: &Program) -> Result<(), FormatError> {
    let bytes = encode(program).map_err(FormatError::InvalidToWrite)?;
    crate::io::write_atomic(path, |w| w.write_all(&bytes))?;
    Ok(())
}

/// Reads, checks and validates the program in `path`.
pub fn read_file(path: &Path) -> Result<Program, FormatError> {
    let bytes = std::fs::read(path).map_err(|source| FormatError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    decode(&bytes)
}

fn checksum(header: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    hasher.update(payload);
    hasher.finalize()
}

fn target_tag(target: Target) -> u8 {
    match target {
        Target::Software => 0,
        Target::Akd1000 => 1,
    }
}

fn kind_tag(kind: LayerKind) -> u8 {
    match kind {
        LayerKind::InputConvolutional => 0,
        LayerKind::Convolutional => 1,
        LayerKind::SeparableConvolutional => 2,
        LayerKind::FullyConnected => 3,
    }
}

fn padding_tag(padding: Padding) -> u8 {
    match padding {
        Padding::Valid => 0,
        Padding::Same => 1,
    }
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("validated programs have arrays shorter than 2^32")
}

/// Checks magic, version, length and checksum; returns the target.
fn check_header(bytes: &[u8]) -> Result<Target, FormatError> {
    let head = &bytes[..bytes.len().min(MAGIC.len())];
    if head != &MAGIC[..head.len()] {
        return Err(FormatError::Magic);
    }
    let at = |offset: usize| Location {
        offset: offset as u64,
        layer: None,
    };
    if bytes.len() < HEADER_LEN {
        if bytes.len() >= 10 {
            check_version(bytes)?;
        }
        return Err(FormatError::Truncated {
            what: "the header",
            needed: HEADER_LEN as u64,
            available: bytes.len() as u64,
            at: at(0),
        });
    }
    check_version(bytes)?;
    let payload_len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let available = (bytes.len() - HEADER_LEN) as u64;
    if payload_len > available {
        return Err(FormatError::Truncated {
            what: "the payload",
            needed: payload_len,
            available,
            at: at(HEADER_LEN),
        });
    }
    if payload_len < available {
        return Err(FormatError::Trailing {
            what: "payload",
            count: available - payload_len,
            at: at(HEADER_LEN + payload_len as usize),
        });
    }
    let stored = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
    let computed = checksum(&bytes[..CHECKED_HEADER_LEN], &bytes[HEADER_LEN..]);
    if stored != computed {
        return Err(FormatError::Checksum { stored, computed });
    }
    let target = match bytes[10] {
        0 => Target::Software,
        1 => Target::Akd1000,
        other => {
            return Err(FormatError::Tag {
                what: "target tag",
                value: u64::from(other),
                at: at(10),
            })
        }
    };
    if bytes[11] != 0 {
        return Err(FormatError::Tag {
            what: "reserved header byte",
            value: u64::from(bytes[11]),
            at: at(11),
        });
    }
    Ok(target)
}

fn check_version(bytes: &[u8]) -> Result<(), FormatError> {
    let found = u16::from_le_bytes([bytes[8], bytes[9]]);
    if found != FORMAT_VERSION {
        return Err(FormatError::Version { found });
    }
    Ok(())
}

/// Little-endian payload writer.
#[derive(Default)]
struct Encoder(Vec<u8>);

impl Encoder {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn bytes(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v);
    }

    fn string(&mut self, s: &str) {
        self.u32(len_u32(s.len()));
        self.bytes(s.as_bytes());
    }

    fn dims(&mut self, d: Dims) {
        self.u32(d.height);
        self.u32(d.width);
        self.u32(d.channels);
    }

    fn pair(&mut self, p: [u32; 2]) {
        self.u32(p[0]);
        self.u32(p[1]);
    }

    fn layer(&mut self, layer: &Layer) {
        self.string(&layer.name);
        let (pool_tag, pool_size, pool_stride) = match layer.pooling {
            Pooling::None => (0, [0, 0], [0, 0]),
            Pooling::Max { size, stride } => (1, size, stride),
            Pooling::GlobalAverage => (2, [0, 0], [0, 0]),
        };
        self.u8(kind_tag(layer.kind));
        self.u8(padding_tag(layer.padding));
        self.u8(pool_tag);
        self.u8(u8::from(layer.activation));
        self.u8(layer.weights_bits);
        self.u8(layer.act_bits);
        self.u8(layer.padding_value);
        self.u8(0);
        self.dims(layer.input_dims);
        self.dims(layer.output_dims);
        self.pair(layer.kernel);
        self.pair(layer.strides);
        self.pair(pool_size);
        self.pair(pool_stride);
        for weights in [&layer.weights, &layer.weights_pw] {
            self.u32(len_u32(weights.len()));
            self.0.extend(weights.iter().map(|&w| w as u8));
        }
        self.u32(len_u32(layer.thresholds.len()));
        for t in &layer.thresholds {
            self.bytes(&t.to_le_bytes());
        }
        self.u32(len_u32(layer.act_steps.len()));
        for a in &layer.act_steps {
            self.bytes(&a.to_bits().to_le_bytes());
        }
    }
}

/// Bounds-checked little-endian payload reader that knows where it is.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    layer: Option<(usize, Option<String>)>,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn location(&self) -> Location {
        Location {
            offset: self.pos as u64,
            layer: self.layer.clone(),
        }
    }

    fn truncated(&self, what: &'static str, needed: u64) -> FormatError {
        FormatError::Truncated {
            what,
            needed,
            available: self.remaining() as u64,
            at: self.location(),
        }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FormatError> {
        if n > self.remaining() {
            return Err(self.truncated(what, n as u64));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], FormatError> {
        Ok(self
            .take(N, what)?
            .try_into()
            .expect("took exactly N bytes"))
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, FormatError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn tag_error(&self, what: &'static str, value: u8) -> FormatError {
        FormatError::Tag {
            what,
            value: u64::from(value),
            at: Location {
                offset: self.pos as u64 - 1,
                layer: self.layer.clone(),
            },
        }
    }

    /// A `u32` element count followed by `count · size` bytes, checked before allocation.
    fn counted(&mut self, size: usize, what: &'static str) -> Result<&'a [u8], FormatError> {
        let count = self.u32(what)? as usize;
        let needed = count
            .checked_mul(size)
            .filter(|&n| n <= self.remaining())
            .ok_or_else(|| self.truncated(what, (count as u64).saturating_mul(size as u64)))?;
        self.take(needed, what)
    }

    fn string(&mut self, what: &'static str) -> Result<String, FormatError> {
        let at = self.location();
        let raw = self.counted(1, what)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| FormatError::Utf8 {
                what,
                at: Location {
                    offset: at.offset + 4,
                    ..at
                },
            })
    }

    fn dims(&mut self, what: &'static str) -> Result<Dims, FormatError> {
        Ok(Dims::new(self.u32(what)?, self.u32(what)?, self.u32(what)?))
    }

    fn pair(&mut self, what: &'static str) -> Result<[u32; 2], FormatError> {
        Ok([self.u32(what)?, self.u32(what)?])
    }

    fn layer_record(&mut self) -> Result<Layer, FormatError> {
        let name = self.string("layer name")?;
        if let Some((_, slot)) = &mut self.layer {
            *slot = Some(name.clone());
        }
        let kind = match self.u8("layer kind")? {
            0 => LayerKind::InputConvolutional,
            1 => LayerKind::Convolutional,
            2 => LayerKind::SeparableConvolutional,
            3 => LayerKind::FullyConnected,
            other => return Err(self.tag_error("layer kind tag", other)),
        };
        let padding = match self.u8("padding")? {
            0 => Padding::Valid,
            1 => Padding::Same,
            other => return Err(self.tag_error("padding tag", other)),
        };
        let pool_tag = self.u8("pooling")?;
        if pool_tag > 2 {
            return Err(self.tag_error("pooling tag", pool_tag));
        }
        let activation = match self.u8("activation flag")? {
            0 => false,
            1 => true,
            other => return Err(self.tag_error("activation flag", other)),
        };
        let weights_bits = self.u8("weights_bits")?;
        let act_bits = self.u8("act_bits")?;
        let padding_value = self.u8("padding_value")?;
        let reserved = self.u8("reserved byte")?;
        if reserved != 0 {
            return Err(self.tag_error("reserved layer byte", reserved));
        }
        let input_dims = self.dims("input dims")?;
        let output_dims = self.dims("output dims")?;
        let kernel = self.pair("kernel")?;
        let strides = self.pair("strides")?;
        let pool_at = self.pos as u64;
        let pool_size = self.pair("pool size")?;
        let pool_stride = self.pair("pool stride")?;
        let pooling = match pool_tag {
            0 => Pooling::None,
            1 => Pooling::Max {
                size: pool_size,
                stride: pool_stride,
            },
            _ => Pooling::GlobalAverage,
        };
        if pool_tag != 1 && (pool_size != [0, 0] || pool_stride != [0, 0]) {
            return Err(FormatError::Tag {
                what: "pool size/stride (must be zero without max pooling)",
                value: u64::from(pool_size.into_iter().chain(pool_stride).max().unwrap_or(0)),
                at: Location {
                    offset: pool_at,
                    layer: self.layer.clone(),
                },
            });
        }
        let weights = self
            .counted(1, "weights")?
            .iter()
            .map(|&b| b as i8)
            .collect();
        let weights_pw = self
            .counted(1, "weights_pw")?
            .iter()
            .map(|&b| b as i8)
            .collect();
        let thresholds = self
            .counted(4, "thresholds")?
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        let act_steps = self
            .counted(4, "act_steps")?
            .chunks_exact(4)
            .map(|c| f32::from_bits(u32::from_le_bytes(c.try_into().expect("4 bytes"))))
            .collect();
        Ok(Layer {
            name,
            kind,
            input_dims,
            output_dims,
            kernel,
            strides,
            padding,
            padding_value,
            pooling,
            weights_bits,
            act_bits,
            activation,
            weights,
            weights_pw,
            thresholds,
            act_steps,
        })
    }
}
