"""The tdnn kernel library called from Python: one method per kernel, numpy in and out.

``load_hostlib`` builds the library for this machine (``tinydeploy.tdnn.build``) and wraps
it; weights come as ``EncodedWeights`` of any format, whose descriptor the format itself
turns into the C struct. Kernel tests and the generator's scratch sizes go through here.
"""

from __future__ import annotations

import ctypes as C
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinydeploy.errors import FirmwareError
from tinydeploy.tdnn.build import build_hostlib
from tinydeploy.tdnn.formats import (
    EncodedWeights,
    WeightFormat,
    get_format,
    user_format_sources,
)
from tinydeploy.tdnn.structs import (
    TD_OK,
    Activation,
    AddParams,
    ConvParams,
    ConvTaps,
    DequantizeParams,
    Dims,
    DwConvParams,
    FcParams,
    MeanParams,
    PadParams,
    PoolParams,
    QuantizeParams,
    QuantParams,
    SoftmaxParams,
)
from tinydeploy.tdnn.taps import conv_taps

_I32 = C.c_int32


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


def _quant_and_bias(multiplier: np.ndarray | int, shift: np.ndarray | int,
                    bias: np.ndarray | None, n: int
                    ) -> tuple[QuantParams, np.ndarray | None, list[np.ndarray]]:
    """Per-channel requantisation and bias for n channels (scalars are broadcast), and the
    arrays the struct points into (keep them alive for the call)."""
    mult, sh = _i32(multiplier, n), _i32(shift, n)
    quant = QuantParams(mult.ctypes.data_as(C.POINTER(_I32)), sh.ctypes.data_as(C.POINTER(_I32)))
    b = None if bias is None else _i32(bias, n)
    return quant, b, [mult, sh]


def _conv_out(size: int, pa: int, pb: int, k: int, s: int) -> int:
    return (size + pa + pb - k) // s + 1


