#!/usr/bin/env python3
"""BrainChip's akida_models zoo (Akida 1.0 definitions) against `examples/zoo/*.q`.

For each zoo model this script builds the Keras model with akida_models' own function, in
cnn2snn's `set_akida_version(AkidaVersion.v1)` context (fused separable convolutions,
`ReLU(6)`, global average pooling before the batch norm: akida_models'
`get_params_by_version()` for Akida 1.0), and

- prints per layer its qnnc name, Keras class, output shape and parameter count
  (`--print`, the default);
- with `--qnnc PATH`, runs `qnnc summary examples/zoo/NAME.q` and compares the two tables
  row by row (name, output shape, parameter count) and the totals; exit 1 on a difference;
- with `--expected FILE`, writes the Keras tables (qnnc name, output shape, parameters, and
  the totals) to FILE, which tests/summary.rs compares with `qnnc summary` without Python
  (`examples/zoo/keras_summary.txt`);
- with `--npz DIR`, writes random-but-valid float weights of the Keras model (Keras' default
  initialisers under `tf_keras.utils.set_random_seed(SEED)`, batch-norm statistics drawn from
  a fixed NumPy generator so that the folded thresholds are not all equal) as `DIR/NAME.npz`
  in qnnc's `LAYER/VAR` naming.

Keras names in akida_models contain `/` (`conv_0/BN`, `separable_4/global_avg`,
`block_1/conv_1/relu`); `.q` names cannot, and `/` separates layer and variable in qnnc's
weight files, so every `/` becomes `_` (`conv_0_BN`). The `Rescaling` layer (0 parameters)
is `input(scale:, offset:)` in `.q` and has no row in qnnc's summary: it is left out of the
comparison; the `Input` row too.

Usage (from the repository root):

    /work/venvs/refenv/bin/python python/zoo_check.py                      # print the tables
    /work/venvs/refenv/bin/python python/zoo_check.py --qnnc target/release/qnnc
    /work/venvs/refenv/bin/python python/zoo_check.py --npz target/zoo --seed 0
    /work/venvs/refenv/bin/python python/zoo_check.py --only ds_cnn_kws --qnnc target/release/qnnc
"""

import argparse
import os
import re
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402


def zoo_models():
    """name -> (callable building the Keras model, description)."""
    from akida_models import (ds_cnn_kws, vgg_utk_face, gxnor_mnist, mobilenet_imagenet,
                              akidanet_imagenet)
    return {
        "ds_cnn_kws": (lambda: ds_cnn_kws(input_shape=(49, 10, 1), classes=33),
                       "ds_cnn_kws(input_shape=(49, 10, 1), classes=33)"),
        "vgg_utk_face": (lambda: vgg_utk_face(input_shape=(32, 32, 3)),
                         "vgg_utk_face(input_shape=(32, 32, 3))"),
        "gxnor_mnist": (lambda: gxnor_mnist(), "gxnor_mnist()"),
        "mobilenet_v1_025_160": (
            lambda: mobilenet_imagenet(input_shape=(160, 160, 3), alpha=0.25, classes=1000),
            "mobilenet_imagenet(input_shape=(160, 160, 3), alpha=0.25, classes=1000)"),
        "mobilenet_v1_100_224": (
            lambda: mobilenet_imagenet(input_shape=(224, 224, 3), alpha=1.0, classes=1000),
            "mobilenet_imagenet(input_shape=(224, 224, 3), alpha=1.0, classes=1000)"),
        "akidanet_025_160": (
            lambda: akidanet_imagenet(input_shape=(160, 160, 3), alpha=0.25, classes=1000),
            "akidanet_imagenet(input_shape=(160, 160, 3), alpha=0.25, classes=1000)"),
    }


def qname(keras_name):
    """The `.q` name of a Keras layer: every `/` becomes `_`."""
    return keras_name.replace("/", "_")


def build(name):
    from cnn2snn import set_akida_version, AkidaVersion
    fn, _ = zoo_models()[name]
    with set_akida_version(AkidaVersion.v1):
        return fn()


def keras_rows(model):
    """[(qnnc name, class, shape tuple without batch, params)], Input and Rescaling left out."""
    rows = []
    for layer in model.layers:
        cls = type(layer).__name__
        if cls in ("InputLayer", "Rescaling"):
            continue
        shape = tuple(layer.output.shape[1:])
        rows.append((qname(layer.name), cls, shape, layer.count_params()))
    return rows


def print_table(name, model):
    print(f"== {name}: {zoo_models()[name][1]}  (Keras name '{model.name}')")
    for qn, cls, shape, params in keras_rows(model):
        print(f"  {qn:40s} {cls:24s} {str(shape):22s} {params:>10,}")
    print(f"  total params: {model.count_params():,}")


