"""QEMU micro-benchmark of the tdnn kernels on Cortex-M4 (mps2-an386, -icount shift=0).

Generates seeded random int8 weights for TinyNet's layer shapes (plus two calibration
shapes for the cost model) in every format and sparsity, builds ONE firmware holding all
cases, runs it in QEMU and writes ``benchmarks/results/kernels_m4.json``:
instructions retired per layer, per nonzero MAC, per format and sparsity, and a
``cost_model`` section (per op and format: instr = a*macs + b*out_elems + c). The C
generator's ``auto`` format choice reads the copy shipped in the package
(``tinydeploy/resources/cost_models/cortex-m4.json``), which only ``--write-cost-model``
replaces: a benchmark run never changes what ``auto`` decides by itself. Every case's output
is checked on the target against the host build of the same library (so the DSP path is
verified bit for bit). Depthwise layers, the 1x1 (pointwise) convs and dense FC at the
MLPerf Tiny models' shapes, and SOFTMAX, ADD (ResNet-8's residual adds, with the generator's
input tables), the MLPerf Tiny global average pools, PAD, MEAN and CONCATENATION
(instructions per element) are measured too, outside the cost model.

``--core m55`` runs the same cases on Cortex-M55 (mps3-an547, the Helium/MVE paths) and
writes ``benchmarks/results/kernels_m55.json`` (SysTick at 32 MHz: 31.25 instructions per
tick); the cost model is refitted only for M4.

Usage: .venv/bin/python benchmarks/kernels/run_kernel_bench.py [--core m4|m55] [--out PATH]
       [--keep-build DIR] [--write-cost-model]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinydeploy.codegen.select import flash_bytes
from tinydeploy.ir.ops.add import Add, table_ties
from tinydeploy.quant.fixedpoint import quantize_multiplier
from tinydeploy.quant.softmax import softmax_params
from tinydeploy.resources import cost_model_path
from tinydeploy.rundir import write_json_atomic
from tinydeploy.tdnn.build import TDNN_DIR, tdnn_sources
from tinydeploy.tdnn.formats import EncodedWeights, get_format
from tinydeploy.tdnn.formats.nm import NmFormat
from tinydeploy.tdnn.host import ConvSpec, load_hostlib
from tinydeploy.tdnn.structs import Activation, AddParams
from tinydeploy.tdnn.taps import conv_taps

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "kernels_m4.json"
SEED = 20261121
INSTR_PER_TICK = 40  # 25 MHz SysTick, 1 instruction = 1 ns under -icount shift=0
CPU_FLAGS = ["-mthumb", "-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]


@dataclass(frozen=True)
class Core:
    """A QEMU machine the benchmark firmware runs on."""

    name: str
    cpu_flags: tuple[str, ...]
    machine: str
    description: str
    ldscript: str
    instr_per_tick: float  # 1e9 / SysTick Hz (1 instruction = 1 ns under -icount shift=0)
    default_out: Path


CORES = {
    "m4": Core("m4", tuple(CPU_FLAGS), "mps2-an386", "Cortex-M4F", "mem_an386.ld",
               INSTR_PER_TICK, DEFAULT_OUT),
    # -mcpu=cortex-m55 -mfloat-abi=hard defines __ARM_FEATURE_MVE (integer + float Helium)
    "m55": Core("m55", ("-mthumb", "-mcpu=cortex-m55", "-mfloat-abi=hard"), "mps3-an547",
                "Cortex-M55, Helium/MVE", "mem_an547.ld", 1e9 / 32e6,
                ROOT / "benchmarks" / "results" / "kernels_m55.json"),
}  # fmt: skip
SCRATCH_BYTES = 32768
OUT_BYTES = 40960

# name: (op, shape). conv: (H, W, in_c, out_c, k, pad, fused_maxpool); fc: (in, out)
LAYERS: dict[str, tuple[str, tuple[int, ...]]] = {
    "conv1": ("conv", (28, 28, 1, 8, 3, 1, True)),
    "conv2": ("conv", (14, 14, 8, 16, 3, 1, False)),
    "conv2_pool": ("conv", (14, 14, 8, 16, 3, 1, True)),  # as TinyNet runs it (fused pool)
    "fc1": ("fc", (784, 64)),
    "fc2": ("fc", (64, 10)),
    "calib_conv": ("conv", (10, 10, 4, 12, 3, 1, False)),
    "calib_conv_b": ("conv", (8, 8, 16, 16, 3, 1, False)),
    "calib_conv_c": ("conv", (12, 12, 3, 8, 5, 2, False)),
    "calib_conv_d": ("conv", (6, 6, 8, 24, 1, 0, False)),
    "calib_conv_e": ("conv", (16, 16, 4, 8, 3, 1, True)),
    "calib_fc": ("fc", (256, 32)),
    "calib_fc_b": ("fc", (128, 48)),
    "calib_fc_c": ("fc", (400, 16)),
}
# depthwise conv (dense, depth multiplier 1): (H, W, C, k, stride, pad); after the layers
# above, so their seeded weights are unchanged; not part of the cost model
DW_LAYERS: dict[str, tuple] = {
    "dw1": (16, 16, 32, 3, 1, 1),
    "dw2": (15, 15, 20, 3, 2, 1),
    "dw3": (16, 16, 32, 3, 1, 0),
    "dw_kws": (25, 5, 64, 3, 1, 1),  # DS-CNN depthwise layers
    "dw_mbv1": (24, 24, 32, 3, 2, 1),  # a MobileNetV1-0.25 stride-2 layer
    # the MLPerf Tiny depthwise layers as the TFLite converter writes them (SAME: stride 1
    # pads 1 all round, stride 2 pads (top, left, bottom, right) = (0, 0, 1, 1))
    "dw_ds_25x5x64": (25, 5, 64, 3, 1, 1),
    "dw_mb_48x48x8": (48, 48, 8, 3, 1, 1),
    "dw_mb_48x48x16_s2": (48, 48, 16, 3, 2, (0, 0, 1, 1)),
    "dw_mb_24x24x32": (24, 24, 32, 3, 1, 1),
    "dw_mb_24x24x32_s2": (24, 24, 32, 3, 2, (0, 0, 1, 1)),
    "dw_mb_12x12x64": (12, 12, 64, 3, 1, 1),
    "dw_mb_12x12x64_s2": (12, 12, 64, 3, 2, (0, 0, 1, 1)),
    "dw_mb_6x6x128": (6, 6, 128, 3, 1, 1),
    "dw_mb_6x6x128_s2": (6, 6, 128, 3, 2, (0, 0, 1, 1)),
    "dw_mb_3x3x256": (3, 3, 256, 3, 1, 1),
}
# SOFTMAX over the last axis: (rows, depth), uniform random int8 logits with TFLM's parameters
# for beta 1 and input scale 0.1 (diff_min -248: nearly every entry takes part); after the
# layers above, so their seeded data is unchanged; not part of the cost model
SOFTMAX_LAYERS: dict[str, tuple[int, int]] = {
    "softmax10": (1, 10),
    "softmax1000": (1, 1000),
}
# pointwise (1x1, no padding) dense conv: (H, W, in_c, out_c, stride), the 1x1 layers of the
# MLPerf Tiny models; after the layers above, so their seeded data is unchanged; not part of
# the cost model
PW_LAYERS: dict[str, tuple[int, ...]] = {
    "pw_dscnn": (25, 5, 64, 64, 1),
    "pw_mbv1_1": (48, 48, 8, 16, 1),
    "pw_mbv1_2": (24, 24, 16, 32, 1),
    "pw_mbv1_3": (24, 24, 32, 32, 1),
    "pw_mbv1_4": (12, 12, 32, 64, 1),
    "pw_mbv1_5": (12, 12, 64, 64, 1),
    "pw_mbv1_6": (6, 6, 64, 128, 1),
    "pw_mbv1_7": (6, 6, 128, 128, 1),
    "pw_mbv1_8": (3, 3, 128, 256, 1),
    "pw_mbv1_9": (3, 3, 256, 256, 1),
    "pw_rn8_sc1": (32, 32, 16, 32, 2),  # ResNet-8 shortcuts: 1x1 stride 2
    "pw_rn8_sc2": (16, 16, 32, 64, 2),
}
# PAD / MEAN / CONCATENATION (data movement and global average pooling), after the layers
# above, so their seeded data is unchanged; not part of the cost model.
# pad: (h, w, c, pad on every side) zero-point PAD; mean: (h, w, c) over H and W;
# concat: (h, w, channels of each input) along the channels
PAD_LAYERS: dict[str, tuple[int, int, int, int]] = {
    "pad_mbv2": (16, 16, 32, 1),  # ZeroPadding2D(1) before a stride-2 depthwise conv
}
MEAN_LAYERS: dict[str, tuple[int, int, int]] = {
    "mean_7x7x256": (7, 7, 256),  # GlobalAveragePooling2D of a MobileNetV2-style head
    "mean_8x8x10": (8, 8, 10),  # channels not a multiple of 4
    "mean_20x20x8": (20, 20, 8),  # over 256 positions: the DSP lane sums are flushed
}
CONCAT_LAYERS: dict[str, tuple[int, int, tuple[int, ...]]] = {
    "concat_4_6": (8, 8, (4, 6)),  # narrow branches: 4-byte and 6-byte blocks
    "concat_64_64": (8, 8, (64, 64)),  # wide branches: memcpy per block
}
# dense FULLY_CONNECTED at the MLPerf Tiny FC autoencoder's shapes (in, out); after the layers
# above, so their seeded data is unchanged; not part of the cost model
AE_FC_LAYERS: dict[str, tuple[int, int]] = {
    "ae_fc640x128": (640, 128),
    "ae_fc128x128": (128, 128),
    "ae_fc128x8": (128, 8),
    "ae_fc8x128": (8, 128),
    "ae_fc128x640": (128, 640),
}
# int8 ADD (H, W, C) with TFLM-prepared parameters and the generator's input tables (ResNet-8's
# three residual adds), and full-window AVERAGE_POOL_2D (H, W, C) (the global pools of
# ResNet-8, DS-CNN, MobileNetV1-0.25): instructions per element, not part of the cost model
ADD_LAYERS: dict[str, tuple[int, int, int]] = {
    "add_r8_1": (32, 32, 16),
    "add_r8_2": (16, 16, 32),
    "add_r8_3": (8, 8, 64),
}
AVGPOOL_LAYERS: dict[str, tuple[int, int, int]] = {
    "avgpool_r8": (8, 8, 64),
    "avgpool_kws": (25, 5, 64),
    "avgpool_mbv1": (3, 3, 256),
}
# Elementwise edge / activation kernels over 1024 elements (after SOFTMAX, so the data
# above is unchanged; not part of the cost model): td_lut_s8 (LOGISTIC, HARD_SWISH, 8-bit
# QUANTIZE), td_quantize_f32_s8 (float input), td_dequantize_s8_f32 (float output)
EDGE_LAYERS: dict[str, str] = {"lut1024": "lut", "quantize_f32_1024": "quantize",
                               "dequantize_1024": "dequantize"}
EDGE_ELEMENTS = 1024
ELEMENTWISE_OPS = ("softmax", "pad", "mean", "concat", "add", "avgpool", "lut", "quantize",
                   "dequantize")
# dense conv at the shapes of the MLPerf Tiny models (TF SAME padding): (H, W, in_c, out_c, k,
# stride); after the layers above, so their seeded data is unchanged; not part of the cost model
MLPERF_CONV_LAYERS: dict[str, tuple[int, ...]] = {
    "rn8_conv1": (32, 32, 3, 16, 3, 1),  # ResNet-8 first conv
    "mbv1_conv1": (96, 96, 3, 8, 3, 2),  # MobileNetV1-0.25 first conv
    "rn8_16_16_s1": (32, 32, 16, 16, 3, 1),
    "rn8_16_32_s2": (32, 32, 16, 32, 3, 2),
    "rn8_32_32_s1": (16, 16, 32, 32, 3, 1),
    "rn8_32_64_s2": (16, 16, 32, 64, 3, 2),
    "rn8_64_64_s1": (8, 8, 64, 64, 3, 1),
}
CSR_SPARSITY = [0.0, 0.5, 0.8, 0.9, 0.95]
NM_FORMATS = [("nm2_4", 0.5), ("nm1_4", 0.75), ("nm1_8", 0.875), ("nm1_16", 0.9375)]


@dataclass
class Case:
    idx: int
    name: str
    layer: str
    op: str
    fmt: str
    target_sparsity: float
    w2d: np.ndarray  # softmax: no weights (empty)
    enc: EncodedWeights | None
    c_code: str
    expected: np.ndarray
    scratch: int
    nnz: int
    kernel_macs: int  # MACs the kernel performs (dense: all, csr: nnz, nm: stored slots)
    dense_macs: int
    nnz_macs: int
    out_elems: int
    conv_out_elems: int  # conv outputs computed (before fused pooling)
    aux_elems: int  # conv: positions x K (im2col work); fc: in_features (input widening)
    work_elems: int = 0  # elementwise ops: softmax/pad/concat output bytes, mean input bytes


def c_array(ctype: str, name: str, values: np.ndarray) -> str:
    flat = np.asarray(values).reshape(-1)
    body = ",".join(str(int(v)) for v in flat) if flat.size else "0"
    size = max(flat.size, 1)
    return f"static const {ctype} {name}[{size}] __attribute__((aligned(4))) = {{{body}}};\n"


def random_weights(rng: np.random.Generator, rows: int, k: int, fmt: str, sp: float) -> np.ndarray:
    w = rng.integers(-127, 128, size=(rows, k)).astype(np.int8)
    w[w == 0] = 1
    nm = get_format(fmt)
    if isinstance(nm, NmFormat):
        n, m = nm.n, nm.m
        groups = -(-k // m)
        pad = np.zeros((rows, groups * m), dtype=np.int8)
        pad[:, :k] = w
        g = pad.reshape(rows, groups, m)
        drop = np.argsort(np.abs(g.astype(np.int16)) + rng.random(g.shape), axis=2)[:, :, : m - n]
        np.put_along_axis(g, drop, 0, axis=2)
        return g.reshape(rows, -1)[:, :k].copy()
    flat = w.reshape(-1)
    zeros = rng.choice(flat.size, size=round(sp * flat.size), replace=False)
    flat[zeros] = 0
    return flat.reshape(rows, k)


def weight_decl(
    prefix: str, enc: EncodedWeights, conv_geom: tuple[int, int, int, int] | None = None
) -> tuple[str, str]:
    """C arrays for the encoded weights and the expression(s) passed to the kernel.

    ``conv_geom`` = (kh, kw, in_c, band_w) of a conv: sparse formats then also get their
    td_conv_taps (as the C generator emits them)."""
    fmt = get_format(enc.format)
    code = "".join(c_array(enc.c_type(k), f"{prefix}_{k}", v) for k, v in enc.arrays.items())
    if fmt.descriptor is not None:
        code += fmt.descriptor.c_initialiser(prefix, enc)
    if conv_geom is None or not fmt.conv_taps:
        return code, fmt.weight_arg(prefix)
    kh, kw, in_c, band_w = conv_geom
    taps = conv_taps(enc, kh, kw, in_c, band_w)
    code += c_array("uint32_t", f"{prefix}_taps", taps)
    code += (
        f"static const td_conv_taps {prefix}_ctaps = {{{band_w}, {in_c}, {taps.size}, "
        f"{prefix}_taps}};\n"
    )
    return code, f"{fmt.weight_arg(prefix)}, &{prefix}_ctaps"


def build_cases(host) -> tuple[list[Case], str]:
    rng = np.random.default_rng(SEED)
    cases: list[Case] = []
    shared = ""
    for layer, (op, shape) in LAYERS.items():
        if op == "conv":
            h, w, c, oc, k, pad, fused = shape
            rows, kdim = oc, k * k * c
            x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
        else:
            kdim, rows = shape
            x = rng.integers(-128, 128, size=kdim).astype(np.int8)
        bias = rng.integers(-2000, 2000, size=rows).astype(np.int32)
        mult = rng.integers(1 << 30, 2**31 - 1, size=rows).astype(np.int32)
        shift = np.full(rows, -9 if op == "conv" else -10, dtype=np.int32)
        in_off, out_off = 128, -128
        shared += c_array("int8_t", f"x_{layer}", x) + c_array("int32_t", f"b_{layer}", bias)
        shared += c_array("int32_t", f"m_{layer}", mult) + c_array("int32_t", f"s_{layer}", shift)
        shared += f"static const td_quant_params q_{layer} = {{m_{layer}, s_{layer}}};\n"
        configs = [("dense", 0.0)] + [("csr", s) for s in CSR_SPARSITY] + NM_FORMATS
        if op == "fc" and kdim > 256:  # delta-coded columns only pay off past 8-bit K
            configs += [("csrd", s) for s in CSR_SPARSITY if s >= 0.8]
        for fmt, sp in configs:
            w2d = random_weights(rng, rows, kdim, fmt, sp)
            enc = get_format(fmt).encode(w2d)
            name = f"{layer}/{fmt}/{round(sp * 100, 2):g}"
            idx = len(cases)
            geom = (k, k, c, w + 2 * pad) if op == "conv" else None
            decl, wexpr = weight_decl(f"w{idx}", enc, geom)
            kind = get_format(fmt).kernel
            nnz = int(np.count_nonzero(w2d))
            stored = get_format(fmt).executed_entries(enc)
            if op == "conv":
                spec = ConvSpec(k, k, (1, 1), (pad,) * 4, in_off, out_off, (out_off, 127), fused)
                expected = host.conv(x, enc, bias, mult, shift, spec)
                scratch = host.conv_buffer_size(x.shape, enc, spec)
                positions = h * w if not fused else 4 * (h // 2) * (w // 2)
                ho, wo = (h // 2, w // 2) if fused else (h, w)
                call = (
                    f"    static const td_conv_params p = {{1, 1, {pad}, {pad}, {pad}, {pad}, "
                    f"{in_off}, {out_off}, {{{out_off}, 127}}, {int(fused)}}};\n"
                    f"    static const td_dims id = {{1, {h}, {w}, {c}}};\n"
                    f"    static const td_dims fd = {{{oc}, {k}, {k}, {c}}};\n"
                    f"    static const td_dims od = {{1, {ho}, {wo}, {oc}}};\n"
                    f"    return td_conv_{kind}_s8(&p, &q_{layer}, &id, x_{layer}, &fd, {wexpr}, "
                    f"b_{layer}, &od, out_buf, scratch);\n"
                )
            else:
                expected = host.fc(x, enc, bias, mult, shift, in_off, out_off, (out_off, 127))
                scratch = host.fc_buffer_size(kdim, enc)
                positions = 1
                call = (
                    f"    static const td_fc_params p = "
                    f"{{{in_off}, {out_off}, {{{out_off}, 127}}}};\n"
                    f"    return td_fc_{kind}_s8(&p, &q_{layer}, {kdim}, x_{layer}, {rows}, "
                    f"{wexpr}, b_{layer}, out_buf, scratch);\n"
                )
            if scratch > SCRATCH_BYTES or expected.size > OUT_BYTES:
                raise SystemExit(f"{name}: scratch {scratch} / output {expected.size} too big")
            code = decl + c_array("int8_t", f"exp{idx}", expected)
            code += f"static td_status run{idx}(void)\n{{\n{call}}}\n"
            cases.append(
                Case(
                    idx,
                    name,
                    layer,
                    op,
                    fmt,
                    sp,
                    w2d,
                    enc,
                    code,
                    expected,
                    scratch,
                    nnz,
                    stored * positions,
                    w2d.size * positions,
                    nnz * positions,
                    int(expected.size),
                    positions * rows,
                    positions * kdim if op == "conv" else kdim,
                )
            )
    for layer, (h, w, c, k, stride, pad) in DW_LAYERS.items():
        x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
        wt = rng.integers(-127, 128, size=(k, k, c)).astype(np.int8)
        bias = rng.integers(-2000, 2000, size=c).astype(np.int32)
        mult = rng.integers(1 << 30, 2**31 - 1, size=c).astype(np.int32)
        shift = np.full(c, -9, dtype=np.int32)
        in_off, out_off = 128, -128
        idx = len(cases)
        pads = pad if isinstance(pad, tuple) else (pad,) * 4
        expected = host.dwconv(x, wt, bias, mult, shift, (stride, stride), pads, 1,
                               in_off, out_off, (out_off, 127))  # fmt: skip
        ho, wo = expected.shape[:2]
        w2d = wt.reshape(k * k, c).T.copy()
        code = "".join(c_array(t, f"{v}{idx}", a) for t, v, a in (
            ("int8_t", "x", x), ("int8_t", "w", wt), ("int32_t", "b", bias),
            ("int32_t", "m", mult), ("int32_t", "s", shift), ("int8_t", "exp", expected)))
        code += (
            f"static td_status run{idx}(void)\n{{\n"
            f"    static const td_quant_params q = {{m{idx}, s{idx}}};\n"
            f"    static const td_dwconv_params p = {{{stride}, {stride}, "
            f"{', '.join(map(str, pads))}, 1, {in_off}, {out_off}, {{{out_off}, 127}}}};\n"
            f"    static const td_dims id = {{1, {h}, {w}, {c}}}, fd = {{1, {k}, {k}, {c}}};\n"
            f"    static const td_dims od = {{1, {ho}, {wo}, {c}}};\n"
            f"    return td_dwconv_dense_s8(&p, &q, &id, x{idx}, &fd, w{idx}, b{idx}, &od, "
            "out_buf);\n}\n"
        )  # fmt: skip
        macs = ho * wo * k * k * c
        cases.append(Case(idx, f"{layer}/dense/0", layer, "dwconv", "dense", 0.0, w2d,
                          get_format("dense").encode(w2d), code, expected, 0,
                          int(np.count_nonzero(wt)), macs, macs, macs, int(expected.size),
                          ho * wo * c, macs))  # fmt: skip
    for layer, (rows, depth) in SOFTMAX_LAYERS.items():
        x = rng.integers(-128, 128, size=(rows, depth)).astype(np.int8)
        p = softmax_params(1.0, float(np.float32(0.1)))
        expected = host.softmax(x, p.input_multiplier, p.input_left_shift, p.diff_min)
        idx = len(cases)
        code = c_array("int8_t", f"x{idx}", x) + c_array("int8_t", f"exp{idx}", expected)
        code += (
            f"static td_status run{idx}(void)\n{{\n"
            f"    static const td_softmax_params p = {{{p.input_multiplier}, "
            f"{p.input_left_shift}, {p.diff_min}}};\n"
            f"    return td_softmax_s8(&p, x{idx}, out_buf, {rows}, {depth});\n}}\n"
        )
        cases.append(Case(idx, f"{layer}/-/0", layer, "softmax", "-", 0.0,
                          np.zeros((0, 0), np.int8), None, code, expected, 0, 0, 0, 0, 0,
                          int(expected.size), int(expected.size), 0,
                          int(expected.size)))  # fmt: skip
    for layer, (h, w, c, oc, stride) in PW_LAYERS.items():
        x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
        w2d = rng.integers(-127, 128, size=(oc, c)).astype(np.int8)
        bias = rng.integers(-2000, 2000, size=oc).astype(np.int32)
        mult = rng.integers(1 << 30, 2**31 - 1, size=oc).astype(np.int32)
        shift = np.full(oc, -9, dtype=np.int32)
        cases.append(dense_conv_case(host, len(cases), layer, "conv1x1", x, w2d, bias, mult,
                                     shift, 1, stride, (0, 0, 0, 0)))
    for layer, (kdim, rows) in AE_FC_LAYERS.items():
        x = rng.integers(-128, 128, size=kdim).astype(np.int8)
        w2d = rng.integers(-128, 128, size=(rows, kdim)).astype(np.int8)
        bias = rng.integers(-2000, 2000, size=rows).astype(np.int32)
        mult = rng.integers(1 << 30, 2**31 - 1, size=rows).astype(np.int32)
        shift = np.full(rows, -10, dtype=np.int32)
        in_off, out_off = 128, -128
        enc = get_format("dense").encode(w2d)
        idx = len(cases)
        decl, wexpr = weight_decl(f"w{idx}", enc, None)
        expected = host.fc(x, enc, bias, mult, shift, in_off, out_off, (out_off, 127))
        code = decl + "".join(c_array(t, f"{v}{idx}", a) for t, v, a in (
            ("int8_t", "x", x), ("int32_t", "b", bias), ("int32_t", "m", mult),
            ("int32_t", "s", shift), ("int8_t", "exp", expected)))
        code += (
            f"static td_status run{idx}(void)\n{{\n"
            f"    static const td_quant_params q = {{m{idx}, s{idx}}};\n"
            f"    static const td_fc_params p = {{{in_off}, {out_off}, {{{out_off}, 127}}}};\n"
            f"    return td_fc_dense_s8(&p, &q, {kdim}, x{idx}, {rows}, {wexpr}, b{idx}, "
            "out_buf, scratch);\n}\n"
        )
        macs = rows * kdim
        cases.append(Case(idx, f"{layer}/dense/0", layer, "fc", "dense", 0.0, w2d, enc, code,
                          expected, host.fc_buffer_size(kdim, enc), int(np.count_nonzero(w2d)),
                          macs, macs, macs, rows, rows, kdim))  # fmt: skip
    for layer, (h, w, c) in ADD_LAYERS.items():
        x1 = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
        x2 = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
        params = resnet_like_add_params(rng)
        tables = host.add_tables(params)
        params.input1_table, params.input2_table = tables[0].ctypes.data, tables[1].ctypes.data
        params.table_ties = generator_table_ties(params, tables)
        expected = host.add(x1, x2, params)
        idx = len(cases)
        code = "".join(c_array(t, f"{v}{idx}", a) for t, v, a in (
            ("int8_t", "x", x1), ("int8_t", "y", x2), ("int32_t", "t", tables[0]),
            ("int32_t", "u", tables[1]), ("int8_t", "exp", expected)))
        fields = ", ".join(f".{name} = {getattr(params, name)}" for name, _ in params._fields_
                           if name not in ("activation", "input1_table", "input2_table",
                                           "table_ties"))
        code += (
            f"static td_status run{idx}(void)\n{{\n"
            f"    static const td_add_params p = {{{fields}, .activation = {{-128, 127}}, "
            f".input1_table = t{idx}, .input2_table = u{idx}, "
            f".table_ties = {params.table_ties}}};\n"
            f"    return td_add_s8(&p, x{idx}, y{idx}, out_buf, {x1.size});\n}}\n"
        )
        _elementwise_case(cases, layer, "add", code, expected, int(expected.size))
    for layer, (h, w, c) in AVGPOOL_LAYERS.items():
        x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
        expected = host.pool("avg", x, (h, w), (1, 1), (0, 0), (1, 1))
        idx = len(cases)
        code = c_array("int8_t", f"x{idx}", x) + c_array("int8_t", f"exp{idx}", expected)
        code += (
            f"static td_status run{idx}(void)\n{{\n"
            f"    static const td_pool_params p = {{1, 1, {h}, {w}, 0, 0, {{-128, 127}}}};\n"
            f"    static const td_dims id = {{1, {h}, {w}, {c}}}, od = {{1, 1, 1, {c}}};\n"
            f"    return td_avgpool_s8(&p, &id, x{idx}, &od, out_buf);\n}}\n"
        )
        _elementwise_case(cases, layer, "avgpool", code, expected, int(x.size))
    movement_cases(host, rng, cases)
    for layer, op in EDGE_LAYERS.items():
        cases.append(edge_case(len(cases), layer, op, rng, host))
    for layer, shape in MLPERF_CONV_LAYERS.items():
        cases.append(mlperf_conv_case(host, rng, len(cases), layer, *shape))
    return cases, shared


def _elementwise_case(cases: list[Case], layer: str, op: str, code: str,
                      expected: np.ndarray, work: int) -> None:
    cases.append(Case(len(cases), f"{layer}/-/0", layer, op, "-", 0.0,
                      np.zeros((0, 0), np.int8), None, code, expected, 0, 0, 0, 0, 0,
                      int(expected.size), int(expected.size), 0, work))  # fmt: skip


def movement_cases(host, rng: np.random.Generator, cases: list[Case]) -> None:
    """The PAD, MEAN and CONCATENATION cases (td_pad_s8, td_mean_s8, td_concat_s8)."""
    from tinydeploy.ir.ops.mean import mean_multiplier
    from tinydeploy.tdnn.structs import MeanParams

    for layer, (h, w, c, pad) in PAD_LAYERS.items():
        x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
        expected = host.pad(x, ((pad, pad), (pad, pad), (0, 0)), -128)
        idx = len(cases)
        code = c_array("int8_t", f"x{idx}", x) + c_array("int8_t", f"exp{idx}", expected)
        code += (
            f"static td_status run{idx}(void)\n{{\n"
            f"    static const td_pad_params p = {{{pad}, {pad}, {pad}, {pad}, 0, 0, -128}};\n"
            f"    static const td_dims id = {{1, {h}, {w}, {c}}};\n"
            f"    return td_pad_s8(&p, &id, x{idx}, out_buf);\n}}\n")
        _elementwise_case(cases, layer, "pad", code, expected, int(expected.size))
    for layer, (h, w, c) in MEAN_LAYERS.items():
        x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
        mult, shift = mean_multiplier(0.02, 0.01, h * w)
        params = MeanParams(10, mult, shift, -5)
        expected = host.mean(x, params)
        idx = len(cases)
        code = c_array("int8_t", f"x{idx}", x) + c_array("int8_t", f"exp{idx}", expected)
        code += (
            f"static td_status run{idx}(void)\n{{\n"
            f"    static const td_mean_params p = {{10, {mult}, {shift}, -5}};\n"
            f"    static const td_dims id = {{1, {h}, {w}, {c}}};\n"
            f"    return td_mean_s8(&p, &id, x{idx}, out_buf);\n}}\n")
        _elementwise_case(cases, layer, "mean", code, expected, int(x.size))
    for layer, (h, w, chans) in CONCAT_LAYERS.items():
        xs = [rng.integers(-128, 128, size=(h, w, ch)).astype(np.int8) for ch in chans]
        expected = host.concat(xs, 2)
        idx = len(cases)
        code = "".join(c_array("int8_t", f"x{idx}_{i}", x) for i, x in enumerate(xs))
        code += c_array("int8_t", f"exp{idx}", expected)
        ptrs = ", ".join(f"x{idx}_{i}" for i in range(len(xs)))
        blocks = ", ".join(str(ch) for ch in chans)
        code += (
            f"static td_status run{idx}(void)\n{{\n"
            f"    static const int8_t *const in[] = {{{ptrs}}};\n"
            f"    static const int32_t blocks[] = {{{blocks}}};\n"
            f"    return td_concat_s8(in, blocks, {len(xs)}, {h * w}, out_buf);\n}}\n")
        _elementwise_case(cases, layer, "concat", code, expected, int(expected.size))


def resnet_like_add_params(rng: np.random.Generator) -> AddParams:
    """TFLM-prepared int8 ADD parameters (add.cc) for random scales and zero points of the
    kind a residual add has (output scale 1-2x the inputs', ReLU range with zero point -128)."""
    s1, s2 = (float(np.float32(v)) for v in rng.uniform(0.02, 0.08, size=2))
    so = float(np.float32(max(s1, s2) * rng.uniform(1.0, 2.0)))
    z1, z2 = (int(v) for v in rng.integers(-128, 0, size=2))
    twice_max = 2 * max(s1, s2)
    m1, sh1 = quantize_multiplier(s1 / twice_max)
    m2, sh2 = quantize_multiplier(s2 / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << 20) * so))
    return AddParams(-z1, m1, sh1, -z2, m2, sh2, 20, -128, mo, sho, Activation(-128, 127))


