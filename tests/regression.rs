//! The fuzz targets' quick check, on the stable toolchain: every committed crash input
//! (`tests/regression/<target>/`) and every committed seed (`fuzz/seeds/<target>/`) replayed
//! through the same harness the cargo-fuzz targets call (`qnnc::fuzz_entry`), then a few
//! hundred mutations of the seeds (bit flips, byte writes, truncations, insertions, splices)
//! per target. A panic anywhere is a failure naming the file or the mutated input.

use proptest::prelude::*;
use qnnc::fuzz_entry;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A harness: bytes in, a panic on a bug.
type Entry = fn(&[u8]);

/// The fuzz targets and their harnesses.
const TARGETS: [(&str, Entry); 4] = [
    ("q_check", fuzz_entry::q_check),
    ("npz_npy", fuzz_entry::npz_npy),
    ("idx", fuzz_entry::idx),
    ("nsoc", fuzz_entry::nsoc),
];

fn entry(target: &str) -> Entry {
    TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|&(_, f)| f)
        .unwrap_or_else(|| panic!("`{target}` is one of the fuzz targets"))
}

/// The files directly in `dir`, sorted (none when it does not exist).
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.expect("a readable directory entry").path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

fn regression_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/regression")
        .join(target)
}

fn seeds_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target)
}

/// Runs `f`, turning a panic into its message.
fn no_panic(f: impl FnOnce()) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}

