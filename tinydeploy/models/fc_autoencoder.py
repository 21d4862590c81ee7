"""The MLPerf Tiny anomaly-detection reference: a fully connected autoencoder (640 -> 640,
5 frames x 128 log-mel bins flattened).

267,928 trainable parameters at the defaults (Keras's count_params() says 269,992: it also
counts the 2,064 batch-norm moving means and variances, which PyTorch keeps as buffers).
264K MACs. It reconstructs its input: it is not a classifier, so `tinydeploy train` (a
classification loop) refuses it; train it in your own loop and export it from Python.
"""

from __future__ import annotations

import itertools

from torch import Tensor, nn

from tinydeploy.models.blocks import LinearBN


class FCAutoencoder(nn.Module):
    """Dense `hidden` +BN+ReLU x4, `bottleneck` +BN+ReLU, dense `hidden` +BN+ReLU x4,
    dense `in_features` (linear). Any input shape flattens to `in_features` values."""

    task = "reconstruction"  # not classification: see tinydeploy.train.run

    def __init__(self, in_features: int = 640, hidden: int = 128, bottleneck: int = 8) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        widths = [in_features, hidden, hidden, hidden, hidden, bottleneck,
                  hidden, hidden, hidden, hidden]
        self.encoder_decoder = nn.Sequential(
            *(LinearBN(a, b) for a, b in itertools.pairwise(widths)))
        self.output = nn.Linear(hidden, in_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.encoder_decoder(self.flatten(x)))