class TdnnHost:
    """ctypes wrapper of one build of the library; one method per kernel."""

    def __init__(self, lib_path: Path | str) -> None:
        self.path = Path(lib_path)
        self.lib = C.CDLL(str(self.path))
        self.lib.td_requantize.restype = _I32

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
    def _weights(enc: EncodedWeights) -> tuple[WeightFormat, object, list[np.ndarray]]:
        """(format, the kernel's weight argument, arrays to keep alive during the call)."""
        fmt = get_format(enc.format)
        arrays = {k: np.ascontiguousarray(v) for k, v in enc.arrays.items()}
        keep = list(arrays.values())
        if fmt.descriptor is None:
            return fmt, _ptr(arrays["values"]), keep
        desc = fmt.descriptor.ctypes_value(enc, arrays)
        keep.append(desc)
        return fmt, C.byref(desc), keep

    @staticmethod
    def _conv_stored(enc: EncodedWeights) -> EncodedWeights:
        """What a generated model stores for a conv of this format (slim sparse descriptors:
        the taps carry columns and values)."""
        return get_format(enc.format).for_conv(enc)

    def conv_buffer_size(
        self, x_shape: tuple[int, int, int], enc: EncodedWeights, spec: ConvSpec
    ) -> int:
        """Bytes of scratch td_conv_<kernel>_s8 needs (kernels with a descriptor size from
        it, dense ones from the shapes)."""
        params, in_dims, f_dims = self._conv_structs(x_shape, enc, spec)
        fmt, warg, _keep = self._weights(self._conv_stored(enc))
        args = [C.byref(params), C.byref(in_dims), C.byref(f_dims)]
        if fmt.descriptor is not None:
            args.append(warg)
        return self._size(f"td_conv_{fmt.kernel}_s8_get_buffer_size", *args)

    def _size(self, name: str, *args: object) -> int:
        fn = getattr(self.lib, name)
        fn.restype = _I32
        return int(fn(*args))

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
        quant, b, _qkeep = _quant_and_bias(multiplier, shift, bias, out_c)
        scratch = np.zeros(max(self.conv_buffer_size(x.shape, enc, spec), 1), dtype=np.uint8)
        fmt, warg, _keep = self._weights(self._conv_stored(enc))
        wargs: list[object] = [warg]
        if fmt.conv_taps:  # sparse conv: generator-side taps for this geometry
            band_w = x.shape[1] + spec.pad[1] + spec.pad[3]
            taps = conv_taps(enc, spec.kh, spec.kw, x.shape[2], band_w)
            _keep.append(taps)
            wargs.append(C.byref(ConvTaps(band_w, x.shape[2], taps.size, _ptr(taps))))
        self._call(f"td_conv_{fmt.kernel}_s8", C.byref(params), C.byref(quant), C.byref(in_dims),
                   _ptr(x), C.byref(f_dims), *wargs, _ptr(b), C.byref(Dims(1, ho, wo, out_c)),
                   _ptr(out), _ptr(scratch))  # fmt: skip
        return out

    def fc_buffer_size(self, in_features: int, enc: EncodedWeights) -> int:
        """Bytes of scratch td_fc_<kernel>_s8 needs."""
        fmt, warg, _keep = self._weights(enc)
        arg = _I32(enc.shape[0]) if fmt.descriptor is None else warg
        return self._size(f"td_fc_{fmt.kernel}_s8_get_buffer_size", _I32(in_features), arg)

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
        quant, b, _qkeep = _quant_and_bias(multiplier, shift, bias, out_n)
        params = FcParams(input_offset, output_offset, Activation(*act))
        scratch = np.zeros(max(self.fc_buffer_size(x.size, enc), 1), dtype=np.uint8)
        fmt, warg, _keep = self._weights(enc)
        self._call(f"td_fc_{fmt.kernel}_s8", C.byref(params), C.byref(quant), _I32(x.size),
                   _ptr(x), _I32(out_n), warg, _ptr(b), _ptr(out), _ptr(scratch))  # fmt: skip
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
        quant, b, _qkeep = _quant_and_bias(multiplier, shift, bias, out_c)
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

    def add_tables(self, params: AddParams) -> tuple[np.ndarray, np.ndarray]:
        """The two input tables td_add_s8_fill_tables computes for ``params``."""
        t1, t2 = np.zeros(256, dtype=np.int32), np.zeros(256, dtype=np.int32)
        self._call("td_add_s8_fill_tables", C.byref(params), _ptr(t1), _ptr(t2))
        return t1, t2

    def softmax(self, x: np.ndarray, input_multiplier: int, input_left_shift: int,
                diff_min: int) -> np.ndarray:
        """td_softmax_s8 over the last axis of an int8 array of any shape (rows = the
        product of the other dims); TFLM's prepared parameters (`quant.softmax_params`)."""
        x = np.ascontiguousarray(x, dtype=np.int8)
        out = np.zeros_like(x)
        depth = x.shape[-1] if x.ndim else 1
        params = SoftmaxParams(input_multiplier, input_left_shift, diff_min)
        self._call("td_softmax_s8", C.byref(params), _ptr(x), _ptr(out),
                   _I32(x.size // max(depth, 1)), _I32(depth))  # fmt: skip
        return out

    # ---- PAD, MEAN, CONCATENATION ----

    def pad(self, x: np.ndarray, paddings: tuple[tuple[int, int], ...], value: int
            ) -> np.ndarray:
        """td_pad_s8 of an int8 (H, W, C) array; paddings = ((top, bottom), (left, right),
        (front, back))."""
        x = np.ascontiguousarray(x, dtype=np.int8)
        h, w, c = x.shape
        (top, bottom), (left, right), (front, back) = paddings
        out = np.zeros((h + top + bottom, w + left + right, c + front + back), dtype=np.int8)
        params = PadParams(top, bottom, left, right, front, back, value)
        self._call("td_pad_s8", C.byref(params), C.byref(Dims(1, h, w, c)), _ptr(x),
                   _ptr(out))  # fmt: skip
        return out

    def mean(self, x: np.ndarray, params: MeanParams) -> np.ndarray:
        """td_mean_s8 over H and W of an int8 (H, W, C) array: C values."""
        x = np.ascontiguousarray(x, dtype=np.int8)
        h, w, c = x.shape
        out = np.zeros(c, dtype=np.int8)
        self._call("td_mean_s8", C.byref(params), C.byref(Dims(1, h, w, c)), _ptr(x),
                   _ptr(out))  # fmt: skip
        return out

    def concat(self, xs: list[np.ndarray], axis: int) -> np.ndarray:
        """td_concat_s8 of int8 arrays along `axis` (the other dims equal)."""
        xs = [np.ascontiguousarray(x, dtype=np.int8) for x in xs]
        shape = list(xs[0].shape)
        shape[axis] = sum(x.shape[axis] for x in xs)
        out = np.zeros(shape, dtype=np.int8)
        outer = int(np.prod(shape[:axis], dtype=np.int64))
        blocks = np.array([int(np.prod(x.shape[axis:], dtype=np.int64)) for x in xs], np.int32)
        ptrs = (C.c_void_p * len(xs))(*(x.ctypes.data for x in xs))
        self._call("td_concat_s8", ptrs, _ptr(blocks), _I32(len(xs)), _I32(outer), _ptr(out))
        return out

    # ---- table lookup, QUANTIZE / DEQUANTIZE ----
    def lut(self, table: np.ndarray, x: np.ndarray) -> np.ndarray:
        """td_lut_s8: out[i] = table[byte i of x] for an int8 or uint8 array (result as the
        table's 256 int8 entries, viewed in x's dtype)."""
        table = np.ascontiguousarray(table, dtype=np.int8)
        if table.size != 256:
            raise ValueError(f"td_lut_s8 needs a 256-entry table, got {table.size}")
        x = np.ascontiguousarray(x)
        if x.dtype not in (np.int8, np.uint8):
            raise ValueError(f"td_lut_s8 takes int8 or uint8 data, got {x.dtype}")
        out = np.zeros_like(x)
        self._call("td_lut_s8", _ptr(table), _ptr(x), _ptr(out), _I32(x.size))
        return out

    def quantize_f32(self, x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
        """td_quantize_f32_s8 of a float32 array."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = np.zeros(x.shape, dtype=np.int8)
        params = QuantizeParams(float(scale), int(zero_point))
        self._call("td_quantize_f32_s8", C.byref(params), _ptr(x), _ptr(out), _I32(x.size))
        return out

    def dequantize(self, x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
        """td_dequantize_s8_f32 of an int8 array."""
        x = np.ascontiguousarray(x, dtype=np.int8)
        out = np.zeros(x.shape, dtype=np.float32)
        params = DequantizeParams(float(scale), int(zero_point))
        self._call("td_dequantize_s8_f32", C.byref(params), _ptr(x), _ptr(out), _I32(x.size))
        return out
    # ---- end of the table lookup / QUANTIZE / DEQUANTIZE block ----


def load_hostlib(cache_dir: Path | str | None = None, sanitize: bool = False) -> TdnnHost:
    """Build (or reuse) the host library, with the kernels of the user's weight formats,
    and wrap it."""
    return TdnnHost(build_hostlib(cache_dir, sanitize=sanitize,
                                  extra_sources=user_format_sources()))
