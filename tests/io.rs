//! `qnnc::io`: every reader against every failure class, round trips, determinism, NumPy
//! interoperability (when python3 + numpy are installed), the real MNIST files, atomic writes,
//! and a property test feeding random and mutated bytes to every reader.

use flate2::write::GzEncoder;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use qnnc::io::{
    self, budget, check_output, find_non_finite, load_dataset, load_split, read_idx,
    read_idx_images, read_npy, read_npz, write_atomic, write_npy, write_npz, Array, ArrayMap,
    DType, ErrorKind, IoError, SplitKind,
};
use std::fs;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

// ---------------------------------------------------------------------------------------------
// helpers

fn tmp() -> TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

fn write(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    fs::write(&path, bytes).expect("write a test file");
    path
}

/// A hand-made `.npy` file: version 1.0 with `dict` as the header text.
fn npy_raw(dict: &str, payload: &[u8]) -> Vec<u8> {
    let mut text = dict.as_bytes().to_vec();
    text.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(payload);
    out
}

fn npy_dict(descr: &str, fortran: bool, shape: &str) -> String {
    let fortran = if fortran { "True" } else { "False" };
    format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}")
}

/// The `.npy` bytes this crate writes for `array`.
fn npy_bytes(array: &Array) -> Vec<u8> {
    let mut out = Vec::new();
    io::npy::encode_npy(&mut out, array).expect("encode to memory");
    out
}

/// A zip archive of `(name, bytes, method)` members, in the given order.
fn zip_raw(members: &[(&str, &[u8], CompressionMethod)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes, method) in members {
        zip.start_file(
            *name,
            SimpleFileOptions::default().compression_method(*method),
        )
        .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn npz_bytes(arrays: &ArrayMap) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    io::npz::encode_npz(&mut out, arrays).expect("encode to memory");
    out.into_inner()
}

fn idx_raw(type_byte: u8, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, type_byte, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn f32_array(shape: &[usize]) -> Array {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|i| i as f32 * 0.25 - 3.0).collect();
    Array::from(ArrayD::from_shape_vec(IxDyn(shape), values).unwrap())
}

fn sample_map() -> ArrayMap {
    let mut m = ArrayMap::new();
    m.insert("conv1/kernel".into(), f32_array(&[3, 3, 1, 8]));
    m.insert("conv1/bias".into(), f32_array(&[8]));
    m.insert(
        "dense/kernel_int".into(),
        Array::from(ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![-7i32, 0, 7, 1, 2, -2]).unwrap()),
    );
    m.insert(
        "input_uint8".into(),
        Array::from(ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![0u8, 255, 17, 3]).unwrap()),
    );
    m.insert(
        "w8".into(),
        Array::from(ArrayD::from_shape_vec(IxDyn(&[4]), vec![-128i8, -1, 0, 127]).unwrap()),
    );
    m
}

/// The error, asserting its kind.
fn expect_err<T: std::fmt::Debug>(result: Result<T, IoError>, kind: ErrorKind) -> IoError {
    match result {
        Ok(v) => panic!("expected a {kind:?} error, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "wrong kind for: {e}");
            assert!(
                !e.to_string().contains('\n'),
                "message has a line break: {e}"
            );
            e
        }
    }
}

/// Directory entries other than the named ones.
fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

fn python_with_numpy() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("python3 with numpy not available: skipping the NumPy cross-check");
    }
    ok
}

fn run_python(script: &str, args: &[&Path]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/mnist")
}

// ---------------------------------------------------------------------------------------------
// .npy

#[test]
fn npy_round_trips_every_dtype_and_shape() {
    let dir = tmp();
    let mut cases: Vec<Array> = vec![
        f32_array(&[3, 3, 1, 8]),
        f32_array(&[]),
        f32_array(&[0, 5]),
        Array::from(ArrayD::from_shape_vec(IxDyn(&[2]), vec![f64::MIN, 1e300]).unwrap()),
        Array::from(ArrayD::from_shape_vec(IxDyn(&[3]), vec![true, false, true]).unwrap()),
    ];
    macro_rules! ints {
        ($($t:ty),*) => {$(
            cases.push(Array::from(
                ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![<$t>::MIN, 0, 1, <$t>::MAX]).unwrap(),
            ));
        )*};
    }
    ints!(i8, u8, i16, u16, i32, u32, i64, u64);
    assert_eq!(cases.len(), 13);
    for (i, array) in cases.iter().enumerate() {
        let path = dir.path().join(format!("a{i}.npy"));
        write_npy(&path, array).unwrap();
        let back = read_npy(&path).unwrap();
        assert_eq!(&back, array, "case {i} ({})", array.dtype());
        assert_eq!(
            io::npy::read_npy_from(&fs::read(&path).unwrap()[..]).unwrap(),
            back
        );
    }
}

#[test]
fn npy_writes_standard_layout_of_transposed_arrays() {
    let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), (0..6).map(|v| v as f32).collect()).unwrap();
    let t = a.t().to_owned(); // a non-standard (Fortran) memory layout
    let back = io::npy::read_npy_from(&npy_bytes(&Array::from(t.clone()))[..]).unwrap();
    assert_eq!(back.get::<f32>().unwrap(), &t);
    assert_eq!(
        back.get::<f32>().unwrap().as_slice().unwrap(),
        &[0., 3., 1., 4., 2., 5.]
    );
}

#[test]
fn npy_reads_big_endian_and_old_python2_headers() {
    let payload: Vec<u8> = [1i32, -2].iter().flat_map(|v| v.to_be_bytes()).collect();
    let a =
        io::npy::read_npy_from(&npy_raw(&npy_dict(">i4", false, "(2,)"), &payload)[..]).unwrap();
    assert_eq!(a.get::<i32>().unwrap().as_slice().unwrap(), &[1, -2]);
    let payload = 2.5f64.to_be_bytes();
    let a = io::npy::read_npy_from(&npy_raw(&npy_dict(">f8", false, "(1L, 1L)"), &payload)[..])
        .unwrap();
    assert_eq!(a.shape(), &[1, 1]);
    assert_eq!(a.get::<f64>().unwrap()[[0, 0]], 2.5);
}

