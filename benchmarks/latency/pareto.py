"""Accuracy-vs-instructions Pareto fronts per core: latency-aware pruning against uniform,
global magnitude and LAMP pruning.

From one trained dense checkpoint:
1. the dense model is exported once and each core's cost table is measured (cached by
   content hash, so a re-run measures nothing);
2. every pruned model is a sweep trial (`tinydeploy.latency.trials:pruned_export`): the
   baselines at each sparsity (the same models serve every core), latency-aware pruning at
   each instruction budget on each core; all fine-tuned with the same recipe, every choice
   on the validation split;
3. every model runs on QEMU over the test images on every core it belongs to, with the
   expected int8 outputs from TFLite Micro itself (`mismatch_images`). Baselines get, per
   layer, the format that the core's measured table says runs fastest at that layer's
   sparsity (dense, csr or csrd); latency-aware models get the format their allocation chose;
   With --budgets-at-baselines the baselines are run first and every baseline's measured
   count on a core (within --range) is a latency-aware budget there too: the fronts are
   compared at those counts, so each is a budget latency-aware pruning was given;
4. per core, a method's front at budget B is its best on-device accuracy among the models
   that run in <= B instructions; the latency-aware front is compared with each other front
   at every budget from --range (both ends and every measured count inside).

Writes benchmarks/results/latency_pareto.json (--out), its Markdown summary and one plot per
core beside it (<out stem>_<board>.png).

Usage: .venv/bin/python benchmarks/latency/pareto.py --checkpoint runs/bench-train/mnist/model
       [--boards qemu-m4 qemu-m3 qemu-m7] [--sparsities 0.7 0.8 0.9 0.95 0.98]
       [--budgets 150000 175000 200000 250000 300000 350000 400000 500000] [--recipe recommended]
       [--finetune-epochs 12] [--samples 10000] [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

from tinydeploy.checkpoint import fingerprint
from tinydeploy.codegen.select import allocated_formats
from tinydeploy.ir import read_tflite
from tinydeploy.latency.allocate import fastest_formats
from tinydeploy.latency.plans import PLAN_KINDS
from tinydeploy.latency.problem import int8_graph
from tinydeploy.latency.shapes import layer_params, layer_shapes
from tinydeploy.latency.table import build_table, default_cache_dir
from tinydeploy.prune.recipes import get_recipe
from tinydeploy.rundir import git_revision, write_bytes_atomic, write_json_atomic
from tinydeploy.sweep import Trial, run_sweep
from tinydeploy.sweep.cli_args import add_executor_args, executor_from_args

RESULTS = Path(__file__).resolve().parents[1] / "results"
BASELINES = {"uniform": ("magnitude", "layerwise"), "global-magnitude": ("magnitude", "global"),
             "lamp": ("lamp", "global")}
LATENCY = "latency-aware"


def front(points: list[dict], budget: float) -> dict | None:
    """The most accurate point within `budget` instructions (ties: the faster one)."""
    fits = [p for p in points if p["instructions"] <= budget]
    return max(fits, key=lambda p: (p["top1"], -p["instructions"])) if fits else None


def compare_fronts(points: dict[str, list[dict]], lo: float, hi: float) -> dict:
    """Latency-aware front minus every other front at each budget in [lo, hi] where the
    other has a model (both ends and every measured count inside the range)."""
    budgets = sorted({lo, hi, *(p["instructions"] for pts in points.values() for p in pts
                                if lo <= p["instructions"] <= hi)})
    out = {}
    for method, pts in points.items():
        if method == LATENCY:
            continue
        rows = []
        for b in budgets:
            other, ours = front(pts, b), front(points[LATENCY], b)
            if other is None:
                continue
            rows.append({"budget": b, "other": other["top1"], "other_model": other["model"],
                         "latency_aware": ours and ours["top1"],
                         "latency_aware_model": ours and ours["model"],
                         "margin_points": None if ours is None
                         else round(ours["top1"] - other["top1"], 2)})
        below = [r for r in rows if r["margin_points"] is None or r["margin_points"] < 0]
        out[method] = {"on_or_above_everywhere": not below, "budgets_compared": len(rows),
                       "worst_margin_points": min((r["margin_points"] for r in rows
                                                   if r["margin_points"] is not None),
                                                  default=None),
                       "below": below, "rows": rows}
    return out


def plot(board: str, points: dict[str, list[dict]], lo: float, hi: float) -> bytes:
    from tinydeploy.report.plots import _png, plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for method, pts in sorted(points.items()):
        pts = sorted(pts, key=lambda p: p["instructions"])
        ax.scatter([p["instructions"] for p in pts], [p["top1"] for p in pts], s=14)
        steps, best = [], None
        for p in pts:  # the front as a step function of the budget
            if best is None or p["top1"] > best:
                best = p["top1"]
                steps.append((p["instructions"], best))
        if steps:
            xs = [x for x, _ in steps] + [max(hi, steps[-1][0])]
            ys = [y for _, y in steps] + [steps[-1][1]]
            lw = 2.2 if method == LATENCY else 1.2
            ax.step(xs, ys, where="post", lw=lw, label=method)
    ax.axvspan(lo, hi, color="0.9", zorder=0, label="compared range")
    ax.set_xlabel(f"instructions per inference on {board} (QEMU, -icount shift=0)")
    ax.set_ylabel("on-device int8 top-1 (%)")
    ax.set_ylim(bottom=max(90.0, ax.get_ylim()[0]))
    ax.set_title(f"Accuracy vs instructions, TinyNet MNIST, {board}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def markdown(result: dict) -> str:
    """Per core: each method's front at a few budgets, and the latency-aware margins."""
    lines = []
    for board, b in result["boards"].items():
        lo, hi = result["compared_range"]
        grid = sorted({lo, hi, 200_000.0, 250_000.0, 300_000.0, 400_000.0, 500_000.0})
        methods = sorted(b["points"], key=lambda m: (m != LATENCY, m))
        lines += [f"### {board}: best on-device top-1 (%) within a budget (instructions)", "",
                  "| budget | " + " | ".join(methods) + " |",
                  "|---:|" + "---:|" * len(methods)]
        for budget in grid:
            cells = []
            for m in methods:
                p = front(b["points"][m], budget)
                cells.append("–" if p is None else f"{p['top1']:.2f} ({p['instructions']:,.0f})")
            lines.append(f"| {budget:,.0f} | " + " | ".join(cells) + " |")
        lines.append("")
        for m, cmp in b["fronts_vs_latency_aware"].items():
            lines.append(f"- latency-aware vs {m}: on or above at {cmp['budgets_compared']} "
                         f"budgets: {'yes' if cmp['on_or_above_everywhere'] else 'no'}, worst "
                         f"margin {cmp['worst_margin_points']} points")
        if b["infeasible_budgets"]:
            lines.append(f"- infeasible budgets: {', '.join(b['infeasible_budgets'])}")
        lines.append("")
    return "\n".join(lines)


