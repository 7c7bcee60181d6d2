"""Reference outputs of TF's f32 reductions for qnnc's `src/quant/reduce.rs`.

Writes `reduce_refs.npz` next to this file: TensorFlow's `reduce_sum`, `reduce_mean` and
`reduce_std` (per axis, i.e. over `range(rank - 1)`, and over the whole tensor) and CNN2SNN's
`StdPerAxisQuantizer` / `StdWeightQuantizer` scale factors, bit for bit, for

* stored tensors `m{k}__x` of varied shapes (rows 1..3000 with every residue mod 4 and below
  and above 16, columns 1..80 with and without whole 8-lane packets, the (7, 7, 3, 12) kernel
  `conv_0/kernel` of the `s1_case_0048` disagreement, a few other kernels and flat vectors
  across Eigen's 8192-value tree split);
* large generated tensors `g{k}` (not stored: the values are a function of the index, see
  `generated()`, which qnnc's test reimplements) of 100 000 to 1 179 648 values, whose flat
  reduction TF shards over its intra-op thread pool: their flat results are stored for pools of
  1, 2, 3, 4, 8 and 16 threads (`TF_NUM_INTRAOP_THREADS`), each computed in its own process.

Run with the reference environment (TensorFlow 2.19.1, tf_keras 2.19.0, cnn2snn 2.19.3,
NumPy 2.1.3), from anywhere:

    TF_CPP_MIN_LOG_LEVEL=3 python make_reduce_refs.py

Keys (every float is float32):

* `m{k}__x`: the tensor; `m{k}__sum|mean|std`: the per-axis reductions (absent for rank 1);
  `m{k}__fsum|fmean|fstd`: the flat ones (shape (1,));
  `m{k}__sf_axis__b{bits}_t{threshold}` / `m{k}__sf_tensor__b{bits}_t{threshold}`: scale
  factors of `StdPerAxisQuantizer` / `StdWeightQuantizer` (per-axis ones only for rank > 1);
* `g{k}__shape` (int64), `g{k}__seed` (uint64 as int64); `g{k}__sum|mean|std` per axis (rank > 1,
  independent of the pool, checked here), `g{k}__fsum|fmean|fstd__p{P}` and
  `g{k}__sf_tensor__b4_t3__p{P}` (shape (1,)) for each pool size `P`;
* `pools` (int64): the pool sizes.
"""

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "reduce_refs.npz")
SEED = 20250307
POOLS = [1, 2, 3, 4, 8, 16]
QUANT = [(4, 1.5), (2, 3.0), (8, 2.0)]

# Stored tensors: (shape, kind). Kinds: 0 = uniform in [1, 2) (every addition rounds),
# 1 = normal times 10^U(-3, 3) plus an offset (cancellation), 2 = kernel-like N(0.01, 0.05).
STORED = [
    ((1, 12), 1), ((1, 1), 0), ((2, 12), 1), ((3, 17), 0), ((4, 80), 1), ((5, 8), 2),
    ((8, 16), 0), ((15, 12), 1), ((16, 12), 0), ((17, 12), 1), ((18, 9), 2), ((19, 24), 0),
    ((31, 80), 1), ((33, 17), 0), ((64, 1), 1), ((100, 33), 2), ((147, 12), 0),
    ((147, 12), 1), ((147, 16), 2), ((255, 8), 0), ((257, 17), 1), ((577, 12), 0),
    ((1000, 1), 0), ((1025, 7), 1), ((2047, 12), 2), ((3000, 8), 0), ((3000, 1), 1),
    ((3, 3, 1, 8), 2), ((3, 3, 16, 1), 1), ((5, 5, 3, 17), 0), ((1, 1, 64, 10), 1),
    ((3, 3, 32, 64), 2), ((1352, 10), 1), ((8192,), 0), ((8193,), 1), ((16385,), 0),
    ((20001,), 1),
]
# The repository's copy of the survey case (tests/data/disagreements/, see tests/data/SOURCE.md).
S1_KERNEL = os.path.join(
    HERE, "..", "disagreements", "akd1000-akida_only_refuse", "s1_case_0048", "weights.npz"
)

# Generated tensors: (shape, seed).
GENERATED = [
    ((100000,), 1), ((108387,), 2), ((108388,), 3), ((159999,), 4), ((160000,), 5),
    ((211613,), 6), ((300001,), 7), ((3, 3, 256, 256), 8), ((3, 3, 512, 256), 9),
]


def generated(n, seed):
    """float32 values from the index: splitmix64 of `i · golden + seed`; sign negative for a
    quarter of the values, exponent 2^-6 .. 2^6, random mantissa."""
    with np.errstate(over="ignore"):
        h = np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(seed)
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    mant = h & np.uint64(0x7FFFFF)
    exp = np.uint64(121) + (h >> np.uint64(23)) % np.uint64(13)
    sign = ((h >> np.uint64(40)) % np.uint64(4) == 0).astype(np.uint64)
    bits = (sign << np.uint64(31)) | (exp << np.uint64(23)) | mant
    return bits.astype(np.uint32).view(np.float32)


def stored_data(rng, shape, kind):
    n = int(np.prod(shape))
    if kind == 0:
        x = rng.uniform(1, 2, n)
    elif kind == 1:
        x = rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3, n) + rng.uniform(-5, 5)
    else:
        x = rng.standard_normal(n) * 0.05 + 0.01
    return x.astype(np.float32).reshape(shape)


