"""`python -m qnnc_akida COMMAND`: the akida bridge and the differential test.

    build M.json -o M.fbz            an .fbz (akida.Model.save) from `qnnc export --akida`
    forward M.json --input X.npy -o Y.npy [--predict]
                                     BrainChip's engine on uint8 images (forward potentials or
                                     levels; --predict: the dequantized outputs)
    difftest --qnnc BIN [--cases N] [--seed S] [--jobs J] [--keep DIR] [--programs]
                                     random models: qnnc run == akida forward, bit for bit
                                     (--programs: random integer programs, no compiler)
    examples --qnnc BIN [--root DIR] every examples/*.q compiled, exported, run in akida
    map M.json [--mode minimal|all-nps|hw-pr|every] [--hw-only] [--json OUT]
                                     BrainChip's mapper on a virtual AKD1000: NPs per layer,
                                     sequences, external memory, or the mapper's refusal
    mapcheck --qnnc BIN [--cases N] [--seed S] [--json OUT] [--keep DIR]
                                     random models: `qnnc check --target akd1000` and
                                     `qnnc summary` against the mapper
"""

import argparse
import sys


def _build(args):
    from . import load

    model = load(args.model)
    model.save(args.output)
    print(f"saved `{args.model}` ({len(model.layers)} layers) as `{args.output}`")
    return 0


def _forward(args):
    import numpy as np

    from . import load

    model = load(args.model)
    x = np.load(args.input)
    y = model.predict(x) if args.predict else model.forward(x)
    np.save(args.output, y)
    print(f"ran `{args.model}` on {x.shape[0]} image(s) → `{args.output}` {list(y.shape)}")
    return 0


def _examples(args):
    from . import examples

    return examples.main(args)


def _difftest(args):
    from . import difftest

    return difftest.main(args)


def _map(args):
    from . import mapping

    return mapping.main(args)


def _mapcheck(args):
    from . import mapcheck

    return mapcheck.main(args)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m qnnc_akida", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="save a qnnc export as an akida .fbz")
    b.add_argument("model", help="the JSON written by `qnnc export M.nsoc --akida M.json`")
    b.add_argument("-o", "--output", required=True, help="the .fbz to write")
    b.set_defaults(run=_build)
    f = sub.add_parser("forward", help="run BrainChip's engine on uint8 images")
    f.add_argument("model", help="a qnnc export (.json) or an akida .fbz")
    f.add_argument("--input", required=True, help="uint8 images, (N, H, W, C) .npy")
    f.add_argument("-o", "--output", required=True, help="the .npy to write")
    f.add_argument("--predict", action="store_true",
                   help="akida predict: (potentials − threshold) / act_step of the last layer")
    f.set_defaults(run=_forward)
    d = sub.add_parser("difftest", help="random models: qnnc against BrainChip's engine")
    d.add_argument("--qnnc", default="target/release/qnnc", help="the qnnc binary")
    d.add_argument("--cases", type=int, default=200, help="number of random models")
    d.add_argument("--seed", type=int, default=1, help="seed of the generator")
    d.add_argument("--first", type=int, default=0, help="first case number")
    d.add_argument("--jobs", type=int, default=2, help="cases run in parallel")
    d.add_argument("--keep", help="directory where mismatching cases are copied")
    d.add_argument("--json", help="write every case's verdict to this file")
    d.add_argument("--verbose", action="store_true", help="print every case")
    d.add_argument("--programs", action="store_true",
                   help="random integer programs (no compiler) instead of random models")
    d.set_defaults(run=_difftest)
    e = sub.add_parser("examples", help="round-trip every examples/*.q through akida")
    e.add_argument("--qnnc", default="target/release/qnnc", help="the qnnc binary")
    e.add_argument("--root", default=".", help="the qnnc repository")
    e.add_argument("--images", type=int, default=10000, help="MNIST test images to run")
    e.set_defaults(run=_examples)
    m = sub.add_parser("map", help="map a model on a virtual AKD1000 (BrainChip's mapper)")
    m.add_argument("model", help="a qnnc export (.json) or an akida .fbz")
    m.add_argument("--mode", default="minimal", choices=["minimal", "all-nps", "hw-pr", "every"],
                   help="akida.MapMode: Minimal, AllNps (akida's default), HwPr, or all three")
    m.add_argument("--hw-only", action="store_true",
                   help="one hardware sequence or a refusal (map(..., hw_only=True))")
    m.add_argument("--json", help="write the report (format: python/qnnc_akida/mapping.py)")
    m.add_argument("--summary", action="store_true", help="also print akida's model.summary()")
    m.add_argument("--device", action="store_true", help="also print the virtual AKD1000's mesh")
    m.set_defaults(run=_map)
    c = sub.add_parser("mapcheck", help="random models: qnnc's AKD1000 check against the mapper")
    c.add_argument("--qnnc", default="target/release/qnnc", help="the qnnc binary")
    c.add_argument("--cases", type=int, default=300, help="number of random models")
    c.add_argument("--seed", type=int, default=1, help="seed of the generator")
    c.add_argument("--first", type=int, default=0, help="first case number")
    c.add_argument("--jobs", type=int, default=2, help="cases run in parallel")
    c.add_argument("--json", help="write every case's results to this file")
    c.add_argument("--keep", help="directory where disagreeing cases are copied")
    c.add_argument("--verbose", action="store_true", help="print every case")
    c.set_defaults(run=_mapcheck)
    args = p.parse_args(argv)
    try:
        return args.run(args)
    except Exception as e:  # a clear one-line error, not a traceback, for bad input
        from . import BridgeError

        if isinstance(e, (BridgeError, OSError, ValueError)):
            print(f"error: {e}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
