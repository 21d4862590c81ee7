"""N:M sparsity along the input dimension of each output row.

Rows are laid out in the order the C kernels read them: for a Conv2d weight (O, I, KH, KW)
the row of output channel o is `weight.permute(0, 2, 3, 1).reshape(O, -1)` (OHWI: kh, kw,
then in_c fastest); for a Linear weight the row is its in-features. Each row is padded with
zeros to a multiple of M and cut into groups of M consecutive entries; in every group at most
N entries are kept (exactly N in every group that has at least N real, unpruned entries).
"""

from __future__ import annotations

import torch
from torch import Tensor


def to_rows(t: Tensor) -> Tensor:
    """Weight-shaped tensor -> (out, K) in kernel (OHWI) order."""
    if t.dim() == 4:
        return t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)
    return t.reshape(t.shape[0], -1)


def from_rows(rows: Tensor, shape: torch.Size | tuple[int, ...]) -> Tensor:
    """Inverse of `to_rows`."""
    if len(shape) == 4:
        o, i, kh, kw = shape
        return rows.reshape(o, kh, kw, i).permute(0, 3, 1, 2).contiguous()
    return rows.reshape(shape)


def padded_groups(rows: Tensor, m: int, fill: float = 0.0) -> Tensor:
    """(out, K) -> (out, ceil(K/M), M), padding each row with `fill`."""
    out, k = rows.shape
    pad = (-k) % m
    if pad:
        rows = torch.cat([rows, rows.new_full((out, pad), fill)], dim=1)
    return rows.reshape(out, -1, m)


def nm_mask(scores: Tensor, n: int, m: int, alive: Tensor | None = None) -> Tensor:
    """Keep the N highest-scoring entries of every group of M (already pruned entries, where
    `alive` is 0, and padding are never kept)."""
    if not 0 < n <= m:
        raise ValueError(f"N:M needs 0 < N <= M, got {n}:{m}")
    s = to_rows(scores.double())
    if alive is not None:
        s = s.masked_fill(to_rows(alive) == 0, float("-inf"))
    k = s.shape[1]
    groups = padded_groups(s, m, float("-inf"))
    top = groups.topk(n, dim=2).indices
    keep = torch.zeros_like(groups).scatter_(2, top, 1.0)
    keep = keep.masked_fill(groups == float("-inf"), 0.0)
    rows = keep.reshape(keep.shape[0], -1)[:, :k]
    return from_rows(rows, scores.shape).float()


def nm_group_counts(tensor: Tensor, m: int) -> Tensor:
    """Non-zeros per group of M, (out, groups), in kernel order with zero padding."""
    return padded_groups(to_rows((tensor != 0).float()), m).sum(dim=2)


def satisfies_nm(tensor: Tensor, n: int, m: int) -> bool:
    """True if every group of M holds at most N non-zeros."""
    return bool((nm_group_counts(tensor, m) <= n).all())
