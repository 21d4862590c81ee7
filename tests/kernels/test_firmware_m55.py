"""The Helium (MVE) paths on Cortex-M55 (QEMU mps3-an547) are bit-exact with the host build.

One firmware holds every conv shape of test_conv.py plus MVE-specific edges (dense and the
sparse formats), the fully connected shapes of test_fc.py, depthwise conv, pooling and ADD
(the shapes of test_dwconv_pool_add.py plus channel tails), SOFTMAX (test_softmax_kernel.py's
firmware cases), the quantisation edges
(multiplier 0, shifts -31..30 incl. left shifts, huge biases, odd clamps) and a direct test of
the vector requantisation: an FC with all-zero weights has acc = bias, so the biases feed
chosen accumulators (INT32_MIN/MAX, negative halves, ...) through td_mve_requant for every
shift. The firmware compares each output with the host library's; the host library is
checked against TFLite Micro's arithmetic in test_tflm_crosscheck.py. A second test runs the
kernel benchmark's TinyNet cases on M55 the same way.

Skipped when the cross toolchain or QEMU is missing, unless TINYDEPLOY_REQUIRE_FIRMWARE=1
(CI), which turns that into a failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_conv import BENCH, kernel_bench, make_weights, require_qemu_tools, run_on_qemu
from test_conv import CASES as CONV_CASES
from test_softmax_kernel import fixedpoint_probe_cases, softmax_cases

from tinydeploy.tdnn.formats import get_format
from tinydeploy.tdnn.host import ConvSpec

ROOT = Path(__file__).resolve().parents[2]
CONV_FORMATS = ["dense", "csr", "nm2_4"]
# MVE-specific edges on top of test_conv.CASES (same tuple layout): more pool windows per row
# than one sparse asm call takes (16), dense tiles split within a pooled row, many chunks
# (K = 144) with the pool, offsets that cannot fit 8 bits (dense falls back to the DSP path),
# K a multiple of 16, one output channel
MVE_CASES = {
    "pool_wide_row": (40, 38, 2, 5, 3, 3, (1, 1), (1, 1, 1, 1), True, 0.6),
    "pool_k144": (12, 12, 16, 8, 3, 3, (1, 1), (1, 1, 1, 1), True, 0.7),
    "pool_c32_fallback": (6, 6, 32, 4, 3, 3, (1, 1), (1, 1, 1, 1), True, 0.5),
    "k32_unpooled": (5, 9, 8, 6, 2, 2, (1, 1), (0, 1, 1, 0), False, 0.4),
    "pool_one_channel": (8, 8, 4, 1, 3, 3, (1, 1), (1, 1, 1, 1), True, 0.5),
}
FC_SHAPES = [(64, 784, 0.9), (10, 64, 0.5), (7, 13, 0.0), (3, 300, 0.8), (5, 1, 0.0),
             (13, 100, 0.0), (4, 8, 0.0), (2, 56, 0.0), (9, 37, 0.2), (1, 24, 0.0),
             (8, 16, 0.0), (6, 17, 0.3)]  # fmt: skip
FC_FORMATS = ["dense", "csr", "csrd", "nm1_2", "nm2_4", "nm1_8", "nm3_8", "nm1_16", "nm7_16"]


def arrays(bench, prefix: str, **values: np.ndarray) -> str:
    out = ""
    for name, v in values.items():
        ctype = "int8_t" if v.dtype == np.int8 else "int32_t"
        out += bench.c_array(ctype, f"{prefix}_{name}", v)
    return out


def conv_case(bench, tdnn, idx, x, wt, bias, mult, shift, spec, fmt):
    h, w, c = x.shape
    oc, kh, kw, _ = wt.shape
    enc = get_format(fmt).encode(wt.reshape(oc, -1))
    expected = tdnn.conv(x, enc, bias, mult, shift, spec)
    scratch = tdnn.conv_buffer_size(x.shape, enc, spec)
    assert scratch <= 32768
    top, left, bottom, right = spec.pad
    p = f"c{idx}"
    decl, wexpr = bench.weight_decl(f"{p}w", enc, (kh, kw, c, w + left + right))
    decl += arrays(bench, p, x=x, b=bias, m=mult, s=shift)
    kind = get_format(fmt).kernel
    ho, wo = expected.shape[:2]
    body = (
        f"    static const td_quant_params q = {{{p}_m, {p}_s}};\n"
        f"    static const td_conv_params cp = {{{spec.stride[0]}, {spec.stride[1]}, {top}, "
        f"{left}, {bottom}, {right}, {spec.input_offset}, {spec.output_offset}, "
        f"{{{spec.act[0]}, {spec.act[1]}}}, {int(spec.fused_maxpool)}}};\n"
        f"    static const td_dims id = {{1, {h}, {w}, {c}}}, fd = {{{oc}, {kh}, {kw}, {c}}};\n"
        f"    static const td_dims od = {{1, {ho}, {wo}, {oc}}};\n"
        f"    return td_conv_{kind}_s8(&cp, &q, &id, {p}_x, &fd, {wexpr}, {p}_b, &od, out_buf, "
        "scratch);\n"
    )
    return decl, body, expected


def fc_case(bench, tdnn, idx, x, w, bias, mult, shift, in_off, out_off, act, fmt):
    enc = get_format(fmt).encode(w)
    expected = tdnn.fc(x, enc, bias, mult, shift, in_off, out_off, act)
    p = f"f{idx}"
    decl, wexpr = bench.weight_decl(f"{p}w", enc)
    decl += arrays(bench, p, x=x, b=bias, m=mult, s=shift)
    kind = get_format(fmt).kernel
    body = (
        f"    static const td_quant_params q = {{{p}_m, {p}_s}};\n"
        f"    static const td_fc_params fp = {{{in_off}, {out_off}, {{{act[0]}, {act[1]}}}}};\n"
        f"    return td_fc_{kind}_s8(&fp, &q, {x.size}, {p}_x, {w.shape[0]}, {wexpr}, {p}_b, "
        "out_buf, scratch);\n"
    )
    return decl, body, expected


def requant_edge_cases(bench, tdnn, start):
    """FC rows with zero weights: acc = bias, every shift -31..30 against edge accumulators."""
    accs = np.array([0, 1, -1, 2, -2, 3, -3, 2**31 - 1, -(2**31), 2**30, -(2**30), 12345,
                     -12345, 1 << 20, -(1 << 20), (1 << 20) + (1 << 19), -(1 << 20) - (1 << 19),
                     77, -77, 255, -256, 2**31 - 2, -(2**31) + 1], dtype=np.int64)  # fmt: skip
    mults = [0, 1, 1 << 30, 2**31 - 1, 1518500250, 1073741825]
    out = []
    idx = start
    combos = [(m, (-128, 127), 0) for m in mults]
    combos += [(2**31 - 1, (-20, 90), -5), (1 << 30, (-128, 127), 127)]
    for mult, act, ooff in combos:
        shifts = np.arange(-31, 31, dtype=np.int32)
        rows_acc = np.repeat(accs, shifts.size).astype(np.int32)
        rows_shift = np.tile(shifts, accs.size)
        rows_mult = np.full(rows_acc.size, mult, dtype=np.int32)
        w = np.zeros((rows_acc.size, 1), dtype=np.int8)
        x = np.array([-5], dtype=np.int8)
        decl, body, exp = fc_case(bench, tdnn, idx, x, w, rows_acc, rows_mult, rows_shift,
                                  7, ooff, act, "dense")  # fmt: skip
        out.append((f"requant/m{mult}/o{ooff}/a{act[0]}", decl, body, exp))
        idx += 1
    return out


DW_SHAPES = [  # (h, w, c, k, stride, pad, dmul): test_dwconv_pool_add's, plus channel tails
    (8, 8, 4, 3, (1, 1), (1, 1, 1, 1), 1), (9, 7, 3, 3, (2, 2), (0, 0, 1, 1), 2),
    (6, 6, 5, 5, (1, 1), (2, 2, 2, 2), 1), (5, 4, 2, 1, (1, 2), (0, 0, 0, 0), 3),
    (7, 6, 21, 3, (1, 1), (1, 1, 1, 1), 1), (5, 5, 1, 3, (2, 1), (1, 0, 1, 2), 1),
]
POOL_SHAPES = [  # (h, w, c, filter, stride, pad (top, left), out_hw)
    (8, 8, 3, (2, 2), (2, 2), (0, 0), (4, 4)), (7, 9, 2, (2, 2), (2, 2), (0, 0), (3, 4)),
    (7, 7, 4, (3, 3), (2, 2), (1, 1), (4, 4)), (5, 6, 1, (3, 2), (1, 2), (1, 0), (5, 3)),
    (6, 6, 37, (3, 3), (1, 1), (1, 1), (6, 6)), (20, 20, 5, (20, 20), (1, 1), (0, 0), (1, 1)),
]
ADD_SCALES = [  # (s1, z1, s2, z2, so, zo, act), as test_add
    (0.05, 3, 0.02, -7, 0.06, 1, (-128, 127)), (0.1, -128, 0.1, -128, 0.2, -128, (-128, 127)),
    (0.5, 10, 0.001, 0, 0.01, 5, (5, 127)), (0.0039, -128, 0.0078, 0, 0.0117, -20, (-128, 127)),
]


def other_cases(bench, tdnn, ref, start):
    """Depthwise conv, max/avg pooling and ADD (MVE paths and the portable fallbacks)."""
    from test_dwconv_pool_add import tflm_add_params

    from tinydeploy.tdnn.structs import Activation, AddParams

    out, idx = [], start
    for i, (h, w, c, k, stride, pad, dmul) in enumerate(DW_SHAPES):
        rng = np.random.default_rng(h * w + c + i)
        x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
        wt = rng.integers(-128, 128, size=(k, k, c * dmul)).astype(np.int8)
        oc = c * dmul
        bias = rng.integers(-3000, 3000, size=oc).astype(np.int32)
        mult, shift = ref.random_quant(rng, oc, (-11, -6))
        mult[0], shift[-1] = 0, -31
        exp = tdnn.dwconv(x, wt, bias, mult, shift, stride, pad, dmul, 17, -4, (-4, 127))
        p = f"d{idx}"
        decl = arrays(bench, p, x=x, w=wt, b=bias, m=mult, s=shift)
        body = (
            f"    static const td_quant_params q = {{{p}_m, {p}_s}};\n"
            f"    static const td_dwconv_params dp = {{{stride[0]}, {stride[1]}, {pad[0]}, "
            f"{pad[1]}, {pad[2]}, {pad[3]}, {dmul}, 17, -4, {{-4, 127}}}};\n"
            f"    static const td_dims id = {{1, {h}, {w}, {c}}}, fd = {{1, {k}, {k}, {oc}}};\n"
            f"    static const td_dims od = {{1, {exp.shape[0]}, {exp.shape[1]}, {oc}}};\n"
            f"    return td_dwconv_dense_s8(&dp, &q, &id, {p}_x, &fd, {p}_w, {p}_b, &od, "
            "out_buf);\n"
        )
        out.append((f"dwconv/{i}", decl, body, exp))
        idx += 1
    for i, (h, w, c, filt, stride, pad, ohw) in enumerate(POOL_SHAPES):
        for kind in ("max", "avg"):
            for act in ((-128, 127), (-5, 100)):
                rng = np.random.default_rng(7 * i + len(kind))
                x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
                exp = tdnn.pool(kind, x, filt, stride, pad, ohw, act)
                p = f"p{idx}"
                body = (
                    f"    static const td_pool_params pp = {{{stride[0]}, {stride[1]}, "
                    f"{filt[0]}, {filt[1]}, {pad[0]}, {pad[1]}, {{{act[0]}, {act[1]}}}}};\n"
                    f"    static const td_dims id = {{1, {h}, {w}, {c}}};\n"
                    f"    static const td_dims od = {{1, {ohw[0]}, {ohw[1]}, {c}}};\n"
                    f"    return td_{kind}pool_s8(&pp, &id, {p}_x, &od, out_buf);\n"
                )
                out.append((f"{kind}pool/{i}/{act[0]}", arrays(bench, p, x=x), body, exp))
                idx += 1
    for i, (s1, z1, s2, z2, so, zo, act) in enumerate(ADD_SCALES):
        rng = np.random.default_rng(1 + i)
        x1 = rng.integers(-128, 128, size=(5, 7, 3)).astype(np.int8)
        x2 = rng.integers(-128, 128, size=(5, 7, 3)).astype(np.int8)
        prm = tflm_add_params(s1, z1, s2, z2, so, zo, act)
        fields = {k: v for k, v in prm.items() if k != "act"}
        exp = tdnn.add(x1, x2, AddParams(**fields, activation=Activation(*act)))
        p = f"a{idx}"
        vals = ", ".join(str(int(prm[k])) for k in (
            "input1_offset", "input1_multiplier", "input1_shift", "input2_offset",
            "input2_multiplier", "input2_shift", "left_shift", "output_offset",
            "output_multiplier", "output_shift"))  # fmt: skip
        body = (
            f"    static const td_add_params ap = {{{vals}, {{{act[0]}, {act[1]}}}, "
            "NULL, NULL, 0};\n"  # no tables: the per-element Helium path
            f"    return td_add_s8(&ap, {p}_x1, {p}_x2, out_buf, {x1.size});\n"
        )
        out.append((f"add/{i}", arrays(bench, p, x1=x1, x2=x2), body, exp))
        idx += 1
    return out


@pytest.mark.firmware
def test_mve_kernels_match_host_on_qemu_m55(tdnn, ref, tmp_path):
    require_qemu_tools()
    bench = kernel_bench()
    cases = []
    for ci, (name, case) in enumerate({**CONV_CASES, **MVE_CASES}.items()):
        h, w, c, oc, kh, kw, stride, pad, fused, sp = case
        for fi, fmt in enumerate(CONV_FORMATS):
            rng = np.random.default_rng(1000 * ci + fi)
            x = rng.integers(-128, 128, size=(h, w, c)).astype(np.int8)
            wt = make_weights(rng, oc, kh, kw, c, sp, fmt, ref)
            bias = rng.integers(-5000, 5000, size=oc).astype(np.int32)
            mult, shift = ref.random_quant(rng, oc)
            in_off, out_off = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
            spec = ConvSpec(kh, kw, stride, pad, in_off, out_off, (-128, 127), fused)
            decl, body, exp = conv_case(bench, tdnn, len(cases), x, wt, bias, mult, shift, spec,
                                        fmt)  # fmt: skip
            cases.append((f"conv/{name}/{fmt}", decl, body, exp))
    # quantisation edges and clamps (test_conv_quant_edges), fused and not, and offsets
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, size=(7, 6, 4)).astype(np.int8)
    wt = make_weights(rng, 8, 3, 3, 4, 0.5, "dense", ref)
    bias = np.array([0, 2**30, -(2**30), 100, -100, 2**29, 0, 7], dtype=np.int32)
    mult = np.array([0, 2**30, 2**31 - 1, 1 << 30, 2**31 - 1, 1518500250, 2**31 - 1, 0],
                    dtype=np.int32)  # fmt: skip
    for tag, shift in (("left", np.array([0, -31, -31, 3, 1, -20, -30, 5], dtype=np.int32)),
                       ("right", np.array([0, -31, -31, -3, -1, -20, -30, 0], dtype=np.int32))):
        for fused in (False, True):
            for in_off, out_off, act in ((5, -3, (-128, 127)), (128, -128, (-128, 127)),
                                         (-127, 127, (-128, 127)), (0, 0, (-20, 90))):
                spec = ConvSpec(3, 3, (1, 1), (1, 1, 1, 1), in_off, out_off, act, fused)
                decl, body, exp = conv_case(bench, tdnn, len(cases), x, wt, bias, mult, shift,
                                            spec, "dense")  # fmt: skip
                cases.append((f"conv/edges/{tag}/{int(fused)}/{in_off}", decl, body, exp))
    for si, (out_n, k, sp) in enumerate(FC_SHAPES):
        for fmt in FC_FORMATS:
            rng = np.random.default_rng(out_n * 1000 + k)
            x = rng.integers(-128, 128, size=k).astype(np.int8)
            w = rng.integers(-128, 128, size=(out_n, k)).astype(np.int8)
            w[rng.random(w.shape) < sp] = 0
            if fmt.startswith("nm"):
                n, m = (int(v) for v in fmt[2:].split("_"))
                w = ref.nm_mask(w, n, m, rng)
            bias = rng.integers(-20000, 20000, size=out_n).astype(np.int32)
            mult, shift = ref.random_quant(rng, out_n, (-31, 3) if si % 3 == 2 else (-14, -6))
            in_off, out_off = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
            act = (-128, 127) if si % 2 else (max(out_off, -20), 100)
            decl, body, exp = fc_case(bench, tdnn, len(cases), x, w, bias, mult, shift, in_off,
                                      out_off, act, fmt)  # fmt: skip
            cases.append((f"fc/{out_n}x{k}/{fmt}", decl, body, exp))
    cases += requant_edge_cases(bench, tdnn, len(cases))
    cases += other_cases(bench, tdnn, ref, len(cases))
    cases += softmax_cases(tdnn, len(cases), bench.c_array) + fixedpoint_probe_cases()
    run_on_qemu(tmp_path, cases, "m55")


@pytest.mark.firmware
def test_kernel_bench_tinynet_layers_on_qemu_m55(tmp_path):
    """run_kernel_bench.py --core m55 on TinyNet's layers in every format (the firmware
    compares each output with the host build's)."""
    require_qemu_tools()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH",
                                                                                   "")])}
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--core", "m55", "--only", "^(conv1|conv2_pool|fc1|fc2)/",
         "--keep-build", str(tmp_path)],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(("conv1", "conv2", "fc"))]
    assert len(lines) == 10 + 10 + 13 + 10, proc.stdout