#[test]
fn npy_fortran_order_is_refused_unless_trivial() {
    let e = expect_err(
        io::npy::read_npy_from(&npy_raw(&npy_dict("<f4", true, "(2, 2)"), &[0; 16])[..]),
        ErrorKind::FortranOrder,
    );
    assert!(e.help_text().unwrap().contains("ascontiguousarray"));
    // One non-trivial axis: the bytes are the same in either order.
    let a = io::npy::read_npy_from(&npy_raw(&npy_dict("<f4", true, "(1, 3)"), &[0; 12])[..]);
    assert_eq!(a.unwrap().shape(), &[1, 3]);
}

#[test]
fn npy_missing_file() {
    let dir = tmp();
    let path = dir.path().join("absent.npy");
    let e = expect_err(read_npy(&path), ErrorKind::NotFound);
    assert_eq!(e.to_string(), format!("`{}`: no such file", path.display()));
}

#[test]
fn npy_directory_instead_of_file() {
    let dir = tmp();
    expect_err(read_npy(dir.path()), ErrorKind::Os);
    expect_err(read_npz(dir.path()), ErrorKind::Os);
    expect_err(read_idx(dir.path()), ErrorKind::Os);
}

#[test]
fn npy_empty_file() {
    let dir = tmp();
    let e = expect_err(read_npy(&write(&dir, "e.npy", b"")), ErrorKind::Empty);
    assert!(e.to_string().ends_with("`: the file is empty"));
}

#[test]
fn npy_truncated_payload_names_shape_and_sizes() {
    let dir = tmp();
    let path = write(
        &dir,
        "w.npy",
        &npy_raw(&npy_dict("<f4", false, "(3, 3, 1, 8)"), &[0; 40]),
    );
    let e = expect_err(read_npy(&path), ErrorKind::Truncated);
    assert_eq!(
        e.cause(),
        "header says shape (3, 3, 1, 8) of float32 (72 values, 288 bytes) but the payload holds 40 bytes"
    );
    // The same from a stream of unknown length.
    let bytes = fs::read(&path).unwrap();
    let e = expect_err(io::npy::read_npy_from(&bytes[..]), ErrorKind::Truncated);
    assert!(e.cause().ends_with("but the payload holds 40 bytes"));
}

#[test]
fn npy_truncated_header() {
    let full = npy_bytes(&f32_array(&[2]));
    for cut in [3, 7, 9, 30] {
        expect_err(io::npy::read_npy_from(&full[..cut]), ErrorKind::Truncated);
    }
}

#[test]
fn npy_trailing_bytes() {
    let dir = tmp();
    let mut bytes = npy_bytes(&f32_array(&[2]));
    bytes.extend_from_slice(&[1, 2, 3]);
    let e = expect_err(
        read_npy(&write(&dir, "t.npy", &bytes)),
        ErrorKind::TrailingBytes,
    );
    assert!(e.cause().contains("11 bytes"), "{e}");
    let e = expect_err(io::npy::read_npy_from(&bytes[..]), ErrorKind::TrailingBytes);
    assert!(e.cause().starts_with("3 bytes follow the payload"), "{e}");
}

#[test]
fn npy_wrong_magic() {
    let e = expect_err(
        io::npy::read_npy_from(&b"hello world"[..]),
        ErrorKind::BadMagic,
    );
    assert!(e.cause().contains("68 65 6c 6c 6f 20"), "{e}");
    let zip = npz_bytes(&sample_map());
    let e = expect_err(io::npy::read_npy_from(&zip[..]), ErrorKind::BadMagic);
    assert!(e.help_text().unwrap().contains("zip archive"));
}

#[test]
fn npy_wrong_version() {
    let mut bytes = npy_bytes(&f32_array(&[2]));
    bytes[6] = 4;
    let e = expect_err(io::npy::read_npy_from(&bytes[..]), ErrorKind::BadVersion);
    assert_eq!(e.cause(), "unsupported `.npy` format version 4.0");
}

#[test]
fn npy_malformed_header_dictionaries() {
    let cases = [
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 'a')}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}",
        "{'descr': 4, 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)",
        "['descr', 'shape']",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk",
    ];
    for dict in cases {
        let bytes = npy_raw(dict, &[0; 8]);
        expect_err(io::npy::read_npy_from(&bytes[..]), ErrorKind::BadHeader);
    }
}

#[test]
fn npy_unsupported_dtypes() {
    for (descr, word) in [
        ("|O", "objects"),
        ("<c8", "complex"),
        ("<U4", "strings"),
        ("<f2", "float16"),
    ] {
        let bytes = npy_raw(&npy_dict(descr, false, "(2,)"), &[0; 16]);
        let e = expect_err(
            io::npy::read_npy_from(&bytes[..]),
            ErrorKind::UnsupportedDtype,
        );
        assert!(e.cause().contains(word), "{e}");
    }
    let structured =
        "{'descr': [('x', '<f4'), ('y', '<i4')], 'fortran_order': False, 'shape': (2,), }";
    let e = expect_err(
        io::npy::read_npy_from(&npy_raw(structured, &[0; 16])[..]),
        ErrorKind::UnsupportedDtype,
    );
    assert!(e.cause().contains("structured"));
}

