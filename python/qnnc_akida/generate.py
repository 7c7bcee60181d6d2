"""Seeded random Akida-1.0-shaped models: a `.q` text, its float weights and uint8 inputs.

Each model is a chain of blocks as `cnn2snn.convert` builds them: a neural layer (the first a
`conv2d`, then `conv2d`, `separable_conv2d` or, after a flatten or a global average pooling,
`dense`), an optional pooling, optional batch norms around it, and an activation (a float
`relu` under `quantize(...)`, a `quantized_relu` or a `discrete_relu`); the last block may
output potentials. The draws cover what the random-model survey of
`tests/data/disagreements/` covered — shapes, kernels, strides, both paddings, the four
weight quantizers and custom `linear` ones, bit-widths, batch-norm statistics with tiny,
negative and zero gammas, input scalings, max and global average pooling — and some things
BrainChip's flow refuses (even kernels, strides beyond the kernel, pool strides beyond the
window), so that qnnc's refusals are exercised too.

Everything is drawn from `numpy.random.default_rng([seed, case])`: the same seed and case
give the same files on every machine. Only numpy is needed.
"""

import io
import zipfile

import numpy as np

# Input scalings (scale, offset) seen in BrainChip's examples and the survey.
SCALINGS = [(255, 0), (1, 0), (25.5, 0), (128, 128), (127, 127), (2, 10), (64, 16), (127.5, 127.5)]
WEIGHT_BITS = [2, 4, 8]
INPUT_WEIGHT_BITS = [2, 3, 4, 5, 6, 7, 8]
ACT_BITS = [1, 2, 4]


class Model:
    """A generated model: `text` (`.q`), `weights` (name → float32 array), `inputs` (uint8)."""

    def __init__(self, name, text, weights, inputs, layers, info):
        self.name = name
        self.text = text
        self.weights = weights
        self.inputs = inputs
        # The statements in order, as dicts: `name`, `kind` (the `.q` call) and the arguments.
        self.layers = layers
        # `mode`, `input_shape`, `scale`, `offset`, `quantize` (None or the three bit-widths).
        self.info = info

    def write(self, directory):
        """Writes `model.q`, `weights.npz` and `input.npy` into `directory`."""
        import os

        with open(os.path.join(directory, "model.q"), "w", encoding="utf-8") as f:
            f.write(self.text)
        write_npz(os.path.join(directory, "weights.npz"), self.weights)
        np.save(os.path.join(directory, "input.npy"), self.inputs)


