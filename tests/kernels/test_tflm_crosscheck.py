"""Cross-check of the numpy references (and tdnn) against real TFLite Micro on one small
int8 conv + fully connected model built with TensorFlow (TF and tflite-micro required)."""

from __future__ import annotations

import numpy as np
import pytest
from keras_int8 import full_int8_tflite
from tools_required import required_module

from tinydeploy.quant.fixedpoint import quantize_multiplier
from tinydeploy.tdnn.formats import get_format
from tinydeploy.tdnn.host import ConvSpec


@pytest.fixture(scope="module")
def tiny_model():
    tf = required_module("tensorflow")
    required_module("tflite_micro")
    litert = required_module("ai_edge_litert.interpreter")
    tf.random.set_seed(0)
    rng = np.random.default_rng(0)
    inp = tf.keras.Input((6, 5, 3), batch_size=1)
    init = tf.keras.initializers.RandomNormal(stddev=0.5, seed=1)
    conv = tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu", bias_initializer=init)(
        inp
    )
    out = tf.keras.layers.Dense(3, bias_initializer=init)(tf.keras.layers.Flatten()(conv))
    model = tf.keras.Model(inp, [conv, out])

    flat = full_int8_tflite(model, lambda: (
        rng.normal(size=(1, 6, 5, 3)).astype(np.float32) for _ in range(16)))
    interp = litert.Interpreter(model_content=flat)
    interp.allocate_tensors()
    return flat, interp


def _q(detail):
    qp = detail["quantization_parameters"]
    return np.asarray(qp["scales"], np.float64), np.asarray(qp["zero_points"], np.int64)


def test_conv_and_fc_match_tflite_micro(tiny_model, tdnn, ref):
    from tflite_micro.python.tflite_micro import runtime

    flat, interp = tiny_model
    details = interp.get_tensor_details()
    by_shape = {}
    for d in details:
        by_shape.setdefault(tuple(d["shape"]), []).append(d)
    w_conv = next(d for d in details if tuple(d["shape"]) == (4, 3, 3, 3))
    b_conv = next(d for d in details if tuple(d["shape"]) == (4,) and d["dtype"] == np.int32)
    w_fc = next(d for d in details if tuple(d["shape"]) == (3, 120))
    b_fc = next((d for d in details if tuple(d["shape"]) == (3,) and d["dtype"] == np.int32), None)
    x_d = interp.get_input_details()[0]
    outs = interp.get_output_details()
    conv_o = next(o for o in outs if len(o["shape"]) == 4)
    fc_o = next(o for o in outs if len(o["shape"]) == 2)
    s_in, z_in = _q(x_d)
    s_w, _ = _q(w_conv)
    s_c, z_c = _q(conv_o)
    s_fw, _ = _q(w_fc)
    s_f, z_f = _q(fc_o)

    micro = runtime.Interpreter.from_bytes(flat)
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, size=(1, 6, 5, 3)).astype(np.int8)
    micro.set_input(x, 0)
    micro.invoke()
    got = [micro.get_output(i) for i in range(len(outs))]
    tflm_conv = next(g for g in got if g.ndim == 4)[0]
    tflm_fc = next(g for g in got if g.ndim == 2)[0]

    assert np.unique(tflm_conv).size > 8 and np.unique(tflm_fc).size > 1  # not degenerate
    wc = interp.get_tensor(w_conv["index"])
    bc = interp.get_tensor(b_conv["index"])
    qc = [quantize_multiplier(float(s_in[0] * s) / float(s_c[0])) for s in s_w]
    mc = np.array([q[0] for q in qc], np.int32)
    shc = np.array([q[1] for q in qc], np.int32)
    act = (int(z_c[0]), 127)  # fused ReLU
    want = ref.conv(x[0], wc, bc, mc, shc, (1, 1), (1, 1, 1, 1), -int(z_in[0]), int(z_c[0]), act)
    ref.assert_same(want, tflm_conv)
    spec = ConvSpec(3, 3, (1, 1), (1, 1, 1, 1), -int(z_in[0]), int(z_c[0]), act)
    for fmt in ("dense", "csr"):
        enc = get_format(fmt).encode(wc.reshape(4, -1))
        ref.assert_same(tdnn.conv(x[0], enc, bc, mc, shc, spec), tflm_conv)

    wf = interp.get_tensor(w_fc["index"])
    bf = None if b_fc is None else interp.get_tensor(b_fc["index"])
    qf = [quantize_multiplier(float(s_c[0] * s) / float(s_f[0])) for s in np.broadcast_to(s_fw, 3)]
    mf = np.array([q[0] for q in qf], np.int32)
    shf = np.array([q[1] for q in qf], np.int32)
    fc_in = tflm_conv.reshape(-1)
    want_fc = ref.fc(fc_in, wf, bf, mf, shf, -int(z_c[0]), int(z_f[0]), (-128, 127))
    ref.assert_same(want_fc, tflm_fc)
    got_fc = tdnn.fc(fc_in, get_format("dense").encode(wf), bf, mf, shf, -int(z_c[0]), int(z_f[0]))
    ref.assert_same(got_fc, tflm_fc)
