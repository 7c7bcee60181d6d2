//! Fuzzing entry points: one function per `fuzz/` target, shared by the cargo-fuzz targets
//! and by the regression test (`tests/regression.rs`), so that what the fuzzer explored and
//! what CI replays are the same code.
//!
//! Each function takes arbitrary bytes, feeds them to the same library calls the CLI makes
//! (reading, checking, rendering, simulating) and returns nothing: user mistakes become
//! errors, which are rendered and dropped. A panic here is a bug in qnnc. Some functions also
//! assert invariants the modules promise (the `.nsoc` encoding is canonical, the SIMD and
//! portable simulators agree, a plain and a gzipped IDX stream read the same), so the fuzzer
//! finds wrong answers as well as crashes.
//!
//! Not a stable API: hidden from the documentation, for the fuzz crate and the tests only.

use crate::backend::nsoc::{self, format, LayerOutput, Program, Simulator, Target};
use crate::diag::{MessageFormat, RenderOptions};
use crate::io::{self, Array, ArrayMap};
use crate::ir::Model;
use crate::session::{self, Job, Options, Session};
use crate::source::SourceFile;
use miette::Diagnostic;
use std::io::{Cursor, Write};
use std::sync::OnceLock;

/// The memory budget the entry points run under (what `--memory-budget 256M` sets), so that a
/// header claiming a few GiB is refused rather than allocated within libFuzzer's RSS limit.
pub const FUZZ_MEMORY_BUDGET: u64 = 256 << 20;

/// The largest program (multiply-accumulates per image, summed over the layers) that
/// [`nsoc`] simulates; larger valid programs are decoded, printed and prepared but not run,
/// so that one input stays well under libFuzzer's time-out.
pub const MAX_SIMULATED_MACS: u64 = 4_000_000;

/// The largest input image (values) that [`nsoc`] simulates.
pub const MAX_SIMULATED_INPUT: u64 = 1 << 20;

/// `qnnc check --target akd1000` on a `.q` file holding `data` (the façade's
/// [`Session::check`]), then for each (small) model without errors `qnnc check --weights
/// --target akd1000` with initial weights, then every rendering of the diagnostics (human at
/// two widths, short, JSON). Bytes that are not UTF-8 are read lossily (the CLI refuses them
/// with one message; the lossy text is still a file someone could write).
pub fn q_check(data: &[u8]) {
    let name = "fuzz.q";
    let src = match session::source_from_bytes(name, data.to_vec()) {
        Ok(src) => src,
        Err(e) => {
            render_error(&e);
            SourceFile::new(name, String::from_utf8_lossy(data).into_owned())
        }
    };
    let options = Options {
        target: Target::Akd1000,
        ..Options::default()
    };
    let mut front = Session::new(src);
    if let Err(e) = front.check(None, None, &options) {
        render_error(&e);
    }
    if !front.has_errors() {
        let models = front.module.as_ref().map_or(&[][..], |m| &m.models[..]);
        for model in models.iter().take(MAX_COMPILED_MODELS) {
            compile_with_initial_weights(&front.src, model, &options);
        }
    }
    render_everywhere(&front.src, &front.diagnostics);
}

/// At most this many models of one file go through `compile_with_initial_weights`.
pub const MAX_COMPILED_MODELS: usize = 2;

/// Models with more parameters than this are not compiled by [`q_check`] (initialising and
/// quantizing them would dominate the time of one input).
pub const MAX_COMPILED_PARAMETERS: u64 = 100_000;

/// `qnnc check --weights --target akd1000` with Keras' initial weights (`qnnc init`): the
/// quantization passes, the whole compilation and every AKD1000 rule, then rendering.
fn compile_with_initial_weights(src: &SourceFile, model: &Model, options: &Options) {
    let parameters = model
        .layers
        .iter()
        .map(|l| {
            let (trainable, other) = l.param_counts();
            trainable.saturating_add(other)
        })
        .fold(0u64, u64::saturating_add);
    if parameters > MAX_COMPILED_PARAMETERS {
        return;
    }
    let params = crate::params::init(model, 0);
    let job = Job::new(model.clone(), Some(params), options.clone());
    match job.check(src.text()) {
        Ok(diags) => render_everywhere(src, &diags),
        Err(e) => render_error(&e),
    }
}

/// The bytes as a `.npy` file, as a `.npz` archive, and as the members of an archive built
/// from them (see [`npz_members`]); every archive that reads is checked against the weights
/// of `examples/toy.q` as `qnnc check --weights` does, and the problems are rendered.
pub fn npz_npy(data: &[u8]) {
    if let Ok(array) = io::npy::read_npy_from(data) {
        // What the writer makes of an array, the reader reads back to the same bytes.
        let bytes = npy_bytes(&array);
        let again = io::npy::read_npy_from(&bytes[..])
            .unwrap_or_else(|e| panic!("a written `.npy` reads back: {e}"));
        assert_eq!(
            bytes,
            npy_bytes(&again),
            "a `.npy` round trip keeps the array"
        );
    }
    if let Ok(arrays) = io::npz::read_npz_from(Cursor::new(data)) {
        check_weights(arrays);
    }
    if let Some(archive) = npz_members(data) {
        if let Ok(arrays) = io::npz::read_npz_from(Cursor::new(archive)) {
            check_weights(arrays);
        }
    }
}

