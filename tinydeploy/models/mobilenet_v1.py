"""MobileNetV1 (width 0.25), the MLPerf Tiny visual-wake-words reference (96x96x3 -> 2).

216,322 trainable parameters for 3 input channels, 2 classes and alpha 0.25 (Keras's
count_params() says 221,794: it also counts the 5,472 batch-norm moving means and
variances, which PyTorch keeps as buffers). 7.49M MACs at 96x96.
"""

from __future__ import annotations

from torch import Tensor, nn

from tinydeploy.models.blocks import ConvBN, DepthwiseConvBN, global_avg_pool

# (filters at width 1.0, stride of the depthwise conv) of the 13 depthwise-separable blocks
BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)


class MobileNetV1(nn.Module):
    """Conv 32*alpha 3x3 stride 2 +BN+ReLU; 13 x [depthwise 3x3 (stride 1 or 2) +BN+ReLU,
    pointwise +BN+ReLU] with filters 64..1024 * alpha (16, 32s2, 32, 64s2, 64, 128s2, 128 x5,
    256s2, 256 at 0.25); average pooling over the whole (3x3) map; FC num_classes (logits,
    no softmax)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 2, alpha: float = 0.25) -> None:
        super().__init__()

        def width(filters: int) -> int:
            return max(1, int(filters * alpha))

        channels = width(32)
        self.stem = ConvBN(in_channels, channels, 3, 2)
        layers: list[nn.Module] = []
        for filters, stride in BLOCKS:
            layers += [DepthwiseConvBN(channels, 3, stride), ConvBN(channels, width(filters), 1)]
            channels = width(filters)
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(self.stem(x))
        return self.fc(self.flatten(global_avg_pool(x)))
