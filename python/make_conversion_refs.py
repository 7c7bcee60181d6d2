#!/usr/bin/env python3
"""Conversion reference corpus: random `.q` models through BrainChip's own Python flow.

What it does
------------
For every case `0 .. --cases − 1` of the seeded random model generator
(`qnnc_akida.generate.generate(seed, case, small=True)`), this script

1. builds the model in tf_keras exactly as the `.q` text means it (docs/language.md): an
   `Input`, then the layers in order, with the generator's layer names —
   `conv2d`/`separable_conv2d`/`dense` become `Conv2D`/`SeparableConv2D`/`Dense`, or, with a
   quantizer, cnn2snn's `QuantizedConv2D`/`QuantizedSeparableConv2D`/`QuantizedDense` with a
   `MaxQuantizer`, `MaxPerAxisQuantizer`, `StdWeightQuantizer`, `StdPerAxisQuantizer` or, for a
   `linear(scale: EXPR)` quantizer, `FormulaQuantizer` below (a `LinearWeightQuantizer` that
   evaluates EXPR with TF ops in float32 in the order written; per axis, reductions keep the
   last axis); `quantized_relu` → `QuantizedReLU(bits, max_value)`, `discrete_relu` →
   `ActivationDiscreteRelu(bits)`, `relu` → `ReLU(max_value)`, `batch_norm` →
   `BatchNormalization(epsilon)` (with `gamma_min`, gamma is set to `max(gamma, gamma_min)` by
   akida_models' `MinValueConstraint`, as one optimizer step with the constraint would),
   `max_pool` → `MaxPooling2D(size, strides, padding)`, `global_avg_pool`, `flatten`,
   `dropout`, `softmax`; then sets the generator's float weights;
2. if the model has `quantize(weights: W, activations: A, input_weights: IW)`, calls
   `cnn2snn.quantize(model, W, A, IW)`;
3. records the Keras quantized model's output (`model.predict`) on the float inputs
   `(x_uint8 − offset) / scale` (float32);
4. calls `cnn2snn.convert(model, input_scaling=(scale, offset))` and, when it converts, runs the
   akida model's `forward` (and `predict` when the last layer outputs potentials) on the
   uint8 inputs.

Cases whose float weights hold more than `MAX_PARAMETERS` (2,500) values are skipped and
listed in `index.json` as `skipped_large`: random float32 weights do not compress, and the
corpus is committed (about 5.9 MB; with the defaults, 579 cases of which 311 convert).

Output (`tests/data/conversion/`, rewritten from scratch):

- `case_NNNN.npz`, one per case, every member a plain `.npy` (DEFLATE, fixed timestamps):
  - `model_q` (uint8): the `.q` text, UTF-8;
  - `w/LAYER/VAR` (float32): the float, unfolded weights in Keras layouts;
  - `input` (uint8, NHWC): the inputs;
  - `keras_output` (float32): the Keras quantized model's `predict` on
    `(input − offset) / scale`, where the model was built and quantized; `keras_logits` too
    when the model ends with a softmax (the generator emits none); `keras_eager`
    (float32) only where the eager call `model(x, training=False)` differs from `predict`
    (graph-mode and eager TF kernels can round differently; 13 cases, by 1.4e-7 at most);
  - `keras_error`, `quantize_error`, `convert_error`, `forward_error`, `predict_error`
    (uint8, UTF-8 `Type: message`): what refused, where something did;
  - `convert_warnings` (uint8, UTF-8, one per line): cnn2snn/akida warnings of `convert`;
  - on conversion: `akida_json_gz` (uint8, gzip with mtime 0 of `akida.Model.to_json()`),
    `akida_forward` (int32 potentials, or uint8 levels when the last layer has an
    activation) and, when the last layer has no activation, `akida_predict` (float32).
- `index.json`: the versions, seed, case count, per-verdict counts and, per case, its mode,
  layers, akida layer types and every message.

Running it twice gives the same bytes.

How to run
----------
With the reference environment (Python 3.11, TensorFlow 2.19.1 CPU, tf_keras 2.19.0,
cnn2snn 2.19.3, akida 2.19.3, akida-models 1.14.2, quantizeml 1.2.5, NumPy 2.1.3; pinned in
`python/requirements-refs.txt`; see the steering repository's `refs/README.md` for how it was
made), from the repository root:

    TF_CPP_MIN_LOG_LEVEL=3 /path/to/refenv/bin/python python/make_conversion_refs.py
    # options: --seed S (default 20260301), --cases N (default 720), --out DIR

It takes about twenty minutes on two cores. The Rust test `tests/conversion.rs` holds qnnc to the
result (`cargo test --release --test suite conversion`).
"""