#[test]
fn npy_absurd_sizes_are_refused_before_allocation() {
    let dir = tmp();
    // A 4 GiB header length field (version 2.0).
    let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    let e = expect_err(io::npy::read_npy_from(&bytes[..]), ErrorKind::BadHeader);
    assert!(e.cause().contains("exceeds"), "{e}");
    // 2^40 floats claimed by a tiny file: refused by the file length.
    let claim = npy_raw(&npy_dict("<f4", false, "(1099511627776,)"), &[0; 8]);
    let e = expect_err(
        read_npy(&write(&dir, "big.npy", &claim)),
        ErrorKind::Truncated,
    );
    assert!(e.cause().contains("4398046511104 bytes"), "{e}");
    // The same from a stream: refused by the memory budget.
    let e = expect_err(io::npy::read_npy_from(&claim[..]), ErrorKind::TooLarge);
    assert!(e.cause().contains("but the memory budget is"), "{e}");
    // A shape whose product overflows.
    let claim = npy_raw(
        &npy_dict("<f8", false, "(4294967296, 4294967296, 4294967296)"),
        &[],
    );
    expect_err(io::npy::read_npy_from(&claim[..]), ErrorKind::TooLarge);
    let claim = npy_raw(
        &npy_dict("<f8", false, "(0, 99999999999999999999999999)"),
        &[],
    );
    expect_err(io::npy::read_npy_from(&claim[..]), ErrorKind::TooLarge);
}

#[test]
fn npy_matches_numpy_byte_for_byte() {
    if !python_with_numpy() {
        return;
    }
    let dir = tmp();
    let ours = dir.path().join("ours");
    fs::create_dir(&ours).unwrap();
    let cases: Vec<(&str, Array)> = vec![
        ("f32_4d", f32_array(&[3, 3, 1, 8])),
        ("f32_scalar", f32_array(&[])),
        ("f32_empty", f32_array(&[0, 4])),
        ("u8_2d", sample_map()["input_uint8"].clone()),
        ("i8_1d", sample_map()["w8"].clone()),
        ("i32_2d", sample_map()["dense/kernel_int"].clone()),
    ];
    for (name, array) in &cases {
        write_npy(&ours.join(format!("{name}.npy")), array).unwrap();
    }
    // NumPy loads each of our files and saves it again; the bytes must be identical.
    let script = r#"
import sys, os, numpy as np
src = sys.argv[1]
for name in sorted(os.listdir(src)):
    a = np.load(os.path.join(src, name))
    out = os.path.join(src, name + '.numpy')
    np.save(out, a)
    print(name, a.dtype, a.shape)
"#;
    let listing = run_python(script, &[&ours]);
    assert_eq!(listing.lines().count(), cases.len(), "{listing}");
    for (name, _) in &cases {
        let mine = fs::read(ours.join(format!("{name}.npy"))).unwrap();
        let theirs = fs::read(ours.join(format!("{name}.npy.numpy.npy"))).unwrap();
        assert_eq!(mine, theirs, "{name}: our bytes differ from np.save");
    }
}

// ---------------------------------------------------------------------------------------------
// .npz

#[test]
fn npz_round_trip_keeps_names_with_slashes() {
    let dir = tmp();
    let path = dir.path().join("w.npz");
    let arrays = sample_map();
    write_npz(&path, &arrays).unwrap();
    let back = read_npz(&path).unwrap();
    assert_eq!(back, arrays);
    assert!(back.contains_key("conv1/kernel"));
    let from_memory = io::npz::read_npz_from(Cursor::new(fs::read(&path).unwrap())).unwrap();
    assert_eq!(from_memory, arrays);
}

#[test]
fn npz_write_is_deterministic() {
    let dir = tmp();
    let (a, b) = (dir.path().join("a.npz"), dir.path().join("b.npz"));
    write_npz(&a, &sample_map()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100)); // a different wall-clock second
    let mut reversed = ArrayMap::new();
    for (k, v) in sample_map().into_iter().rev() {
        reversed.insert(k, v);
    }
    write_npz(&b, &reversed).unwrap();
    assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
    // Member order in the archive is sorted by name.
    let bytes = fs::read(&a).unwrap();
    let archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let names: Vec<&str> = archive.file_names().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn npz_member_order_and_compression_do_not_matter() {
    let arrays = sample_map();
    let members: Vec<(String, Vec<u8>)> = arrays
        .iter()
        .map(|(k, v)| (format!("{k}.npy"), npy_bytes(v)))
        .collect();
    let build = |order: &mut dyn Iterator<Item = &(String, Vec<u8>)>, method| {
        let list: Vec<(&str, &[u8], CompressionMethod)> = order
            .map(|(n, b)| (n.as_str(), b.as_slice(), method))
            .collect();
        zip_raw(&list)
    };
    let forward = build(&mut members.iter(), CompressionMethod::Stored);
    let backward = build(&mut members.iter().rev(), CompressionMethod::Deflated);
    let a = io::npz::read_npz_from(Cursor::new(forward)).unwrap();
    let b = io::npz::read_npz_from(Cursor::new(backward)).unwrap();
    assert_eq!(a, arrays);
    assert_eq!(b, arrays);
    assert_eq!(npz_bytes(&a), npz_bytes(&b));
}

#[test]
fn npz_reads_every_reference_file_as_indexed() {
    let index: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(data_dir().join("index.json")).unwrap()).unwrap();
    let files = index["files"].as_object().unwrap();
    let mut checked = 0;
    for (file, entry) in files {
        if !file.ends_with(".npz") {
            continue;
        }
        let arrays = read_npz(&data_dir().join(file)).unwrap();
        let keys = entry["keys"].as_object().unwrap();
        assert_eq!(arrays.len(), keys.len(), "{file}");
        for (key, spec) in keys {
            let a = &arrays[key];
            let shape: Vec<usize> = spec["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(a.shape(), shape.as_slice(), "{file}:{key}");
            assert_eq!(
                a.dtype().name(),
                spec["dtype"].as_str().unwrap(),
                "{file}:{key}"
            );
            checked += 1;
        }
    }
    assert!(checked > 500, "only {checked} arrays checked");
}

