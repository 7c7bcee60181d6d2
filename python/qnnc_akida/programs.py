"""Seeded random integer programs, written as `.nsoc` files from `docs/nsoc-format.md` alone.

Where `generate` draws models that go through qnnc's compiler, this draws the programs
themselves — weights, thresholds and act_steps anywhere the engine accepts them — to test the
runtime on its own: potentials beyond 20, 24 and 32 bits, saturating pooling and
fully-connected layers, act_steps whose 28-bit register wraps, thresholds far outside the
potentials. The same values build the `akida.Model` directly through akida's Python API, so
neither qnnc's compiler nor its exporter is involved, and the `.nsoc` writer here is a second,
independent implementation of the documented format.
"""

import hashlib
import struct
import zlib

import numpy as np

MAGIC = b"\x89NSOC\r\n\x1a"
KINDS = ["InputConvolutional", "Convolutional", "SeparableConvolutional", "FullyConnected"]


def out_size(n, k, s, padding):
    if padding == "same":
        return -(-n // s)
    return (n - k) // s + 1


class Layer:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def random_program(seed, case):
    """A random valid program: (layers, input dims, uint8 inputs)."""
    rng = np.random.default_rng([seed, case, 0x5EED])

    def pick(items):
        return items[rng.integers(len(items))]

    h, w, c = int(rng.integers(3, 16)), int(rng.integers(3, 16)), int(pick([1, 3]))
    dims = (h, w, c)
    layers = []
    n_layers = int(rng.integers(1, 5))
    saturate = rng.random() < 0.2
    max_in = 255
    flat = False
    for i in range(n_layers):
        last = i == n_layers - 1
        if i == 0:
            kind = "InputConvolutional"
        elif flat:
            kind = "FullyConnected"
        else:
            kind = pick(["Convolutional", "SeparableConvolutional", "FullyConnected"])
        hi, wi, ci = dims
        if kind == "FullyConnected":
            kernel, strides, padding, pooling = (1, 1), (1, 1), "valid", ("none",)
            filters = int(pick([1, 4, 10, 32, 100]))
            conv = (1, 1, filters)
        else:
            k = int(pick([1, 3, 3, 5, 7]))
            if kind == "SeparableConvolutional" and k == 1:
                k = 3
            s = int(pick([1, 1, 2])) if k > 1 or kind == "InputConvolutional" else 1
            padding = pick(["same", "valid"])
            if padding == "valid" and (hi < k or wi < k):
                padding = "same"
            oh, ow = out_size(hi, k, s, padding), out_size(wi, k, s, padding)
            kernel, strides = (k, k), (s, s)
            filters = int(pick([1, 4, 8, 16, 64, 256] + ([512] if saturate else [])))
            conv = (oh, ow, filters)
            r = rng.random()
            if r < 0.3 and oh >= 2 and ow >= 2:
                size = int(pick([1, 2, 3]))
                size = min(size, oh, ow) if padding == "valid" else size
                stride = int(rng.integers(1, size + 1))
                pooling = ("max", size, stride)
            elif r < 0.5:
                pooling = ("gap",)
            else:
                pooling = ("none",)
        if pooling[0] == "max":
            _, size, stride = pooling
            out = (out_size(conv[0], size, stride, padding), out_size(conv[1], size, stride, padding),
                   filters)
            if out[0] < 1 or out[1] < 1:
                pooling, out = ("none",), conv
        elif pooling[0] == "gap":
            out = (1, 1, filters)
        else:
            out = conv
        wbits = int(pick([2, 3, 4, 5, 6, 7, 8])) if kind == "InputConvolutional" else int(
            pick([2, 4, 8]))
        wmax = 2 ** (wbits - 1) - 1
        activation = not last or rng.random() < 0.5
        act_bits = int(pick([1, 2, 4]))

        def weights(shape):
            style = rng.random()
            if style < 0.3:
                v = rng.integers(-wmax, wmax + 1, shape)
            elif style < 0.6:
                v = rng.integers(0, wmax + 1, shape)  # all positive: large potentials
            elif style < 0.8:
                v = np.full(shape, wmax) * np.where(rng.random(shape) < 0.1, -1, 1)
            else:
                v = rng.integers(-wmax, wmax + 1, shape) * (rng.random(shape) < 0.2)
            return v.astype(np.int8)

        if kind == "FullyConnected":
            wshape, pwshape = (1, 1, hi * wi * ci, filters), None
        elif kind == "SeparableConvolutional":
            wshape, pwshape = (kernel[0], kernel[1], ci, 1), (1, 1, ci, filters)
        else:
            wshape, pwshape = (kernel[0], kernel[1], ci, filters), None
        if saturate:
            act_bits = 4
        wts = weights(wshape)
        if saturate and last:
            wts = np.full(wshape, wmax, np.int8)  # with saturated inputs: the largest sums
        wpw = weights(pwshape) if pwshape else None
        # Thresholds and steps: anywhere from tiny to far beyond the potentials.
        scale = float(np.exp(rng.uniform(np.log(1), np.log(2e9))))
        thresholds = np.clip(rng.normal(0, scale, filters), -2**31, 2**31 - 1).astype(np.int32)
        steps = np.exp(rng.uniform(np.log(1 / 16), np.log(1.3e8), filters)).astype(np.float32)
        if rng.random() < 0.3:
            steps = np.exp(rng.uniform(np.log(1 / 16), np.log(100), filters)).astype(np.float32)
        steps = np.maximum(steps, np.float32(1 / 16))
        if activation and not last and saturate:
            # Every level at its maximum: the next layer's potentials reach 24 bits and more.
            thresholds[:] = -(2**31) + 1
            steps[:] = np.float32(1.0)
        if activation:
            # Steps the engine divides by zero with (k mod 2^28 = 0, k ≥ 2^31) are refused by
            # qnnc's validation; keep clear of them here.
            k = np.floor(16 * steps.astype(np.float64)).astype(np.int64)
            bad = (k % (1 << 28) == 0) | (k >= (1 << 31))
            steps[bad] = np.float32(1000.0)
        layers.append(Layer(name=f"l{i}", kind=kind, input_dims=dims, output_dims=out,
                            kernel=kernel, strides=strides, padding=padding,
                            padding_value=int(rng.integers(0, 256)) if kind == "InputConvolutional"
                            and rng.random() < 0.3 else 0,
                            pooling=pooling, weights_bits=wbits, act_bits=act_bits,
                            activation=activation, weights=wts, weights_pw=wpw,
                            thresholds=thresholds, act_steps=steps))
        dims = out
        if pooling[0] == "gap" or kind == "FullyConnected":
            flat = True
        if not activation:
            break
        max_in = 2 ** act_bits - 1
    n = int(rng.integers(2, 9))
    hi = int(pick([256, 256, 16]))
    inputs = rng.integers(0, hi, (n, h, w, c)).astype(np.uint8)
    return layers, (h, w, c), inputs


def encode(name, layers, input_dims, target=0):
    """The `.nsoc` bytes of a program (docs/nsoc-format.md, version 1)."""
    def string(s):
        b = s.encode("utf-8")
        return struct.pack("<I", len(b)) + b

    payload = bytearray()
    payload += string(name)
    payload += hashlib.sha256(b"random program").digest()
    payload += struct.pack("<III", *input_dims)
    payload += struct.pack("<I", len(layers))
    for l in layers:
        payload += string(l.name)
        pool_tag = {"none": 0, "max": 1, "gap": 2}[l.pooling[0]]
        payload += struct.pack("<8B", KINDS.index(l.kind), 1 if l.padding == "same" else 0,
                               pool_tag, 1 if l.activation else 0, l.weights_bits, l.act_bits,
                               l.padding_value, 0)
        payload += struct.pack("<III", *l.input_dims)
        payload += struct.pack("<III", *l.output_dims)
        payload += struct.pack("<II", *l.kernel)
        payload += struct.pack("<II", *l.strides)
        if l.pooling[0] == "max":
            payload += struct.pack("<IIII", l.pooling[1], l.pooling[1], l.pooling[2], l.pooling[2])
        else:
            payload += struct.pack("<IIII", 0, 0, 0, 0)
        w = l.weights.astype(np.int8).ravel()
        payload += struct.pack("<I", w.size) + w.tobytes()
        pw = l.weights_pw.astype(np.int8).ravel() if l.weights_pw is not None else np.zeros(0, np.int8)
        payload += struct.pack("<I", pw.size) + pw.tobytes()
        payload += struct.pack("<I", l.thresholds.size) + l.thresholds.astype("<i4").tobytes()
        payload += struct.pack("<I", l.act_steps.size) + l.act_steps.astype("<f4").tobytes()
    head = MAGIC + struct.pack("<HBBQ", 1, target, 0, len(payload))
    crc = zlib.crc32(head + bytes(payload)) & 0xFFFFFFFF
    return head + struct.pack("<I", crc) + bytes(payload)


def akida_model(layers):
    """The same program built with akida's Python API."""
    import akida

    m = akida.Model()
    for l in layers:
        kw = dict(name=l.name, activation=l.activation, act_bits=l.act_bits,
                  weights_bits=l.weights_bits)
        if l.kind != "FullyConnected":
            kw.update(kernel_size=l.kernel, kernel_stride=l.strides, filters=l.output_dims[2],
                      padding=akida.Padding.Same if l.padding == "same" else akida.Padding.Valid)
            if l.pooling[0] == "max":
                kw.update(pool_type=akida.PoolType.Max, pool_size=(l.pooling[1],) * 2,
                          pool_stride=(l.pooling[2],) * 2)
            elif l.pooling[0] == "gap":
                kw.update(pool_type=akida.PoolType.Average)
        if l.kind == "InputConvolutional":
            layer = akida.InputConvolutional(input_shape=l.input_dims,
                                             padding_value=l.padding_value, **kw)
        elif l.kind == "Convolutional":
            layer = akida.Convolutional(**kw)
        elif l.kind == "SeparableConvolutional":
            layer = akida.SeparableConvolutional(**kw)
        else:
            layer = akida.FullyConnected(units=l.output_dims[2], **kw)
        m.add(layer)
        layer = m.layers[-1]
        layer.set_variable("weights", l.weights)
        if l.weights_pw is not None:
            layer.set_variable("weights_pw", l.weights_pw)
        layer.set_variable("threshold", l.thresholds)
        layer.set_variable("act_step", l.act_steps)
    return m
