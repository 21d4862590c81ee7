"""ctypes mirrors of the parameter structs in tdnn_types.h.

The weight descriptors (td_csr_weights, td_nm_weights, ...) are mirrored by their formats
(``tinydeploy.tdnn.formats``). tests/kernels/test_struct_layout.py compares every mirror's
size and field offsets with what the C compiler says, so a field added on one side only
fails a test instead of corrupting a kernel call.
"""

from __future__ import annotations

import ctypes as C

TD_OK, TD_ERR_ARG, TD_ERR_UNSUPPORTED = 0, -1, -2

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
        ("input1_table", C.c_void_p), ("input2_table", C.c_void_p), ("table_ties", _I32),
    ]  # fmt: skip


class SoftmaxParams(C.Structure):
    _fields_ = [("input_multiplier", _I32), ("input_left_shift", _I32), ("diff_min", _I32)]


class ConvTaps(C.Structure):
    _fields_ = [("band_w", _I32), ("in_c", _I32), ("entries", _I32), ("taps", C.c_void_p)]


# ---- PAD, MEAN ----

class PadParams(C.Structure):
    _fields_ = [
        ("pad_top", _I32), ("pad_bottom", _I32), ("pad_left", _I32), ("pad_right", _I32),
        ("pad_front", _I32), ("pad_back", _I32), ("pad_value", _I32),
    ]  # fmt: skip


class MeanParams(C.Structure):
    _fields_ = [
        ("input_offset", _I32), ("multiplier", _I32), ("shift", _I32), ("output_offset", _I32),
    ]  # fmt: skip
# ---- QUANTIZE / DEQUANTIZE (float32 model edges) ----
class QuantizeParams(C.Structure):
    _fields_ = [("scale", C.c_float), ("zero_point", _I32)]


class DequantizeParams(C.Structure):
    _fields_ = [("scale", C.c_float), ("zero_point", _I32)]
# ---- end of the QUANTIZE / DEQUANTIZE block ----


#: every mirrored struct by its C name (the layout test walks this)
PARAM_STRUCTS: dict[str, type[C.Structure]] = {
    "td_dims": Dims, "td_activation": Activation, "td_quant_params": QuantParams,
    "td_conv_params": ConvParams, "td_dwconv_params": DwConvParams,
    "td_fc_params": FcParams, "td_pool_params": PoolParams, "td_add_params": AddParams,
    "td_softmax_params": SoftmaxParams, "td_conv_taps": ConvTaps,
}
PARAM_STRUCTS.update({"td_pad_params": PadParams, "td_mean_params": MeanParams})
PARAM_STRUCTS.update({"td_quantize_params": QuantizeParams,
                      "td_dequantize_params": DequantizeParams})