import argparse
import gzip
import io
import json
import os
import re
import shutil
import sys
import warnings
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
from tf_keras import layers  # noqa: E402

import akida  # noqa: E402
import cnn2snn  # noqa: E402
from cnn2snn import quantization_layers as qlayers  # noqa: E402
from cnn2snn import quantization_ops as qops  # noqa: E402
from cnn2snn.min_value_constraint import MinValueConstraint  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from qnnc_akida import generate  # noqa: E402

SEED = 20260301
CASES = 720
# Cases whose float weights hold more values than this are skipped (listed in index.json as
# `skipped_large`): random float32 weights do not compress, and the corpus is committed.
MAX_PARAMETERS = 2500
OUT = HERE.parent / "tests" / "data" / "conversion"


# ---------------------------------------------------------------------------------------------
# `linear(bits: B, scale: EXPR, per_axis: P)`: a LinearWeightQuantizer computing EXPR
# ---------------------------------------------------------------------------------------------
TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|([A-Za-z_]\w*)|(.))")
REDUCTIONS = {"max": tf.math.reduce_max, "min": tf.math.reduce_min,
              "mean": tf.math.reduce_mean, "std": tf.math.reduce_std}
ELEMENTWISE = {"abs": (1, tf.math.abs), "sqrt": (1, tf.math.sqrt),
               "clip": (3, lambda x, lo, hi: tf.clip_by_value(x, lo, hi))}


def parse_formula(text):
    """The formula as a tree: ("num", v) | ("var", name) | ("neg", a) | (op, a, b) |
    ("call", name, [args]), with the usual precedence, left-associative."""
    toks = []
    for num, name, sym in TOKEN.findall(text):
        if num:
            toks.append(("num", float(num)))
        elif name:
            toks.append(("name", name))
        elif sym.strip():
            toks.append(("sym", sym))
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else (None, None)

    def take(sym=None):
        nonlocal pos
        t = peek()
        if sym is not None and t != ("sym", sym):
            raise ValueError(f"formula {text!r}: expected {sym!r} at token {pos}")
        pos += 1
        return t

    def expr():
        a = term()
        while peek() in (("sym", "+"), ("sym", "-")):
            a = (take()[1], a, term())
        return a

    def term():
        a = unary()
        while peek() in (("sym", "*"), ("sym", "/")):
            a = (take()[1], a, unary())
        return a

    def unary():
        if peek() == ("sym", "-"):
            take()
            return ("neg", unary())
        return atom()

    def atom():
        kind, v = take()
        if kind == "num":
            return ("num", v)
        if kind == "name":
            if peek() == ("sym", "("):
                take("(")
                args = [expr()]
                while peek() == ("sym", ","):
                    take(",")
                    args.append(expr())
                take(")")
                return ("call", v, args)
            return ("var", v)
        if (kind, v) == ("sym", "("):
            e = expr()
            take(")")
            return e
        raise ValueError(f"formula {text!r}: unexpected token {v!r}")

    tree = expr()
    if pos != len(toks):
        raise ValueError(f"formula {text!r}: trailing tokens")
    return tree


def eval_formula(tree, w, kmax, bits, per_axis):
    """Evaluates the tree with TF ops, every value a float32 tensor."""
    f32 = tf.float32

    def ev(t):
        kind = t[0]
        if kind == "num":
            return tf.constant(t[1], f32)
        if kind == "var":
            return {"w": w, "kmax": tf.constant(kmax, f32), "bits": tf.constant(bits, f32)}[t[1]]
        if kind == "neg":
            return tf.math.negative(ev(t[1]))
        if kind == "call":
            name, args = t[1], [ev(a) for a in t[2]]
            if name in REDUCTIONS:
                x = args[0]
                axis = tf.range(tf.rank(x) - 1) if per_axis else None
                return REDUCTIONS[name](x, axis)
            return ELEMENTWISE[name][1](*args)
        a, b = ev(t[1]), ev(t[2])
        return {"+": tf.math.add, "-": tf.math.subtract, "*": tf.math.multiply,
                "/": tf.math.divide}[kind](a, b)

    return ev(tree)


