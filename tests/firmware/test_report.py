"""Report parsing/merging and test-data generation (host only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinydeploy.errors import FirmwareError
from tinydeploy.firmware.report import merge_chunks, parse_record, parse_report
from tinydeploy.firmware.testdata import make_vectors, plan_chunks, write_test_data

LOG = """boot noise
TD:BEGIN board=qemu-m4 counter=systick-icount counter_hz=25000000 layers=2 input=16 output=4 arena=8 offset={off} count=2
TD:MISMATCH i={off} k=3 got=5 want=6
TD:IMG i={off} label=1 pred=1 diff=1 ticks=30
TD:IMG i={off1} label=2 pred=0 diff=0 ticks=32
TD:LAYER idx=0 name=fc1 sum=40 min=20 max=20
TD:LAYER idx=1 name=fc2 sum=14 min=7 max=7
TD:SUMMARY n=2 labelled=2 correct=1 mismatch_images=1 mismatch_bytes=1 ticks_sum=62 ticks_min=30 ticks_max=32 stack_hwm=352 stack_size=32768 arena=8
TD:END status=mismatch code=1
"""  # noqa: E501


def test_parse_record_ignores_noise():
    assert parse_record("hello") is None
    assert parse_record("\x00TD:END status=ok code=0") == ("END", {"status": "ok", "code": "0"})


def test_parse_and_merge_chunks():
    a = parse_report(LOG.format(off=0, off1=1).splitlines())
    b = parse_report(LOG.format(off=2, off1=3).splitlines())
    assert a.complete and a.status == "mismatch" and a.code == 1
    merged = merge_chunks([a, b], 40.0, "instructions")
    assert merged["images"] == 4
    assert merged["accuracy"] == {"labelled": 4, "correct": 2, "top1": 50.0}
    assert merged["per_inference"]["instructions_mean"] == 62 * 2 * 40 / 4
    assert merged["per_layer"][0] == {
        "name": "fc1", "instructions_mean": 800.0, "instructions_min": 800,
        "instructions_max": 800,
    }
    assert merged["expected_outputs"]["mismatch_images"] == 2
    assert not merged["expected_outputs"]["bit_exact"]
    assert merged["status"] == "mismatch"


def test_plan_chunks():
    assert plan_chunks(10, 4) == [(0, 4), (4, 4), (8, 2)]
    assert plan_chunks(3, 100) == [(0, 3)]
    with pytest.raises(FirmwareError, match="no room"):
        plan_chunks(3, 0)


def test_write_test_data(tmp_path: Path):
    v = make_vectors(np.arange(32).reshape(2, 16) - 16, [3, -1], [[1, 2, 3, 4], [-1, -2, -3, -4]])
    h, c = write_test_data(tmp_path, v, offset=100)
    assert "#define TD_TEST_COUNT 2" in h.read_text()
    assert "#define TD_TEST_OFFSET 100" in h.read_text()
    text = c.read_text()
    assert "{-1, -2, -3, -4}" in text and "3, -1" in text
    mtime = c.stat().st_mtime_ns
    write_test_data(tmp_path, v, offset=100)  # unchanged -> untouched (no rebuild)
    assert c.stat().st_mtime_ns == mtime


def test_vectors_out_of_range_rejected():
    with pytest.raises(FirmwareError, match="outside int8"):
        make_vectors(np.full((1, 4), 300), [0], np.zeros((1, 2)))