def generator_table_ties(params: AddParams, tables: tuple[np.ndarray, np.ndarray]) -> int:
    """The tie rounding the C generator would emit for these parameters (all pairs checked)."""
    skip = ("activation", "input1_table", "input2_table", "table_ties")
    fields = {name: getattr(params, name) for name, _ in params._fields_ if name not in skip}
    op = Add(name="add", input="a", input2="b", output="y", **fields,
             act_min=params.activation.min, act_max=params.activation.max)
    return table_ties(op, tables)


def edge_case(idx: int, layer: str, op: str, rng: np.random.Generator, host) -> Case:
    """One elementwise edge kernel over EDGE_ELEMENTS values; float outputs are compared as
    their bytes (the expected array holds the float32 bit patterns)."""
    from tinydeploy.ir.ops.bytemap import c_float

    n, scale, zp = EDGE_ELEMENTS, float(np.float32(0.0235)), -7
    if op == "lut":
        table = rng.integers(-128, 128, 256).astype(np.int8)
        x = rng.integers(-128, 128, n).astype(np.int8)
        expected = host.lut(table, x)
        code = c_array("int8_t", f"t{idx}", table) + c_array("int8_t", f"x{idx}", x)
        call = f"td_lut_s8(t{idx}, x{idx}, out_buf, {n})"
    elif op == "quantize":
        xf = rng.normal(0, 2.0, n).astype(np.float32)
        expected = host.quantize_f32(xf, scale, zp)
        code = (f"static const float x{idx}[{n}] = {{"
                + ",".join(c_float(v) for v in xf) + "};\n")
        code += f"static const td_quantize_params p{idx} = {{{c_float(scale)}, {zp}}};\n"
        call = f"td_quantize_f32_s8(&p{idx}, x{idx}, out_buf, {n})"
    else:
        x = rng.integers(-128, 128, n).astype(np.int8)
        expected = host.dequantize(x, scale, zp).view(np.int8)
        code = c_array("int8_t", f"x{idx}", x)
        code += f"static const td_dequantize_params p{idx} = {{{c_float(scale)}, {zp}}};\n"
        call = f"td_dequantize_s8_f32(&p{idx}, x{idx}, (float *)(void *)out_buf, {n})"
    code += c_array("int8_t", f"exp{idx}", expected)
    code += f"static td_status run{idx}(void)\n{{\n    return {call};\n}}\n"
    return Case(idx, f"{layer}/-/0", layer, op, "-", 0.0, np.zeros((0, 0), np.int8), None,
                code, expected, 0, 0, 0, 0, 0, n, n, 0, n)


