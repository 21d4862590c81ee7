"""IR rewrites that keep the arithmetic bit-identical.

`fold_transposes`: onnx2tf puts TRANSPOSE (NHWC -> NCHW) before the flattening RESHAPE so
the flatten order matches PyTorch. Reordering the columns of the following FULLY_CONNECTED
weights instead removes the op and its buffer; the int32 sums are the same numbers in a
different order, so outputs stay bit-exact.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tinydeploy.ir.graph import FullyConnected, Graph, Transpose


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
