"""Reference outputs of the akida engine at the corners of its integer arithmetic.

`python -m qnnc_akida.engine_refs OUT_DIR` builds, with akida's Python API, the small models
that pin down each rule of `docs/engine-arithmetic.md` and writes, for each, the model
(`Model.to_json()`, gzipped), its uint8 input and the engine's `forward` (and `predict` when
the last layer outputs potentials) as `OUT_DIR/NAME.npz`. The Rust tests (`tests/engine.rs`)
import each model with `akida::program_from_json` and check that the simulator gives the
engine's values bit for bit, without Python.

Deterministic: every array comes from `numpy.random.default_rng([SEED, case index])`.
"""

import gzip
import os
import sys

import numpy as np

SEED = 20261203


def _input_conv(shape, filters, kernel, weights, thresholds, steps, act_bits=4, **kw):
    """An InputConvolutional layer with its variables (activation on unless told)."""
    import akida

    kw.setdefault("activation", True)
    layer = akida.InputConvolutional(input_shape=shape, kernel_size=kernel, filters=filters,
                                     padding=kw.pop("padding", akida.Padding.Valid),
                                     weights_bits=8, act_bits=act_bits, **kw)
    return layer, (weights, thresholds, steps)


def _chain(first, second=None):
    """A model of an input convolution and an optional second layer, variables set."""
    import akida

    m = akida.Model()
    layer, values = first
    m.add(layer)
    _set(m.layers[0], *values)
    if second is not None:
        layer, values = second
        m.add(layer)
        _set(m.layers[1], *values[:3], pw=values[3] if len(values) > 3 else None)
    return m


def _levels(groups, n):
    """A 1×1 input convolution on a one-channel image whose `n` filters fire (level 15) on
    chosen pixels: `groups` is a list of (filter count, pixel threshold); filter j fires where
    the pixel value exceeds its threshold."""
    w = np.ones((1, 1, 1, n), np.int8)
    t = np.concatenate([np.full(count, thr, np.int32) for count, thr in groups])
    assert t.size == n
    # act_step 1/16: any positive difference gives the top level.
    return w, t, np.full(n, 1 / 16, np.float32)


