"""Layers shared by the MLPerf Tiny reference models: Keras-style 'same' convolutions and
conv/dense + batch-norm blocks that fold their batch norm away for export.

Batch norms use Keras's defaults (epsilon 1e-3, moving average 0.99) so a model trained here
matches the reference training scripts. `fold_batchnorm` returns a copy in which every
`FoldableBN` block has its batch norm multiplied into the conv/dense weights and bias: the
exported ONNX graph then has no BatchNormalization node (the TorchScript exporter fuses
Conv + BN itself, but not Gemm + BN).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BN_EPS = 1e-3  # Keras BatchNormalization default
BN_MOMENTUM = 0.01  # PyTorch's convention for Keras's momentum 0.99


def tf_same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) zero padding of TensorFlow 'SAME': ceil(size / stride) outputs, the odd
    pixel padded at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding for any input size and stride.

    Symmetric cases (every stride-1 conv) use the convolution's own padding, i.e. one plain
    ONNX Conv; asymmetric ones (stride 2 on an even size) pad explicitly in front."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding=0,
                         groups=groups, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        top, bottom = tf_same_padding(int(x.shape[-2]), kh, sh, dh)
        left, right = tf_same_padding(int(x.shape[-1]), kw, sw, dw)
        if top == bottom and left == right:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation,
                            self.groups)
        x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def global_avg_pool(x: Tensor) -> Tensor:
    """Average pooling over the whole feature map with a fixed window (Keras
    AveragePooling2D(pool_size=H x W)): an ONNX AveragePool, not a GlobalAveragePool/MEAN."""
    return F.avg_pool2d(x, (int(x.shape[-2]), int(x.shape[-1])))


class FoldableBN(nn.Module):
    """A conv or dense layer followed by batch norm and an optional ReLU."""

    layer: nn.Conv2d | nn.Linear
    bn: nn.Module

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.layer(x)))

    @torch.no_grad()
    def fold(self) -> None:
        """Multiply the (eval-mode) batch norm into the layer; the batch norm becomes Identity."""
        bn = self.bn
        if not isinstance(bn, nn.BatchNorm1d | nn.BatchNorm2d):
            return
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        layer = self.layer
        shape = (-1,) + (1,) * (layer.weight.dim() - 1)
        bias = layer.bias if layer.bias is not None else torch.zeros_like(bn.running_mean)
        layer.weight.mul_(scale.reshape(shape))
        new_bias = (bias - bn.running_mean) * scale + bn.bias
        if layer.bias is None:
            layer.bias = nn.Parameter(new_bias)
        else:
            layer.bias.copy_(new_bias)
        self.bn = nn.Identity()


class ConvBN(FoldableBN):
    """Conv2dSame (with bias, as Keras) -> BatchNorm2d -> ReLU (optional)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, groups: int = 1, relu: bool = True) -> None:
        super().__init__()
        self.layer = Conv2dSame(in_channels, out_channels, kernel_size, stride, groups)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU() if relu else nn.Identity()


class DepthwiseConvBN(ConvBN):
    """Depthwise 3x3 (one filter per channel, depth multiplier 1) -> BN -> ReLU."""

    def __init__(self, channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(channels, channels, kernel_size, stride, groups=channels)


class LinearBN(FoldableBN):
    """Linear -> BatchNorm1d -> ReLU."""

    def __init__(self, in_features: int, out_features: int, relu: bool = True) -> None:
        super().__init__()
        self.layer = nn.Linear(in_features, out_features)
        self.bn = nn.BatchNorm1d(out_features, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU() if relu else nn.Identity()


def has_foldable_bn(model: nn.Module) -> bool:
    return any(isinstance(m, FoldableBN) and not isinstance(m.bn, nn.Identity)
               for m in model.modules())


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy with every FoldableBN block's batch norm folded in (the input model
    is left untouched); a model without such blocks is returned as is."""
    if not has_foldable_bn(model):
        return model
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if isinstance(module, FoldableBN):
            module.fold()
    return folded
