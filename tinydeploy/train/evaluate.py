"""Evaluation: top-1 / top-5 accuracy, per-class accuracy and the confusion matrix."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class EvalResult:
    top1: float  # percent
    top5: float  # percent
    loss: float
    num_samples: int
    per_class: list[float]  # percent, per true class
    confusion: list[list[int]]  # rows: true class, columns: predicted class

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def predict_logits(
    model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]]
) -> tuple[Tensor, Tensor]:
    model.eval()
    logits, labels = [], []
    for x, y in batches:
        logits.append(model(x))
        labels.append(y)
    return torch.cat(logits), torch.cat(labels)


def evaluate(
    model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], num_classes: int | None = None
) -> EvalResult:
    logits, labels = predict_logits(model, batches)
    return metrics_from_logits(logits, labels, num_classes)


def metrics_from_logits(
    logits: Tensor | np.ndarray, labels: Tensor | np.ndarray, num_classes: int | None = None
) -> EvalResult:
    """Metrics from raw scores (float logits or int8 outputs alike: only the ranking matters)."""
    logits_t = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    labels_t = torch.as_tensor(np.asarray(labels)).long()
    k = num_classes or logits_t.shape[1]
    loss = float(nn.functional.cross_entropy(logits_t, labels_t)) if len(labels_t) else 0.0
    pred = logits_t.argmax(1)
    topk = logits_t.topk(min(5, logits_t.shape[1]), dim=1).indices
    top5 = (topk == labels_t[:, None]).any(1).float().mean().item() * 100
    confusion = torch.zeros(k, k, dtype=torch.int64)
    confusion.index_put_((labels_t, pred), torch.ones_like(labels_t), accumulate=True)
    totals = confusion.sum(1).clamp(min=1)
    per_class = (confusion.diag().float() / totals * 100).tolist()
    n = len(labels_t)
    return EvalResult(
        top1=(pred == labels_t).float().mean().item() * 100 if n else 0.0,
        top5=top5 if n else 0.0,
        loss=loss,
        num_samples=n,
        per_class=per_class,
        confusion=confusion.tolist(),
    )


def accuracy(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]]) -> float:
    """Top-1 accuracy in percent (the cheap path used inside sweeps)."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in batches:
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    return 100.0 * correct / max(total, 1)
