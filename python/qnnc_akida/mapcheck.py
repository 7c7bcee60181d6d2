"""qnnc's AKD1000 check and resource estimate against BrainChip's mapper, on random models.

For each case of `generate.generate(seed, case)`:

1. `qnnc check M.q --weights W.npz --target akd1000`: passes, or refuses with error codes;
2. `qnnc summary M.q --target akd1000`: qnnc's NP estimate per layer;
3. the program: `qnnc compile --target akd1000` when the check passes, else `qnnc compile` for
   the software target (the structure is the same; the mapper sees the layers qnnc would
   write). `qnnc export --akida` writes it and akida loads it (`akida.Model.from_dict`; akida
   may refuse values there: the case is then `akida_load_refuses`);
4. the mapper, in a forked child: `map(AKD1000(), hw_only=True, mode=Minimal)` — the verdict
   `check` is compared with: maps in one pass, or refused with the mapper's message — and
   `map(AKD1000(), mode=Minimal)` and `mode=AllNps` (hw_only=False) for the NP counts,
   sequences and external memory.

Verdicts of the check comparison:

| verdict | qnnc check | mapper (hw_only, Minimal) |
|---|---|---|
| `both_map` | passes | one pass on the chip |
| `both_refuse` | refuses | refuses (or akida refuses to load the values) |
| `qnnc_only_refuse` | refuses | maps |
| `akida_only_refuse` | passes | refuses |
| `qnnc_failed` | crashed, or compile/export failed after the check passed | — |

A refusal is filed under a category: the mapper's message with numbers replaced by `N` and layer
names by `L`, or qnnc's error codes.
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

from . import generate

CODE = re.compile(r"error\[([a-z0-9_]+::[a-z0-9_]+)\]")


def qnnc(binary, *args):
    return subprocess.run([binary, "--message-format", "short", *args],
                          capture_output=True, text=True)


def category(message):
    """A mapper message without its numbers and layer names."""
    m = re.sub(r"'[^']*'", "L", message)
    return re.sub(r"\d+", "N", m)


def qnnc_summary_nps(text):
    """Per-layer NPs from `qnnc summary --target akd1000` ({layer: int or 'HRC'}) and the total."""
    rows, total, inside = {}, None, False
    for line in text.splitlines():
        if line.startswith("AKD1000 resources"):
            inside = True
            continue
        if not inside:
            continue
        m = re.search(r"about (\d+) of the", line)
        if m:
            total = int(m.group(1))
            break
        parts = line.split()
        if len(parts) >= 7 and parts[0] != "layer":
            rows[parts[0]] = parts[-1] if parts[-1] == "HRC" else int(parts[-1])
    return rows, total


def _mapper(json_path, conn):
    """In a forked child: the three reports (hw_only Minimal, Minimal, AllNps)."""
    try:
        from . import load
        from .mapping import map_model

        out = {}
        for key, mode, hw_only in (("hw_only", "minimal", True), ("minimal", "minimal", False),
                                   ("all_nps", "all-nps", False)):
            try:
                model = load(json_path)
            except Exception as e:
                conn.send(("load_error", f"{type(e).__name__}: {e}"))
                return
            out[key] = map_model(model, mode=mode, hw_only=hw_only)
        conn.send(("ok", out))
    except Exception as e:
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


def run_mapper(json_path, timeout=300):
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_mapper, args=(json_path, child))
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
        return ("crash", f"the akida mapper died (exit code {p.exitcode})")
    return result


def _np_summary(report):
    return {l["name"]: l["nps"] if l["type"] != "InputConvolutional" else "HRC"
            for l in report["layers"]}


def run_case(binary, seed, case, work):
    m = generate.generate(seed, case)
    d = os.path.join(work, f"case_{case}")
    os.makedirs(d, exist_ok=True)
    m.write(d)
    q, w = os.path.join(d, "model.q"), os.path.join(d, "weights.npz")
    prog, js = os.path.join(d, "m.nsoc"), os.path.join(d, "m.json")
    res = dict(case=case, dir=d)
    r = qnnc(binary, "check", q, "--weights", w, "--target", "akd1000")
    codes = CODE.findall(r.stdout + r.stderr)
    if r.returncode not in (0, 1) or (r.returncode == 1 and not codes):
        return dict(res, verdict="qnnc_failed", detail=f"check exited {r.returncode}: "
                    f"{(r.stdout + r.stderr)[-1500:]}")
    res["qnnc_check"] = "ok" if r.returncode == 0 else "refuses"
    res["qnnc_codes"] = sorted(set(codes))
    s = qnnc(binary, "summary", q, "--target", "akd1000")
    res["qnnc_nps"], res["qnnc_nps_total"] = qnnc_summary_nps(s.stdout)
    # The program: for the chip when the check passes, else for the software target.
    args = ["compile", q, "--weights", w, "-o", prog]
    if res["qnnc_check"] == "ok":
        args += ["--target", "akd1000"]
    r = qnnc(binary, *args)
    if r.returncode != 0:
        codes = CODE.findall(r.stdout + r.stderr)
        if res["qnnc_check"] == "ok":
            return dict(res, verdict="qnnc_failed",
                        detail=f"check passes, compile --target akd1000 refuses: {codes}")
        # qnnc cannot write the program at all (a conversion error): no mapper verdict
        return dict(res, verdict="not_converted", convert_codes=sorted(set(codes)))
    r = qnnc(binary, "export", prog, "--akida", js)
    if r.returncode != 0:
        return dict(res, verdict="qnnc_failed", detail=f"export: {r.stderr[-1500:]}")
    status, out = run_mapper(js)
    if status == "load_error":
        res["mapper"] = {"load_error": out}
        res["akida_category"] = "load: " + category(out)
        verdict = "both_refuse" if res["qnnc_check"] == "refuses" else "akida_only_refuse"
        return dict(res, verdict=verdict)
    if status != "ok":
        return dict(res, verdict="qnnc_failed", detail=f"mapper: {out}")
    hw = out["hw_only"]
    res["mapper"] = {
        "hw_only": hw["verdict"],
        "hw_only_error": hw["error"]["message"] if hw["error"] else None,
        "minimal": out["minimal"]["verdict"],
        "all_nps": out["all_nps"]["verdict"],
        "minimal_nps": _np_summary(out["minimal"]),
        "minimal_nps_total": out["minimal"]["totals"]["nps"],
        "minimal_components": out["minimal"]["totals"]["components"],
        "minimal_sequences": out["minimal"]["totals"]["sequences"],
        "minimal_external_bytes": out["minimal"]["totals"]["external_bytes"],
        "minimal_software_layers": out["minimal"]["totals"]["software_layers"],
        "all_nps_total": out["all_nps"]["totals"]["nps"],
        "all_nps_sequences": out["all_nps"]["totals"]["sequences"],
        "all_nps_external_bytes": out["all_nps"]["totals"]["external_bytes"],
    }
    akida_maps = hw["verdict"] == "one_pass"
    if hw["error"]:
        res["akida_category"] = category(hw["error"]["message"])
    elif not akida_maps:
        res["akida_category"] = f"hw_only: {hw['verdict']}"
    if res["qnnc_check"] == "ok":
        verdict = "both_map" if akida_maps else "akida_only_refuse"
    else:
        verdict = "qnnc_only_refuse" if akida_maps else "both_refuse"
    res["np_agree"] = (akida_maps and res["qnnc_nps_total"] is not None
                       and res["qnnc_nps_total"] == out["minimal"]["totals"]["nps"])
    return dict(res, verdict=verdict)


def main(args):
    binary = os.path.abspath(args.qnnc)
    if not os.path.exists(binary):
        print(f"error: no qnnc binary at `{args.qnnc}`", file=sys.stderr)
        return 2
    import akida

    work = tempfile.mkdtemp(prefix="qnnc-mapcheck-")
    start = time.monotonic()
    cases = range(args.first, args.first + args.cases)
    results = []
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for res in pool.map(lambda c: run_case(binary, args.seed, c, work), cases):
            results.append(res)
            bad = res["verdict"] in ("qnnc_only_refuse", "akida_only_refuse", "qnnc_failed")
            if bad or args.verbose:
                why = res.get("akida_category") or res.get("detail") or ""
                print(f"case {res['case']}: {res['verdict']} qnnc {res.get('qnnc_codes')} "
                      f"akida {why}".rstrip(), flush=True)
            if bad and args.keep:
                dest = os.path.join(args.keep, f"seed{args.seed}_case{res['case']}")
                shutil.rmtree(dest, ignore_errors=True)
                shutil.copytree(res["dir"], dest)
            shutil.rmtree(res["dir"], ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    counts, categories = {}, {}
    for r in results:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
        if r["verdict"] in ("qnnc_only_refuse", "akida_only_refuse", "both_refuse"):
            key = (r["verdict"], r.get("akida_category") or "-", ",".join(r.get("qnnc_codes", [])))
            categories.setdefault(key, []).append(r["case"])
    mapped = [r for r in results if r["verdict"] == "both_map"]
    np_equal = sum(1 for r in mapped if r.get("np_agree"))
    elapsed = time.monotonic() - start
    compared = sum(counts.get(v, 0) for v in
                   ("both_map", "both_refuse", "qnnc_only_refuse", "akida_only_refuse"))
    disagree = counts.get("qnnc_only_refuse", 0) + counts.get("akida_only_refuse", 0)
    print(f"mapcheck: seed {args.seed}, cases {args.first}..{args.first + args.cases - 1}, "
          f"akida {akida.__version__}: {compared} compared, {disagree} disagree "
          f"({counts.get('qnnc_only_refuse', 0)} qnnc only refuses, "
          f"{counts.get('akida_only_refuse', 0)} mapper only refuses); "
          f"{counts.get('both_map', 0)} both map, {counts.get('both_refuse', 0)} both refuse, "
          f"{counts.get('not_converted', 0)} not converted by qnnc, "
          f"{counts.get('qnnc_failed', 0)} failed; {elapsed:.1f} s")
    print(f"  NPs: qnnc's estimate equals the mapper's Minimal count on {np_equal} of "
          f"{len(mapped)} models that both map")
    for (verdict, cat, codes), cs in sorted(categories.items(), key=lambda kv: -len(kv[1])):
        print(f"  {verdict:18} {len(cs):4}  mapper: {cat} | qnnc: {codes or '-'}  "
              f"(cases {', '.join(map(str, cs[:6]))}{' …' if len(cs) > 6 else ''})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(dict(seed=args.seed, first=args.first, cases=args.cases,
                           akida=akida.__version__, counts=counts,
                           results=[{k: v for k, v in r.items() if k != "dir"}
                                    for r in results]), f, indent=1)
    return 1 if disagree or counts.get("qnnc_failed") else 0