ROW = re.compile(r"^\s*[│|]?\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(([^)]*)\)\s*[│|]?\s*"
                 r"\(None,\s*([0-9, ]+)\)\s*[│|]?\s*([0-9,]+)")


def qnnc_rows(qnnc, path):
    out = subprocess.run([qnnc, "summary", path], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"qnnc summary {path} failed:\n{out.stdout}{out.stderr}")
    rows, totals = [], {}
    for line in out.stdout.splitlines():
        m = ROW.match(line)
        if m:
            shape = tuple(int(s) for s in m.group(3).replace(" ", "").split(",") if s)
            rows.append((m.group(1), m.group(2), shape, int(m.group(4).replace(",", ""))))
            continue
        m = re.match(r"^\s*(Total|Trainable|Non-trainable) params:\s*([0-9,]+)", line)
        if m:
            totals[m.group(1)] = int(m.group(2).replace(",", ""))
    return rows, totals, out.stdout


def compare(name, model, qnnc, zoo_dir):
    path = os.path.join(zoo_dir, name + ".q")
    rows, totals, text = qnnc_rows(qnnc, path)
    total = totals.get("Total")
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    keras_totals = {"Total": model.count_params(), "Trainable": trainable,
                    "Non-trainable": model.count_params() - trainable}
    krows = keras_rows(model)
    problems = []
    if len(rows) != len(krows):
        problems.append(f"{len(rows)} qnnc rows, {len(krows)} Keras rows")
    for i, (q, k) in enumerate(zip(rows, krows)):
        if q[0] != k[0] or q[2] != k[2] or q[3] != k[3]:
            problems.append(f"row {i}: qnnc {q[0]} {q[2]} {q[3]} vs Keras {k[0]} {k[2]} {k[3]}")
    for key, value in keras_totals.items():
        if totals.get(key) != value:
            problems.append(f"{key} params: qnnc {totals.get(key)} vs Keras {value}")
    verdict = "OK" if not problems else "DIFFERS"
    print(f"{name}: {verdict}: {len(rows)} layers, params qnnc {total:,} / Keras "
          f"{model.count_params():,} (trainable qnnc {totals.get('Trainable'):,} / Keras "
          f"{trainable:,})")
    for p in problems:
        print("   ", p)
    if problems:
        print(text)
    return not problems


def expected_lines(name, model):
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    lines = [f"model {name} total {model.count_params()} trainable {trainable}"]
    for qn, _, shape, params in keras_rows(model):
        lines.append(f"{qn}\t(None, {', '.join(str(d) for d in shape)})\t{params}")
    return lines


def save_npz(name, model, out_dir, seed):
    """Float weights in qnnc's LAYER/VAR naming; batch-norm statistics randomised."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for layer in model.layers:
        for w in layer.weights:
            var = w.name.split("/")[-1].split(":")[0]
            value = w.numpy().astype(np.float32)
            cls = type(layer).__name__
            if cls == "BatchNormalization":
                n = value.shape[0]
                value = {
                    "gamma": rng.uniform(0.5, 1.5, n),
                    "beta": rng.uniform(-0.05, 0.05, n),
                    "moving_mean": rng.uniform(-0.05, 0.05, n),
                    "moving_variance": rng.uniform(0.5, 1.5, n),
                }[var].astype(np.float32)
            arrays[f"{qname(layer.name)}/{var}"] = value
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name + ".npz")
    np.savez(path, **arrays)
    size = os.path.getsize(path)
    print(f"{path}: {len(arrays)} arrays, {sum(a.size for a in arrays.values()):,} values, "
          f"{size:,} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", help="model names (default: all)")
    ap.add_argument("--qnnc", help="compare with `QNNC summary examples/zoo/NAME.q`")
    ap.add_argument("--zoo-dir", default="examples/zoo")
    ap.add_argument("--expected", metavar="FILE", help="write the Keras tables to FILE")
    ap.add_argument("--npz", metavar="DIR", help="write random float weights to DIR/NAME.npz")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true", help="no per-layer tables")
    args = ap.parse_args()

    import tf_keras
    names = args.only or list(zoo_models())
    ok = True
    expected = ["# Keras tables of akida_models' zoo (Akida 1.0), written by python/zoo_check.py "
                "--expected; `/` in names is `_`, Input and Rescaling rows left out"]
    for name in names:
        tf_keras.utils.set_random_seed(args.seed)
        model = build(name)
        if not args.quiet and not args.qnnc:
            print_table(name, model)
        if args.qnnc:
            ok &= compare(name, model, args.qnnc, args.zoo_dir)
        if args.npz:
            save_npz(name, model, args.npz, args.seed)
        expected += expected_lines(name, model)
        tf_keras.backend.clear_session()
    if args.expected:
        with open(args.expected, "w") as f:
            f.write("\n".join(expected) + "\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
