"""qnnc ↔ akida: run qnnc's integer programs with BrainChip's akida package.

`qnnc export M.nsoc --akida M.json` writes the JSON of an Akida 1.0 model (the form
`akida.Model.to_json()` gives); this package turns it into an `akida.Model`, saves it as `.fbz`,
runs it with BrainChip's engine, and maps it on a virtual AKD1000. It needs only `akida` (2.19)
and `numpy`: see `python/requirements.txt` and `docs/akida-bridge.md`.

    import qnnc_akida
    model = qnnc_akida.load("m.json")        # an akida.Model (IpVersion v1 layers)
    model.save("m.fbz")                      # BrainChip's own format, for its runtime
    potentials = model.forward(images)       # what `qnnc run` returns, bit for bit
"""

import json

EXPORT_FORMAT = 1


class BridgeError(Exception):
    """The file is not a qnnc export this package can read."""


def read_export(path):
    """The parsed export, after checking its `qnnc` header."""
    with open(path, "r", encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise BridgeError(f"{path}: not a JSON file ({e})") from None
    header = data.get("qnnc") if isinstance(data, dict) else None
    if not isinstance(header, dict):
        raise BridgeError(f"{path}: no `qnnc` header; write it with `qnnc export M.nsoc --akida {path}`")
    if header.get("format") != EXPORT_FORMAT:
        raise BridgeError(
            f"{path}: export format {header.get('format')!r}, this package reads {EXPORT_FORMAT}"
        )
    return data


def load(path):
    """The `akida.Model` of a qnnc export (a `.json` from `qnnc export`, or an `.fbz`)."""
    import akida

    if str(path).endswith(".fbz"):
        return akida.Model(str(path))
    data = read_export(path)
    return akida.Model.from_dict(data)


def header(path):
    """The `qnnc` header of an export: model name, source hash, target."""
    return read_export(path)["qnnc"]