def device_trials(models: dict[str, dict], tables: dict, args, work: Path
                  ) -> dict[tuple[str, str], Trial]:
    """(model, board) -> the QEMU run of every pruned model with a result on its boards:
    baselines in the fastest formats by the core's table, latency-aware models in the
    formats their allocation chose."""
    device: dict[tuple[str, str], Trial] = {}
    for name, m in models.items():
        r = m.get("result")
        if r is None or "infeasible" in r:
            continue
        graph = read_tflite(r["tflite"])
        for board in m["boards"]:
            formats = (allocated_formats({"latency": r["allocation"]}, graph)
                       if r.get("allocation") else fastest_formats(graph, tables[board]))
            device[(name, board)] = Trial("tinydeploy.firmware.trials:qemu_benchmark", {
                "tflite": r["tflite"], "format": "auto", "layer_formats": formats,
                "board": board, "samples": args.samples, "expected_from": "tflm",
                "objective": "latency", "data_dir": args.data_dir,
                "work_dir": str(work / "device" / board / name)})
    return device


def baseline_budgets(models: dict[str, dict], tables: dict, args, work: Path,
                     executor) -> dict[str, list[float]]:
    """{board: the measured instructions of every baseline model within --range}: the costs
    at which the fronts are compared, so latency-aware pruning gets them as budgets too.
    The baselines are pruned and run here (the main pass then reads them from the sweeps'
    caches)."""
    trials = {m["trial"].id: m["trial"] for m in models.values()}
    pruned = run_sweep(trials.values(), work / "prune-sweep", executor=executor,
                       description="baseline models")
    if not pruned.ok:
        raise SystemExit(f"pruning trials failed: {pruned.failed}")
    done = {name: {**m, "result": pruned.records[m["trial"].id]["result"]}
            for name, m in models.items()}
    device = device_trials(done, tables, args, work)
    runs = run_sweep(device.values(), work / "device-sweep", executor=executor,
                     description="baseline device runs")
    if not runs.ok:
        raise SystemExit(f"device runs failed: {runs.failed}")
    lo, hi = args.range
    out: dict[str, list[float]] = {b: [] for b in args.boards}
    for (_, board), trial in device.items():
        count = float(runs.records[trial.id]["result"]["per_inference"])
        if lo <= count <= hi:
            out[board].append(round(count))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, help="the trained dense checkpoint (required "
                    "unless --summarize)")
    ap.add_argument("--boards", nargs="+", default=["qemu-m4", "qemu-m3", "qemu-m7"])
    ap.add_argument("--methods", nargs="*", default=list(BASELINES), choices=list(BASELINES),
                    help="baseline methods (none: latency-aware models only)")
    ap.add_argument("--sparsities", type=float, nargs="+", default=[0.7, 0.8, 0.9, 0.95, 0.98])
    ap.add_argument("--budgets", type=float, nargs="+",
                    default=[150_000, 175_000, 200_000, 250_000, 300_000, 350_000, 400_000,
                             500_000])
    ap.add_argument("--budgets-at-baselines", action="store_true",
                    help="also a budget at every baseline model's measured instructions on "
                    "each core (within --range), where the fronts are compared")
    ap.add_argument("--range", type=float, nargs=2, default=[150_000, 600_000],
                    metavar=("LO", "HI"), help="budgets over which the fronts are compared")
    ap.add_argument("--latency-penalty", default="fisher", choices=["fisher", "magnitude"],
                    help="how latency-aware pruning scores a layer option")
    ap.add_argument("--plans", nargs="+", default=list(PLAN_KINDS), choices=list(PLAN_KINDS),
                    help="latency-aware candidate plans per budget (the best on validation "
                         "is kept)")
    ap.add_argument("--channels", type=float, nargs="*", default=[],
                    help="also offer channel removal at these fractions of each layer's output "
                    "channels (as --latency-channels)")
    ap.add_argument("--recipe", default="recommended")
    ap.add_argument("--finetune-epochs", type=int, default=12)
    ap.add_argument("--samples", type=int, default=10_000, help="test images on the device")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=os.environ.get("TINYDEPLOY_DATA"))
    ap.add_argument("--work", type=Path, default=Path("runs/latency-pareto"))
    ap.add_argument("--out", type=Path, default=RESULTS / "latency_pareto.json")
    ap.add_argument("--summarize", type=Path, default=None, metavar="JSON",
                    help="only print the Markdown summary of an earlier run's JSON")
    add_executor_args(ap, default_workers=2)
    args = ap.parse_args(argv)
    if args.summarize:
        print(markdown(json.loads(args.summarize.read_text())))
        return 0
    if args.checkpoint is None:
        ap.error("--checkpoint is required")
    executor = executor_from_args(args)
    load_before = os.getloadavg()
    t0 = time.monotonic()
    work = args.work.resolve()
    ckpt = str(args.checkpoint)

    dense_dir = work / "dense-export"
    if not (dense_dir / "model_int8.tflite").is_file():
        from tinydeploy.export.pipeline import ExportConfig, export

        export(out=dense_dir, cfg=ExportConfig(to="tflite"), checkpoint=args.checkpoint,
               data_dir=args.data_dir, log=print)
    # the tables of the export latency-aware pruning itself makes, so its trials hit the cache
    table_graph = int8_graph(args.checkpoint, args.data_dir, print)
    shapes, params = layer_shapes(table_graph), layer_params(table_graph)
    tables = {b: build_table(shapes, b, params=params, executor=executor) for b in args.boards}
    print(f"cost tables ready ({time.monotonic() - t0:.0f} s)")

    common = {"checkpoint": ckpt, "checkpoint_sha256": fingerprint(ckpt),
              "recipe": args.recipe, "recipe_overrides": {"epochs": args.finetune_epochs},
              # in the trial ids: a changed recipe definition is re-run, not read from cache
              "recipe_definition": get_recipe(args.recipe).to_dict(),
              "data_dir": args.data_dir, "seed": args.seed}
    models: dict[str, dict] = {}
    for method in args.methods:
        criterion, scope = BASELINES[method]
        for s in args.sparsities:
            name = f"{method}-{s:g}"
            models[name] = {"method": method, "boards": args.boards, "trial": Trial(
                "tinydeploy.latency.trials:pruned_export",
                {**common, "method": criterion, "scope": scope, "sparsity": s,
                 "work_dir": str(work / "models" / name)})}
    # latency-aware: per (core, budget) every candidate plan (knapsack and the profiles
    # scaled to the budget) is solved here, each distinct plan trained once as a trial (the
    # M4 and M7 plans mostly coincide), and validation accuracy picks one per budget
    from tinydeploy.checkpoint import load_checkpoint
    from tinydeploy.errors import TinydeployError
    from tinydeploy.latency.plans import best_on_validation, candidate_plans
    from tinydeploy.latency.problem import latency_problem
    from tinydeploy.latency.prune import out_channels_of, realised_plan

    model, meta = load_checkpoint(args.checkpoint)
    quiet = lambda _msg: None  # noqa: E731
    budgets_of = {b: sorted(set(args.budgets)) for b in args.boards}
    if args.budgets_at_baselines:
        for b, counts in baseline_budgets(models, tables, args, work, executor).items():
            budgets_of[b] = sorted(set(budgets_of[b]) | set(counts))
            print(f"{b}: budgets {', '.join(f'{x:,.0f}' for x in budgets_of[b])}")
    for board in args.boards:
        problem = latency_problem(model=model, meta=meta, checkpoint=args.checkpoint,
                                  board=board, data_dir=args.data_dir,
                                  cache_dir=default_cache_dir(board),
                                  penalty=args.latency_penalty,
                                  channel_sparsities=args.channels, log=quiet)
        out_channels = out_channels_of(problem)
        for budget in budgets_of[board]:
            name = f"{LATENCY}-{board}-{budget:.0f}"
            try:
                cands = candidate_plans(problem, model, args.plans, budget, log=quiet)
            except TinydeployError as exc:
                if "no allocation fits" not in str(exc):
                    raise
                models[name] = {"method": LATENCY, "boards": [board],
                                "result": {"infeasible": str(exc)}}
                continue
            entries = []
            for kinds, alloc, info in cands:
                plan = {t: [g, round(sp, 6)] for t, (g, sp) in
                        realised_plan(alloc, out_channels).items()}
                key = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:12]
                entries.append({"kinds": kinds, "predicted": alloc.predicted_total,
                                "allocation": {k: info[k] for k in (
                                    "allocation", "layer_map", "budget", "dense_measured",
                                    "predicted_speedup")},
                                "trial": Trial("tinydeploy.latency.trials:pruned_export", {
                                    **common, "plan": plan,
                                    "work_dir": str(work / "models" / f"plan-{key}")})})
            models[name] = {"method": LATENCY, "boards": [board], "candidates": entries}
    trials = {m["trial"].id: m["trial"] for m in models.values() if "trial" in m}
    trials |= {e["trial"].id: e["trial"] for m in models.values()
               for e in m.get("candidates", [])}
    print(f"{len(trials)} distinct models to prune and fine-tune")
    pruned = run_sweep(trials.values(), work / "prune-sweep", executor=executor,
                       description="pruned models")
    if not pruned.ok:
        raise SystemExit(f"pruning trials failed: {pruned.failed}")
    models["dense"] = {"method": "dense", "boards": args.boards,
                       "result": {"tflite": str(dense_dir / "model_int8.tflite")}}
    for m in models.values():
        if "trial" in m:
            m["result"] = pruned.records[m.pop("trial").id]["result"]
        if "candidates" in m:
            cands = m.pop("candidates")
            results = [pruned.records[e["trial"].id]["result"] for e in cands]
            best = best_on_validation([(r["val_top1"], e["predicted"], i)
                                       for i, (e, r) in enumerate(zip(cands, results,
                                                                      strict=True))])
            m["result"] = {**results[best], "allocation": cands[best]["allocation"],
                           "plans": [{"kinds": e["kinds"], "predicted_total": e["predicted"],
                                      "val_top1": r["val_top1"], "selected": i == best,
                                      "tflite": r["tflite"]}
                                     for i, (e, r) in enumerate(zip(cands, results,
                                                                    strict=True))]}

    device = device_trials(models, tables, args, work)
    runs = run_sweep(device.values(), work / "device-sweep", executor=executor,
                     description="device runs")
    if not runs.ok:
        raise SystemExit(f"device runs failed: {runs.failed}")

    boards: dict[str, dict] = {}
    for board in args.boards:
        points: dict[str, list[dict]] = {}
        for (name, b), trial in device.items():
            if b != board:
                continue
            d = runs.records[trial.id]["result"]
            m = models[name]
            point = {"model": name, "instructions": d["per_inference"], "top1": d["device_top1"],
                     "mismatch_images": d["mismatch_images"], "images": d["images"],
                     "formats": d["chosen_formats"], "per_layer": d["per_layer"],
                     "flash_total": d["flash"]["total"], "peak_ram": d["ram"]["peak"],
                     "float_top1": m["result"].get("float_top1"),
                     "host_int8_top1": d["host_int8_top1"],
                     "sparsity": m["result"].get("achieved_sparsity", 0.0),
                     "prune_seconds": m["result"].get("prune_seconds")}
            if m["result"].get("allocation"):
                predicted = m["result"]["allocation"]["allocation"]["predicted_total"]
                point["plans"] = m["result"].get("plans")
                point["predicted_instructions"] = predicted
                point["prediction_error"] = round(predicted / d["per_inference"] - 1, 4)
            # the dense model belongs to every front (sparsity 0 of any method)
            for method in ([*args.methods, LATENCY] if m["method"] == "dense"
                           else [m["method"]]):
                points.setdefault(method, []).append(point)
        infeasible = [n for n, m in models.items()
                      if m["method"] == LATENCY and board in m["boards"]
                      and "infeasible" in m["result"]]
        lo, hi = args.range
        boards[board] = {"points": points, "infeasible_budgets": infeasible,
                         "fronts_vs_latency_aware": compare_fronts(points, lo, hi),
                         "plot": f"{args.out.stem}_{board}.png"}  # beside the JSON
        write_bytes_atomic(args.out.parent / boards[board]["plot"], plot(board, points, lo, hi))
        for method, cmp in boards[board]["fronts_vs_latency_aware"].items():
            print(f"{board}: latency-aware vs {method}: on or above at all "
                  f"{cmp['budgets_compared']} budgets: {cmp['on_or_above_everywhere']} "
                  f"(worst margin {cmp['worst_margin_points']} points)")
    write_json_atomic(args.out, {
        "benchmark": "latency_pareto",
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "git_revision": git_revision(),
        "metric": "instructions retired per inference on QEMU (-icount shift=0), mean over "
                  "the test images; top1 = on-device int8 top-1 over the test images, every "
                  "output compared with TFLite Micro's (mismatch_images)",
        "selection": "every choice (allocation, early stopping, best epoch) on the "
                     "validation split; the test images give these numbers only",
        "latency_penalty": args.latency_penalty,
        "latency_channels": args.channels,
        "budgets": {"grid": args.budgets, "at_baselines": args.budgets_at_baselines,
                    "per_board": budgets_of},
        "latency_plans": {"kinds": args.plans,
                          "note": "per budget each distinct candidate plan is pruned and "
                                  "fine-tuned with the same recipe; the most accurate on "
                                  "the validation split is the latency-aware model"},
        "finetune": {"recipe": args.recipe, "epochs": args.finetune_epochs,
                     "note": "the same recipe for every method"},
        "baseline_formats": "per layer the fastest of dense/csr/csrd by the core's measured "
                            "cost table at that layer's sparsity",
        "compared_range": args.range,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "seconds": round(time.monotonic() - t0, 1),
        "boards": boards,
        "models": {n: {k: v for k, v in m.items() if k != "trial"} for n, m in models.items()},
    })
    from tinydeploy.rundir import write_text_atomic

    write_text_atomic(args.out.with_suffix(".md"), markdown(json.loads(args.out.read_text())))
    print(f"wrote {args.out} and {args.out.with_suffix('.md').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
