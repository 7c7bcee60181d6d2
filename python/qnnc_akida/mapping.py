"""BrainChip's mapper as an oracle: a model mapped on a virtual AKD1000, as a stable report.

`akida.Model.map(device, hw_only=..., mode=...)` places every layer of an Akida 1.0 model on
the components of a device: the input layer on the HRC (the input block), the others on neural
processors (NPs) of the mesh, several NPs for a wide layer. What does not fit in hardware goes
to a *software* sequence (run by the host) unless `hw_only=True`, in which case the mapper
refuses the model with a `RuntimeError` naming the layer. `akida.AKD1000()` is a virtual device
with the mesh of the real chip, so no board is needed.

The report (`map_model`) is a plain dict with a fixed layout (`REPORT_FORMAT`), written as JSON
by `python -m qnnc_akida map M.json --json OUT` so that a Rust test can compare qnnc's resource
model against it:

    {
      "format": 1, "akida": "2.19.3", "device": "AKD1000",
      "mode": "minimal" | "all-nps" | "hw-pr", "hw_only": bool,
      "verdict": "one_pass"          one hardware sequence of one pass: the whole model on chip
               | "several_passes"    one hardware sequence, several passes (NPs reprogrammed)
               | "several_sequences" more than one sequence (hardware and/or software)
               | "refused",          map() raised: see "error"
      "error": null | {"type": "RuntimeError", "message": "...", "layer": "name" | null},
      "sequences": [{"name", "backend": "hardware" | "software", "passes": [[layer, ...], ...],
                     "program_bytes": int | null}],
      "layers": [{"name", "type" (akida LayerType name), "sequence": i | null, "pass": j | null,
                  "backend": "hardware" | "software" | null,
                  "components": {"HRC": n, "CNP1": n, "CNP2": n, "FNP2": n, "FNP3": n, ...},
                  "nps": n (components other than the HRC and skip DMAs),
                  "external_bytes": n, "weight_bytes": n, "input_bytes": n,
                  "units": [{"type", "ident": [col, row, id], "filters", "start_neuron",
                             "single_buffer", "weight_bytes", "input_bytes",
                             "external_bytes"}]}],
      "totals": {"nps": n, "components": {...}, "external_bytes": n, "sequences": n,
                 "hardware_sequences": n, "software_sequences": n, "passes": n,
                 "software_layers": [names]}
    }

Counts follow `akida.Model.summary()`: "NPs" excludes the HRC of the input layer, the
"External Memory" of a layer is the sum of `mem_info.external_size` over its components (NPs
and skip DMAs), and the model's total is `Model.external_memory_size`. A refused model has
`sequences: []` and its layers unplaced.
"""

import json
import sys

REPORT_FORMAT = 1

MODES = ("minimal", "all-nps", "hw-pr")


def _map_mode(mode):
    import akida

    return {"minimal": akida.MapMode.Minimal, "all-nps": akida.MapMode.AllNps,
            "hw-pr": akida.MapMode.HwPr}[mode]


def _type_name(t):
    return str(t).split(".")[-1]


def _ident(ident):
    return [int(ident.col), int(ident.row), int(ident.id)]


def device_info(device=None):
    """The components of a device's mesh, as `device.mesh` reports them."""
    import akida

    device = device or akida.AKD1000()
    mesh = device.mesh
    nodes = {}
    types = {}
    for n in mesh.nps:
        key = (int(n.ident.col), int(n.ident.row))
        nodes.setdefault(key, []).append(int(n.ident.id))
        for t in n.types:
            types[_type_name(t)] = types.get(_type_name(t), 0) + 1
    sram = mesh.np_sram_size
    return {
        "device": str(device.desc),
        "version": str(device.version),
        "ip_version": _type_name(device.ip_version),
        "nps": len(mesh.nps),
        "nodes": len(nodes),
        "nps_of_type": dict(sorted(types.items())),
        "np_types": [{"ident": _ident(n.ident), "types": [_type_name(t) for t in n.types]}
                     for n in mesh.nps],
        "hrc": _ident(mesh.hrc.ident),
        "dma_event": _ident(mesh.dma_event),
        "dma_conf": _ident(mesh.dma_conf),
        "np_sram": {"weight_bytes": int(sram.weight_bytes), "input_bytes": int(sram.input_bytes)},
    }


_REFUSAL_LAYER = "Cannot map layer '"


def _error(e):
    message = str(e)
    layer = None
    if message.startswith(_REFUSAL_LAYER):
        end = message.find("'", len(_REFUSAL_LAYER))
        if end > 0:
            layer = message[len(_REFUSAL_LAYER):end]
    return {"type": type(e).__name__, "message": message, "layer": layer}


def _unit(c):
    m = c.mem_info
    return {
        "type": _type_name(c.type),
        "ident": _ident(c.ident),
        "filters": int(c.filters),
        "start_neuron": int(getattr(c, "start_neuron", 0)),
        "single_buffer": bool(c.single_buffer),
        "weight_bytes": int(m.weight_size),
        "input_bytes": int(m.input_size),
        "external_bytes": int(m.external_size),
    }