/// The bytes as an IDX stream (plain or gzipped, as their magic says), the same stream
/// gzipped, and an IDX file on disk read by the typed readers and by the dataset loader (as
/// the training images, beside valid labels of the same count).
pub fn idx(data: &[u8]) {
    let plain = io::idx::read_idx_from(data);
    if !data.starts_with(&io::idx::GZIP_MAGIC) {
        let zipped = io::idx::read_idx_from(&gzip(data)[..]);
        assert_same_result("the plain and the gzipped stream", &plain, &zipped);
    }
    let scratch = tempfile::Builder::new()
        .prefix("qnnc-fuzz-")
        .tempdir()
        .expect("a temporary directory can be created");
    let dir = scratch.path();
    let images = dir.join("train-images-idx3-ubyte");
    let labels = dir.join("train-labels-idx1-ubyte");
    std::fs::write(&images, data).expect("the scratch directory is writable");
    let from_file = io::read_idx(&images);
    assert_same_result("the stream and the file", &plain, &from_file);
    let _ = io::read_idx_labels(&images);
    let count = match io::read_idx_images(&images) {
        Ok(a) => a.len_of(ndarray::Axis(0)),
        Err(_) => 1,
    };
    std::fs::write(&labels, idx_labels(count)).expect("the scratch directory is writable");
    if let Err(e) = io::load_split(dir, io::SplitKind::Train) {
        let _ = e.to_string();
    }
}

/// The bytes as a `.nsoc` program — as given, and with the header's payload length and CRC
/// made to fit, so that the fuzzer reaches the payload decoder — then what `qnnc inspect`
/// prints in its three formats, and for a small enough program one `qnnc run` of a batch of
/// one image with both the SIMD and the portable simulator, which must agree.
pub fn nsoc(data: &[u8]) {
    let (bytes, program) = match format::decode(data) {
        Ok(p) => (data.to_vec(), p),
        Err(e) => {
            let _ = e.to_string();
            let Some(fixed) = with_fitted_header(data) else {
                return;
            };
            match format::decode(&fixed) {
                Ok(p) => (fixed, p),
                Err(e) => {
                    let _ = e.to_string();
                    return;
                }
            }
        }
    };
    let encoded = format::encode(&program)
        .unwrap_or_else(|e| panic!("a decoded program is valid, so it encodes: {e}"));
    assert!(
        encoded == bytes,
        "the encoding is canonical: a decoded program encodes to the bytes it came from"
    );
    inspect(&program);
    simulate(&program);
}

/// What a fuzz target calls before the first input: sets the process-wide memory budget to
/// [`FUZZ_MEMORY_BUDGET`]. Tests do not call it (the budget is global to the test binary).
pub fn init() {
    io::budget::set_limit(FUZZ_MEMORY_BUDGET);
}

/// Renders diagnostics in every format the CLI offers; rendering must not panic whatever the
/// spans are.
fn render_everywhere(src: &SourceFile, diags: &[crate::Error]) {
    for opts in [
        RenderOptions::plain(MessageFormat::Human),
        RenderOptions {
            format: MessageFormat::Human,
            color: true,
            width: 12,
        },
        RenderOptions::plain(MessageFormat::Short),
        RenderOptions::plain(MessageFormat::Json),
    ] {
        let _ = crate::diag::render_all(src, diags.iter().map(|e| e as &dyn Diagnostic), opts);
    }
}

fn render_error(e: &dyn Diagnostic) {
    let src = SourceFile::new("", "");
    for format in [
        MessageFormat::Human,
        MessageFormat::Short,
        MessageFormat::Json,
    ] {
        let _ = crate::diag::render(&src, e, RenderOptions::plain(format));
    }
}

/// `examples/toy.q`, lowered once: the fixed model weights are checked against.
fn toy() -> &'static (SourceFile, Model) {
    static TOY: OnceLock<(SourceFile, Model)> = OnceLock::new();
    TOY.get_or_init(|| {
        let src = SourceFile::new("examples/toy.q", include_str!("../examples/toy.q"));
        let front = Session::new(src.clone());
        let model = front
            .module
            .as_ref()
            .and_then(|m| m.models.first())
            .expect("examples/toy.q lowers to one model")
            .clone();
        (src, model)
    })
}

/// What `qnnc check --weights` does with an archive that reads: the checks against the
/// model, then rendering every problem found.
fn check_weights(arrays: ArrayMap) {
    let (src, model) = toy();
    let (_params, problems) = crate::params::check("fuzz.npz", arrays, model);
    let diags: Vec<crate::Error> = problems.into_iter().map(crate::Error::from).collect();
    render_everywhere(src, &diags);
}

