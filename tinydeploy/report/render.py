"""Render a report as Markdown (+ PNG files) and as one self-contained HTML page."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from tinydeploy.report.plots import all_plots
from tinydeploy.report.schema import Report
from tinydeploy.report.tables import Table, layer_table, summary_table
from tinydeploy.rundir import write_bytes_atomic, write_json_atomic, write_text_atomic

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:12px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f0f0f0} td:first-child,th:first-child{text-align:left}
img{max-width:48%;margin:4px;border:1px solid #eee}
"""


def tables(report: Report) -> list[Table]:
    out = [summary_table(report)]
    out += [layer_table(v) for v in report.variants if v.layers]
    return out


def markdown_table(table: Table) -> str:
    lines = [f"### {table.title}", "", "| " + " | ".join(table.headers) + " |",
             "|" + "---|" * len(table.headers)]
    lines += ["| " + " | ".join(c.text for c in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def html_table(table: Table, table_id: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
    body = []
    for row in table.rows:
        cells = "".join(
            f"<td data-value='{html.escape(json.dumps(c.raw), quote=True)}'>"
            f"{html.escape(c.text)}</td>" for c in row
        )
        body.append(f"<tr>{cells}</tr>")
    return (f"<h3>{html.escape(table.title)}</h3><table id='{table_id}'><thead><tr>{head}"
            f"</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _header(report: Report) -> list[str]:
    run = report.run
    return [f"{k}: {run[k]}" for k in ("name", "dataset", "board", "created", "git_revision")
            if k in run]


def write_report(report: Report, out_dir: Path) -> dict[str, Path]:
    """Write report.json, report.md (+ plots/*.png) and report.html into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = all_plots(report)
    for name, png in plots.items():
        write_bytes_atomic(out_dir / "plots" / name, png)
    md = [f"# tinydeploy benchmark report: {report.run.get('name', '')}", ""]
    md += [f"- {line}" for line in _header(report)]
    md += ["", "Accuracy in percent; latency in "
           f"{report.variant(report.baseline).latency_unit} (measured); MACs, nonzeros and "
           f"bytes are computed from the weights. Deltas are against `{report.baseline}`.", ""]
    md += [markdown_table(t) for t in tables(report)]
    md += [f"![{n}](plots/{n})" for n in plots]
    page = ["<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>tinydeploy report {html.escape(str(report.run.get('name', '')))}</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<h1>tinydeploy benchmark report: {html.escape(str(report.run.get('name', '')))}</h1>",
            "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in _header(report)) + "</ul>"]
    page += [html_table(t, f"table{i}") for i, t in enumerate(tables(report))]
    page += ["<h2>Plots</h2>"]
    page += [f"<img alt='{n}' src='data:image/png;base64,{base64.b64encode(p).decode()}'>"
             for n, p in plots.items()]
    page.append("</body></html>")
    return {
        "json": write_json_atomic(out_dir / "report.json", report.to_dict()),
        "markdown": write_text_atomic(out_dir / "report.md", "\n".join(md) + "\n"),
        "html": write_text_atomic(out_dir / "report.html", "\n".join(page)),
    }


def compare_markdown(a: Report, b: Report) -> str:
    """Side-by-side of two runs: the variants they share, by id."""
    ids = [v.id for v in a.variants if any(w.id == v.id for w in b.variants)]
    rows = ["| variant | metric | " + f"{a.run.get('name', 'A')} | {b.run.get('name', 'B')} | Δ |",
            "|---|---|---|---|---|"]
    for vid in ids:
        va, vb = a.variant(vid), b.variant(vid)
        for attr in ("accuracy_device", "accuracy_int8_host", "flash_total", "peak_ram",
                     "latency_per_inference"):
            x, y = getattr(va, attr), getattr(vb, attr)
            delta = "–" if x is None or y is None else f"{y - x:+,.2f}"
            rows.append(f"| {vid} | {attr} | {x} | {y} | {delta} |")
    only = sorted({v.id for v in a.variants} ^ {v.id for v in b.variants})
    tail = [f"\nVariants in only one run: {', '.join(only)}"] if only else []
    return "\n".join(rows + tail) + "\n"