/// Replays every committed crash input and seed of `target`; fails listing each that panics.
fn replay(target: &str) {
    let run = entry(target);
    let seeds = files_in(&seeds_dir(target));
    assert!(
        !seeds.is_empty(),
        "`fuzz/seeds/{target}` holds the committed seeds (run `fuzz/seed.sh --small`)"
    );
    let mut failures = Vec::new();
    for path in files_in(&regression_dir(target)).into_iter().chain(seeds) {
        let data = std::fs::read(&path).expect("a committed input reads");
        if let Err(msg) = no_panic(|| run(&data)) {
            failures.push(format!("{}: {msg}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "`{target}` panics on:\n{}",
        failures.join("\n")
    );
}

#[test]
fn replay_q_check() {
    replay("q_check");
}

#[test]
fn replay_npz_npy() {
    replay("npz_npy");
}

#[test]
fn replay_idx() {
    replay("idx");
}

#[test]
fn replay_nsoc() {
    replay("nsoc");
}

/// Every regression input sits in the directory of an existing target, so none is silently
/// skipped.
#[test]
fn regression_inputs_belong_to_targets() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/regression");
    for entry in std::fs::read_dir(&root).expect("tests/regression exists") {
        let path = entry.expect("a readable directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_file() && name == "README.md" {
            continue;
        }
        assert!(
            path.is_dir() && TARGETS.iter().any(|(t, _)| *t == name),
            "`{}` is not the directory of a fuzz target",
            path.display()
        );
    }
}

/// `nsoc/dims-elements-overflow`: input dims (2²², 2²², 2²⁰) hold 2⁶⁴ values, which a
/// wrapping `H·W·C` read as 0 (a release build called the program empty, a debug build
/// panicked); they are refused as too large.
#[test]
fn nsoc_dims_past_u64_are_refused_as_huge() {
    let bytes = std::fs::read(regression_dir("nsoc").join("dims-elements-overflow"))
        .expect("the regression input reads");
    let err = qnnc::backend::nsoc::format::decode(&bytes)
        .expect_err("a program of 2^64 input values is refused")
        .to_string();
    assert!(
        err.contains("(4194304, 4194304, 1048576) holds more than"),
        "{err}"
    );
}

/// The member framing of the `npz_npy` target builds a valid archive: the initial weights of
/// `examples/toy.q`, framed, read back to the same arrays (so fuzzed framings reach the
/// weights checks).
#[test]
fn npz_members_frames_an_archive() {
    let text = include_str!("../examples/toy.q");
    let front = qnnc::session::Session::new(qnnc::source::SourceFile::new("toy.q", text));
    let model = &front.module.expect("toy.q lowers").models[0];
    let arrays = qnnc::params::init(model, 7).to_array_map();
    let mut npys = Vec::new();
    for (name, array) in &arrays {
        let mut bytes = Vec::new();
        qnnc::io::npy::encode_npy(&mut bytes, array).expect("writing to memory");
        npys.push((format!("{name}.npy"), bytes));
    }
    for deflate in [false, true] {
        let framed = fuzz_entry::frame_npz_members(
            deflate,
            npys.iter().map(|(n, b)| (n.as_str(), b.as_slice())),
        );
        let archive = fuzz_entry::npz_members(&framed).expect("distinct names frame");
        let back = qnnc::io::npz::read_npz_from(std::io::Cursor::new(archive))
            .expect("the framed archive reads");
        assert_eq!(back, arrays, "deflate {deflate}");
    }
}

/// One change to an input.
#[derive(Clone, Debug)]
enum Mutation {
    /// Flip bit `bit` of the byte at `at` (modulo the length).
    FlipBit { at: usize, bit: u8 },
    /// Overwrite the byte at `at` with an interesting value.
    SetByte { at: usize, value: u8 },
    /// Keep the first `len` bytes (modulo the length + 1).
    Truncate { len: usize },
    /// Insert `bytes` at `at`.
    Insert { at: usize, bytes: Vec<u8> },
    /// Replace the bytes from `at` with those of seed `other` from `from`, `len` of them.
    Splice {
        at: usize,
        other: usize,
        from: usize,
        len: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![
        Just(0u8),
        Just(1),
        Just(0x7f),
        Just(0x80),
        Just(0xff),
        any::<u8>()
    ];
    prop_oneof![
        3 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        3 => (any::<usize>(), interesting).prop_map(|(at, value)| Mutation::SetByte { at, value }),
        1 => any::<usize>().prop_map(|len| Mutation::Truncate { len }),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (any::<usize>(), any::<usize>(), any::<usize>(), 1usize..64).prop_map(
            |(at, other, from, len)| Mutation::Splice { at, other, from, len }
        ),
    ]
}

/// `seed` with `mutations` applied in order.
fn mutate(seeds: &[Vec<u8>], seed: usize, mutations: &[Mutation]) -> Vec<u8> {
    let mut data = seeds[seed % seeds.len()].clone();
    for m in mutations {
        match m {
            Mutation::FlipBit { at, bit } if !data.is_empty() => {
                let i = at % data.len();
                data[i] ^= 1 << bit;
            }
            Mutation::SetByte { at, value } if !data.is_empty() => {
                let i = at % data.len();
                data[i] = *value;
            }
            Mutation::Truncate { len } => data.truncate(len % (data.len() + 1)),
            Mutation::Insert { at, bytes } => {
                let i = at % (data.len() + 1);
                data.splice(i..i, bytes.iter().copied());
            }
            Mutation::Splice {
                at,
                other,
                from,
                len,
            } => {
                let source = &seeds[other % seeds.len()];
                if source.is_empty() {
                    continue;
                }
                let from = from % source.len();
                let piece = &source[from..(from + len).min(source.len())];
                let i = at % (data.len() + 1);
                let end = (i + piece.len()).min(data.len());
                data.splice(i..end, piece.iter().copied());
            }
            _ => {}
        }
    }
    data
}

/// Each target's committed seeds.
type SeedSets = Vec<(&'static str, Vec<Vec<u8>>)>;

/// The committed seeds of `target`, read once.
fn seeds(target: &'static str) -> &'static [Vec<u8>] {
    static CACHE: OnceLock<SeedSets> = OnceLock::new();
    let all = CACHE.get_or_init(|| {
        TARGETS
            .iter()
            .map(|&(t, _)| {
                let files = files_in(&seeds_dir(t));
                let data = files
                    .iter()
                    .map(|p| std::fs::read(p).expect("a committed seed reads"))
                    .collect();
                (t, data)
            })
            .collect()
    });
    let found = &all
        .iter()
        .find(|(t, _)| *t == target)
        .expect("a known target")
        .1;
    assert!(!found.is_empty(), "`fuzz/seeds/{target}` holds seeds");
    found
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn input_for(target: &'static str) -> impl Strategy<Value = Vec<u8>> {
    (any::<usize>(), prop::collection::vec(mutation(), 1..6))
        .prop_map(move |(seed, ms)| mutate(seeds(target), seed, &ms))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mutated_q_check(data in input_for("q_check")) {
        fuzz_entry::q_check(&data);
    }

    #[test]
    fn mutated_npz_npy(data in input_for("npz_npy")) {
        fuzz_entry::npz_npy(&data);
    }

    #[test]
    fn mutated_idx(data in input_for("idx")) {
        fuzz_entry::idx(&data);
    }

    #[test]
    fn mutated_nsoc(data in input_for("nsoc")) {
        fuzz_entry::nsoc(&data);
    }
}