#[test]
fn npz_numpy_reads_ours_and_we_read_numpys() {
    if !python_with_numpy() {
        return;
    }
    let dir = tmp();
    let ours = dir.path().join("ours.npz");
    write_npz(&ours, &sample_map()).unwrap();
    let script = r#"
import sys, numpy as np
d = np.load(sys.argv[1])
for k in sorted(d.files):
    a = d[k]
    print(k, a.dtype, a.shape, repr(a.ravel().tolist()))
x = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 8
np.savez(sys.argv[2], **{'conv1/kernel': x, 'b': np.array([1, -2], dtype='>i2')})
np.savez_compressed(sys.argv[3], **{'conv1/kernel': x, 'b': np.array([1, -2], dtype='>i2')})
"#;
    let stored = dir.path().join("stored.npz");
    let deflated = dir.path().join("deflated.npz");
    let listing = run_python(script, &[&ours, &stored, &deflated]);
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 5, "{listing}");
    assert!(lines
        .contains(&"conv1/bias float32 (8,) [-3.0, -2.75, -2.5, -2.25, -2.0, -1.75, -1.5, -1.25]"));
    assert!(lines.contains(&"dense/kernel_int int32 (2, 3) [-7, 0, 7, 1, 2, -2]"));
    assert!(lines.contains(&"input_uint8 uint8 (2, 2) [0, 255, 17, 3]"));
    assert!(lines.contains(&"w8 int8 (4,) [-128, -1, 0, 127]"));
    for path in [&stored, &deflated] {
        let m = read_npz(path).unwrap();
        assert_eq!(m["b"].get::<i16>().unwrap().as_slice().unwrap(), &[1, -2]);
        let k = m["conv1/kernel"].get::<f32>().unwrap();
        assert_eq!(k.shape(), &[2, 3, 4]);
        assert_eq!(k[[1, 2, 3]], 23.0 / 8.0);
    }
}

#[test]
fn npz_member_truncated_names_the_member() {
    let dir = tmp();
    let short = npy_raw(&npy_dict("<f4", false, "(3, 3, 1, 8)"), &[0; 40]);
    for method in [CompressionMethod::Stored, CompressionMethod::Deflated] {
        let path = write(
            &dir,
            "w.npz",
            &zip_raw(&[("conv1/kernel.npy", &short, method)]),
        );
        let e = expect_err(read_npz(&path), ErrorKind::Truncated);
        assert_eq!(e.member(), Some("conv1/kernel"));
        assert_eq!(
            e.to_string(),
            format!(
                "`{}`: member `conv1/kernel`: header says shape (3, 3, 1, 8) of float32 (72 values, 288 bytes) but the payload holds 40 bytes",
                path.display()
            )
        );
    }
}

#[test]
fn npz_member_with_absurd_shape_is_refused_before_allocation() {
    let claim = npy_raw(
        &npy_dict("<f8", false, "(1000000, 1000000, 1000)"),
        &[0; 64],
    );
    let bytes = zip_raw(&[("huge.npy", &claim, CompressionMethod::Deflated)]);
    let e = expect_err(
        io::npz::read_npz_from(Cursor::new(bytes)),
        ErrorKind::TooLarge,
    );
    assert_eq!(e.member(), Some("huge"));
}

#[test]
fn npz_member_wrong_dtype_and_trailing_bytes() {
    let complex = npy_raw(&npy_dict("<c8", false, "(1,)"), &[0; 8]);
    let mut long = npy_bytes(&f32_array(&[2]));
    long.push(0);
    let bytes = zip_raw(&[
        (
            "a.npy",
            &npy_bytes(&f32_array(&[1])),
            CompressionMethod::Stored,
        ),
        ("c.npy", &complex, CompressionMethod::Stored),
    ]);
    let e = expect_err(
        io::npz::read_npz_from(Cursor::new(bytes)),
        ErrorKind::UnsupportedDtype,
    );
    assert_eq!(e.member(), Some("c"));
    let bytes = zip_raw(&[("l.npy", &long, CompressionMethod::Deflated)]);
    let e = expect_err(
        io::npz::read_npz_from(Cursor::new(bytes)),
        ErrorKind::TrailingBytes,
    );
    assert_eq!(e.member(), Some("l"));
}

#[test]
fn npz_corrupt_archives() {
    let dir = tmp();
    let good = npz_bytes(&sample_map());
    // Truncated archive: the central directory is gone.
    let path = write(&dir, "cut.npz", &good[..good.len() / 2]);
    let e = read_npz(&path).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Truncated),
        "{e}"
    );
    assert_eq!(e.path(), Some(path.as_path()));
    // A damaged deflate stream or CRC inside a member.
    let stored = zip_raw(&[(
        "a.npy",
        &npy_bytes(&f32_array(&[64])),
        CompressionMethod::Stored,
    )]);
    let mut flipped = stored.clone();
    let at = flipped.len() / 3;
    flipped[at] ^= 0xff; // inside the payload of the only member
    let e = expect_err(
        io::npz::read_npz_from(Cursor::new(flipped)),
        ErrorKind::Corrupt,
    );
    assert_eq!(e.member(), Some("a"));
    assert!(e.cause().contains("checksum"), "{e}");
    // Zip magic followed by garbage.
    let mut junk = b"PK\x03\x04".to_vec();
    junk.extend_from_slice(&[0x55; 200]);
    expect_err(
        io::npz::read_npz_from(Cursor::new(junk)),
        ErrorKind::Corrupt,
    );
}

#[test]
fn npz_wrong_magic_and_empty() {
    let dir = tmp();
    let e = expect_err(read_npz(&write(&dir, "e.npz", b"")), ErrorKind::Empty);
    assert!(e.cause().contains("empty"));
    let e = expect_err(
        io::npz::read_npz_from(Cursor::new(npy_bytes(&f32_array(&[2])))),
        ErrorKind::BadMagic,
    );
    assert!(e.cause().contains("`.npy` file"), "{e}");
    let e = expect_err(
        io::npz::read_npz_from(Cursor::new(b"just some text, long enough".to_vec())),
        ErrorKind::BadMagic,
    );
    assert!(e.cause().contains("6a 75 73 74"), "{e}");
    expect_err(
        read_npz(&dir.path().join("absent.npz")),
        ErrorKind::NotFound,
    );
}

