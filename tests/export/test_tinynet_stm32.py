"""TinyNet on the STM32 profiles. On the 8 KB STM32F100 (QEMU stm32vldiscovery): the budget
check on the chip's real 128 KB flash / 8 KB SRAM, then every variant that fits runs
bit-exact with TFLite Micro, in as many chunks of test images as the flash left next to the
model holds. On the real boards (no emulator): the offline build and its sizes."""

from __future__ import annotations

import pytest

from tinydeploy.firmware.bench import build_chunk, plan, run_plan
from tinydeploy.firmware.boards import get_board
from tinydeploy.firmware.build import BuildSettings
from tinydeploy.firmware.fromtflite import model_dir_from_tflite

pytestmark = pytest.mark.firmware
IMAGES = 90


@pytest.mark.parametrize(("variant", "fmt"), [("dense", "dense"), ("sparse90", "csr")])
def test_tinynet_fits_8k_and_runs_bit_exact(variant, fmt, dense_export, sparse_tflite,
                                            data_dir, tmp_path):
    tflite = tmp_path / "model.tflite"
    tflite.write_bytes(dense_export[1] if variant == "dense" else sparse_tflite)
    gen = model_dir_from_tflite(tflite, tmp_path / "model", fmt=fmt, data_dir=data_dir,
                                samples=IMAGES, expected_from="tflm")
    assert gen["reference_equals_tflm"] is True
    board = get_board("stm32vldiscovery")
    bp = plan(board, tmp_path / "model", tmp_path / "fw")  # the budget check
    fp = bp.footprint
    assert fp.ram_bytes <= board.ram_bytes == 8192 and fp.flash_bytes < board.flash_bytes
    report = run_plan(bp, BuildSettings())
    m = report["measured"]
    assert report["status"] == "ok" and m["images"] == IMAGES
    assert m["expected_outputs"]["bit_exact"], m["expected_outputs"]["first_mismatches"]
    assert m["unit"] == "instructions" and m["counter"]["kind"] == "systick"
    assert m["accuracy"]["correct"] == gen["host_int8_correct"]
    assert report["flash_bytes"]["total"] + report["flash_bytes"]["test_data_excluded"] \
        <= board.flash_bytes  # the last chunk's test images, next to the model
    assert report["ram_bytes"]["peak"] <= board.ram_bytes
    if variant == "dense":  # 53 KB of weights: the images need more than one chunk
        assert len(bp.chunks) > 1
        assert report["flash_bytes"]["weights"] > 50_000
    else:
        assert report["flash_bytes"]["weights"] < 25_000


@pytest.fixture(scope="module")
def dense_c_model(dense_export, data_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("tinynet")
    (d / "model.tflite").write_bytes(dense_export[1])
    model_dir_from_tflite(d / "model.tflite", d / "model", fmt="dense", data_dir=data_dir,
                          samples=1)
    return d / "model"


@pytest.mark.parametrize("name", ["nucleo_f446re", "nucleo_h743zi", "disco_f746ng"])
def test_tinynet_builds_offline_for_the_real_boards(name, dense_c_model, tmp_path,
                                                    record_property):
    board = get_board(name)
    bp = plan(board, dense_c_model, tmp_path)
    _elf, size = build_chunk(bp, None, BuildSettings())  # the deployable firmware: no images
    f = size.flash
    assert f["weights"] > 50_000 and f["code"] > 0
    assert f["total"] < board.flash_bytes
    assert size.ram_static + size.stack_reserved <= board.ram_bytes
    record_property("summary", (
        f"{name} (dense TinyNet): flash {f['total']} of {board.flash_bytes} B (weights "
        f"{f['weights']}, code {f['code']}, other {f['other']}), static RAM {size.ram_static} B "
        f"+ stack {size.stack_reserved} B of {board.ram_bytes} B; budget estimate flash "
        f"{bp.footprint.flash_bytes} B, RAM {bp.footprint.ram_bytes} B"))
