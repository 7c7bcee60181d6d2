"""The differential test: random models compiled by qnnc, rebuilt in akida, compared.

For each case of `generate.generate(seed, case)`:

1. `qnnc compile` (software target) writes the program, or refuses with diagnostics (the case
   is then counted by the first error code and not compared);
2. `qnnc run` gives the integer outputs (`--dequantize` too when the last layer outputs
   potentials);
3. `qnnc export --akida` writes the program as an akida model, which BrainChip's engine loads
   (`akida.Model.from_dict`) and runs: `forward` must equal `qnnc run` bit for bit and
   `predict` must equal `qnnc run --dequantize` bit for bit. The engine runs in a forked child,
   so that a crash of the engine is a reported mismatch rather than the end of the test.

A mismatching case is kept in `--keep DIR` (model, weights, input, both outputs) with the
command that reproduces it.
"""

import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from . import generate


def _engine(json_path, input_path, want_predict, conn):
    """In a forked child: the engine's forward (and predict) outputs, or the error it raised."""
    try:
        import akida  # noqa: F401  (imported by the parent already; cheap)
        from . import load

        model = load(json_path)
        x = np.load(input_path)
        out = {"forward": model.forward(x)}
        if want_predict:
            out["predict"] = model.predict(x)
        conn.send(("ok", out))
    except Exception as e:  # the engine's refusal is a result, not a crash of the test
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


def _engine_program(seed, case, input_path, want_predict, conn):
    """In a forked child: the engine's outputs for random program `case`."""
    try:
        from . import programs

        layers, _, _ = programs.random_program(seed, case)
        model = programs.akida_model(layers)
        x = np.load(input_path)
        out = {"forward": model.forward(x)}
        if want_predict:
            out["predict"] = model.predict(x)
        conn.send(("ok", out))
    except Exception as e:
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


def run_engine(json_path, input_path, want_predict, timeout=120, target=None, args=None):
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    if target is None:
        target, args = _engine, (json_path, input_path, want_predict)
    p = ctx.Process(target=target, args=(*args, child))
    p.start()
    child.close()
    result = None
    if parent.poll(timeout):
        try:
            result = parent.recv()
        except EOFError:
            result = None
    p.join(5)
    if p.is_alive():
        p.kill()
        p.join()
    if result is None:
        return ("crash", f"the akida engine died (exit code {p.exitcode})")
    return result


CODE = re.compile(r"error\[([a-z0-9_]+::[a-z0-9_]+)\]")


def qnnc(binary, *args):
    return subprocess.run([binary, "--message-format", "short", *args],
                          capture_output=True, text=True)


def run_case(binary, seed, case, work):
    """One case; returns a dict with its verdict."""
    m = generate.generate(seed, case)
    d = os.path.join(work, f"case_{case}")
    os.makedirs(d, exist_ok=True)
    m.write(d)
    q, w, x = (os.path.join(d, f) for f in ("model.q", "weights.npz", "input.npy"))
    prog, out, deq, js = (os.path.join(d, f) for f in ("m.nsoc", "y.npy", "p.npy", "m.json"))
    r = qnnc(binary, "compile", q, "--weights", w, "-o", prog)
    if r.returncode != 0:
        codes = CODE.findall(r.stdout + r.stderr)
        if r.returncode != 1 or not codes:
            return dict(case=case, verdict="qnnc_failed", dir=d,
                        detail=f"compile exited {r.returncode}: {r.stderr[-2000:]}")
        return dict(case=case, verdict="qnnc_refuses", code=codes[0], dir=d)
    r = qnnc(binary, "run", prog, "--input", x, "-o", out)
    if r.returncode != 0:
        return dict(case=case, verdict="qnnc_failed", dir=d, detail=f"run: {r.stderr[-2000:]}")
    r = qnnc(binary, "inspect", prog, "--format", "json")
    potentials = not json.loads(r.stdout)["layers"][-1]["activation"]
    if potentials:
        r = qnnc(binary, "run", prog, "--input", x, "-o", deq, "--dequantize")
        if r.returncode != 0:
            return dict(case=case, verdict="qnnc_failed", dir=d,
                        detail=f"run --dequantize: {r.stderr[-2000:]}")
    r = qnnc(binary, "export", prog, "--akida", js)
    if r.returncode != 0:
        return dict(case=case, verdict="qnnc_failed", dir=d, detail=f"export: {r.stderr[-2000:]}")
    status, engine = run_engine(js, x, potentials)
    if status != "ok":
        return dict(case=case, verdict="akida_refuses", dir=d, detail=engine)
    ours = np.load(out)
    theirs = engine["forward"]
    if ours.shape != theirs.shape or ours.dtype != theirs.dtype or not np.array_equal(ours, theirs):
        np.save(os.path.join(d, "akida_forward.npy"), theirs)
        n = int(np.sum(ours != theirs)) if ours.shape == theirs.shape else -1
        return dict(case=case, verdict="forward_mismatch", dir=d,
                    detail=f"{n} of {theirs.size} values differ")
    if potentials:
        ours_p, theirs_p = np.load(deq), engine["predict"]
        if not np.array_equal(ours_p, theirs_p):
            np.save(os.path.join(d, "akida_predict.npy"), theirs_p)
            return dict(case=case, verdict="predict_mismatch", dir=d,
                        detail=f"{int(np.sum(ours_p != theirs_p))} of {theirs_p.size} values differ")
    return dict(case=case, verdict="exact", potentials=potentials, dir=d, **coverage(js, theirs))