#[test]
fn npz_duplicate_names_are_refused() {
    let a = npy_bytes(&f32_array(&[1]));
    let bytes = zip_raw(&[
        ("k.npy", &a, CompressionMethod::Stored),
        ("k", &a, CompressionMethod::Stored),
    ]);
    let e = expect_err(
        io::npz::read_npz_from(Cursor::new(bytes)),
        ErrorKind::DuplicateMember,
    );
    assert_eq!(e.member(), Some("k"));
}

#[test]
fn npz_refuses_unstorable_names() {
    let dir = tmp();
    for name in ["", "/abs", "a//b", "a/../b", "back\\slash", "./x"] {
        let mut m = ArrayMap::new();
        m.insert(name.to_string(), f32_array(&[1]));
        let path = dir.path().join("n.npz");
        expect_err(write_npz(&path, &m), ErrorKind::InvalidName);
        assert!(!path.exists());
    }
}

#[test]
fn non_finite_values_are_located() {
    let mut m = sample_map();
    assert!(m.values().all(|a| a.non_finite().is_none()));
    let mut k = m["conv1/kernel"].get::<f32>().unwrap().clone();
    k[[0, 2, 0, 5]] = f32::NAN;
    k[[2, 2, 0, 7]] = f32::NEG_INFINITY;
    m.insert("conv1/kernel".into(), Array::from(k.clone()));
    let found = m["conv1/kernel"].non_finite().unwrap();
    assert_eq!(found, find_non_finite(&k).unwrap());
    assert_eq!((found.nan, found.infinite), (1, 1));
    assert_eq!(found.first_index, vec![0, 2, 0, 5]);
    let e = found
        .to_error()
        .in_member("conv1/kernel")
        .at(Path::new("w.npz"));
    assert_eq!(e.kind(), ErrorKind::NonFinite);
    assert_eq!(
        e.to_string(),
        "`w.npz`: member `conv1/kernel`: 2 NaN or infinite values (1 NaN, 1 infinite), the first at [0, 2, 0, 5] (NaN)"
    );
}

// ---------------------------------------------------------------------------------------------
// IDX and datasets

#[test]
fn idx_real_mnist_loads() {
    let data = load_dataset(&mnist_dir()).unwrap();
    assert_eq!(data.train.images.shape(), &[60000, 28, 28, 1]);
    assert_eq!(data.test.images.shape(), &[10000, 28, 28, 1]);
    assert_eq!(data.train.labels.len(), 60000);
    assert_eq!(data.test.labels.len(), 10000);
    assert_eq!(data.train.labels.as_slice().unwrap()[..5], [5, 0, 4, 1, 9]);
    assert_eq!(data.test.labels.as_slice().unwrap()[..5], [7, 2, 1, 0, 4]);
    let sum = |s: &io::Split| {
        s.images
            .index_axis(ndarray::Axis(0), 0)
            .iter()
            .map(|&p| u64::from(p))
            .sum::<u64>()
    };
    assert_eq!(sum(&data.train), 27525);
    assert_eq!(sum(&data.test), 18454);
    let mut counts = [0usize; 10];
    for &l in data.test.labels.iter() {
        counts[usize::from(l)] += 1;
    }
    assert_eq!(
        counts,
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
}

#[test]
fn idx_plain_and_gzipped_read_the_same() {
    let dir = tmp();
    let payload: Vec<u8> = (0..24).collect();
    let raw = idx_raw(0x08, &[2, 3, 4], &payload);
    let plain = read_idx(&write(&dir, "p", &raw)).unwrap();
    let gz = read_idx(&write(&dir, "g", &gzip(&raw))).unwrap();
    assert_eq!(plain, gz);
    assert_eq!(plain.shape(), &[2, 3, 4]);
    // Big-endian multi-byte types.
    let payload: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let f = io::idx::read_idx_from(&idx_raw(0x0D, &[2], &payload)[..]).unwrap();
    assert_eq!(f.get::<f32>().unwrap().as_slice().unwrap(), &[1.5, -2.0]);
}

#[test]
fn idx_failure_classes() {
    let dir = tmp();
    expect_err(read_idx(&dir.path().join("absent")), ErrorKind::NotFound);
    expect_err(read_idx(&write(&dir, "empty", b"")), ErrorKind::Empty);
    expect_err(io::idx::read_idx_from(&gzip(b"")[..]), ErrorKind::Empty);
    let e = expect_err(
        read_idx(&write(&dir, "magic", b"\x01\x02\x08\x01abcd")),
        ErrorKind::BadMagic,
    );
    assert!(e.cause().contains("01 02 08 01"), "{e}");
    expect_err(
        io::idx::read_idx_from(&idx_raw(0x07, &[1], &[0])[..]),
        ErrorKind::UnsupportedDtype,
    );
    expect_err(
        io::idx::read_idx_from(&idx_raw(0x08, &[], &[])[..]),
        ErrorKind::BadHeader,
    );
    expect_err(
        io::idx::read_idx_from(&idx_raw(0x08, &[2, 2], &[])[..8]),
        ErrorKind::Truncated,
    );
    // Payload shorter than the dims, plain and gzipped.
    let short = idx_raw(0x08, &[10, 28, 28], &[0; 100]);
    let e = expect_err(
        read_idx(&write(&dir, "short", &short)),
        ErrorKind::Truncated,
    );
    assert_eq!(
        e.cause(),
        "header says shape (10, 28, 28) of uint8 (7840 values, 7840 bytes) but the payload holds 100 bytes"
    );
    expect_err(
        io::idx::read_idx_from(&gzip(&short)[..]),
        ErrorKind::Truncated,
    );
    // A gzip stream cut short, and one with a damaged body.
    let gz = gzip(&idx_raw(0x08, &[4000], &[7; 4000]));
    let e = io::idx::read_idx_from(&gz[..gz.len() - 12]).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Truncated | ErrorKind::Corrupt),
        "{e}"
    );
    let mut damaged = gz.clone();
    let last = damaged.len() - 5;
    damaged[last] ^= 0xff; // inside the CRC/size trailer
    expect_err(io::idx::read_idx_from(&damaged[..]), ErrorKind::Corrupt);
    // Trailing bytes, plain and gzipped.
    let long = idx_raw(0x08, &[2], &[1, 2, 3]);
    expect_err(
        read_idx(&write(&dir, "long", &long)),
        ErrorKind::TrailingBytes,
    );
    expect_err(
        io::idx::read_idx_from(&gzip(&long)[..]),
        ErrorKind::TrailingBytes,
    );
}

