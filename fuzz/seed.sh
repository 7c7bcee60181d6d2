#!/usr/bin/env bash
# Fills the seed corpora of the fuzz targets from the repository's own files.
#
#   fuzz/seed.sh            → fuzz/corpus/<target>/   (the full generated corpus, not in git)
#   fuzz/seed.sh --small    → fuzz/seeds/<target>/    (the small committed subset, < 2 MB)
#
# q_check: examples/*.q, tests/ui/**/*.q, tests/data/*.q
# npz_npy: initial weights of every example (`qnnc init`), the small reference archives of
#          tests/data, each archive's members as `.npy` files, and each archive as the member
#          framing of `qnnc::fuzz_entry::npz_members` (stored and deflated)
# idx:     small valid IDX files cut from examples/data/mnist (header counts rewritten), plain
#          and gzipped
# nsoc:    programs compiled with `qnnc compile` from the examples and the tests/ui models
#          that have weights, for the software and the AKD1000 target
#
# Needs python3 (standard library only) and a qnnc binary: $QNNC, else target/release/qnnc,
# else target/debug/qnnc (built with `cargo build` when neither exists).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

small=0
out=fuzz/corpus
if [[ "${1:-}" == "--small" ]]; then
    small=1
    out=fuzz/seeds
fi

qnnc="${QNNC:-}"
if [[ -z "$qnnc" ]]; then
    if [[ -x target/release/qnnc ]]; then
        qnnc=target/release/qnnc
    else
        [[ -x target/debug/qnnc ]] || cargo build --quiet --bin qnnc
        qnnc=target/debug/qnnc
    fi
fi

for t in q_check npz_npy idx nsoc; do
    mkdir -p "$out/$t"
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A file name for a repository path: `tests/ui/ok/a.q` → `tests_ui_ok_a.q`.
flat() { echo "${1//\//_}"; }

# --- q_check ---------------------------------------------------------------------------
sources=(examples/*.q tests/data/*.q)
while IFS= read -r f; do sources+=("$f"); done < <(find tests/ui -name '*.q' | sort)
for f in "${sources[@]}"; do
    cp "$f" "$out/q_check/$(flat "$f")"
done

# --- weights: qnnc init for every example, used by npz_npy and nsoc ----------------------
mkdir -p "$work/weights"
for f in examples/*.q; do
    name="$(basename "$f" .q)"
    "$qnnc" init "$f" -o "$work/weights/$name.npz" >/dev/null 2>&1 || true
done

# --- npz_npy ---------------------------------------------------------------------------
archives=("$work"/weights/*.npz)
if [[ $small == 1 ]]; then
    # The two smallest reference archives and the smallest initial weights.
    archives=(tests/data/toy_q_w2_a2_iw8_akida.npz "$work/weights/toy.npz")
else
    archives+=(tests/data/toy_q_*_akida.npz tests/data/sep_q_w4_a4_iw8_akida.npz
        tests/data/activations.npz tests/ui/*/*.npz)
fi
python3 - "$out/npz_npy" "${archives[@]}" <<'EOF'
import os, struct, sys, zipfile

out, archives = sys.argv[1], sys.argv[2:]
for path in archives:
    if not os.path.exists(path):
        continue
    stem = path.replace("/", "_").removesuffix(".npz").lstrip("_")[-60:]
    with open(path, "rb") as f:
        raw = f.read()
    with open(os.path.join(out, stem + ".npz"), "wb") as f:
        f.write(raw)
    with zipfile.ZipFile(path) as z:
        members = [(i.filename, z.read(i)) for i in z.infolist()]
    # Each member alone as a `.npy` file (the small ones only: the fuzzer mutates headers).
    for name, data in members:
        if len(data) <= 4096:
            member = name.replace("/", "_")
            with open(os.path.join(out, f"{stem}__{member}"), "wb") as f:
                f.write(data)
    # The archive in the member framing of `qnnc::fuzz_entry::npz_members`.
    for deflate in (0, 1):
        framed = bytearray([deflate])
        for name, data in members:
            n = name.encode()[:255]
            framed += bytes([len(n)]) + n + struct.pack("<I", len(data)) + data
        with open(os.path.join(out, f"{stem}.framed{deflate}"), "wb") as f:
            f.write(framed)
EOF

# --- idx -------------------------------------------------------------------------------
python3 - "$out/idx" "$small" examples/data/mnist/*-ubyte.gz <<'EOF'
import gzip, os, struct, sys

out, small, files = sys.argv[1], sys.argv[2] == "1", sys.argv[3:]
for path in files:
    base = os.path.basename(path).removesuffix(".gz")
    for count in (1, 3) if small else (1, 3, 16):
        # A valid small IDX file: the header with the item count rewritten, then that many
        # items of the original.
        with gzip.open(path, "rb") as f:
            head = f.read(4)
            rank = head[3]
            dims = struct.unpack(">" + "I" * rank, f.read(4 * rank))
            per_item = 1
            for d in dims[1:]:
                per_item *= d
            body = f.read(count * per_item)
        data = head + struct.pack(">" + "I" * rank, count, *dims[1:]) + body
        with open(os.path.join(out, f"{base}.{count}"), "wb") as f:
            f.write(data)
        with open(os.path.join(out, f"{base}.{count}.gz"), "wb") as f:
            f.write(gzip.compress(data, mtime=0))
EOF

# --- nsoc ------------------------------------------------------------------------------
compile() { # model weights name
    for target in software akd1000; do
        "$qnnc" compile "$1" --weights "$2" --target "$target" \
            -o "$out/nsoc/$3.$target.nsoc" >/dev/null 2>&1 || true
    done
}
for f in examples/*.q; do
    name="$(basename "$f" .q)"
    [[ -f "$work/weights/$name.npz" ]] && compile "$f" "$work/weights/$name.npz" "$name"
done
if [[ $small == 0 ]]; then
    for w in tests/ui/*/*.npz; do
        q="${w%.npz}.q"
        [[ -f "$q" ]] && compile "$q" "$w" "$(flat "${q%.q}")"
    done
fi

for t in q_check npz_npy idx nsoc; do
    printf '%-8s %4d files %8d bytes\n' "$t" "$(find "$out/$t" -type f | wc -l)" \
        "$(find "$out/$t" -type f -exec cat {} + | wc -c)"
done