def cases():
    """(name, model, input) of every reference case. Every model starts with an
    InputConvolutional layer, as qnnc's programs do."""
    import akida

    out = []
    rng = np.random.default_rng([SEED, 0])
    conv1 = dict(kernel_size=(1, 1), padding=akida.Padding.Same, weights_bits=8)

    # 1. Fully-connected: the sum is exact, then clamped to 20 bits (the order of the terms
    #    does not matter: no running saturation). 1000 inputs at level 15.
    n = 1000
    first = _input_conv((10, 10, 1), 10, (1, 1), *_levels([(10, -1000)], 10))
    w = np.zeros((1, 1, n, 4), np.int8)
    w[0, 0, :600, 0], w[0, 0, 600:, 0] = 127, -127
    w[0, 0, :400, 1], w[0, 0, 400:, 1] = -127, 127
    w[0, 0, ::2, 2], w[0, 0, 1::2, 2] = 127, -127
    w[0, 0, :, 3] = 127
    second = (akida.FullyConnected(4, weights_bits=8, activation=False),
              (w, np.zeros(4, np.int32), np.ones(4, np.float32)))
    out.append(("fc_clamp_after_sum", _chain(first, second), np.full((2, 10, 10, 1), 7, np.uint8)))

    # 2. Fully-connected with activation: the clamped potential is activated. Inputs are
    #    ceil(x/16) of random pixels.
    first = _input_conv((30, 100, 1), 1, (1, 1), np.ones((1, 1, 1, 1), np.int8),
                        np.zeros(1, np.int32), np.ones(1, np.float32) * 16)
    w = rng.integers(-127, 128, (1, 1, 3000, 16)).astype(np.int8)
    w[..., :8] = np.abs(w[..., :8])
    steps = np.exp(np.linspace(np.log(600000), np.log(1000), 16)).astype(np.float32)
    second = (akida.FullyConnected(16, weights_bits=8, activation=True, act_bits=4),
              (w, rng.integers(-2**19, 2**19, 16).astype(np.int32), steps))
    x = ((rng.random((6, 30, 100, 1)) < 0.5) * 255).astype(np.uint8)
    out.append(("fc_activation_clamped", _chain(first, second), x))

    # 3. Global average pooling: a running sum over the pixels (rows, then columns), each
    #    partial sum saturated to 20 bits; the pixel potentials themselves are not clamped.
    #    Pixel 0 (value 100): filters 0..314 fire; pixel 1 (value 200): filters 370..999.
    c = 1000
    for shape in [(1, 2), (2, 1)]:
        w0 = np.ones((1, 1, 1, c), np.int8)
        w0[..., :315] = -1
        w0[..., 315:370] = 0
        t0 = np.zeros(c, np.int32)
        t0[:315], t0[315:370], t0[370:] = -150, 0, 150
        first = _input_conv((shape[0], shape[1], 1), c, (1, 1), w0, t0,
                            np.full(c, 1 / 16, np.float32))
        w = np.zeros((1, 1, c, 1), np.int8)
        w[0, 0, :500, 0], w[0, 0, 500:, 0] = -127, 127
        second = (akida.Convolutional(filters=1, activation=False,
                                      pool_type=akida.PoolType.Average, **conv1),
                  (w, np.zeros(1, np.int32), np.ones(1, np.float32)))
        x = np.array([100, 200], np.uint8).reshape(1, shape[0], shape[1], 1)
        out.append((f"gap_running_saturation_{shape[0]}x{shape[1]}", _chain(first, second), x))

    # 4. Global average pooling of an input convolution, random weights on a non-square image
    #    (the row-major pixel order).
    w = rng.integers(-127, 128, (7, 7, 3, 16)).astype(np.int8)
    w[..., :4] = np.abs(w[..., :4])
    first = _input_conv((9, 10, 3), 16, (7, 7), w, np.zeros(16, np.int32),
                        np.ones(16, np.float32), activation=False,
                        padding=akida.Padding.Same, pool_type=akida.PoolType.Average)
    out.append(("gap_input_conv_order", _chain(first),
                ((rng.random((4, 9, 10, 3)) < 0.5) * 255).astype(np.uint8)))

    # 5. Max pooling clamps to 20 bits, except a 1x1 pool (which is no pooling). Pixels
    #    (250, 200 / 50, 100): 5 filters fire everywhere, 245 more from 100 up, 199750 more
    #    from 200 up, the rest only at 250.
    c = 300000
    for ps in [(1, 1), (2, 2), (1, 2)]:
        first = _input_conv((2, 2, 1), c, (1, 1),
                            *_levels([(5, 0), (245, 75), (199750, 150), (100000, 225)], c))
        w = np.full((1, 1, c, 2), 127, np.int8)
        w[..., 1] = -127
        second = (akida.Convolutional(filters=2, activation=False, pool_type=akida.PoolType.Max,
                                      pool_size=ps, pool_stride=ps, **conv1),
                  (w, np.zeros(2, np.int32), np.ones(2, np.float32)))
        x = np.array([250, 200, 50, 100], np.uint8).reshape(1, 2, 2, 1)
        out.append((f"max_pool_clamp_{ps[0]}x{ps[1]}", _chain(first, second), x))

    # 6. Without pooling, potentials are 32-bit sums that wrap: a 149x149x3 kernel of 127 on
    #    255s sums to 2^31 + 9.6e6. Dequantization subtracts in 32 bits too.
    w = np.full((149, 149, 3, 2), 127, np.int8)
    w[..., 1] = -127
    first = _input_conv((149, 149, 3), 2, (149, 149), w, np.array([-1000000, 5], np.int32),
                        np.array([3.3, 0.07], np.float32), activation=False)
    out.append(("conv_wraps_32_bits", _chain(first), np.full((1, 149, 149, 3), 255, np.uint8)))

    # 7. Activation: d = P − threshold wraps in 32 bits (d ≤ 0 → level 0). P = 66294 taps of
    #    127·255 = 2146931190, just below 2^31.
    w = np.zeros((149, 149, 3, 3), np.int8)
    w.reshape(-1, 3)[:66294] = 127
    first = _input_conv((149, 149, 3), 3, (149, 149), w,
                        np.array([-1000000, -10, -600000], np.int32), np.full(3, 1e6, np.float32))
    out.append(("activation_difference_wraps", _chain(first),
                np.full((1, 149, 149, 3), 255, np.uint8)))

    # 8. Activation registers: (d·2^bits) and floor(16·act_step) are taken modulo 2^28. A
    #    25x25x3 kernel reaches 6e7, beyond 2^24 (2^28 / 16).
    for bits in (1, 2, 4):
        r = np.random.default_rng([SEED, 100 + bits])
        f = 32
        values = r.integers(-30, 128, f)
        lengths = np.exp(r.uniform(np.log(10), np.log(25 * 25 * 3), f)).astype(np.int64)
        w = np.zeros((25 * 25 * 3, f), np.int8)
        for j in range(f):
            w[:lengths[j], j] = values[j]
        steps = np.exp(r.uniform(np.log(0.07), np.log(1.34e8), f)).astype(np.float32)
        k = np.floor(16 * steps.astype(np.float64)).astype(np.int64)
        steps[(k % (1 << 28) == 0) | (k >= (1 << 31))] = 1000.0
        first = _input_conv((27, 27, 3), f, (25, 25), w.reshape(25, 25, 3, f),
                            r.integers(-2**24, 2**24, f).astype(np.int32), steps, act_bits=bits)
        out.append((f"activation_registers_{bits}bit", _chain(first),
                    r.integers(0, 256, (8, 27, 27, 3)).astype(np.uint8)))

    # 9. A separable layer with activation and no pooling: exact potentials beyond 20 bits.
    #    Its 512 input channels are levels of a 1x1 input convolution with random thresholds.
    r = np.random.default_rng([SEED, 200])
    first = _input_conv((6, 6, 1), 512, (1, 1), np.ones((1, 1, 1, 512), np.int8),
                        r.integers(0, 200, 512).astype(np.int32), np.full(512, 1.0, np.float32))
    second = (akida.SeparableConvolutional(kernel_size=(7, 7), filters=16, weights_bits=4,
                                           activation=True, act_bits=4),
              (np.abs(r.integers(-7, 8, (7, 7, 512, 1))).astype(np.int8),
               r.integers(-2**19, 2**19, 16).astype(np.int32),
               np.exp(np.linspace(np.log(600000), np.log(1000), 16)).astype(np.float32),
               r.integers(-7, 8, (1, 1, 512, 16)).astype(np.int8)))
    out.append(("separable_exact_potentials", _chain(first, second),
                r.integers(0, 256, (2, 6, 6, 1)).astype(np.uint8)))
    return out


def _set(layer, w, threshold, act_step, pw=None):
    layer.set_variable("weights", w)
    if pw is not None:
        layer.set_variable("weights_pw", pw)
    layer.set_variable("threshold", threshold)
    layer.set_variable("act_step", act_step)


def main(argv):
    if len(argv) != 1:
        print("usage: python -m qnnc_akida.engine_refs OUT_DIR", file=sys.stderr)
        return 2
    import akida

    out_dir = argv[0]
    os.makedirs(out_dir, exist_ok=True)
    for name, model, x in cases():
        arrays = {"input": x, "forward": model.forward(x)}
        if not model.layers[-1].parameters.activation:
            arrays["predict"] = model.predict(x)
        text = gzip.compress(model.to_json().encode(), mtime=0)
        arrays["model_json_gz"] = np.frombuffer(text, np.uint8)
        np.savez_compressed(os.path.join(out_dir, f"{name}.npz"), **arrays)
        print(f"{name}: {x.shape} → {arrays['forward'].shape} ({akida.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
