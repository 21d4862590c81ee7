"""The tdnn C kernel library built for the host (gcc, shared library) and called via ctypes.

``build_hostlib`` compiles the shipped kernel library (``tinydeploy.resources.tdnn_dir()``)
with the same flags as the tests (``-O2 -Wall -Wextra -Werror -std=c99``) into a cache
directory keyed by a hash of the sources and flags; ``TdnnHost`` wraps one kernel per
method, taking numpy arrays.
A sanitizer build (``sanitize=True``) must be loaded into a process started with
``LD_PRELOAD`` of libasan/libubsan (see ``sanitizer_env``).
"""

from __future__ import annotations

import ctypes as C
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinydeploy.errors import FirmwareError
from tinydeploy.resources import tdnn_dir

if TYPE_CHECKING:  # codegen is imported lazily (only sparse conv needs its taps)
    from tinydeploy.codegen.formats import EncodedWeights

TDNN_DIR = tdnn_dir()
BASE_CFLAGS = (
    "-O2", "-Wall", "-Wextra", "-Werror", "-std=c99", "-fPIC", "-shared",
    "-DTD_VALIDATE_INDICES",  # O(nnz) descriptor index checks, off by default on targets
)  # fmt: skip
SANITIZE_CFLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/tinydeploy/hostlib (tests point XDG_CACHE_HOME at a private folder)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tinydeploy" / "hostlib"


TD_OK, TD_ERR_ARG, TD_ERR_UNSUPPORTED = 0, -1, -2


def tdnn_sources(root: Path = TDNN_DIR) -> list[Path]:
    """All C sources and headers of the library, sorted."""
    return sorted([*root.glob("src/**/*.c"), *root.glob("src/**/*.h"), *root.glob("include/*.h")])


