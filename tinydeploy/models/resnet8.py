"""ResNet-8, the MLPerf Tiny image-classification reference (32x32x3 -> 10 classes).

78,186 trainable parameters for 3 input channels and 10 classes at width 1 (Keras's
count_params() says 78,666: it also counts the 480 batch-norm moving means and variances,
which PyTorch keeps as buffers). 12.50M MACs at 32x32.
"""

from __future__ import annotations

from torch import Tensor, nn

from tinydeploy.models.blocks import Conv2dSame, ConvBN, global_avg_pool


class ResidualStack(nn.Module):
    """conv3x3(stride) +BN+ReLU, conv3x3 +BN, plus the input (through a 1x1 conv of the same
    stride where the shape changes), then ReLU."""

    def __init__(self, in_channels: int, filters: int, stride: int) -> None:
        super().__init__()
        self.conv1 = ConvBN(in_channels, filters, 3, stride)
        self.conv2 = ConvBN(filters, filters, 3, 1, relu=False)
        # Keras applies the 1x1 shortcut only when the stride changes the shape
        self.shortcut = Conv2dSame(in_channels, filters, 1, stride) if stride != 1 else None
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv2(self.conv1(x))
        if self.shortcut is not None:
            x = self.shortcut(x)
        return self.relu(x + y)


class ResNet8(nn.Module):
    """Conv 16 3x3 +BN+ReLU; residual stacks 16 (stride 1), 32 (stride 2), 64 (stride 2);
    average pooling over the 8x8 map; flatten; FC num_classes (logits, no softmax).

    `width` scales every filter count (16/32/64 at 1.0). The first stack keeps 16 -> 16
    channels at stride 1, so it has no shortcut conv, exactly as the Keras reference."""

    is_chain = False  # residual adds: channel pruning refuses it (tinydeploy.prune.graph)

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: float = 1.0) -> None:
        super().__init__()
        f1, f2, f3 = (max(1, round(width * f)) for f in (16, 32, 64))
        self.stem = ConvBN(in_channels, f1, 3, 1)
        self.stack1 = ResidualStack(f1, f1, 1)
        self.stack2 = ResidualStack(f1, f2, 2)
        self.stack3 = ResidualStack(f2, f3, 2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(f3, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stack3(self.stack2(self.stack1(self.stem(x))))
        return self.fc(self.flatten(global_avg_pool(x)))
