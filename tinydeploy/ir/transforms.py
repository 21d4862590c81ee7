"""IR rewrites that keep the arithmetic bit-identical.

`fold_transposes`: onnx2tf puts TRANSPOSE (NHWC -> NCHW) before the flattening RESHAPE so
the flatten order matches PyTorch. Reordering the columns of the following FULLY_CONNECTED
weights instead removes the op and its buffer; the int32 sums are the same numbers in a
different order, so outputs stay bit-exact.

`fold_pads`: a PAD (the TFLite converter's ZeroPadding2D) whose only consumer is a
CONV_2D or DEPTHWISE_CONV_2D becomes part of the convolution's explicit padding. The conv
kernels read padded cells as the input zero point (x + input_offset = 0), which is what a
PAD filled with that zero point stores, so the sums are the same numbers. Measured on the
test block (tests/mobilenet_block.py, two folded PADs): the padded copies leave the arena
(peak RAM 6,976 -> 4,960 B); instructions per inference 164,138 -> 159,050 on M55, but
581,200 -> 586,800 on M4, whose conv kernels handle borders slower than a PAD copies them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tinydeploy.ir.graph import FullyConnected, Graph, Transpose
from tinydeploy.ir.ops.pad import Pad


@dataclass(frozen=True)
class FoldCandidate:
    transpose: Transpose
    fc: FullyConnected
    column_order: np.ndarray  # new column k takes old column column_order[k]

    def permuted_weights(self) -> np.ndarray:
        return np.ascontiguousarray(self.fc.weights[:, self.column_order])


def fold_candidates(graph: Graph) -> list[FoldCandidate]:
    """Transposes whose only consumer chain is (RESHAPE*) -> FULLY_CONNECTED."""
    found = []
    for op in graph.ops:
        if op.kind != "TRANSPOSE" or op.perm[0] != 0 or op.output == graph.output:
            continue
        tensor, fc = op.output, None
        while True:
            users = graph.consumers(tensor)
            if len(users) != 1 or tensor == graph.output:
                break
            user = users[0]
            if user.kind == "RESHAPE":
                tensor = user.output
                continue
            if user.kind == "FULLY_CONNECTED":
                fc = user
            break
        if fc is None:
            continue
        in_shape = graph.tensors[op.input].shape
        # Element j of the transposed (then flattened) tensor comes from input element src[j].
        src = np.arange(int(np.prod(in_shape[1:]))).reshape(in_shape[1:])
        src = src.transpose([p - 1 for p in op.perm[1:]]).reshape(-1)
        # FC column j reads transposed element j = input element src[j]; in input order the
        # weight of input element i is the weight of column inverse[i].
        inverse = np.empty_like(src)
        inverse[src] = np.arange(src.size)
        found.append(FoldCandidate(op, fc, inverse))
    return found


def fold_transposes(graph: Graph,
                    keep: Callable[[FoldCandidate], bool] | None = None) -> Graph:
    """A copy of `graph` with foldable transposes removed (unless `keep(candidate)` is true)."""
    graph = copy.deepcopy(graph)
    for cand in fold_candidates(graph):
        if keep is not None and keep(cand):
            continue
        t = cand.transpose
        cand.fc.weights = cand.permuted_weights()
        # Consumers of the transpose output read the transpose input instead; the RESHAPE
        # chain then flattens NHWC data, which is what the permuted weights expect.
        for op in graph.ops:
            if op.input == t.output:
                op.input = t.input
        graph.ops.remove(t)
        graph.tensors.pop(t.output, None)
    return graph


def foldable_pad(graph: Graph, op) -> bool:
    """A zero-point PAD of H and W only, feeding exactly one convolution (and not the graph
    output), which that convolution's explicit padding can absorb."""
    if op.kind not in ("PAD", "PADV2") or op.output == graph.output:
        return False
    users = graph.consumers(op.output)
    if len(users) != 1 or users[0].kind not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return False
    conv = users[0]
    return (op.paddings[0] == (0, 0) and op.paddings[3] == (0, 0)
            and op.value == conv.input_zero_point
            and graph.tensors[op.input].zero_point == conv.input_zero_point)


def fold_pads(graph: Graph) -> Graph:
    """A copy of `graph` with every foldable PAD merged into the convolution it feeds."""
    graph = copy.deepcopy(graph)
    for pad in [op for op in graph.ops if foldable_pad(graph, op)]:
        assert isinstance(pad, Pad)
        (conv,) = graph.consumers(pad.output)
        (top, bottom), (left, right) = pad.paddings[1], pad.paddings[2]
        t, lft, b, r = conv.padding
        conv.padding = (t + top, lft + left, b + bottom, r + right)
        conv.input = pad.input
        graph.ops.remove(pad)
        graph.tensors.pop(pad.output, None)
    return graph
