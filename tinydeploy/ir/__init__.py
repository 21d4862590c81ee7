"""Model IR: what the C generator and the numpy reference executor need from an int8 .tflite.

`graph` holds the dataclasses, `tflite_reader.read_tflite` builds them from a flatbuffer
(no TensorFlow import), `transforms.fold_transposes` removes NHWC->NCHW transposes in front
of fully connected layers, `reference.run` executes the IR bit-exactly like TFLite Micro.
"""

from tinydeploy.ir.graph import (
    Add,
    Conv2D,
    DepthwiseConv2D,
    FullyConnected,
    Graph,
    Op,
    Pool2D,
    Reshape,
    Softmax,
    Tensor,
    Transpose,
)
from tinydeploy.ir.tflite_reader import read_tflite

__all__ = [
    "Add", "Conv2D", "DepthwiseConv2D", "FullyConnected", "Graph", "Op", "Pool2D", "Reshape",
    "Softmax", "Tensor", "Transpose", "read_tflite",
]
