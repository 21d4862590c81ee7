"""Models: TinyNet, LeNet-5, the MLPerf Tiny reference architectures (ResNet-8, DS-CNN,
MobileNetV1-0.25, the FC autoencoder) and user models loaded by import path."""

from tinydeploy.models.dscnn import DSCNN
from tinydeploy.models.fc_autoencoder import FCAutoencoder
from tinydeploy.models.mobilenet_v1 import MobileNetV1
from tinydeploy.models.registry import ModelSpec, build_model, count_parameters, resolve_factory
from tinydeploy.models.resnet8 import ResNet8
from tinydeploy.models.tinynet import TinyNet

__all__ = ["DSCNN", "FCAutoencoder", "MobileNetV1", "ModelSpec", "ResNet8", "TinyNet",
           "build_model", "count_parameters", "resolve_factory"]