class FormulaQuantizer(qops.LinearWeightQuantizer):
    """The `.q` `linear(bits, scale: EXPR, per_axis)` quantizer: `scale_factor(w)` is EXPR,
    evaluated in float32 in the order written; reductions reduce every axis of `w`, or with
    `per_axis` every axis but the last."""

    def __init__(self, bitwidth=4, scale="kmax / max(abs(w))", per_axis=False, **kwargs):
        self.scale_ = str(scale)
        self.per_axis_ = bool(per_axis)
        self.tree_ = parse_formula(self.scale_)
        super().__init__(bitwidth, **kwargs)

    def scale_factor(self, w):
        return eval_formula(self.tree_, tf.convert_to_tensor(w, tf.float32), self.kmax_,
                            self.bitwidth_, self.per_axis_)

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale_, "per_axis": self.per_axis_})
        return config


# cnn2snn deserializes quantizers (clone_model in quantize, the separable layer's default
# depthwise copy) by class name: make the formula quantizer known everywhere.
keras.utils.get_custom_objects()["FormulaQuantizer"] = FormulaQuantizer


def make_quantizer(spec):
    kind, bits = spec["kind"], spec["bits"]
    if kind == "max":
        return qops.MaxQuantizer(bitwidth=bits)
    if kind == "max_per_axis":
        return qops.MaxPerAxisQuantizer(bitwidth=bits)
    if kind == "std":
        return qops.StdWeightQuantizer(threshold=spec["threshold"], bitwidth=bits)
    if kind == "std_per_axis":
        return qops.StdPerAxisQuantizer(threshold=spec["threshold"], bitwidth=bits)
    if kind == "linear":
        return FormulaQuantizer(bitwidth=bits, scale=spec["scale"], per_axis=spec["per_axis"])
    raise ValueError(f"unknown quantizer kind {kind}")


# ---------------------------------------------------------------------------------------------
# the Keras model of a generated `.q`
# ---------------------------------------------------------------------------------------------
def keras_layer(d):
    kind, name = d["kind"], d["name"]
    if kind == "conv2d":
        args = dict(strides=d["strides"], padding=d["padding"], use_bias=d["use_bias"], name=name)
        if d["quantizer"] is not None:
            return qlayers.QuantizedConv2D(d["filters"], d["kernel"],
                                           quantizer=make_quantizer(d["quantizer"]), **args)
        return layers.Conv2D(d["filters"], d["kernel"], **args)
    if kind == "separable_conv2d":
        args = dict(strides=d["strides"], padding=d["padding"], use_bias=d["use_bias"], name=name)
        if d["quantizer"] is not None:
            dw = None if d["quantizer_dw"] is None else make_quantizer(d["quantizer_dw"])
            return qlayers.QuantizedSeparableConv2D(d["filters"], d["kernel"],
                                                    quantizer=make_quantizer(d["quantizer"]),
                                                    quantizer_dw=dw, **args)
        return layers.SeparableConv2D(d["filters"], d["kernel"], **args)
    if kind == "dense":
        if d["quantizer"] is not None:
            return qlayers.QuantizedDense(d["units"], quantizer=make_quantizer(d["quantizer"]),
                                          use_bias=d["use_bias"], name=name)
        return layers.Dense(d["units"], use_bias=d["use_bias"], name=name)
    if kind == "batch_norm":
        return layers.BatchNormalization(epsilon=d["epsilon"], name=name)
    if kind == "max_pool":
        return layers.MaxPooling2D(pool_size=d["size"], strides=d["strides"],
                                   padding=d["padding"], name=name)
    if kind == "global_avg_pool":
        return layers.GlobalAveragePooling2D(name=name)
    if kind == "flatten":
        return layers.Flatten(name=name)
    if kind == "dropout":
        return layers.Dropout(d["rate"], name=name)
    if kind == "relu":
        return layers.ReLU(max_value=d["max_value"], name=name)
    if kind == "quantized_relu":
        return qlayers.QuantizedReLU(bitwidth=d["bits"], max_value=d["max_value"], name=name)
    if kind == "discrete_relu":
        return qlayers.ActivationDiscreteRelu(bitwidth=d["bits"], name=name)
    if kind == "softmax":
        return layers.Softmax(name=name)
    raise ValueError(f"unknown layer kind {kind}")


