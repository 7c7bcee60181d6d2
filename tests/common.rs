//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (tests run with it as the working directory for relative paths).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `qnnc` with `args` from the repository root, with plain 80-column diagnostics.
pub fn qnnc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qnnc"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("COLUMNS", "80")
        .output()
        .expect("the qnnc binary runs")
}

/// Every file under `dir` (recursively) with extension `ext`, sorted.
pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let p = entry.expect("directory entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Whether golden files should be rewritten instead of compared.
pub fn bless() -> bool {
    std::env::var_os("BLESS").is_some_and(|v| v != "0")
}

/// Compares `actual` with the golden file at `path` (or rewrites it under `BLESS=1`), returning
/// a readable line diff on mismatch.
pub fn check_golden(path: &Path, actual: &str) -> Result<(), String> {
    if bless() {
        std::fs::write(path, actual).expect("golden file is writable");
        return Ok(());
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected == actual {
        return Ok(());
    }
    let mut diff = format!("--- {} (expected)\n+++ actual\n", path.display());
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    for i in 0..e.len().max(a.len()) {
        match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => diff.push_str(&format!(" {x}\n")),
            (x, y) => {
                if let Some(x) = x {
                    diff.push_str(&format!("-{x}\n"));
                }
                if let Some(y) = y {
                    diff.push_str(&format!("+{y}\n"));
                }
            }
        }
    }
    Err(diff)
}

/// Reads a reference `.npz` from `tests/data`.
pub fn reference(name: &str) -> qnnc::io::ArrayMap {
    qnnc::io::read_npz(&root().join("tests/data").join(name))
        .unwrap_or_else(|e| panic!("reference `{name}`: {e}"))
}

/// The float32 array `key` of a map, panicking with the key when absent or of another type.
pub fn f32_array(map: &qnnc::io::ArrayMap, key: &str) -> ndarray::ArrayD<f32> {
    match map.get(key) {
        Some(qnnc::io::Array::F32(a)) => a.clone(),
        Some(other) => panic!("`{key}` is {}, not float32", other.dtype().name()),
        None => panic!("no `{key}` among {:?}", map.keys().collect::<Vec<_>>()),
    }
}

/// Any integer array `key` of a map, as i64.
pub fn int_array(map: &qnnc::io::ArrayMap, key: &str) -> ndarray::ArrayD<i64> {
    use qnnc::io::Array;
    match map.get(key) {
        Some(Array::I8(a)) => a.mapv(i64::from),
        Some(Array::U8(a)) => a.mapv(i64::from),
        Some(Array::I32(a)) => a.mapv(i64::from),
        Some(Array::I64(a)) => a.clone(),
        Some(other) => panic!("`{key}` is {}, not an integer array", other.dtype().name()),
        None => panic!("no `{key}` among {:?}", map.keys().collect::<Vec<_>>()),
    }
}

/// Writes the reference weights `PREFIX__layer__var` of `map` as a qnnc weights file
/// (`layer/var`), renaming layers with `rename`.
pub fn reference_weights(
    map: &qnnc::io::ArrayMap,
    prefix: &str,
    rename: &dyn Fn(&str) -> String,
    path: &Path,
) {
    let mut out = qnnc::io::ArrayMap::new();
    for (k, v) in map {
        let Some(rest) = k.strip_prefix(&format!("{prefix}__")) else {
            continue;
        };
        let Some((layer, var)) = rest.split_once("__") else {
            continue;
        };
        out.insert(format!("{}/{var}", rename(layer)), v.clone());
    }
    assert!(!out.is_empty(), "no `{prefix}__*` arrays");
    qnnc::io::write_npz(path, &out).unwrap();
}

/// Bitwise equality of two f32 arrays, with the first difference on failure.
pub fn assert_bits_eq(what: &str, a: &ndarray::ArrayD<f32>, b: &ndarray::ArrayD<f32>) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes differ");
    if let Some((i, (x, y))) = a
        .iter()
        .zip(b.iter())
        .enumerate()
        .find(|(_, (x, y))| x.to_bits() != y.to_bits())
    {
        panic!("{what}: element {i} differs: {x:e} vs {y:e}");
    }
}