def write_npz(path, arrays):
    """An `.npz` with members `NAME.npy` in a fixed order (names may hold `/`)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(arrays[name], dtype=np.float32))
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(info, buf.getvalue())


def fmt(x):
    """A number as `.q` text (integers without a fraction, floats exactly)."""
    if isinstance(x, (int, np.integer)) or float(x).is_integer():
        return str(int(x))
    return repr(float(x))


class _Gen:
    def __init__(self, seed, case, small=False):
        self.rng = np.random.default_rng([seed, case])
        self.small = small
        self.case = case
        self.weights = {}
        self.lines = []
        self.quantizers = []
        self.counts = {}
        self.layers = []
        self.extreme = False

    def pick(self, items, p=None):
        return items[self.rng.choice(len(items), p=p)]

    def chance(self, p):
        return self.rng.random() < p

    def name(self, prefix):
        n = self.counts.get(prefix, 0)
        self.counts[prefix] = n + 1
        return f"{prefix}_{n}"

    def add(self, name, call, kind, **info):
        """Appends the statement `name = call`; `info` is its structured form (the arguments
        as Keras would take them), kept in `Model.layers` for builders of the same model in
        other frameworks."""
        self.lines.append(f"    {name} = {call}")
        self.layers.append(dict(name=name, kind=kind, **info))

    # ---- quantizers -------------------------------------------------------------------------
    def quantizer(self, bits, depthwise=False):
        """A quantizer: its `.q` text (a name or an inline call) and its spec (a dict)."""
        kinds = ["max", "max_per_axis", "std", "std_per_axis", "linear"]
        kind = self.pick(kinds, p=[0.25, 0.3, 0.15, 0.2, 0.1])
        spec = {"kind": kind, "bits": int(bits)}
        if kind in ("std", "std_per_axis"):
            t = self.pick([1.5, 2, 3, 4])
            spec["threshold"] = float(t)
            expr = f"{kind}(bits: {bits}, threshold: {fmt(t)})"
        elif kind == "linear":
            per_axis = bool(self.chance(0.5))
            scale = self.pick([
                "kmax / (2 * std(w))",
                "clip(kmax / max(abs(w)), 0, 1000)",
                "kmax / (3 * std(w) + 0.01)",
                "kmax / max(abs(w)) * 0.9",
            ])
            spec.update(scale=scale, per_axis=per_axis)
            expr = f"linear(bits: {bits}, scale: {scale}, per_axis: {'true' if per_axis else 'false'})"
        else:
            expr = f"{kind}(bits: {bits})"
        if self.chance(0.5):
            q = f"q{len(self.quantizers)}"
            self.quantizers.append(f"quantizer {q} = {expr}")
            return q, spec
        return expr, spec

    # ---- weights ------------------------------------------------------------------------------
    def kernel(self, shape):
        scales = [0.05, 0.2, 0.5, 1.0, 3.0]
        if self.extreme:
            # tiny weights clip the scale factor at 1000: huge thresholds and act_steps
            scales += [0.0005, 0.002, 0.01]
        scale = self.pick(scales)
        w = self.rng.normal(0, scale, shape).astype(np.float32)
        if self.extreme and self.chance(0.5):
            w = np.abs(w)  # potentials add up instead of cancelling
        if self.chance(0.05):
            # A zero output channel (quantizers clip its scale factor at 1000).
            w[..., self.rng.integers(shape[-1])] = 0
        return w

    def bias(self, n):
        scales = [0.01, 0.1, 0.5, 2.0] + ([20.0, 200.0] if self.extreme else [])
        return (self.rng.normal(0, self.pick(scales), n)).astype(np.float32)

    def batch_norm_vars(self, n, allow_negative):
        style = self.pick(["plain", "wide", "tiny", "negative", "zero"],
                          p=[0.5, 0.25, 0.1, 0.1, 0.05])
        gamma = self.rng.uniform(0.5, 2.0, n)
        if style == "wide":
            gamma = np.exp(self.rng.uniform(np.log(0.01), np.log(10), n))
        elif style == "tiny":
            gamma = np.exp(self.rng.uniform(np.log(1e-5), np.log(1e-2), n))
        elif style == "negative" and allow_negative:
            gamma = gamma * np.where(self.rng.random(n) < 0.3, -1, 1)
        elif style == "zero" and allow_negative:
            gamma[self.rng.integers(n)] = 0.0
        beta = self.rng.normal(0, self.pick([0.1, 1.0, 5.0]), n)
        mean = self.rng.normal(0, self.pick([0.1, 1.0, 3.0]), n)
        var = np.exp(self.rng.uniform(np.log(self.pick([1e-3, 0.1, 0.5])), np.log(3.0), n))
        return [a.astype(np.float32) for a in (gamma, beta, mean, var)]

    def add_bn(self, channels, allow_negative=True):
        name = self.name("bn")
        gamma, beta, mean, var = self.batch_norm_vars(channels, allow_negative)
        args = []
        epsilon, gamma_min = 1e-3, None
        if self.chance(0.1):
            epsilon = float(self.pick([1e-3, 1e-5, 0.01]))
            args.append(f"epsilon: {fmt(epsilon)}")
        if self.chance(0.1):
            gamma_min = 0.01
            args.append("gamma_min: 0.01")
        self.add(name, f"batch_norm({', '.join(args)})", "batch_norm", channels=channels,
                 epsilon=epsilon, gamma_min=gamma_min)
        self.weights.update({f"{name}/gamma": gamma, f"{name}/beta": beta,
                             f"{name}/moving_mean": mean, f"{name}/moving_variance": var})

    # ---- activations --------------------------------------------------------------------------
    def activation(self, mode, act_bits):
        if mode == "quantize" or (mode == "mixed" and self.chance(0.5)):
            name = self.name("relu")
            mv = self.pick([None, None, 6, 1, 2, float(np.float32(self.rng.uniform(0.5, 8)))])
            call = "relu()" if mv is None else f"relu(max_value: {fmt(mv)})"
            self.add(name, call, "relu", max_value=None if mv is None else float(mv))
            return
        if self.chance(0.25):
            name = self.name("drelu")
            bits = int(self.pick(ACT_BITS))
            self.add(name, f"discrete_relu(bits: {bits})", "discrete_relu", bits=bits)
            return
        name = self.name("qrelu")
        bits = self.pick(ACT_BITS) if mode != "quantize" else act_bits
        mv = self.pick([None, None, 6, 1, 0.5, float(np.float32(self.rng.uniform(0.2, 8)))])
        call = f"quantized_relu(bits: {bits})" if mv is None else \
            f"quantized_relu(bits: {bits}, max_value: {fmt(mv)})"
        self.add(name, call, "quantized_relu", bits=int(bits),
                 max_value=None if mv is None else float(mv))

    # ---- the model ----------------------------------------------------------------------------
    def model(self):
        rng = self.rng
        mode = self.pick(["quantize", "explicit", "mixed"], p=[0.45, 0.35, 0.2])
        # One model in four pushes the engine's corners: many channels, large inputs, tiny
        # weights, large biases (potentials beyond 20 and 24 bits, saturation, huge steps).
        self.extreme = self.chance(0.25) and not self.small
        if self.small:
            h, w = int(rng.integers(5, 15)), int(rng.integers(5, 15))
        elif self.extreme:
            h, w = int(rng.integers(5, 14)), int(rng.integers(5, 14))
        else:
            h, w = int(rng.integers(5, 40)), int(rng.integers(5, 40))
        c = int(self.pick([1, 3]))
        scale, offset = self.pick(SCALINGS)
        wbits, abits = self.pick(WEIGHT_BITS), self.pick(ACT_BITS)
        iwbits = self.pick(INPUT_WEIGHT_BITS)
        self.lines.append(f"    input([{h}, {w}, {c}], scale: {fmt(scale)}, offset: {fmt(offset)})")
        if mode != "explicit":
            self.lines.append(
                f"    quantize(weights: {wbits}, activations: {abits}, input_weights: {iwbits})")
        shape = (h, w, c)
        flat = False  # after a flatten or a global average pooling: dense layers only
        blocks = int(rng.integers(1, 5 if self.small else 6))
        for b in range(blocks):
            last = b == blocks - 1
            first = b == 0
            explicit = mode == "explicit" or (mode == "mixed" and self.chance(0.5))
            bits = iwbits if first else wbits
            if not first and (flat or self.chance(0.25)) and not flat:
                # Flatten (or global average pooling already gave a vector) before dense.
                self.add(self.name("flatten"), "flatten()", "flatten")
                shape = (int(np.prod(shape)),)
                flat = True
            if flat:
                units = int(self.pick([2, 4, 5, 6, 8, 10, 16] + ([] if self.small else [24, 32, 64])))
                name = self.name("dense")
                args = [str(units)]
                use_bias = not self.chance(0.15)
                if not use_bias:
                    args.append("use_bias: false")
                quantizer = None
                if explicit:
                    text, quantizer = self.quantizer(self.pick(WEIGHT_BITS))
                    args.append(f"quantizer: {text}")
                self.add(name, f"dense({', '.join(args)})", "dense", units=units,
                         use_bias=use_bias, quantizer=quantizer)
                self.weights[f"{name}/kernel"] = self.kernel((shape[0], units))
                if use_bias:
                    self.weights[f"{name}/bias"] = self.bias(units)
                shape = (units,)
            else:
                sep = not first and self.chance(0.45)
                filters = int(self.pick([2, 4, 6, 8, 12, 16] + ([] if self.small else [24, 32])
                                        + ([64, 128, 256, 512] if self.extreme else [])))
                k = int(self.pick([1, 3, 3, 5, 7] + ([2] if self.chance(0.03) else [])))
                if sep and k == 1:
                    k = 3
                stride = int(self.pick([1, 1, 1, 2]))
                if self.chance(0.02):
                    stride = k + 1  # beyond the kernel: akida refuses it
                padding = self.pick(["same", "valid"])
                if padding == "valid" and (shape[0] < k or shape[1] < k):
                    padding = "same"
                out_h = -(-shape[0] // stride) if padding == "same" else (shape[0] - k) // stride + 1
                out_w = -(-shape[1] // stride) if padding == "same" else (shape[1] - k) // stride + 1
                if out_h < 1 or out_w < 1:
                    padding, stride = "same", 1
                    out_h, out_w = shape[0], shape[1]
                name = self.name("sep" if sep else "conv")
                args = [str(filters), str(k)]
                if stride != 1:
                    args.append(f"strides: {stride}")
                args.append(f"padding: {padding}")
                use_bias = not self.chance(0.15)
                if not use_bias:
                    args.append("use_bias: false")
                quantizer = quantizer_dw = None
                if explicit:
                    qb = self.pick(INPUT_WEIGHT_BITS if first else WEIGHT_BITS)
                    text, quantizer = self.quantizer(qb)
                    args.append(f"quantizer: {text}")
                    if sep and self.chance(0.4):
                        text, quantizer_dw = self.quantizer(qb, depthwise=True)
                        args.append(f"quantizer_dw: {text}")
                self.add(name, f"{'separable_conv2d' if sep else 'conv2d'}({', '.join(args)})",
                         "separable_conv2d" if sep else "conv2d", filters=filters, kernel=k,
                         strides=stride, padding=padding, use_bias=use_bias,
                         quantizer=quantizer, quantizer_dw=quantizer_dw)
                cin = shape[2]
                if sep:
                    self.weights[f"{name}/depthwise_kernel"] = self.kernel((k, k, cin, 1))
                    self.weights[f"{name}/pointwise_kernel"] = self.kernel((1, 1, cin, filters))
                else:
                    self.weights[f"{name}/kernel"] = self.kernel((k, k, cin, filters))
                if use_bias:
                    self.weights[f"{name}/bias"] = self.bias(filters)
                shape = (out_h, out_w, filters)
            # batch norm, pooling, batch norm (before or after the pool), activation
            bn_before = self.chance(0.45)
            pool = None
            if not flat and shape[0] >= 2 and shape[1] >= 2:
                r = rng.random()
                if r < 0.25:
                    pool = "max"
                elif r < (0.55 if self.extreme else 0.35) and (last or self.chance(0.3)):
                    pool = "gap"
            if bn_before:
                self.add_bn(shape[-1], allow_negative=True)
            if pool == "max":
                size = int(self.pick([2, 2, 3]))
                strides = size if self.chance(0.8) else int(self.pick([1, 2, size + 1]))
                ppad = padding if self.chance(0.9) else self.pick(["same", "valid"])
                if ppad == "valid" and (shape[0] < size or shape[1] < size):
                    ppad = "same"
                args = [str(size)]
                if strides != size:
                    args.append(f"strides: {strides}")
                args.append(f"padding: {ppad}")
                self.add(self.name("maxpool"), f"max_pool({', '.join(args)})", "max_pool",
                         size=size, strides=strides, padding=ppad)
                ph = -(-shape[0] // strides) if ppad == "same" else (shape[0] - size) // strides + 1
                pw = -(-shape[1] // strides) if ppad == "same" else (shape[1] - size) // strides + 1
                shape = (max(ph, 1), max(pw, 1), shape[2])
            elif pool == "gap":
                self.add(self.name("gap"), "global_avg_pool()", "global_avg_pool")
                shape = (shape[2],)
                flat = True
            if not bn_before and self.chance(0.35):
                # after a max pooling, cnn2snn moves it before the pool (gammas must be > 0)
                self.add_bn(shape[-1], allow_negative=pool != "max" or self.chance(0.1))
            if self.chance(0.04) and not last:
                rate = float(self.pick([0.1, 0.25, 0.5]))
                self.add(self.name("dropout"), f"dropout({fmt(rate)})", "dropout", rate=rate)
            if last and self.chance(0.4):
                break  # potentials out
            self.activation(mode, abits)
        n = int(rng.integers(3, 7 if self.small else 13))
        inputs = rng.integers(0, 256, (n, h, w, c), dtype=np.uint8)
        if self.extreme and self.chance(0.5):
            inputs = rng.integers(200, 256, (n, h, w, c), dtype=np.uint8)
        if self.chance(0.2):
            inputs[..., :] = np.clip(inputs.astype(np.int32) // 4 + int(offset) // 2, 0, 255)
        name = f"m{self.case}"
        text = "\n".join(
            [f"// random model, case {self.case} ({mode})"]
            + self.quantizers
            + ([""] if self.quantizers else [])
            + [f"model {name} {{"] + self.lines + ["}", ""]
        )
        info = dict(mode=mode, input_shape=(h, w, c), scale=float(scale), offset=float(offset),
                    quantize=None if mode == "explicit" else dict(
                        weights=int(wbits), activations=int(abits), input_weights=int(iwbits)))
        return Model(name, text, self.weights, inputs, self.layers, info)


def generate(seed, case, small=False):
    """The model of `case` under `seed`; `small` keeps images, layers and batches small (for
    reference data committed to the repository)."""
    return _Gen(seed, case, small).model()