def build_keras(m):
    """The tf_keras model of generated model `m`, with its float weights set."""
    inp = keras.Input(tuple(m.info["input_shape"]), name="input")
    x = inp
    for d in m.layers:
        x = keras_layer(d)(x)
    model = keras.Model(inp, x, name=m.name)
    for d in m.layers:
        layer = model.get_layer(d["name"])
        if not layer.weights:
            continue
        values = []
        for v in layer.weights:
            short = v.name.split("/")[-1].split(":")[0]
            values.append(m.weights[f"{d['name']}/{short}"])
        if d["kind"] == "batch_norm" and d["gamma_min"] is not None:
            # akida_models' add_gamma_constraint, applied once (what one optimizer step does)
            values[0] = MinValueConstraint(d["gamma_min"])(tf.constant(values[0])).numpy()
        layer.set_weights(values)
    return model


# ---------------------------------------------------------------------------------------------
# deterministic files
# ---------------------------------------------------------------------------------------------
def npy_bytes(a):
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def write_npz(path, arrays):
    """An `.npz` with members `KEY.npy` in the given order, DEFLATE level 9, fixed dates."""
    with zipfile.ZipFile(path, "w") as z:
        for key, a in arrays.items():
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, npy_bytes(a), compresslevel=9)


def text_array(s):
    return np.frombuffer(s.encode("utf-8"), dtype=np.uint8).copy()


def error_text(e):
    return f"{type(e).__name__}: {e}"


def flow_warnings(ws):
    return [str(w.message) for w in ws
            if "cnn2snn" in str(w.filename) or "akida" in str(w.filename)]


# ---------------------------------------------------------------------------------------------
# one case
# ---------------------------------------------------------------------------------------------
def run_case(m, case):
    """Builds, quantizes and converts generated model `m`: its arrays and its index entry."""
    info = m.info
    arrays = {"model_q": text_array(m.text)}
    for k in sorted(m.weights):
        arrays[f"w/{k}"] = np.asarray(m.weights[k], np.float32)
    x_u8 = m.inputs
    arrays["input"] = x_u8
    entry = {"case": case, "file": f"case_{case:04d}.npz", "model": m.name, "mode": info["mode"],
             "input_shape": list(info["input_shape"]), "scale": info["scale"],
             "offset": info["offset"], "quantize": info["quantize"],
             "parameters": sum(int(v.size) for v in m.weights.values()),
             "layers": [f"{d['name']}:{d['kind']}" for d in m.layers]}
    scale = int(info["scale"]) if float(info["scale"]).is_integer() else info["scale"]
    offset = int(info["offset"]) if float(info["offset"]).is_integer() else info["offset"]
    x_f = (x_u8.astype(np.float32) - np.float32(offset)) / np.float32(scale)

    try:
        model = build_keras(m)
    except Exception as e:  # noqa: BLE001
        entry["keras"] = "error"
        entry["keras_error"] = error_text(e)
        arrays["keras_error"] = text_array(entry["keras_error"])
        return m, arrays, entry
    entry["keras"] = "built"

    q = info["quantize"]
    if q is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = cnn2snn.quantize(model, q["weights"], q["activations"],
                                         q["input_weights"])
            entry["quantize"] = "ok"
        except Exception as e:  # noqa: BLE001
            entry["quantize"] = "error"
            entry["quantize_error"] = error_text(e)
            arrays["quantize_error"] = text_array(entry["quantize_error"])
            entry["convert"] = "not_run"
            return m, arrays, entry
    else:
        entry["quantize"] = "not_applicable"

    out = model.predict(x_f, verbose=0, batch_size=len(x_f))
    arrays["keras_output"] = np.asarray(out, np.float32)
    eager = np.asarray(model(tf.constant(x_f), training=False), np.float32)
    if not np.array_equal(eager.view(np.uint32), arrays["keras_output"].view(np.uint32)):
        arrays["keras_eager"] = eager
        entry["keras_eager_differs"] = True
    if m.layers[-1]["kind"] == "softmax":
        logits = keras.Model(model.inputs, model.layers[-2].output)
        arrays["keras_logits"] = np.asarray(logits.predict(x_f, verbose=0, batch_size=len(x_f)),
                                            np.float32)

    try:
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter("always")
            am = cnn2snn.convert(model, input_scaling=(scale, offset))
        entry["convert_warnings"] = flow_warnings(ws)
    except Exception as e:  # noqa: BLE001
        entry["convert"] = "error"
        entry["convert_error"] = error_text(e)
        arrays["convert_error"] = text_array(entry["convert_error"])
        return m, arrays, entry
    entry["convert"] = "ok"
    if entry["convert_warnings"]:
        arrays["convert_warnings"] = text_array("\n".join(entry["convert_warnings"]))
    entry["akida_layers"] = [f"{l.name}:{str(l.parameters.layer_type).split('.')[-1]}"
                             for l in am.layers]
    arrays["akida_json_gz"] = np.frombuffer(
        gzip.compress(am.to_json().encode("utf-8"), compresslevel=9, mtime=0),
        dtype=np.uint8).copy()
    try:
        arrays["akida_forward"] = np.asarray(am.forward(x_u8))
        entry["forward"] = "ok"
    except Exception as e:  # noqa: BLE001
        entry["forward"] = "error"
        entry["forward_error"] = error_text(e)
        arrays["forward_error"] = text_array(entry["forward_error"])
    potentials = not am.layers[-1].parameters.activation
    entry["last_layer_activation"] = not potentials
    if potentials and entry["forward"] == "ok":
        try:
            arrays["akida_predict"] = np.asarray(am.predict(x_u8), np.float32)
            entry["predict"] = "ok"
        except Exception as e:  # noqa: BLE001
            entry["predict"] = "error"
            entry["predict_error"] = error_text(e)
            arrays["predict_error"] = text_array(entry["predict_error"])
    return m, arrays, entry


