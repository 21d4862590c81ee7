"""`tinydeploy run` end to end on QEMU Cortex-M4 with a small config: real training, pruning,
ONNX/TFLite export, C generation, firmware build and QEMU run; then the stage cache."""

from __future__ import annotations

import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tinydeploy.cli.main import main

pytestmark = [pytest.mark.slow, pytest.mark.firmware]

CONFIG = """
[run]
name = "e2e-small"
dataset = "mnist"
board = "qemu-m4"
samples = {samples}
seed = 0

[train]
epochs = 1
train_limit = 3000
val_size = 500

[export]
calib_images = 100
eval_limit = 500

[[variant]]
name = "dense"
formats = ["dense"]

[[variant]]
name = "mag90"
method = "magnitude"
sparsity = 0.9
finetune_epochs = 1
formats = ["csr", "nm", "auto"]
"""


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: list[object] = []
        self.broken_images = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "td":
            self.values.append(json.loads(a["data-value"]))
        if tag == "img" and not a.get("src", "").startswith("data:image/png;base64,"):
            self.broken_images += 1


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("e2e")
    (root / "run.toml").write_text(CONFIG.format(samples=30))
    start = time.perf_counter()
    code = main(["run", str(root / "run.toml"), "--out", str(root / "run"),
                 "--data-dir", str(data_dir)])
    assert code == 0
    return root, time.perf_counter() - start


def test_report_has_every_variant_and_matches_html(first_run) -> None:
    root, _ = first_run
    report = json.loads((root / "run" / "report" / "report.json").read_text())
    ids = [v["id"] for v in report["variants"]]
    assert ids == ["dense/dense", "mag90/csr", "mag90/nm", "mag90/auto"]
    for v in report["variants"]:
        # the device ran the real firmware: every int8 output equals the host reference
        assert v["device_samples"] == 30 and v["output_mismatches"] == 0
        assert v["latency_unit"] == "instructions" and v["latency_per_inference"] > 10_000
        assert v["flash_total"] > v["weight_bytes"] > 0 and v["peak_ram"] > 0
        names = [row["name"] for row in v["layers"]]
        assert names == ["conv1+maxpool1", "conv2+maxpool2", "fc1", "fc2"]
        assert all(row["latency"] > 0 for row in v["layers"])
    dense, csr = report["variants"][0], report["variants"][1]
    assert csr["sparsity"] == pytest.approx(0.9, abs=0.01)
    assert csr["weight_bytes"] < 0.45 * dense["weight_bytes"]
    parser = _Cells()
    parser.feed((root / "run" / "report" / "report.html").read_text())
    for v in report["variants"]:
        for key in ("accuracy_device", "accuracy_int8_host", "flash_total", "peak_ram",
                    "latency_per_inference", "weight_bytes"):
            assert v[key] in parser.values, (v["id"], key)
    assert parser.broken_images == 0
    assert (root / "run" / "run.log").read_text().count("stage") >= 8


def test_rerun_reuses_every_stage(first_run, data_dir, capsys) -> None:
    root, _ = first_run
    assert main(["run", str(root / "run.toml"), "--out", str(root / "run"),
                 "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    cached = re.search(r"(\d+)/(\d+) stages cached", out)
    assert cached and cached.group(1) == cached.group(2), out[-2000:]  # every stage reused
    assert "done in" not in out


def test_changing_one_option_recomputes_only_what_depends_on_it(first_run, data_dir,
                                                                capsys) -> None:
    root, _ = first_run
    (root / "run2.toml").write_text(CONFIG.format(samples=12))
    assert main(["run", str(root / "run2.toml"), "--out", str(root / "run"),
                 "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    # training, pruning and export are reused; only the four firmware runs are new
    assert out.count("done in") == 4
    report = json.loads((root / "run" / "report" / "report.json").read_text())
    assert all(v["device_samples"] == 12 for v in report["variants"])


def test_bad_config_is_a_clear_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.toml").write_text('[run]\nboard = "qemu-m4"\nfoo = 1\n')
    assert main(["run", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "r")]) == 2
    assert "unknown option(s) foo" in capsys.readouterr().err
