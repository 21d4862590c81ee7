"""TinyNet: the reference CNN of tinydeploy (52,138 parameters for 1x28x28 inputs, 10 classes)."""

from __future__ import annotations

from torch import Tensor, nn


class TinyNet(nn.Module):
    """Conv 1->8 3x3 pad 1, ReLU, MaxPool 2, Conv 8->16 3x3 pad 1, ReLU, MaxPool 2,
    Flatten 784, FC 784->64, ReLU, FC 64->10."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 width: int = 1) -> None:
        """`width` multiplies every layer's width (8w, 16w, 64w): width 2 (`tinynet_x2`,
        206,922 parameters) is a stronger distillation teacher for the 52K TinyNet."""
        super().__init__()
        if width < 1:
            raise ValueError(f"TinyNet width must be >= 1, got {width}")
        c1, c2, hidden = 8 * width, 16 * width, 64 * width
        self.conv1 = nn.Conv2d(in_channels, c1, kernel_size=3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        features = c2 * (image_size // 4) ** 2
        self.fc1 = nn.Linear(features, hidden)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc2(self.relu3(self.fc1(self.flatten(x))))
