"""LeNet-5 as in Caffe's MNIST example (431K parameters for 1x28x28 inputs, 10 classes): the
LeNet-class net of the pruning literature, and a second set of layer shapes (5x5 kernels,
20/50 channels, a wide 800->500 FC) for the latency cost tables."""

from __future__ import annotations

from torch import Tensor, nn


class LeNet5(nn.Module):
    """Conv 1->20 5x5, ReLU, MaxPool 2, Conv 20->50 5x5, ReLU, MaxPool 2, Flatten 800,
    FC 800->500, ReLU, FC 500->10."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 20, kernel_size=5)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(20, 50, kernel_size=5)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        side = ((image_size - 4) // 2 - 4) // 2
        self.fc1 = nn.Linear(50 * side * side, 500)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc2(self.relu3(self.fc1(self.flatten(x))))