def f32(t):
    a = np.asarray(t.numpy() if hasattr(t, "numpy") else t)
    assert a.dtype == np.float32, a.dtype
    return a


def reductions(tf, w, per_axis):
    """TF's sum, mean, std (and nothing else) as CNN2SNN reduces: over range(rank - 1) or all."""
    def run(w):
        if per_axis:
            axes = tf.range(tf.rank(w) - 1)
            return [tf.reduce_sum(w, axes), tf.reduce_mean(w, axes), tf.math.reduce_std(w, axes)]
        return [tf.reshape(r, [1]) for r in
                (tf.reduce_sum(w), tf.reduce_mean(w), tf.math.reduce_std(w))]

    eager = [f32(v) for v in run(w)]
    graph = [f32(v) for v in tf.function(run)(w)]
    assert all(same_bits(a, b) for a, b in zip(eager, graph)), "graph and eager reductions differ"
    return eager


def same_bits(a, b):
    return a.shape == b.shape and (a.view(np.uint32) == b.view(np.uint32)).all()


def scale_factors(tf, w, per_axis):
    from cnn2snn.quantization_ops import StdPerAxisQuantizer, StdWeightQuantizer
    out = {}
    for bits, t in QUANT:
        cls = StdPerAxisQuantizer if per_axis else StdWeightQuantizer
        # Eagerly, as `cnn2snn.convert` evaluates it. (Inside a `tf.function`, Grappler rewrites
        # `1 / x` into `Reciprocal`, whose AVX kernel is not correctly rounded: 2-bit
        # per-axis factors, kmax = 1, then differ from these in the last bits.)
        q = cls(threshold=t, bitwidth=bits)
        out[f"b{bits}_t{t:g}"] = f32(q.scale_factor(w)).reshape(-1)
    return out


def pool_worker(pool):
    """Flat results of the generated tensors with TF's pool forced to `pool` threads."""
    import tensorflow as tf
    from cnn2snn.quantization_ops import StdWeightQuantizer
    assert tf.config.threading.get_intra_op_parallelism_threads() in (0, pool)
    res = {}
    for k, (shape, seed) in enumerate(GENERATED):
        w = tf.constant(generated(int(np.prod(shape)), seed).reshape(shape))
        fs, fm, fd = reductions(tf, w, False)
        sf = f32(StdWeightQuantizer(threshold=3.0, bitwidth=4).scale_factor(w)).reshape(1)
        res[f"g{k}"] = [v.view(np.uint32).tolist() for v in (fs, fm, fd, sf)]
        if len(shape) > 1:
            res[f"g{k}__axis"] = [v.view(np.uint32).tolist() for v in reductions(tf, w, True)]
    return res


def main():
    import tensorflow as tf
    import cnn2snn

    print("TF", tf.__version__, "cnn2snn", cnn2snn.__version__, "numpy", np.__version__)
    rng = np.random.default_rng(SEED)
    tensors = [stored_data(rng, shape, kind) for shape, kind in STORED]
    tensors.append(np.load(S1_KERNEL)["conv_0/kernel"].astype(np.float32))
    out = {}
    for k, x in enumerate(tensors):
        w = tf.constant(x)
        out[f"m{k}__x"] = x
        names = ["sum", "mean", "std"]
        if x.ndim > 1:
            for n, v in zip(names, reductions(tf, w, True)):
                out[f"m{k}__{n}"] = v.reshape(-1)
            for key, v in scale_factors(tf, w, True).items():
                out[f"m{k}__sf_axis__{key}"] = v
        for n, v in zip(names, reductions(tf, w, False)):
            out[f"m{k}__f{n}"] = v
        for key, v in scale_factors(tf, w, False).items():
            out[f"m{k}__sf_tensor__{key}"] = v

    per_pool = {}
    for pool in POOLS:
        env = dict(os.environ, TF_NUM_INTRAOP_THREADS=str(pool))
        r = subprocess.run([sys.executable, __file__, "--pool", str(pool)], env=env,
                           check=True, capture_output=True, text=True)
        per_pool[pool] = json.loads(r.stdout.strip().splitlines()[-1])
    u = lambda bits: np.array(bits, dtype=np.uint32).view(np.float32)
    for k, (shape, seed) in enumerate(GENERATED):
        out[f"g{k}__shape"] = np.array(shape, dtype=np.int64)
        out[f"g{k}__seed"] = np.array([seed], dtype=np.int64)
        for pool in POOLS:
            fs, fm, fd, sf = per_pool[pool][f"g{k}"]
            out[f"g{k}__fsum__p{pool}"] = u(fs)
            out[f"g{k}__fmean__p{pool}"] = u(fm)
            out[f"g{k}__fstd__p{pool}"] = u(fd)
            out[f"g{k}__sf_tensor__b4_t3__p{pool}"] = u(sf)
        if len(shape) > 1:
            axis = [per_pool[p][f"g{k}__axis"] for p in POOLS]
            assert all(a == axis[0] for a in axis), "a per-axis reduction depends on the pool"
            for n, v in zip(["sum", "mean", "std"], axis[0]):
                out[f"g{k}__{n}"] = u(v)
    out["pools"] = np.array(POOLS, dtype=np.int64)
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT}: {len(out)} arrays, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--pool":
        print(json.dumps(pool_worker(int(sys.argv[2]))))
    else:
        main()
