"""Digests of the generated C (model.c, model.h) for int8 .tflite models x weight formats.

A refactor of the code generator, the weight formats or the op table must leave the C it
generates byte-identical; this script records a sha256 per (model, variant, mode) so two
revisions can be compared:

    python benchmarks/export/generated_c.py --models 'runs/**/model_int8.tflite' \\
        --out /tmp/before.json
    ... change the code ...
    python benchmarks/export/generated_c.py --models 'runs/**/model_int8.tflite' \\
        --out /tmp/after.json --compare /tmp/before.json

Variants: each model as read, and copies whose weights are masked to N:M patterns (2:4,
1:8, 3:16; so the N:M formats are exercised on dense models too). Modes: the fixed formats,
`nm`, `auto` by bytes and by the shipped latency cost model, and, for a latency-aware
checkpoint next to the model (`../prune/model.*`), the formats its allocation chose.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import shlex
import sys
from copy import deepcopy
from pathlib import Path

import numpy as np

from tinydeploy.codegen.generator import generate_c
from tinydeploy.codegen.select import CostModel
from tinydeploy.errors import TinydeployError
from tinydeploy.ir import Graph, read_tflite
from tinydeploy.rundir import file_hash, git_revision, write_json_atomic

MODES = (("dense", "bytes"), ("csr", "bytes"), ("csrd", "bytes"), ("nm", "bytes"),
         ("auto", "bytes"), ("auto", "latency"))
NM_MASKS = ((2, 4), (1, 8), (3, 16))


def nm_masked(graph: Graph, n: int, m: int) -> Graph:
    """A copy with every conv / fc weight matrix cut to n nonzeros per m along K (largest
    magnitudes kept, ties by position)."""
    g = deepcopy(graph)
    for op in g.weighted_ops():
        if op.kind == "DEPTHWISE_CONV_2D":
            continue
        w = op.weights.reshape(op.weights.shape[0], -1)
        rows, k = w.shape
        groups = -(-k // m)
        padded = np.zeros((rows, groups * m), dtype=np.int8)
        padded[:, :k] = w
        grouped = padded.reshape(rows, groups, m)
        order = np.argsort(-np.abs(grouped.astype(np.int16)), axis=2, kind="stable")
        np.put_along_axis(grouped, order[:, :, n:], 0, axis=2)
        op.weights = grouped.reshape(rows, -1)[:, :k].reshape(op.weights.shape).copy()
    return g


def allocated(tflite: Path, graph: Graph) -> dict[str, str] | None:
    """The per-layer formats of a latency-aware checkpoint beside the model, if any."""
    ckpt = tflite.parent.parent / "prune" / "model"
    if not ckpt.with_suffix(".json").is_file():
        return None
    from tinydeploy.checkpoint import load_meta
    from tinydeploy.codegen.select import allocated_formats

    return allocated_formats(load_meta(ckpt), graph)


def digest(graph: Graph, mode: str, objective: str, golden: np.ndarray,
           cost_model: CostModel | None, layer_formats: dict[str, str] | None = None) -> str:
    try:
        gen = generate_c(graph, mode, golden, cost_model=cost_model, objective=objective,
                         provenance="digest", layer_formats=layer_formats)
    except TinydeployError as exc:
        return f"error: {exc}"
    h = hashlib.sha256()
    for name, text in sorted(gen.files.items()):
        h.update(name.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()


def run(models: list[Path]) -> dict[str, str]:
    cost_model = CostModel.load()
    out: dict[str, str] = {}
    for i, path in enumerate(models):
        try:
            graph = read_tflite(path)
        except TinydeployError as exc:  # a refused file is a result too
            out[f"{path}|read"] = f"error: {exc}"
            continue
        rng = np.random.default_rng(0)
        golden = rng.integers(-128, 128, graph.input_tensor.shape[1:], dtype=np.int8)
        variants = {"as-read": graph, **{f"nm{n}_{m}": nm_masked(graph, n, m)
                                         for n, m in NM_MASKS}}
        for vname, g in variants.items():
            for mode, objective in MODES:
                out[f"{path}|{vname}|{mode}|{objective}"] = digest(g, mode, objective,
                                                                    golden, cost_model)
        formats = allocated(path, graph)
        if formats:
            out[f"{path}|as-read|allocated|latency"] = digest(
                graph, "auto", "latency", golden, cost_model, formats)
        print(f"[{i + 1}/{len(models)}] {path}", file=sys.stderr, flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", action="append", required=True,
                    help="a .tflite path or glob (repeatable; ** allowed)")
    ap.add_argument("--out", type=Path, required=True, help="digests JSON to write")
    ap.add_argument("--compare", type=Path, help="an earlier digests JSON: exit 1 on any change")
    args = ap.parse_args(argv)
    models = sorted({Path(p) for spec in args.models for p in glob.glob(spec, recursive=True)})
    if not models:
        ap.error("no .tflite file matches --models")
    digests = run(models)
    write_json_atomic(args.out, {
        "benchmark": "generated C digests",
        "command": shlex.join([sys.executable, *sys.argv]),
        "git_revision": git_revision(),
        "models": {str(p): file_hash(p) for p in models},
        "digests": digests,
    })
    errors = sum(v.startswith("error") for v in digests.values())
    print(f"{len(digests)} generated models ({errors} refused with an error) -> {args.out}")
    if args.compare:
        old = json.loads(args.compare.read_text())["digests"]
        changed = sorted(k for k in old.keys() | digests.keys() if old.get(k) != digests.get(k))
        for key in changed:
            print(f"changed: {key}: {old.get(key, '-')[:60]} -> {digests.get(key, '-')[:60]}")
        print(f"{len(changed)} of {len(old)} changed")
        return 1 if changed else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