/// An archive made of the bytes read as members: a flags byte (bit 0: deflate rather than
/// store), then records of a name length (one byte), the name, a little-endian `u32` length
/// and the member's bytes; a length past the end takes what remains. `None` when the zip
/// writer refuses the names (duplicates).
pub fn npz_members(data: &[u8]) -> Option<Vec<u8>> {
    let (&flags, mut rest) = data.split_first()?;
    let method = if flags & 1 == 1 {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    while let Some((&name_len, after)) = rest.split_first() {
        let (name, after) = after.split_at(usize::from(name_len).min(after.len()));
        let (len, after) = after.split_at(4.min(after.len()));
        let mut len_bytes = [0u8; 4];
        len_bytes[..len.len()].copy_from_slice(len);
        let len = usize::try_from(u32::from_le_bytes(len_bytes)).unwrap_or(usize::MAX);
        let (member, after) = after.split_at(len.min(after.len()));
        rest = after;
        writer
            .start_file(String::from_utf8_lossy(name), options)
            .ok()?;
        writer
            .write_all(member)
            .expect("writing to memory cannot fail");
    }
    Some(writer.finish().ok()?.into_inner())
}

/// The framing [`npz_members`] reads, for building seeds: flags, then each member's name and
/// bytes.
pub fn frame_npz_members<'a>(
    deflate: bool,
    members: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Vec<u8> {
    let mut out = vec![u8::from(deflate)];
    for (name, bytes) in members {
        let name = &name.as_bytes()[..name.len().min(255)];
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        let len = u32::try_from(bytes.len()).expect("seed members are under 4 GiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

fn npy_bytes(array: &Array) -> Vec<u8> {
    let mut out = Vec::new();
    io::npy::encode_npy(&mut out, array).expect("writing to memory cannot fail");
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("writing to memory cannot fail");
    enc.finish().expect("writing to memory cannot fail")
}

/// A valid IDX labels file of `count` zero labels.
fn idx_labels(count: usize) -> Vec<u8> {
    let count = u32::try_from(count).expect("an IDX dimension is a u32");
    let mut out = vec![0, 0, 0x08, 1];
    out.extend_from_slice(&count.to_be_bytes());
    out.resize(out.len() + count as usize, 0);
    out
}

/// Two readers of the same data succeed together, with the same array.
fn assert_same_result(what: &str, a: &Result<Array, io::IoError>, b: &Result<Array, io::IoError>) {
    match (a, b) {
        (Ok(x), Ok(y)) => assert!(
            x.dtype() == y.dtype() && npy_bytes(x) == npy_bytes(y),
            "{what} read to different arrays"
        ),
        (Err(_), Err(_)) => {}
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => {
            panic!("{what} disagree: one reads, the other fails with `{e}`")
        }
    }
}

/// `data` with the payload length and the CRC in its header set to fit its payload; `None`
/// when it is shorter than the header.
fn with_fitted_header(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < format::HEADER_LEN {
        return None;
    }
    let mut fixed = data.to_vec();
    let payload_len = (data.len() - format::HEADER_LEN) as u64;
    fixed[12..20].copy_from_slice(&payload_len.to_le_bytes());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&fixed[..20]);
    hasher.update(&fixed[format::HEADER_LEN..]);
    let crc = hasher.finalize();
    fixed[20..24].copy_from_slice(&crc.to_le_bytes());
    Some(fixed)
}

/// `qnnc inspect` in its three formats.
fn inspect(program: &Program) {
    let _ = program.to_string();
    let config = ron::ser::PrettyConfig::new().compact_arrays(true);
    ron::ser::to_string_pretty(program, config).expect("programs serialize to RON");
    serde_json::to_string_pretty(program).expect("programs serialize to JSON");
}

/// One image through the SIMD and the portable simulators, layer by layer; both must agree,
/// and the last layer's potentials (if it has no activation) dequantize.
fn simulate(program: &Program) {
    let macs = program
        .layers
        .iter()
        .map(nsoc::program::Layer::mac_count)
        .fold(0u64, u64::saturating_add);
    if macs > MAX_SIMULATED_MACS || program.input.elements() > MAX_SIMULATED_INPUT {
        return;
    }
    let sim = Simulator::new(program)
        .unwrap_or_else(|e| panic!("a decoded program is valid, so it simulates: {e}"));
    let portable = Simulator::new_portable(program)
        .unwrap_or_else(|e| panic!("a decoded program is valid, so it simulates: {e}"));
    let d = sim.input_dims();
    let shape = (1, d.height as usize, d.width as usize, d.channels as usize);
    let image = ndarray::Array4::from_shape_fn(shape, |(_, y, x, c)| {
        (y.wrapping_mul(31) ^ x.wrapping_mul(17) ^ c.wrapping_mul(7)) as u8
    });
    let fast = sim
        .run_all(image.view())
        .unwrap_or_else(|e| panic!("an image of the input shape runs: {e}"));
    let slow = portable
        .run_all(image.view())
        .unwrap_or_else(|e| panic!("an image of the input shape runs: {e}"));
    assert!(fast == slow, "the SIMD and the portable simulator agree");
    if let Some(LayerOutput::Potentials(p)) = fast.last() {
        sim.dequantize(p.view())
            .unwrap_or_else(|e| panic!("the last layer's potentials dequantize: {e}"));
    }
}
