"""FGSM / PGD on the trained MNIST checkpoint (200 test images: robustness numbers are final
numbers, nothing is selected from them)."""

from __future__ import annotations

import pytest

from tinydeploy.analysis.context import accuracy
from tinydeploy.analysis.robustness import robust_accuracy
from tinydeploy.errors import TinydeployError


@pytest.fixture(scope="module")
def small(ctx):
    return ctx.model, ctx.test.x[:200], ctx.test.y[:200]


def test_fgsm_eps0_is_clean_accuracy(ctx, small):
    model, x, y = small
    clean = 100.0 * float((model(x).argmax(1) == y).float().mean())
    assert robust_accuracy(model, x, y, "fgsm", 0.0) == pytest.approx(clean)
    assert robust_accuracy(model, x, y, "pgd", 0.0) == pytest.approx(clean)
    assert accuracy(model, ctx.val) >= 95
    assert accuracy(model, ctx.test) >= 95


def test_accuracy_decreases_with_eps(small):
    model, x, y = small
    fgsm = [robust_accuracy(model, x, y, "fgsm", e) for e in (0.0, 0.1, 0.3)]
    assert fgsm[0] >= fgsm[1] >= fgsm[2]
    assert fgsm[2] < fgsm[0] - 20
    pgd = robust_accuracy(model, x, y, "pgd", 0.1, steps=5)
    assert pgd <= fgsm[1] + 1.0  # the iterated attack is at least about as strong


def test_unknown_attack(small):
    model, x, y = small
    with pytest.raises(TinydeployError, match="choose one of"):
        robust_accuracy(model, x, y, "cw", 0.1)
