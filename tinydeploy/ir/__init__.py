"""Model IR: what the C generator and the numpy reference executor need from an int8 .tflite.

`ops` is the op table (one module per TFLite op: its dataclass, reader, shape check and
numpy reference), `graph` holds `Tensor` and `Graph` and re-exports the op dataclasses,
`tflite_reader.read_tflite` builds a graph from a flatbuffer (no TensorFlow import),
`prepare` is TFLite Micro's prepare-time arithmetic, `transforms.fold_transposes` removes
NHWC->NCHW transposes in front of fully connected layers, `transforms.fold_pads` merges a
PAD into the explicit padding of the convolution it feeds, and `reference.run` executes the
IR bit-exactly like TFLite Micro.
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
