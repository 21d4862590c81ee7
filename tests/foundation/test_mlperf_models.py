"""The four MLPerf Tiny reference architectures as built-in PyTorch models: shapes, parameter
counts equal to the Keras references', batch-norm folding, and the training entry points."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mlperf_models import SHAPES, keras_mlperf, seeded_model
from torch import nn

from tinydeploy.errors import ModelError
from tinydeploy.models.blocks import Conv2dSame, fold_batchnorm, tf_same_padding
from tinydeploy.models.registry import BUILTIN_MODELS, ModelSpec, build_model, count_parameters
from tinydeploy.train.run import train_model
from tinydeploy.train.trainer import TrainConfig

# trainable parameters (= Keras trainable weights); Keras count_params() adds the batch norms'
# moving mean and variance, which PyTorch keeps as buffers
PARAMS = {"resnet8": 78_186, "dscnn": 23_756, "mobilenet_v1_025": 216_322,
          "fc_autoencoder": 267_928}


def _bn_statistics(model: nn.Module) -> int:
    return sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean",
                                                                          "running_var")))


@pytest.mark.parametrize("name", list(SHAPES))
def test_forward_shape_and_parameters(name: str):
    shape, outputs = SHAPES[name]
    model = seeded_model(name)
    assert model(torch.zeros(2, *shape)).shape == (2, outputs)
    assert count_parameters(model) == PARAMS[name]


def test_parameter_counts_equal_the_keras_references():
    k = keras_mlperf()
    for name in SHAPES:
        keras_model = k.MODELS[name]()
        trainable = sum(int(np.prod(w.shape)) for w in keras_model.trainable_weights)
        model = BUILTIN_MODELS[name]()
        assert count_parameters(model) == trainable == PARAMS[name], name
        assert count_parameters(model) + _bn_statistics(model) == keras_model.count_params()


def test_tf_same_padding_matches_keras_output_sizes():
    assert tf_same_padding(32, 3, 2) == (0, 1)  # the odd pixel at the end, as TensorFlow
    assert tf_same_padding(49, 10, 2) == (4, 5) and tf_same_padding(10, 4, 2) == (1, 1)
    assert tf_same_padding(32, 3, 1) == (1, 1) and tf_same_padding(16, 1, 2) == (0, 0)
    conv = Conv2dSame(1, 4, (10, 4), 2)
    assert conv(torch.zeros(1, 1, 49, 10)).shape == (1, 4, 25, 5)


@pytest.mark.parametrize("name", list(SHAPES))
def test_batchnorm_folds_exactly(name: str):
    shape, _ = SHAPES[name]
    model = seeded_model(name)
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in folded.modules())
    assert any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    x = torch.randn(3, *shape)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-5)


def test_width_kwargs_and_dataset_shapes():
    assert count_parameters(BUILTIN_MODELS["dscnn"](filters=32)) < PARAMS["dscnn"]
    half = BUILTIN_MODELS["mobilenet_v1_025"](alpha=0.5)
    assert half.fc.in_features == 512
    assert BUILTIN_MODELS["resnet8"](width=0.5).fc.in_features == 32
    # built for a dataset: its channels and classes; any image size (global average pool)
    model = build_model(ModelSpec(name="resnet8", input_shape=(1, 28, 28), num_classes=7))
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 7)


def _npz(path, shape, classes, n=48):
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (n, *shape), dtype=np.uint8),
             y_train=rng.integers(0, classes, n), x_test=rng.integers(0, 256, (16, *shape),
                                                                       dtype=np.uint8),
             y_test=rng.integers(0, classes, 16))
    return f"npz:{path}"


def test_train_dscnn_on_a_user_dataset_of_mfcc_shape(tmp_path):
    dataset = _npz(tmp_path / "kws.npz", (1, 49, 10), 12)
    cfg = TrainConfig(epochs=1, batch_size=16, val_size=8)
    out = train_model(dataset_name=dataset, data_dir=None, cfg=cfg, out=tmp_path / "run",
                      model_name="dscnn", log=lambda _: None)
    assert out.meta["model"]["input_shape"] == [1, 49, 10]
    assert out.meta["parameters"] == PARAMS["dscnn"]


def test_training_the_autoencoder_is_refused_clearly(tmp_path):
    dataset = _npz(tmp_path / "frames.npz", (1, 1, 640), 2)
    with pytest.raises(ModelError, match="reconstruction model, not a classifier"):
        train_model(dataset_name=dataset, data_dir=None, cfg=TrainConfig(epochs=1),
                    out=tmp_path / "run", model_name="fc_autoencoder", log=lambda _: None)