def same_pads(size: int, k: int, stride: int) -> tuple[int, int]:
    """TF SAME padding of one axis: (before, after), the odd pixel after."""
    total = max((-(-size // stride) - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def mlperf_conv_case(host, rng: np.random.Generator, idx: int, layer: str, h: int, w: int,
                     c: int, oc: int, k: int, stride: int) -> Case:
    """One dense conv case (random per-channel quantisation, ReLU clamp) of MLPERF_CONV_LAYERS."""
    x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
    w2d = random_weights(rng, oc, k * k * c, "dense", 0.0)
    bias = rng.integers(-2000, 2000, size=oc).astype(np.int32)
    mult = rng.integers(1 << 30, 2**31 - 1, size=oc).astype(np.int32)
    shift = rng.integers(-10, -6, size=oc).astype(np.int32)
    (pt, pb), (pl, pr) = same_pads(h, k, stride), same_pads(w, k, stride)
    return dense_conv_case(host, idx, layer, "conv_mlperf", x, w2d, bias, mult, shift, k,
                           stride, (pt, pl, pb, pr))


def dense_conv_case(host, idx: int, layer: str, op: str, x: np.ndarray, w2d: np.ndarray,
                    bias: np.ndarray, mult: np.ndarray, shift: np.ndarray, k: int, stride: int,
                    pads: tuple[int, int, int, int]) -> Case:
    """A k x k dense conv case outside the cost model (int8 offsets 128 / -128, ReLU clamp):
    the expected output from the host build, the C arrays and the call."""
    in_off, out_off = 128, -128
    h, w, c = x.shape
    oc = len(w2d)
    pt, pl, pb, pr = pads
    enc = get_format("dense").encode(w2d)
    spec = ConvSpec(k, k, (stride, stride), pads, in_off, out_off, (out_off, 127))
    expected = host.conv(x, enc, bias, mult, shift, spec)
    ho, wo = expected.shape[:2]
    code = "".join(c_array(t, f"{v}{idx}", a) for t, v, a in (
        ("int8_t", "x", x), ("int8_t", "w", w2d), ("int32_t", "b", bias),
        ("int32_t", "m", mult), ("int32_t", "s", shift), ("int8_t", "exp", expected)))
    code += (
        f"static td_status run{idx}(void)\n{{\n"
        f"    static const td_quant_params q = {{m{idx}, s{idx}}};\n"
        f"    static const td_conv_params p = {{{stride}, {stride}, {pt}, {pl}, {pb}, {pr}, "
        f"{in_off}, {out_off}, {{{out_off}, 127}}, 0}};\n"
        f"    static const td_dims id = {{1, {h}, {w}, {c}}}, fd = {{{oc}, {k}, {k}, {c}}};\n"
        f"    static const td_dims od = {{1, {ho}, {wo}, {oc}}};\n"
        f"    return td_conv_dense_s8(&p, &q, &id, x{idx}, &fd, w{idx}, b{idx}, &od, out_buf, "
        "scratch);\n}\n"
    )  # fmt: skip
    scratch = host.conv_buffer_size(x.shape, enc, spec)
    if scratch > SCRATCH_BYTES or expected.size > OUT_BYTES:
        raise SystemExit(f"{layer}: scratch {scratch} / output {expected.size} too big")
    macs = ho * wo * oc * k * k * c
    return Case(idx, f"{layer}/dense/0", layer, op, "dense", 0.0, w2d, enc, code,
                expected, scratch, int(np.count_nonzero(w2d)), macs, macs, macs,
                int(expected.size), ho * wo * oc, ho * wo * k * k * c)


def write_cases_header(cases: list[Case], shared: str, path: Path) -> None:
    parts = [
        f"/* Generated by benchmarks/kernels/run_kernel_bench.py (seed {SEED}); do not edit. */\n",
        shared,
        *[c.c_code for c in cases],
        "static const bench_case CASES[] = {\n",
        *[f'    {{"{c.name}", run{c.idx}, exp{c.idx}, {c.expected.size}}},\n' for c in cases],
        "};\n",
    ]
    path.write_text("".join(parts))


def target_cflags(core: str) -> list[str]:
    """Every compiler flag that shapes the measured code (recorded in the results JSON)."""
    return [
        *CORES[core].cpu_flags, "-std=c99", "-O2", "-g", "-Wall", "-Wextra", "-Werror",
        "-ffunction-sections", "-fdata-sections", "-ffreestanding",
        "-fno-tree-loop-distribute-patterns",
    ]  # fmt: skip


def target_ldflags(core: str) -> list[str]:
    return [
        "-nostdlib", "-nostartfiles", f"-L{HERE}", "-T", str(HERE / CORES[core].ldscript),
        "-Wl,--gc-sections", "-Wl,--start-group", "-lc", "-lgcc", "-Wl,--end-group",
    ]  # fmt: skip


def build_firmware(build: Path, core: str = "m4") -> Path:
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found on PATH")
    srcs = [str(s) for s in tdnn_sources() if s.suffix == ".c"]
    elf = build / "bench.elf"
    cmd = [
        "arm-none-eabi-gcc", *target_cflags(core), f"-I{TDNN_DIR / 'include'}", f"-I{HERE}",
        f"-I{build}", str(HERE / "startup.c"), str(HERE / "bench_main.c"), *srcs,
        *target_ldflags(core), "-o", str(elf),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"firmware build failed:\n{proc.stderr}")
    return elf


def run_qemu(elf: Path, core: str = "m4") -> str:
    cmd = [
        "qemu-system-arm", "-M", CORES[core].machine, "-nographic", "-monitor", "none",
        "-serial", "none", "-semihosting-config", "enable=on,target=native",
        "-icount", "shift=0", "-kernel", str(elf),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr  # semihosting output goes to stderr with target=native
    if proc.returncode != 0 or "BENCH DONE" not in log:
        raise SystemExit(f"QEMU run failed (exit {proc.returncode}):\n{log}")
    return log


FEATURES = ("kernel_macs", "conv_out_elems", "aux_elems", "one")


def fit(rows: list[dict]) -> dict:
    """Non-negative least squares on relative error: instr ~= sum coef[f] * feature f.

    Brute force over feature subsets (4 features): the best fit whose coefficients are all
    >= 0, weighted by 1/instructions so small and large layers count alike."""
    x = np.array([[r.get(f, 1.0) if f != "one" else 1.0 for f in FEATURES] for r in rows],
                 dtype=np.float64)  # fmt: skip
    y = np.array([r["instructions"] for r in rows], dtype=np.float64)
    xw, yw = x / y[:, None], np.ones_like(y)
    best = None
    for mask in range(1, 1 << len(FEATURES)):
        cols = [i for i in range(len(FEATURES)) if mask >> i & 1]
        coef, *_ = np.linalg.lstsq(xw[:, cols], yw, rcond=None)
        if (coef < 0).any():
            continue
        full = np.zeros(len(FEATURES))
        full[cols] = coef
        err = float(np.max(np.abs(x @ full - y) / y))
        if best is None or err < best[0]:
            best = (err, full)
    assert best is not None
    err, coef = best
    return {
        **{f: round(float(c), 4) for f, c in zip(FEATURES, coef, strict=True)},
        "points": len(rows),
        "max_rel_error": round(err, 4),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--core", choices=sorted(CORES), default="m4",
                    help="QEMU core: m4 (mps2-an386, DSP paths) or m55 (mps3-an547, Helium)")
    ap.add_argument("--out", type=Path, default=None,
                    help="results JSON (default benchmarks/results/kernels_<core>.json)")
    ap.add_argument("--keep-build", type=Path, default=None, help="build directory to keep")
    ap.add_argument("--only", default=None,
                    help="regex on case names (skips the JSON unless --out is given)")
    ap.add_argument("--write-cost-model", action="store_true",
                    help="also refit the cost model that `auto` uses, shipped in the package "
                    f"({cost_model_path('cortex-m4')}); without it a run only writes --out")
    args = ap.parse_args(argv)
    core = CORES[args.core]
    write_json = not args.only or args.out is not None
    if args.out is None:
        args.out = core.default_out
    if args.write_cost_model and args.core != "m4":
        ap.error("--write-cost-model refits the Cortex-M4 model: use it with --core m4")

    host = load_hostlib()
    cases, shared = build_cases(host)
    if args.only:
        keep = {c.layer for c in cases if re.search(args.only, c.name)}
        cases = [
            c
            for c in cases
            if re.search(args.only, c.name) or (c.fmt == "dense" and c.layer in keep)
        ]
        if not cases:
            raise SystemExit(f"error: --only {args.only!r} matches no case (names are "
                             "layer/format/sparsity, e.g. fc1/csr/90)")
    with tempfile.TemporaryDirectory() as tmp:
        build = args.keep_build or Path(tmp)
        build.mkdir(parents=True, exist_ok=True)
        write_cases_header(cases, shared, build / "bench_cases.h")
        elf = build_firmware(build, args.core)
        log = run_qemu(elf, args.core)
        size = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True)
    measured = {
        m.group(1): (int(m.group(2)), int(m.group(3)), int(m.group(4)))
        for m in re.finditer(r"case (\S+) ticks=(\d+) status=(\d+) match=(\d)", log)
    }
    results = []
    elementwise = []  # SOFTMAX, ADD, pools, data movement, edge kernels: per element
    dense_instr: dict[str, int] = {}
    for c in cases:
        ticks, status, match = measured[c.name]
        if status != 0 or match != 1:
            raise SystemExit(f"{c.name}: status={status} match={match}\n{log}")
        instr = round(ticks * core.instr_per_tick)
        if c.op in ELEMENTWISE_OPS:
            elementwise.append({
                "layer": c.layer, "op": c.op,
                "shape": [c.work_elems] if c.op == "dequantize" else list(c.expected.shape),
                "elements": c.work_elems, "instructions": instr,
                "instr_per_element": round(instr / c.work_elems, 2),
            })  # fmt: skip
            continue
        if c.fmt == "dense":
            dense_instr[c.layer] = instr
        results.append({
            "layer": c.layer, "op": c.op, "format": c.fmt,
            "target_sparsity": c.target_sparsity,
            "sparsity": round(1 - c.nnz / c.w2d.size, 4),
            "nnz_weights": c.nnz, "weight_bytes": flash_bytes(c.enc, c.op),
            "scratch_bytes": c.scratch,
            "dense_macs": c.dense_macs, "nnz_macs": c.nnz_macs, "kernel_macs": c.kernel_macs,
            "out_elems": c.out_elems, "conv_out_elems": c.conv_out_elems,
            "aux_elems": c.aux_elems, "instructions": instr,
            "instr_per_nnz_mac": round(instr / max(c.nnz_macs, 1), 3),
            "instr_per_dense_mac": round(instr / c.dense_macs, 3),
            "speedup_vs_dense": round(dense_instr[c.layer] / instr, 3),
        })  # fmt: skip
    cost_model: dict[str, dict] = {}
    for op in ("conv", "fc") if not args.only else ():
        rows = [r for r in results if r["op"] == op and r["layer"] in LAYERS]
        fmts = sorted({r["format"] for r in rows})
        cost_model[op] = {f: fit([r for r in rows if r["format"] == f]) for f in fmts}
        cost_model[op]["nm"] = fit([r for r in rows if r["format"].startswith("nm")])
    report = {
        "provenance": {
            "tool": "benchmarks/kernels/run_kernel_bench.py",
            "seed": SEED,
            "machine": f"qemu-system-arm -M {core.machine} ({core.description}) -icount shift=0",
            "compiler": subprocess.run(
                ["arm-none-eabi-gcc", "--version"], capture_output=True, text=True
            ).stdout.splitlines()[0],
            "cflags": " ".join(target_cflags(args.core)),
            "ldflags": " ".join(target_ldflags(args.core)),
            "firmware_size": size.stdout.strip().splitlines()[-1] if size.stdout else "",
        },
        "metric": f"instructions retired, measured (SysTick ticks x {core.instr_per_tick:g} "
        "under -icount shift=0, call overhead subtracted, resolution "
        f"{core.instr_per_tick:g}); MAC counts are theoretical",
        "quantities": {
            "dense_macs": "MACs of the dense layer (conv: all conv positions, incl. fused pool)",
            "nnz_macs": "MACs with nonzero weights",
            "kernel_macs": "MACs the kernel executes: dense = dense_macs, csr = nnz_macs, "
            "nm = stored slots (incl. zero-valued) x positions",
            "elements": "elementwise ops: output bytes (softmax, pad, concat) or input bytes "
            "averaged (mean)",
        },
        "results": results,
        "elementwise": elementwise,
        "cost_model": {
            "formula": "instructions ~= kernel_macs*c1 + conv_out_elems*c2 + aux_elems*c3 + one",
            "features": {
                "kernel_macs": "MACs the kernel executes (see quantities)",
                "conv_out_elems": "outputs computed before fused pooling (positions x out_c; "
                "fc: out_features)",
                "aux_elems": "conv: conv positions x K (im2col work); fc: in_features",
                "one": "constant per call",
            },
            "fit": "non-negative least squares on relative error, per op and format "
            "(nm: per N:M variant, plus 'nm' over all variants)",
            **cost_model,
        },
    }
    if write_json:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.out, report)
    if args.write_cost_model and not args.only:
        shipped = {"provenance": {**report["provenance"], "source": f"{args.out} (cost_model)"},
                   "metric": report["metric"], "cost_model": report["cost_model"]}
        write_json_atomic(cost_model_path("cortex-m4"), shipped)
        print(f"wrote {cost_model_path('cortex-m4')}")
    print(f"{'layer':<11}{'format':<8}{'sparsity':>9}{'instr':>10}{'i/nzMAC':>9}{'speedup':>9}")
    for r in results:
        print(f"{r['layer']:<11}{r['format']:<8}{r['sparsity']:>9.3f}{r['instructions']:>10}"
              f"{r['instr_per_nnz_mac']:>9.2f}{r['speedup_vs_dense']:>9.2f}")  # fmt: skip
    for r in elementwise:
        print(f"{r['layer']:<12}{'x'.join(map(str, r['shape'])):>7}{r['instructions']:>9} "
              f"instructions, {r['instr_per_element']:.2f} per element")
    if write_json:
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