#[test]
fn idx_absurd_dims_are_refused_before_allocation() {
    let dir = tmp();
    let claim = idx_raw(0x0E, &[u32::MAX, 1000, 1], &[0; 16]);
    // Plain: the file length says no.
    let e = expect_err(read_idx(&write(&dir, "big", &claim)), ErrorKind::Truncated);
    assert!(
        e.cause().contains("(4294967295, 1000, 1) of float64"),
        "{e}"
    );
    // Gzipped: the length is unknown, the memory budget says no.
    let e = expect_err(
        io::idx::read_idx_from(&gzip(&claim)[..]),
        ErrorKind::TooLarge,
    );
    assert!(e.cause().contains("memory budget"), "{e}");
    // Dims whose product overflows: no machine could hold them.
    let claim = idx_raw(0x0E, &[u32::MAX, u32::MAX, u32::MAX], &[]);
    expect_err(io::idx::read_idx_from(&claim[..]), ErrorKind::TooLarge);
}

#[test]
fn idx_images_and_labels_need_bytes_of_the_right_rank() {
    let dir = tmp();
    let ints = write(&dir, "i", &idx_raw(0x0C, &[1, 1, 1], &[0; 4]));
    let e = expect_err(read_idx_images(&ints), ErrorKind::WrongDtype);
    assert!(e.cause().contains("int32"), "{e}");
    let flat = write(&dir, "f", &idx_raw(0x08, &[4], &[0; 4]));
    expect_err(read_idx_images(&flat), ErrorKind::WrongShape);
    expect_err(io::read_idx_labels(&ints), ErrorKind::WrongShape);
}

/// Writes an IDX dataset (train and test) into `dir` using `names`.
fn write_idx_split(dir: &Path, images: &str, labels: &str, n: u32, n_labels: u32, gz: bool) {
    let img = idx_raw(0x08, &[n, 2, 3], &vec![9; (n * 6) as usize]);
    let lab = idx_raw(0x08, &[n_labels], &vec![1; n_labels as usize]);
    let (img, lab) = if gz {
        (gzip(&img), gzip(&lab))
    } else {
        (img, lab)
    };
    fs::write(dir.join(images), img).unwrap();
    fs::write(dir.join(labels), lab).unwrap();
}

#[test]
fn dataset_accepts_dotted_names_and_plain_files() {
    let dir = tmp();
    write_idx_split(
        dir.path(),
        "train-images.idx3-ubyte",
        "train-labels.idx1-ubyte",
        5,
        5,
        false,
    );
    write_idx_split(
        dir.path(),
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels.idx1-ubyte.gz",
        3,
        3,
        true,
    );
    let d = load_dataset(dir.path()).unwrap();
    assert_eq!(d.train.images.shape(), &[5, 2, 3, 1]);
    assert_eq!(d.test.labels.len(), 3);
    assert!(d.test.images_path.ends_with("t10k-images-idx3-ubyte.gz"));
}

#[test]
fn dataset_accepts_npy_pairs() {
    let dir = tmp();
    let x = Array::from(ArrayD::<u8>::from_elem(IxDyn(&[4, 5, 5, 3]), 7));
    let y = Array::from(ArrayD::from_shape_vec(IxDyn(&[4]), vec![0i64, 3, 9, 255]).unwrap());
    write_npy(&dir.path().join("x_test.npy"), &x).unwrap();
    write_npy(&dir.path().join("y_test.npy"), &y).unwrap();
    let s = load_split(dir.path(), SplitKind::Test).unwrap();
    assert_eq!(s.images.shape(), &[4, 5, 5, 3]);
    assert_eq!(s.labels.to_vec(), vec![0, 3, 9, 255]);
    let x3 = Array::from(ArrayD::<u8>::zeros(IxDyn(&[4, 5, 5])));
    write_npy(&dir.path().join("x_test.npy"), &x3).unwrap();
    assert_eq!(
        load_split(dir.path(), SplitKind::Test)
            .unwrap()
            .images
            .shape(),
        &[4, 5, 5, 1]
    );
    // The training split is missing.
    let e = expect_err(
        load_split(dir.path(), SplitKind::Train),
        ErrorKind::NotFound,
    );
    assert!(e.cause().contains("`x_train.npy`"), "{e}");
}

#[test]
fn dataset_counts_must_agree() {
    let dir = tmp();
    write_idx_split(
        dir.path(),
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        5,
        4,
        false,
    );
    let e = expect_err(
        load_split(dir.path(), SplitKind::Train),
        ErrorKind::CountMismatch,
    );
    assert_eq!(
        e.cause(),
        "`train-images-idx3-ubyte` holds 5 images but `train-labels-idx1-ubyte` holds 4 labels"
    );
    assert_eq!(e.path(), Some(dir.path()));
}

