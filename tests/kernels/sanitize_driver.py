"""Runs every tdnn kernel once on seeded data and saves the outputs (used by test_sanitize).

Usage: python sanitize_driver.py <cache_dir> <out.npz> [--sanitize]
"""

from __future__ import annotations

import sys

import numpy as np

from tinydeploy.tdnn.formats import get_format
from tinydeploy.tdnn.host import ConvSpec, load_hostlib
from tinydeploy.tdnn.structs import Activation, AddParams, MeanParams


def main(cache_dir: str, out_path: str, sanitize: bool) -> None:
    host = load_hostlib(cache_dir, sanitize=sanitize)
    rng = np.random.default_rng(42)
    out: dict[str, np.ndarray] = {}
    x = rng.integers(-128, 128, size=(9, 7, 3)).astype(np.int8)
    w = rng.integers(-128, 128, size=(5, 27)).astype(np.int8)
    w[:, 1::2] = 0
    w[:, 2::4] = 0
    w[1] = 0
    mult = rng.integers(1 << 30, 2**31 - 1, size=5).astype(np.int32)
    shift = np.array([-31, -9, 2, -8, 0], dtype=np.int32)
    for fmt in ["dense", "csr", "nm1_4", "nm3_8", "nm1_2"]:
        enc = get_format(fmt).encode(w)
        for fused in (False, True):
            spec = ConvSpec(3, 3, (1, 2), (1, 1, 0, 1), 7, -2, (-128, 127), fused)
            out[f"conv_{fmt}_{fused}"] = host.conv(x, enc, None, mult, shift, spec)
        out[f"fc_{fmt}"] = host.fc(x.reshape(-1)[:27], enc, None, mult, shift, -3, 4)
    wide = np.zeros((4, 700), dtype=np.int8)  # delta-coded columns with 255-wide fillers
    wide[0, [3, 400, 699]] = [5, -7, 9]
    wide[2, 600] = 1
    xw = rng.integers(-128, 128, size=700).astype(np.int8)
    out["fc_csrd"] = host.fc(xw, get_format("csrd").encode(wide), None, mult[:4], shift[:4],
                             -3, 4)
    dw = rng.integers(-128, 128, size=(3, 3, 6)).astype(np.int8)
    out["dw"] = host.dwconv(x, dw, None, 1 << 30, -9, (2, 1), (1, 1, 1, 1), 2)
    out["max"] = host.pool("max", x, (2, 2), (2, 2), (0, 0), (4, 3))
    out["avg"] = host.pool("avg", x, (3, 3), (2, 2), (1, 1), (5, 4))
    p = AddParams(1, 1 << 30, -1, -2, 1 << 30, -2, 20, 3, 1 << 30, -19, Activation(-128, 127))
    out["add"] = host.add(x, x[::-1].copy(), p)
    sm = rng.integers(-128, 128, size=(3, 37)).astype(np.int8)
    sm[1] = 9  # all equal
    out["softmax"] = host.softmax(sm, 1 << 30, 22, -496)
    out["softmax_d1"] = host.softmax(sm[:, :1].copy(), 2**31 - 1, 31, -255)  # depth 1, wraps
    out["softmax_wide"] = host.softmax(np.full((1, 8193), 3, np.int8), 1 << 30, 22, -496)
    out["softmax_sat"] = host.softmax(np.full((1, 600), 3, np.int8), 1 << 30, 22, -496)
    # 1x1 dense conv (its own variant): odd channels, stride 2, a last block of 3 pixels
    xp = rng.integers(-128, 128, size=(5, 6, 7)).astype(np.int8)
    wp = rng.integers(-128, 128, size=(5, 7)).astype(np.int8)
    spec = ConvSpec(1, 1, (2, 2), (0, 0, 0, 0), 7, -2, (-20, 100))
    out["conv_1x1"] = host.conv(xp, get_format("dense").encode(wp), None, mult, shift, spec)
    # PAD (spatial only, and with channel padding), MEAN (4-channel passes + tail), CONCAT
    out["pad"] = host.pad(x, ((1, 2), (0, 1), (0, 0)), -5)
    out["pad_c"] = host.pad(x, ((0, 1), (2, 0), (1, 3)), 7)
    out["mean"] = host.mean(rng.integers(-128, 128, size=(5, 6, 7)).astype(np.int8),
                            MeanParams(3, 1 << 30, -4, -1))
    out["concat"] = host.concat([x, x[:, :, :1].copy(), x[:, :, ::-1].copy()], 2)
    # table lookup, QUANTIZE / DEQUANTIZE: NaN, infinities and quotients beyond int32 must
    # not reach a float -> int conversion (UBSan's float-cast-overflow)
    table = rng.integers(-128, 128, 256).astype(np.int8)
    out["lut"] = host.lut(table, rng.integers(0, 256, 1001).astype(np.uint8))
    edge = np.array([np.nan, np.inf, -np.inf, 3e38, -3e38, 0.5, -0.5, 1.5, -0.0], np.float32)
    xf = np.concatenate([edge, rng.normal(0, 3, 100).astype(np.float32)])
    out["quantize_f32"] = host.quantize_f32(xf, 0.02, -5)
    out["dequantize"] = host.dequantize(np.arange(256, dtype=np.uint8).view(np.int8), 0.037, 11)
    np.savez(out_path, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--sanitize" in sys.argv[3:])
