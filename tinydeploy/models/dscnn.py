"""DS-CNN, the MLPerf Tiny keyword-spotting reference (49x10x1 MFCCs -> 12 keywords).

23,756 trainable parameters for 1 input channel, 12 classes and 64 filters (Keras's
count_params() says 24,908: it also counts the 1,152 batch-norm moving means and variances,
which PyTorch keeps as buffers). 2.66M MACs at 49x10.
"""

from __future__ import annotations

from torch import Tensor, nn

from tinydeploy.models.blocks import ConvBN, DepthwiseConvBN, global_avg_pool


class DSCNN(nn.Module):
    """Conv `filters` (10,4) stride 2 'same' +BN+ReLU; `blocks` x [depthwise 3x3 +BN+ReLU,
    pointwise `filters` +BN+ReLU]; average pooling over the whole (25x5) map; FC num_classes
    (logits, no softmax). Input is (in_channels, 49, 10): MFCC frames x coefficients."""

    def __init__(self, in_channels: int = 1, num_classes: int = 12, filters: int = 64,
                 blocks: int = 4) -> None:
        super().__init__()
        self.stem = ConvBN(in_channels, filters, (10, 4), 2)
        layers: list[nn.Module] = []
        for _ in range(blocks):
            layers += [DepthwiseConvBN(filters), ConvBN(filters, filters, 1)]
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(filters, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(self.stem(x))
        return self.fc(self.flatten(global_avg_pool(x)))