#[test]
fn dataset_refuses_ambiguity_bad_labels_and_bad_images() {
    let dir = tmp();
    write_idx_split(
        dir.path(),
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        2,
        2,
        false,
    );
    write_idx_split(dir.path(), "train-images-idx3-ubyte.gz", "x", 2, 2, true);
    expect_err(
        load_split(dir.path(), SplitKind::Train),
        ErrorKind::Ambiguous,
    );

    let dir = tmp();
    let x = Array::from(ArrayD::<u8>::zeros(IxDyn(&[2, 2, 2])));
    write_npy(&dir.path().join("x_train.npy"), &x).unwrap();
    let y = Array::from(ArrayD::from_shape_vec(IxDyn(&[2]), vec![1i32, -1]).unwrap());
    write_npy(&dir.path().join("y_train.npy"), &y).unwrap();
    let e = expect_err(
        load_split(dir.path(), SplitKind::Train),
        ErrorKind::BadValue,
    );
    assert_eq!(e.cause(), "label -1 at index 1 is outside 0..=255");
    let y = Array::from(ArrayD::<f32>::zeros(IxDyn(&[2])));
    write_npy(&dir.path().join("y_train.npy"), &y).unwrap();
    expect_err(
        load_split(dir.path(), SplitKind::Train),
        ErrorKind::WrongDtype,
    );
    let x = Array::from(ArrayD::<f32>::zeros(IxDyn(&[2, 2, 2])));
    write_npy(&dir.path().join("x_train.npy"), &x).unwrap();
    expect_err(
        load_split(dir.path(), SplitKind::Train),
        ErrorKind::WrongDtype,
    );

    expect_err(
        load_dataset(&dir.path().join("absent")),
        ErrorKind::NotFound,
    );
}

// ---------------------------------------------------------------------------------------------
// atomic output

#[test]
fn atomic_write_replaces_the_file() {
    let dir = tmp();
    let path = write(&dir, "out.bin", b"old");
    write_atomic(&path, |w| w.write_all(b"new contents")).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"new contents");
    assert!(leftovers(dir.path(), &["out.bin"]).is_empty());
}

#[test]
fn atomic_interrupted_write_keeps_the_old_file_and_no_temporary() {
    let dir = tmp();
    let path = write(&dir, "w.npz", b"the old weights");
    let e = write_atomic(&path, |w| {
        w.write_all(&[0u8; 100_000])?; // past the buffer: really on disk in the temporary
        Err(std::io::Error::other("disk on fire"))
    })
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Os);
    assert!(
        e.to_string()
            .contains("could not write the file: disk on fire"),
        "{e}"
    );
    assert_eq!(fs::read(&path).unwrap(), b"the old weights");
    assert!(
        leftovers(dir.path(), &["w.npz"]).is_empty(),
        "{:?}",
        leftovers(dir.path(), &["w.npz"])
    );
    // No old file: nothing at all is left.
    let fresh = dir.path().join("fresh.npz");
    write_atomic(&fresh, |_| Err(std::io::Error::other("no"))).unwrap_err();
    assert!(!fresh.exists());
    assert!(leftovers(dir.path(), &["w.npz"]).is_empty());
}

#[test]
fn atomic_panicking_writer_keeps_the_old_file_and_no_temporary() {
    let dir = tmp();
    let path = write(&dir, "p.bin", b"old");
    let result = std::panic::catch_unwind(|| {
        let _ = write_atomic(&path, |w| {
            w.write_all(b"partial")?;
            panic!("writer bug");
        });
    });
    assert!(result.is_err());
    assert_eq!(fs::read(&path).unwrap(), b"old");
    assert!(leftovers(dir.path(), &["p.bin"]).is_empty());
}

#[test]
fn atomic_refuses_a_directory_and_a_missing_directory() {
    let dir = tmp();
    let e = expect_err(
        write_atomic(dir.path(), |w| w.write_all(b"x")),
        ErrorKind::OutputIsDirectory,
    );
    assert!(e.help_text().is_some());
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    expect_err(write_npz(&sub, &sample_map()), ErrorKind::OutputIsDirectory);
    assert!(sub.is_dir());
    let e = expect_err(
        write_atomic(&dir.path().join("nope/out.bin"), |w| w.write_all(b"x")),
        ErrorKind::NotFound,
    );
    assert!(e.cause().contains("does not exist"), "{e}");
}

#[test]
fn output_equal_to_an_input_is_refused() {
    let dir = tmp();
    let input = write(&dir, "w.npz", b"x");
    let other = dir.path().join("q.npz");
    assert!(check_output(&other, &[&input]).is_ok());
    expect_err(
        check_output(&input, &[&other, &input]),
        ErrorKind::OutputIsInput,
    );
    // Other spellings of the same file: `./`, `..`, a symbolic link, a hard link.
    let dotted = dir.path().join(".").join("sub").join("..").join("w.npz");
    fs::create_dir(dir.path().join("sub")).unwrap();
    let e = expect_err(check_output(&dotted, &[&input]), ErrorKind::OutputIsInput);
    assert!(e.cause().contains("w.npz"));
    #[cfg(unix)]
    {
        let link = dir.path().join("link.npz");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        expect_err(check_output(&link, &[&input]), ErrorKind::OutputIsInput);
        let hard = dir.path().join("hard.npz");
        fs::hard_link(&input, &hard).unwrap();
        expect_err(check_output(&hard, &[&input]), ErrorKind::OutputIsInput);
        // Writing through the symbolic link replaces its target and keeps the link.
        write_atomic(&link, |w| w.write_all(b"via link")).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&input).unwrap(), b"via link");
    }
}

#[cfg(unix)]
#[test]
fn atomic_write_keeps_permissions_of_the_old_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmp();
    let path = write(&dir, "m.bin", b"old");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    write_atomic(&path, |w| w.write_all(b"new")).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o640
    );
}

// ---------------------------------------------------------------------------------------------
// memory budget

#[test]
fn budget_rendering_names_size_and_budget() {
    let e = budget::Budget::new(512 << 20)
        .check(3 << 30, "shape (1024, 1024, 768) of float32")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge);
    assert_eq!(
        e.to_string(),
        "shape (1024, 1024, 768) of float32 needs 3.0 GiB (3221225472 bytes) but the memory budget is 512.0 MiB (536870912 bytes)"
    );
    let report = format!("{:?}", miette::Report::new(e));
    assert!(report.contains("io::too_large"), "{report}");
}

