"""Report rendering: JSON round trip, Markdown/HTML agree with the JSON, and the HTML page
renders in a real headless Chromium with every plot loaded."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tinydeploy.cli.main import main
from tinydeploy.report import LayerRow, Report, Variant, load_report, write_report


def _variant(vid: str, sparsity: float, fmt: str, instr: float, acc: float) -> Variant:
    layers = [
        LayerRow("conv1", "CONV_2D", "8x3x3x1", 80, int(72 * (1 - sparsity)) + 8, fmt, 200,
                 56448, int(56448 * (1 - sparsity)), instr * 0.2),
        LayerRow("fc1", "FULLY_CONNECTED", "64x784", 50240, int(50176 * (1 - sparsity)), fmt,
                 9000, 50176, int(50176 * (1 - sparsity)), instr * 0.8),
    ]
    return Variant(
        id=vid, method="none" if sparsity == 0 else "magnitude", sparsity=sparsity, format=fmt,
        accuracy_float=99.1, accuracy_int8_host=acc, accuracy_device=acc, device_samples=100,
        output_mismatches=0, weight_bytes=int(52000 * (1 - sparsity)) + 500, code_bytes=6000,
        flash_total=int(52000 * (1 - sparsity)) + 7000, peak_ram=3000, macs_dense=333000,
        macs_effective=int(333000 * (1 - sparsity)), latency_per_inference=instr, layers=layers,
    )


@pytest.fixture
def report() -> Report:
    return Report(
        run={"name": "unit", "dataset": "mnist", "board": "qemu-m4"},
        baseline="dense",
        variants=[
            _variant("dense", 0.0, "dense", 600_000, 99.0),
            _variant("mag90-csr", 0.9, "csr", 150_000, 98.7),
            _variant("mag90-nm", 0.875, "nm", 180_000, 98.8),
        ],
    )


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: list[object] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "td":
            self.values.append(json.loads(a["data-value"]))
        if tag == "img":
            self.images.append(a["src"])


def test_json_roundtrip_and_deltas(report: Report, tmp_path: Path) -> None:
    paths = write_report(report, tmp_path)
    again = load_report(paths["json"])
    assert again.to_dict() == report.to_dict()
    d = json.loads(paths["json"].read_text())
    csr = next(v for v in d["variants"] if v["id"] == "mag90-csr")
    assert csr["deltas"]["speedup"] == pytest.approx(4.0)
    assert csr["deltas"]["accuracy_device_pp"] == pytest.approx(-0.3)
    assert csr["compression_ratio"] == pytest.approx(10.0)


def test_html_and_markdown_numbers_match_json(report: Report, tmp_path: Path) -> None:
    paths = write_report(report, tmp_path)
    data = json.loads(paths["json"].read_text())
    parser = _Cells()
    parser.feed(paths["html"].read_text())
    for v in data["variants"]:
        for key in ("accuracy_device", "flash_total", "peak_ram", "latency_per_inference",
                    "weight_bytes", "macs_effective"):
            assert v[key] in parser.values, (v["id"], key)
    assert len(parser.images) >= 5
    assert all(src.startswith("data:image/png;base64,") for src in parser.images)
    md = paths["markdown"].read_text()
    assert "| mag90-csr | magnitude | 90.0% | csr |" in md
    assert "150,000" in md  # instructions of the CSR variant
    assert all((tmp_path / "plots" / name).stat().st_size > 1000
               for name in re.findall(r"plots/(\w+\.png)", md))


def test_html_renders_in_headless_chromium(report: Report, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed (make setup installs Debian's chromium)")
    paths = write_report(report, tmp_path)
    # Same page plus a probe script: the browser itself reports what it rendered.
    probe = paths["html"].read_text().replace(
        "</body>",
        "<script>window.addEventListener('load',()=>{const imgs=[...document.images];"
        "const d=document.createElement('pre');d.id='probe';d.textContent=JSON.stringify({"
        "images:imgs.length,broken:imgs.filter(i=>!(i.complete&&i.naturalWidth>0)).length,"
        "tables:document.querySelectorAll('table').length,"
        "rows:document.querySelectorAll('tbody tr').length});document.body.appendChild(d);});"
        "</script></body>",
    )
    page = tmp_path / "probe.html"
    page.write_text(probe)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout)
    assert match, dom.stderr[-2000:]
    probe_result = json.loads(match.group(1).replace("&quot;", '"'))
    assert probe_result["images"] >= 5 and probe_result["broken"] == 0
    assert probe_result["tables"] == 1 + len(report.variants)
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1200,900",
                    paths["html"].as_uri()], capture_output=True, timeout=120)
    assert shot.stat().st_size > 10_000  # a real page, not a blank image


def test_report_cli_regenerates_and_compares(report: Report, tmp_path: Path, capsys) -> None:
    run_a, run_b = tmp_path / "a" / "report", tmp_path / "b" / "report"
    write_report(report, run_a)
    report.run["name"] = "other"
    report.variants[1].accuracy_device = 98.0
    write_report(report, run_b)
    (run_a / "report.html").unlink()
    assert main(["report", str(tmp_path / "a")]) == 0
    assert (run_a / "report.html").exists()
    assert main(["report", "--compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "| mag90-csr | accuracy_device | 98.7 | 98.0 | -0.70 |" in out


def test_bad_report_is_a_clear_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "report.json").write_text('{"schema": "something/9"}')
    assert main(["report", str(tmp_path)]) == 2
    assert "unsupported report schema" in capsys.readouterr().err


def test_latency_aware_layers_show_predicted_vs_measured(report: Report, tmp_path: Path) -> None:
    fast = _variant("fast/allocated", 0.8, "auto", 200_000, 98.9)
    fast.group = "latency-aware (magnitude)"
    fast.layers[0].predicted_latency = 41_000.0  # measured 40,000: +2.5%
    fast.layers[1].predicted_latency = 156_000.0  # measured 160,000: -2.5%
    report.variants.append(fast)
    md = write_report(report, tmp_path)["markdown"].read_text()
    section = md[md.index("Layers of fast/allocated"):]
    assert "predicted instructions" in section and "+2.5%" in section and "-2.5%" in section
    dense_section = md[md.index("Layers of dense"):md.index("Layers of mag90-csr")]
    assert "predicted" not in dense_section  # only variants with a prediction get the columns
    again = load_report(tmp_path / "report.json")
    assert again.variant("fast/allocated").layers[0].predicted_latency == 41_000.0


def test_pareto_front_per_method_group() -> None:
    from tinydeploy.report.plots import _front

    pts = [(600_000, 99.0), (150_000, 98.7), (180_000, 98.8), (170_000, 98.6), (400_000, 98.9)]
    assert _front(pts) == [(150_000, 98.7), (180_000, 98.8), (400_000, 98.9), (600_000, 99.0)]
