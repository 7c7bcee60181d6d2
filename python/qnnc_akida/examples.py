"""Round trip of the shipped examples through the bridge.

Every `examples/*.q` is compiled with its shipped weights (`--target akd1000` where the file's
header says the example maps on the chip, else for the simulator), exported with `qnnc export
--akida`, rebuilt with `akida.Model.from_dict`, saved as `.fbz` and loaded back, and run by
BrainChip's engine on the MNIST test images: its outputs must equal `qnnc run`'s bit for bit,
and its accuracy the one `qnnc run --data` reports.
"""

import gzip
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main(args):
    import akida

    from . import load

    binary = os.path.abspath(args.qnnc)
    root = os.path.abspath(args.root)
    images = read_idx(os.path.join(root, "examples/data/mnist/t10k-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(root, "examples/data/mnist/t10k-labels-idx1-ubyte.gz"))
    n = args.images
    x = images[:n, :, :, None]
    failures = 0
    examples = sorted(f for f in os.listdir(os.path.join(root, "examples")) if f.endswith(".q"))
    with tempfile.TemporaryDirectory(prefix="qnnc-examples-") as tmp:
        np.save(os.path.join(tmp, "x.npy"), x)
        for q in examples:
            name = q[:-2]
            model_q = os.path.join(root, "examples", q)
            weights = os.path.join(root, "examples", name + ".npz")
            header = open(model_q, encoding="utf-8").read()
            target = ["--target", "akd1000"] if re.search(r"--target akd1000", header) else []
            prog, js, fbz, y = (os.path.join(tmp, name + e) for e in (".nsoc", ".json", ".fbz", ".npy"))
            steps = [
                ["compile", model_q, "--weights", weights, "-o", prog, *target],
                ["run", prog, "--input", os.path.join(tmp, "x.npy"), "-o", y],
                ["export", prog, "--akida", js],
            ]
            for step in steps:
                r = subprocess.run([binary, *step], capture_output=True, text=True)
                if r.returncode != 0:
                    print(f"{name}: `qnnc {' '.join(step)}` failed:\n{r.stderr}")
                    failures += 1
                    break
            else:
                model = load(js)
                model.save(fbz)
                reloaded = akida.Model(fbz)
                start = time.monotonic()
                theirs = reloaded.forward(x)
                seconds = time.monotonic() - start
                ours = np.load(y)
                exact = ours.shape == theirs.shape and np.array_equal(ours, theirs)
                flat = theirs.reshape(n, -1)
                accuracy = float(np.mean(np.argmax(flat, axis=1) == labels[:n])) * 100
                print(f"{name}: {'identical' if exact else 'DIFFERENT'} outputs on {n} images "
                      f"({' '.join(target) or 'software'}), akida accuracy {accuracy:.2f} %, "
                      f"{n / seconds:,.0f} images/s in akida")
                failures += 0 if exact else 1
    return 1 if failures else 0