/// Runs this test binary again for one test with `env` set, so that the process-wide budget
/// can be changed without touching the other tests.
fn run_probe(env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "io::budget_probe_in_child_process",
        "--exact",
        "--nocapture",
    ]);
    cmd.env("QNNC_IO_BUDGET_PROBE", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn budget_env_var_and_setter_take_effect() {
    let ok = run_probe(&[("QNNC_MEMORY_BUDGET", "1K")]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        stdout.contains("probe: env 1024, refused, setter 1048576, accepted"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "probe: archive: member `b`: shape (512,) of float32 together with the members before it needs 4.0 KiB (4096 bytes) but the memory budget is 2.9 KiB (3000 bytes)"
        ),
        "{stdout}"
    );
    let bad = run_probe(&[("QNNC_MEMORY_BUDGET", "lots")]);
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert!(
        stdout.contains("probe: bad env: `QNNC_MEMORY_BUDGET`: `lots` is not a size"),
        "{stdout}"
    );
}

/// The child side of [`budget_env_var_and_setter_take_effect`]; a no-op in a normal run.
#[test]
fn budget_probe_in_child_process() {
    if std::env::var_os("QNNC_IO_BUDGET_PROBE").is_none() {
        return;
    }
    let limit = match budget::limit() {
        Ok(l) => l,
        Err(e) => {
            println!("probe: bad env: {e}");
            return;
        }
    };
    let bytes = npy_bytes(&f32_array(&[512])); // 2048 payload bytes
    let refused = io::npy::read_npy_from(&bytes[..]).unwrap_err().kind() == ErrorKind::TooLarge;
    budget::set_limit(1 << 20);
    let accepted = io::npy::read_npy_from(&bytes[..]).is_ok();
    println!(
        "probe: env {limit}, {}, setter {}, {}",
        if refused { "refused" } else { "admitted" },
        budget::limit().unwrap(),
        if accepted { "accepted" } else { "rejected" }
    );
    // The members of one archive count together: two 2048-byte arrays exceed 3000 bytes.
    budget::set_limit(3000);
    let two = zip_raw(&[
        ("a.npy", &bytes, CompressionMethod::Stored),
        ("b.npy", &bytes, CompressionMethod::Stored),
    ]);
    let e = io::npz::read_npz_from(Cursor::new(two)).unwrap_err();
    println!("probe: archive: {e}");
}

// ---------------------------------------------------------------------------------------------
// robustness: random and mutated bytes never panic

/// Valid inputs of every kind, to be mutated.
fn seeds() -> Vec<Vec<u8>> {
    let mut m = sample_map();
    m.insert(
        "b".into(),
        Array::from(ArrayD::<bool>::from_elem(IxDyn(&[3]), true)),
    );
    let idx = idx_raw(0x08, &[3, 2, 2], &[5; 12]);
    vec![
        npy_bytes(&f32_array(&[2, 3])),
        npy_bytes(&m["input_uint8"]),
        npz_bytes(&m),
        zip_raw(&[(
            "a.npy",
            &npy_bytes(&f32_array(&[4])),
            CompressionMethod::Stored,
        )]),
        gzip(&idx),
        idx,
    ]
}

/// Runs every reader on `bytes`; each must return (Ok or Err) without panicking.
fn feed_all_readers(bytes: &[u8]) {
    let _ = io::npy::read_npy_from(bytes);
    let _ = io::npz::read_npz_from(Cursor::new(bytes));
    let _ = io::idx::read_idx_from(bytes);
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Set(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (
            any::<usize>(),
            prop_oneof![Just(0u8), Just(0xff), Just(b'('), Just(b'\''), Just(9)]
        )
            .prop_map(|(i, b)| Mutation::Set(i, b)),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        let n = bytes.len();
        match m {
            Mutation::Flip(i, b) => bytes[i % n] ^= b,
            Mutation::Truncate(i) => bytes.truncate(i % n),
            Mutation::Insert(i, v) => {
                let at = i % n;
                bytes.splice(at..at, v.iter().copied());
            }
            Mutation::Set(i, b) => bytes[i % n] = *b,
        }
    }
    bytes
}

proptest! {
    // At least 400 cases; `PROPTEST_CASES` can ask for more.
    #![proptest_config(ProptestConfig {
        cases: ProptestConfig::default().cases.max(400),
        ..ProptestConfig::default()
    })]

    #[test]
    fn readers_never_panic_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        feed_all_readers(&bytes);
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        npy.extend_from_slice(&bytes);
        feed_all_readers(&npy);
        let mut zip = b"PK\x03\x04".to_vec();
        zip.extend_from_slice(&bytes);
        feed_all_readers(&zip);
    }

    #[test]
    fn readers_never_panic_on_mutated_files(
        seed in 0usize..6,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let bytes = apply(seeds()[seed].clone(), &mutations);
        feed_all_readers(&bytes);
    }
}

#[test]
fn readers_never_panic_on_mutated_files_on_disk() {
    let dir = tmp();
    for (i, seed) in seeds().into_iter().enumerate() {
        for cut in [0, 1, seed.len() / 2, seed.len() - 1] {
            let path = write(&dir, &format!("s{i}_{cut}"), &seed[..cut]);
            assert!(read_npy(&path).is_err());
            assert!(read_npz(&path).is_err());
            assert!(read_idx(&path).is_err());
        }
    }
}

#[test]
fn every_reader_accepts_its_own_seed() {
    let s = seeds();
    assert!(io::npy::read_npy_from(&s[0][..]).is_ok());
    assert!(io::npy::read_npy_from(&s[1][..]).is_ok());
    assert_eq!(io::npz::read_npz_from(Cursor::new(&s[2])).unwrap().len(), 6);
    assert!(io::npz::read_npz_from(Cursor::new(&s[3])).is_ok());
    assert_eq!(
        io::idx::read_idx_from(&s[4][..]).unwrap(),
        io::idx::read_idx_from(&s[5][..]).unwrap()
    );
    assert_eq!(DType::ALL.len(), 11);
}