def run_program_case(binary, seed, case, work):
    """One random program (no compiler): `qnnc run` against the engine built from the values."""
    from . import programs

    layers, dims, inputs = programs.random_program(seed, case)
    d = os.path.join(work, f"program_{case}")
    os.makedirs(d, exist_ok=True)
    prog, x, out, deq = (os.path.join(d, f) for f in ("p.nsoc", "input.npy", "y.npy", "p.npy"))
    with open(prog, "wb") as f:
        f.write(programs.encode(f"p{case}", layers, dims))
    np.save(x, inputs)
    potentials = not layers[-1].activation
    r = qnnc(binary, "run", prog, "--input", x, "-o", out)
    if r.returncode != 0:
        return dict(case=case, verdict="qnnc_failed", dir=d, detail=f"run: {r.stderr[-2000:]}")
    if potentials:
        r = qnnc(binary, "run", prog, "--input", x, "-o", deq, "--dequantize")
        if r.returncode != 0:
            return dict(case=case, verdict="qnnc_failed", dir=d,
                        detail=f"run --dequantize: {r.stderr[-2000:]}")
    status, engine = run_engine(None, x, potentials, target=_engine_program,
                                args=(seed, case, x, potentials))
    if status != "ok":
        return dict(case=case, verdict="akida_refuses", dir=d, detail=engine)
    ours, theirs = np.load(out), engine["forward"]
    if ours.shape != theirs.shape or not np.array_equal(ours, theirs):
        np.save(os.path.join(d, "akida_forward.npy"), theirs)
        n = int(np.sum(ours != theirs)) if ours.shape == theirs.shape else -1
        return dict(case=case, verdict="forward_mismatch", dir=d,
                    detail=f"{n} of {theirs.size} values differ")
    if potentials and not np.array_equal(np.load(deq), engine["predict"]):
        np.save(os.path.join(d, "akida_predict.npy"), engine["predict"])
        return dict(case=case, verdict="predict_mismatch", dir=d, detail="dequantized values differ")
    flags = {}
    if potentials:
        l = layers[-1]
        if (l.kind == "FullyConnected" or l.pooling[0] in ("gap",) or
                (l.pooling[0] == "max" and l.pooling[1] > 1)) and np.any(
                    (theirs == -(1 << 19)) | (theirs == (1 << 19) - 1)):
            flags["saturated"] = True
        if np.any(np.abs(theirs.astype(np.int64)) > (1 << 24)):
            flags["beyond_24_bits"] = True
    if any(l.activation and np.any(np.floor(16 * l.act_steps.astype(np.float64)) >= (1 << 28))
           for l in layers):
        flags["register_wrap"] = True
    return dict(case=case, verdict="exact", potentials=potentials, dir=d, **flags)