def build_hostlib(
    cache_dir: Path | str | None = None,
    sanitize: bool = False,
    extra_cflags: tuple[str, ...] = (),
    cc: str = "gcc",
) -> Path:
    """Compile the library into ``<cache_dir>/<hash>/libtdnn.so`` (reused when unchanged)."""
    if shutil.which(cc) is None:
        raise FirmwareError(f"host C compiler {cc!r} not found on PATH")
    flags = [*BASE_CFLAGS, *(SANITIZE_CFLAGS if sanitize else ()), *extra_cflags]
    srcs = tdnn_sources()
    digest = hashlib.sha256(" ".join([cc, *flags]).encode())
    for src in srcs:
        digest.update(str(src.relative_to(TDNN_DIR)).encode())
        digest.update(src.read_bytes())
    out_dir = Path(cache_dir or default_cache_dir()) / digest.hexdigest()[:16]
    lib = out_dir / "libtdnn.so"
    if lib.exists():
        return lib
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f"libtdnn.so.{os.getpid()}.tmp"
    cmd = [cc, *flags, f"-I{TDNN_DIR / 'include'}", *[str(s) for s in srcs if s.suffix == ".c"]]
    proc = subprocess.run([*cmd, "-o", str(tmp)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise FirmwareError(f"building tdnn for the host failed:\n{proc.stderr}")
    tmp.replace(lib)
    return lib


def sanitizer_env(cc: str = "gcc") -> dict[str, str]:
    """Environment for a child Python that loads a sanitizer build via ctypes."""
    libs = []
    for name in ("libasan.so", "libubsan.so"):
        path = subprocess.run(
            [cc, f"-print-file-name={name}"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if os.path.sep not in path:
            raise FirmwareError(f"{cc} does not ship {name}; install libasan/libubsan")
        libs.append(path)
    env = dict(os.environ)
    env["LD_PRELOAD"] = " ".join(libs)
    env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
    env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
    return env


# ---- ctypes mirrors of tdnn_types.h ----
_I32 = C.c_int32


class Dims(C.Structure):
    _fields_ = [("n", _I32), ("h", _I32), ("w", _I32), ("c", _I32)]


class Activation(C.Structure):
    _fields_ = [("min", _I32), ("max", _I32)]


class QuantParams(C.Structure):
    _fields_ = [("multiplier", C.POINTER(_I32)), ("shift", C.POINTER(_I32))]


class ConvParams(C.Structure):
    _fields_ = [
        ("stride_h", _I32), ("stride_w", _I32), ("pad_top", _I32), ("pad_left", _I32),
        ("pad_bottom", _I32), ("pad_right", _I32), ("input_offset", _I32),
        ("output_offset", _I32), ("activation", Activation), ("fused_maxpool", _I32),
    ]  # fmt: skip


class DwConvParams(C.Structure):
    _fields_ = [
        ("stride_h", _I32), ("stride_w", _I32), ("pad_top", _I32), ("pad_left", _I32),
        ("pad_bottom", _I32), ("pad_right", _I32), ("depth_multiplier", _I32),
        ("input_offset", _I32), ("output_offset", _I32), ("activation", Activation),
    ]  # fmt: skip


class FcParams(C.Structure):
    _fields_ = [("input_offset", _I32), ("output_offset", _I32), ("activation", Activation)]


class PoolParams(C.Structure):
    _fields_ = [
        ("stride_h", _I32), ("stride_w", _I32), ("filter_h", _I32), ("filter_w", _I32),
        ("pad_top", _I32), ("pad_left", _I32), ("activation", Activation),
    ]  # fmt: skip


class AddParams(C.Structure):
    _fields_ = [
        ("input1_offset", _I32), ("input1_multiplier", _I32), ("input1_shift", _I32),
        ("input2_offset", _I32), ("input2_multiplier", _I32), ("input2_shift", _I32),
        ("left_shift", _I32), ("output_offset", _I32), ("output_multiplier", _I32),
        ("output_shift", _I32), ("activation", Activation),
    ]  # fmt: skip


class CsrWeights(C.Structure):
    _fields_ = [
        ("rows", _I32), ("cols", _I32), ("nnz", _I32), ("values", C.c_void_p),
        ("col_idx_u8", C.c_void_p), ("col_idx_u16", C.c_void_p),
        ("row_ptr_u16", C.c_void_p), ("row_ptr_u32", C.c_void_p), ("row_sum", C.c_void_p),
        ("col_delta_u8", C.c_void_p),
    ]  # fmt: skip


class NmWeights(C.Structure):
    _fields_ = [
        ("rows", _I32), ("cols", _I32), ("n", _I32), ("m", _I32), ("meta_row_bytes", _I32),
        ("values", C.c_void_p), ("meta", C.c_void_p), ("row_sum", C.c_void_p),
    ]  # fmt: skip


class ConvTaps(C.Structure):
    _fields_ = [("band_w", _I32), ("in_c", _I32), ("entries", _I32), ("taps", C.c_void_p)]


@dataclass(frozen=True)
class ConvSpec:
    """Geometry and quantisation of one conv call (kernel size comes from the weights)."""

    kh: int
    kw: int
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    input_offset: int = 0
    output_offset: int = 0
    act: tuple[int, int] = (-128, 127)
    fused_maxpool: bool = False


class TdnnError(FirmwareError):
    """A tdnn kernel returned a status other than TD_OK."""

    def __init__(self, kernel: str, status: int) -> None:
        super().__init__(f"{kernel} returned status {status}")
        self.status = status


def _ptr(a: np.ndarray | None) -> C.c_void_p | None:
    return None if a is None else C.c_void_p(a.ctypes.data)


def _i32(a: np.ndarray | list[int] | int, n: int) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=np.int32), (n,)))


def _conv_out(size: int, pa: int, pb: int, k: int, s: int) -> int:
    return (size + pa + pb - k) // s + 1


class TdnnHost:
    """ctypes wrapper of one build of the library; one method per kernel."""

    def __init__(self, lib_path: Path | str) -> None:
        self.path = Path(lib_path)
        self.lib = C.CDLL(str(self.path))
        for name in (
            "td_conv_dense_s8_get_buffer_size", "td_conv_csr_s8_get_buffer_size",
            "td_conv_nm_s8_get_buffer_size", "td_fc_dense_s8_get_buffer_size",
            "td_fc_csr_s8_get_buffer_size", "td_fc_nm_s8_get_buffer_size", "td_requantize",
        ):  # fmt: skip
            getattr(self.lib, name).restype = _I32

    def _call(self, name: str, *args: object) -> None:
        status = getattr(self.lib, name)(*args)
        if status != TD_OK:
            raise TdnnError(name, status)

    def requantize(self, acc: int, multiplier: int, shift: int) -> int:
        """td_requantize (MultiplyByQuantizedMultiplier, no offset or clamp)."""
        return int(self.lib.td_requantize(_I32(acc), _I32(multiplier), _I32(shift)))

    def requantize_block(
        self,
        acc: np.ndarray,
        multiplier: int,
        shift: int,
        output_offset: int = 0,
        act: tuple[int, int] = (-128, 127),
    ) -> np.ndarray:
        """td_requantize_block_s8: one channel's accumulators to int8 (offset, clamp)."""
        a = np.ascontiguousarray(acc, dtype=np.int32)
        out = np.zeros(a.size, dtype=np.int8)
        self._call("td_requantize_block_s8", _ptr(a), _I32(a.size), _I32(multiplier),
                   _I32(shift), _I32(output_offset), C.byref(Activation(*act)),
                   _ptr(out))  # fmt: skip
        return out

    @staticmethod
    def _descriptor(enc: EncodedWeights) -> tuple[C.Structure | np.ndarray, list[np.ndarray]]:
        arrays = {k: np.ascontiguousarray(v) for k, v in enc.arrays.items()}
        keep = list(arrays.values())
        if enc.format == "dense":
            return arrays["values"], keep
        if TdnnHost._kind(enc) == "csr":
            desc = CsrWeights(enc.scalars["rows"], enc.scalars["cols"], enc.scalars["nnz"],
                              *[_ptr(arrays.get(f)) for f in (
                                  "values", "col_idx_u8", "col_idx_u16",
                                  "row_ptr_u16", "row_ptr_u32", "row_sum",
                                  "col_delta_u8")])  # fmt: skip
            return desc, keep
        s = enc.scalars
        desc = NmWeights(s["rows"], s["cols"], s["n"], s["m"], s["meta_row_bytes"],
                         _ptr(arrays["values"]), _ptr(arrays["meta"]),
                         _ptr(arrays["row_sum"]))  # fmt: skip
        return desc, keep

    @staticmethod
    def _kind(enc: EncodedWeights) -> str:
        from tinydeploy.codegen.formats import get_format

        return get_format(enc.format).kernel

    def conv_buffer_size(
        self, x_shape: tuple[int, int, int], enc: EncodedWeights, spec: ConvSpec
    ) -> int:
        """Bytes of scratch td_conv_<fmt>_s8 needs."""
        params, in_dims, f_dims = self._conv_structs(x_shape, enc, spec)
        kind = self._kind(enc)
        fn = getattr(self.lib, f"td_conv_{kind}_s8_get_buffer_size")
        if kind == "dense":
            return int(fn(C.byref(params), C.byref(in_dims), C.byref(f_dims)))
        desc, _keep = self._descriptor(enc)
        return int(fn(C.byref(params), C.byref(in_dims), C.byref(f_dims), C.byref(desc)))

    @staticmethod
    def _conv_structs(
        x_shape: tuple[int, int, int], enc: EncodedWeights, spec: ConvSpec
    ) -> tuple[ConvParams, Dims, Dims]:
        h, w, c = x_shape
        params = ConvParams(
            spec.stride[0],
            spec.stride[1],
            *spec.pad,
            spec.input_offset,
            spec.output_offset,
            Activation(*spec.act),
            int(spec.fused_maxpool),
        )
        return params, Dims(1, h, w, c), Dims(enc.shape[0], spec.kh, spec.kw, c)

    def conv(
        self,
        x: np.ndarray,
        enc: EncodedWeights,
        bias: np.ndarray | None,
        multiplier: np.ndarray | int,
        shift: np.ndarray | int,
        spec: ConvSpec,
    ) -> np.ndarray:
        """conv2d of an int8 HWC input with weights in any format; returns int8 HWC."""
        x = np.ascontiguousarray(x, dtype=np.int8)
        out_c = enc.shape[0]
        params, in_dims, f_dims = self._conv_structs(x.shape, enc, spec)
        ho = _conv_out(x.shape[0], spec.pad[0], spec.pad[2], spec.kh, spec.stride[0])
        wo = _conv_out(x.shape[1], spec.pad[1], spec.pad[3], spec.kw, spec.stride[1])
        if spec.fused_maxpool:
            ho, wo = ho // 2, wo // 2
        out = np.zeros((max(ho, 1), max(wo, 1), out_c), dtype=np.int8)
        mult, sh = _i32(multiplier, out_c), _i32(shift, out_c)
        quant = QuantParams(
            mult.ctypes.data_as(C.POINTER(_I32)), sh.ctypes.data_as(C.POINTER(_I32))
        )
        b = None if bias is None else _i32(bias, out_c)
        scratch = np.zeros(max(self.conv_buffer_size(x.shape, enc, spec), 1), dtype=np.uint8)
        desc, _keep = self._descriptor(enc)
        kind = self._kind(enc)
        wargs: list[object] = [_ptr(desc) if isinstance(desc, np.ndarray) else C.byref(desc)]
        if kind != "dense":  # sparse conv: generator-side taps for this geometry
            from tinydeploy.codegen.convtaps import conv_taps

            band_w = x.shape[1] + spec.pad[1] + spec.pad[3]
            taps = conv_taps(enc, spec.kh, spec.kw, x.shape[2], band_w)
            _keep.append(taps)
            wargs.append(C.byref(ConvTaps(band_w, x.shape[2], taps.size, _ptr(taps))))
        self._call(f"td_conv_{kind}_s8", C.byref(params), C.byref(quant), C.byref(in_dims),
                   _ptr(x), C.byref(f_dims), *wargs, _ptr(b), C.byref(Dims(1, ho, wo, out_c)),
                   _ptr(out), _ptr(scratch))  # fmt: skip
        return out

    def fc_buffer_size(self, in_features: int, enc: EncodedWeights) -> int:
        """Bytes of scratch td_fc_<fmt>_s8 needs."""
        kind = self._kind(enc)
        fn = getattr(self.lib, f"td_fc_{kind}_s8_get_buffer_size")
        if kind == "dense":
            return int(fn(_I32(in_features), _I32(enc.shape[0])))
        desc, _keep = self._descriptor(enc)
        return int(fn(_I32(in_features), C.byref(desc)))

    def fc(
        self,
        x: np.ndarray,
        enc: EncodedWeights,
        bias: np.ndarray | None,
        multiplier: np.ndarray | int,
        shift: np.ndarray | int,
        input_offset: int = 0,
        output_offset: int = 0,
        act: tuple[int, int] = (-128, 127),
    ) -> np.ndarray:
        """Fully connected layer, weights [out][in] in any format."""
        x = np.ascontiguousarray(x, dtype=np.int8).reshape(-1)
        out_n = enc.shape[0]
        out = np.zeros(out_n, dtype=np.int8)
        mult, sh = _i32(multiplier, out_n), _i32(shift, out_n)
        quant = QuantParams(
            mult.ctypes.data_as(C.POINTER(_I32)), sh.ctypes.data_as(C.POINTER(_I32))
        )
        b = None if bias is None else _i32(bias, out_n)
        params = FcParams(input_offset, output_offset, Activation(*act))
        scratch = np.zeros(max(self.fc_buffer_size(x.size, enc), 1), dtype=np.uint8)
        desc, _keep = self._descriptor(enc)
        kind = self._kind(enc)
        wptr = _ptr(desc) if isinstance(desc, np.ndarray) else C.byref(desc)
        self._call(f"td_fc_{kind}_s8", C.byref(params), C.byref(quant), _I32(x.size), _ptr(x),
                   _I32(out_n), wptr, _ptr(b), _ptr(out), _ptr(scratch))  # fmt: skip
        return out

    def dwconv(
        self,
        x: np.ndarray,
        w: np.ndarray,
        bias: np.ndarray | None,
        multiplier: np.ndarray | int,
        shift: np.ndarray | int,
        stride: tuple[int, int],
        pad: tuple[int, int, int, int],
        depth_multiplier: int = 1,
        input_offset: int = 0,
        output_offset: int = 0,
        act: tuple[int, int] = (-128, 127),
    ) -> np.ndarray:
        """Depthwise conv; ``w`` is int8 [kh][kw][in_c * depth_multiplier]."""
        x = np.ascontiguousarray(x, dtype=np.int8)
        w = np.ascontiguousarray(w, dtype=np.int8)
        h, wd, c = x.shape
        kh, kw, out_c = w.shape
        ho = _conv_out(h, pad[0], pad[2], kh, stride[0])
        wo = _conv_out(wd, pad[1], pad[3], kw, stride[1])
        out = np.zeros((ho, wo, out_c), dtype=np.int8)
        mult, sh = _i32(multiplier, out_c), _i32(shift, out_c)
        quant = QuantParams(
            mult.ctypes.data_as(C.POINTER(_I32)), sh.ctypes.data_as(C.POINTER(_I32))
        )
        b = None if bias is None else _i32(bias, out_c)
        params = DwConvParams(stride[0], stride[1], *pad, depth_multiplier, input_offset,
                              output_offset, Activation(*act))  # fmt: skip
        in_dims, f_dims, o_dims = Dims(1, h, wd, c), Dims(1, kh, kw, out_c), Dims(1, ho, wo, out_c)
        self._call("td_dwconv_dense_s8", C.byref(params), C.byref(quant), C.byref(in_dims),
                   _ptr(x), C.byref(f_dims), _ptr(w), _ptr(b), C.byref(o_dims),
                   _ptr(out))  # fmt: skip
        return out

    def pool(
        self,
        kind: str,
        x: np.ndarray,
        filt: tuple[int, int],
        stride: tuple[int, int],
        pad: tuple[int, int],
        out_hw: tuple[int, int],
        act: tuple[int, int] = (-128, 127),
    ) -> np.ndarray:
        """``kind`` = "max" or "avg"; pad = (top, left); output size given by the caller."""
        x = np.ascontiguousarray(x, dtype=np.int8)
        h, w, c = x.shape
        out = np.zeros((*out_hw, c), dtype=np.int8)
        params = PoolParams(
            stride[0], stride[1], filt[0], filt[1], pad[0], pad[1], Activation(*act)
        )
        self._call(f"td_{kind}pool_s8", C.byref(params), C.byref(Dims(1, h, w, c)), _ptr(x),
                   C.byref(Dims(1, *out_hw, c)), _ptr(out))  # fmt: skip
        return out

    def add(self, x1: np.ndarray, x2: np.ndarray, params: AddParams) -> np.ndarray:
        """Elementwise int8 add of two same-shape tensors."""
        x1 = np.ascontiguousarray(x1, dtype=np.int8)
        x2 = np.ascontiguousarray(x2, dtype=np.int8)
        out = np.zeros_like(x1)
        self._call("td_add_s8", C.byref(params), _ptr(x1), _ptr(x2), _ptr(out), _I32(x1.size))
        return out


def load_hostlib(cache_dir: Path | str | None = None, sanitize: bool = False) -> TdnnHost:
    """Build (or reuse) the host library and wrap it."""
    return TdnnHost(build_hostlib(cache_dir, sanitize=sanitize))