def verdict(entry):
    if entry["keras"] != "built":
        return "keras_error"
    if entry["quantize"] == "error":
        return "quantize_error"
    if entry["convert"] == "error":
        return "convert_error"
    if entry.get("forward") == "error":
        return "forward_error"
    return "converted"


def versions():
    import platform

    import akida_models
    import quantizeml
    return {"python": sys.version.split()[0], "platform": platform.machine(),
            "numpy": np.__version__, "tensorflow": tf.__version__,
            "tf_keras": keras.__version__, "cnn2snn": cnn2snn.__version__,
            "akida": akida.__version__, "akida_models": akida_models.__version__,
            "quantizeml": quantizeml.__version__}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--cases", type=int, default=CASES)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()

    tf.get_logger().setLevel("ERROR")  # retracing warnings of the many small predict models
    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)

    cases, counts = [], {}
    for case in range(args.cases):
        m = generate.generate(args.seed, case, small=True)
        parameters = sum(int(v.size) for v in m.weights.values())
        if parameters > MAX_PARAMETERS:
            cases.append({"case": case, "verdict": "skipped_large", "parameters": parameters})
            counts["skipped_large"] = counts.get("skipped_large", 0) + 1
            continue
        keras.backend.clear_session()
        _, arrays, entry = run_case(m, case)
        entry["verdict"] = verdict(entry)
        counts[entry["verdict"]] = counts.get(entry["verdict"], 0) + 1
        write_npz(args.out / entry["file"], arrays)
        cases.append(entry)
        if (case + 1) % 50 == 0:
            print(f"[conversion refs] {case + 1}/{args.cases}: {counts}", flush=True)
    index = {
        "description": "qnnc_akida.generate(seed, case, small=True) models through tf_keras + "
                       "cnn2snn.quantize + cnn2snn.convert(input_scaling=(scale, offset)) + "
                       "akida forward/predict; made by python/make_conversion_refs.py",
        "versions": versions(),
        "seed": args.seed,
        "cases": args.cases,
        "counts": dict(sorted(counts.items())),
        "keras_input": "(x_uint8 - offset) / scale in float32; outputs from model.predict",
        "entries": cases,
    }
    # One line per case, so that a diff of two runs names the cases that changed.
    entries = index.pop("entries")
    text = json.dumps(index, indent=1)[:-2]
    text += ',\n "entries": [\n' + ",\n".join(json.dumps(e) for e in entries) + "\n ]\n}\n"
    (args.out / "index.json").write_text(text)
    total = sum(f.stat().st_size for f in args.out.iterdir())
    print(f"[conversion refs] {args.cases} cases: {counts}; {total / 1e6:.2f} MB in {args.out}")


if __name__ == "__main__":
    main()