def coverage(json_path, forward):
    """Which of the engine's corner cases a compared case reached (for the summary)."""
    with open(json_path, encoding="utf-8") as f:
        layers = json.load(f)["layers"]
    last = layers[-1]["parameters"]
    flags = {}
    if not last["activation"]:
        saturating = last["layer_type"] == "FullyConnected" or last.get("pool_type") in (1, 2)
        if saturating and np.any((forward == -(1 << 19)) | (forward == (1 << 19) - 1)):
            flags["saturated"] = True
        if np.any(np.abs(forward.astype(np.int64)) > (1 << 24)):
            flags["beyond_24_bits"] = True
    for layer in layers:
        if layer["parameters"]["activation"]:
            steps = np.asarray(layer["variables"]["act_step"]["data"], np.float64)
            if np.any(np.floor(16 * steps) >= (1 << 28)):
                flags["register_wrap"] = True
    return flags


def main(args):
    binary = os.path.abspath(args.qnnc)
    if not os.path.exists(binary):
        print(f"error: no qnnc binary at `{args.qnnc}`", file=sys.stderr)
        print("  help: build it with `cargo build --release` and pass `--qnnc target/release/qnnc`",
              file=sys.stderr)
        return 2
    import akida  # fail early, before any work, if the environment lacks it

    work = tempfile.mkdtemp(prefix="qnnc-difftest-")
    start = time.monotonic()
    cases = range(args.first, args.first + args.cases)
    results = []
    from concurrent.futures import ThreadPoolExecutor

    if args.programs:
        def one(c):
            return run_program_case(binary, args.seed, c, work)
    else:
        def one(c):
            return run_case(binary, args.seed, c, work)
    kind = "program" if args.programs else "case"
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for res in pool.map(one, cases):
            results.append(res)
            bad = res["verdict"] not in ("exact", "qnnc_refuses")
            if bad or args.verbose:
                print(f"case {res['case']}: {res['verdict']} {res.get('detail', '')}".rstrip(),
                      flush=True)
            if bad and args.keep:
                dest = os.path.join(args.keep, f"seed{args.seed}_{kind}{res['case']}")
                shutil.rmtree(dest, ignore_errors=True)
                shutil.copytree(res["dir"], dest)
            if not bad:
                shutil.rmtree(res.get("dir") or os.path.join(work, f"{kind}_{res['case']}"),
                              ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    counts = {}
    for r in results:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    refusals = {}
    for r in results:
        if r["verdict"] == "qnnc_refuses":
            refusals[r["code"]] = refusals.get(r["code"], 0) + 1
    compared = counts.get("exact", 0) + sum(
        counts.get(v, 0) for v in ("forward_mismatch", "predict_mismatch", "akida_refuses"))
    mismatches = compared - counts.get("exact", 0) + counts.get("qnnc_failed", 0)
    elapsed = time.monotonic() - start
    with_potentials = sum(1 for r in results if r.get("potentials"))
    reached = {k: sum(1 for r in results if r.get(k))
               for k in ("saturated", "beyond_24_bits", "register_wrap")}
    what = "random programs" if args.programs else "compiled and compared"
    print(f"difftest: seed {args.seed}, {kind}s {args.first}..{args.first + args.cases - 1}: "
          f"{compared} {what} with akida {akida.__version__}, "
          f"{counts.get('exact', 0)} exact ({with_potentials} with predict), "
          f"{mismatches} mismatches; {counts.get('qnnc_refuses', 0)} refused by qnnc; "
          f"{elapsed:.1f} s")
    print("  reached: " + ", ".join(f"{k} {v}" for k, v in reached.items())
          + " (saturated 20-bit outputs, outputs beyond 24 bits, act_step registers that wrap)")
    if refusals:
        print("  refusals: " + ", ".join(f"{k} {v}" for k, v in sorted(refusals.items())))
    for v in ("forward_mismatch", "predict_mismatch", "akida_refuses", "qnnc_failed"):
        if counts.get(v):
            print(f"  {v}: {counts[v]}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(dict(seed=args.seed, first=args.first, cases=args.cases, counts=counts,
                           refusals=refusals, results=[
                               {k: v for k, v in r.items() if k != "dir"} for r in results]),
                      f, indent=1)
    return 1 if mismatches else 0