def map_model(model, mode="minimal", hw_only=False, device=None):
    """Maps `model` (an `akida.Model`, changed in place) on `device` (a virtual AKD1000 by
    default) and returns the report described in the module docstring."""
    import akida

    name = "AKD1000" if device is None else str(device.desc)
    device = device or akida.AKD1000()
    report = {
        "format": REPORT_FORMAT,
        "akida": akida.__version__,
        "device": name,
        "mode": mode,
        "hw_only": bool(hw_only),
    }
    try:
        model.map(device, hw_only=hw_only, mode=_map_mode(mode))
        error = None
    except Exception as e:  # the mapper's refusal is the result
        error = _error(e)
    layers = []
    placed = {}
    sequences = []
    if error is None:
        for si, seq in enumerate(model.sequences):
            backend = "hardware" if _type_name(seq.backend) == "Hardware" else "software"
            passes = []
            for pi, p in enumerate(seq.passes):
                passes.append([l.name for l in p.layers])
                for l in p.layers:
                    placed[l.name] = (si, pi, backend)
            program = seq.program
            sequences.append({"name": seq.name, "backend": backend, "passes": passes,
                              "program_bytes": None if program is None else len(program)})
    totals = {"nps": 0, "components": {}, "external_bytes": 0}
    for l in model.layers:
        si, pi, backend = placed.get(l.name, (None, None, None))
        mapping = l.mapping if error is None else None
        units = []
        if mapping is not None:
            units = [_unit(c) for c in list(mapping.nps) + list(mapping.skipdma_stores)
                     + list(mapping.skipdma_loads)]
        comps = {}
        for u in units:
            comps[u["type"]] = comps.get(u["type"], 0) + 1
        nps = sum(v for k, v in comps.items() if k not in ("HRC",) and not k.startswith("SKIP"))
        layer = {
            "name": l.name,
            "type": _type_name(l.parameters.layer_type),
            "sequence": si, "pass": pi, "backend": backend,
            "components": dict(sorted(comps.items())),
            "nps": nps,
            "external_bytes": sum(u["external_bytes"] for u in units),
            "weight_bytes": sum(u["weight_bytes"] for u in units),
            "input_bytes": sum(u["input_bytes"] for u in units),
            "units": units,
        }
        layers.append(layer)
        totals["nps"] += nps
        for k, v in comps.items():
            totals["components"][k] = totals["components"].get(k, 0) + v
    totals["components"] = dict(sorted(totals["components"].items()))
    if error is None:
        totals["external_bytes"] = int(model.external_memory_size)
    totals["sequences"] = len(sequences)
    totals["hardware_sequences"] = sum(1 for s in sequences if s["backend"] == "hardware")
    totals["software_sequences"] = sum(1 for s in sequences if s["backend"] == "software")
    totals["passes"] = sum(len(s["passes"]) for s in sequences)
    totals["software_layers"] = [l["name"] for l in layers if l["backend"] == "software"]
    if error is not None:
        verdict = "refused"
    elif len(sequences) == 1 and sequences[0]["backend"] == "hardware":
        verdict = "one_pass" if len(sequences[0]["passes"]) == 1 else "several_passes"
    else:
        verdict = "several_sequences"
    report.update(verdict=verdict, error=error, sequences=sequences, layers=layers, totals=totals)
    return report


def map_file(path, mode="minimal", hw_only=False):
    """The report of the model in `path` (a qnnc export `.json` or an `.fbz`), freshly loaded."""
    from . import load

    return map_model(load(path), mode=mode, hw_only=hw_only)


def _components_text(comps):
    return " + ".join(f"{v} {k}" for k, v in comps.items()) or "-"


def report_text(r):
    """The report as a few lines of text, one per layer."""
    lines = [f"akida {r['akida']} mapper, virtual {r['device']}, mode {r['mode']}"
             f"{', hw_only' if r['hw_only'] else ''}: {r['verdict']}"]
    if r["error"]:
        lines.append(f"  refused: {r['error']['message']}")
    t = r["totals"]
    if not r["error"]:
        seqs = ", ".join(f"{s['name']} ({s['backend']}, {len(s['passes'])} pass"
                         f"{'es' if len(s['passes']) != 1 else ''})" for s in r["sequences"])
        lines.append(f"  {t['sequences']} sequence(s): {seqs}")
        lines.append(f"  {t['nps']} NPs ({_components_text(t['components'])}), external memory "
                     f"{t['external_bytes']} bytes")
    width = max([len(l["name"]) for l in r["layers"]] + [5])
    for l in r["layers"]:
        where = "" if l["sequence"] is None else f"seq {l['sequence']} pass {l['pass']} " \
            f"{l['backend']:8}"
        ext = f"  external {l['external_bytes']} B" if l["external_bytes"] else ""
        lines.append(f"  {l['name']:{width}}  {l['type']:22} {where} "
                     f"{_components_text(l['components'])}{ext}".rstrip())
    return "\n".join(lines)


def main(args):
    modes = MODES if args.mode == "every" else (args.mode,)
    reports = [map_file(args.model, mode=m, hw_only=args.hw_only) for m in modes]
    for r in reports:
        print(report_text(r))
    if args.summary:
        from . import load

        model = load(args.model)
        model.map(__import__("akida").AKD1000(), hw_only=args.hw_only,
                  mode=_map_mode(modes[0]))
        model.summary()
    if args.json:
        out = reports[0] if len(reports) == 1 else {"format": REPORT_FORMAT, "reports": reports}
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    if args.device:
        print(json.dumps({k: v for k, v in device_info().items() if k != "np_types"}, indent=1))
    return 0 if all(r["verdict"] != "refused" for r in reports) else 3


if __name__ == "__main__":
    sys.exit(0)
