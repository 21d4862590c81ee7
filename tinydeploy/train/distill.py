"""Knowledge distillation (Hinton et al. 2015) as a training objective.

loss = (1 - weight) * CE(student, labels) + weight * T^2 * KL(p_teacher^T || p_student^T),
p^T = softmax(logits / T). The T^2 factor keeps the soft term's gradient on the scale of the
hard one as T changes. The teacher sees the same (augmented) batch as the student, in eval
mode and without gradients; it is typically the dense model the student was pruned from.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tinydeploy.errors import TinydeployError


class Distillation:
    """`objective` for `tinydeploy.train.trainer.train`."""

    def __init__(self, teacher: nn.Module, *, temperature: float = 4.0, weight: float = 0.9,
                 label_smoothing: float = 0.0) -> None:
        if temperature <= 0:
            raise TinydeployError(f"distillation temperature must be > 0, got {temperature}")
        if not 0.0 <= weight <= 1.0:
            raise TinydeployError(f"distillation weight must be in [0, 1], got {weight}")
        self.teacher = teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.temperature = temperature
        self.weight = weight
        self.label_smoothing = label_smoothing

    def __call__(self, images: Tensor, logits: Tensor, labels: Tensor) -> Tensor:
        with torch.no_grad():
            target = self.teacher(images)
        return distillation_loss(logits, target, labels, temperature=self.temperature,
                                 weight=self.weight, label_smoothing=self.label_smoothing)


def distillation_loss(logits: Tensor, teacher_logits: Tensor, labels: Tensor, *,
                      temperature: float, weight: float, label_smoothing: float = 0.0) -> Tensor:
    t = temperature
    hard = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    soft = F.kl_div(F.log_softmax(logits / t, dim=1), F.log_softmax(teacher_logits / t, dim=1),
                    reduction="batchmean", log_target=True) * (t * t)
    return (1.0 - weight) * hard + weight * soft
