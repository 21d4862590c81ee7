"""Fine-tuning recipes: distillation, LR rewinding, AGP updates, QAT, SR-STE."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from prune_helpers import tiny_batch, tiny_net
from torch import nn

from tinydeploy.errors import TinydeployError
from tinydeploy.prune.engine import PruneConfig, prune_model
from tinydeploy.prune.masks import get_mask, get_masks, prunable_layers, weight_param
from tinydeploy.prune.nm import satisfies_nm
from tinydeploy.prune.recipes import RECIPES, Recipe, get_recipe
from tinydeploy.prune.schedules import PruneData, Schedule, finetune_config, run_schedule
from tinydeploy.prune.srste import LearnedNM, ramped_n, srste_train
from tinydeploy.train import qat
from tinydeploy.train.distill import Distillation, distillation_loss
from tinydeploy.train.loaders import ArrayLoader
from tinydeploy.train.trainer import TrainConfig, lr_curve, train

SHAPE = (1, 8, 8)


def _data(n: int = 64) -> PruneData:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 255, (n, 1, 8, 8), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 10, (n,), generator=gen)
    val = ArrayLoader(images[:32], labels[:32], 32, shuffle=False)
    return PruneData(ArrayLoader(images, labels, 16, shuffle=True), val, tiny_batch(), SHAPE)


# ---- recipes ----

def test_recipe_overrides_rename_and_validate():
    rec = get_recipe("recommended")
    assert rec.with_overrides(epochs=None, distill=rec.distill) is rec
    custom = rec.with_overrides(epochs=5, qat_epochs=0)
    assert custom.epochs == 5 and custom.qat_epochs == 0
    assert custom.name == "recommended+epochs,qat_epochs"
    with pytest.raises(TinydeployError, match="unknown recipe"):
        get_recipe("fastest")
    with pytest.raises(TinydeployError, match="LR schedule"):
        Recipe(lr_schedule="warmup")
    with pytest.raises(TinydeployError, match="epochs must be >= 0"):
        Recipe(epochs=-1)
    with pytest.raises(TinydeployError, match="schedule"):
        Recipe(schedule="weekly")
    assert Recipe.from_dict(RECIPES["course"].to_dict()) == RECIPES["course"]


def test_augment_none_fine_tunes_on_plain_images():
    from tinydeploy.prune.run import recipe_train_config

    base = TrainConfig(shift=2, rotate=10.0, scale=0.1, hflip=True, erase=0.2,
                       label_smoothing=0.1)
    for lr_schedule in ("cosine", "rewind"):
        rec = Recipe(lr_schedule=lr_schedule)
        kept = recipe_train_config(rec, base)
        assert (kept.shift, kept.rotate, kept.scale, kept.hflip, kept.erase) == (
            2, 10.0, 0.1, True, 0.2)
        plain = recipe_train_config(rec.with_overrides(augment="none"), base)
        assert (plain.shift, plain.rotate, plain.scale, plain.hflip, plain.erase) == (
            0, 0.0, 0.0, False, 0.0)
        assert plain.label_smoothing == 0.1 and plain.epochs == kept.epochs  # only augmentation
    with pytest.raises(TinydeployError, match="fine-tune augmentation"):
        Recipe(augment="mixup")


def test_course_recipe_is_the_report_protocol():
    course = RECIPES["course"]
    assert (course.schedule, course.epochs, course.lr, course.lr_schedule) == (
        "oneshot", 10, 1e-4, "constant")
    assert not course.distill and course.qat_epochs == 0


# ---- distillation ----

def test_distillation_loss_matches_the_formula_by_hand():
    student = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    teacher = torch.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, -2.0]])
    labels = torch.tensor([0, 1])
    t, w = 3.0, 0.7

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    s, tt = student.numpy().astype(np.float64), teacher.numpy().astype(np.float64)
    ce = -np.mean(np.log(softmax(s)[np.arange(2), labels.numpy()]))
    p, q = softmax(tt / t), softmax(s / t)
    kl = np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1))
    expected = (1 - w) * ce + w * t * t * kl
    got = distillation_loss(student, teacher, labels, temperature=t, weight=w)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    # weight 0 is plain cross-entropy; a student equal to its teacher has no soft loss
    assert float(distillation_loss(student, teacher, labels, temperature=t, weight=0.0)) == \
        pytest.approx(ce, rel=1e-5)
    assert float(distillation_loss(teacher, teacher, labels, temperature=t, weight=1.0)) == \
        pytest.approx(0.0, abs=1e-6)


def test_distillation_pulls_the_student_towards_the_teacher():
    torch.manual_seed(0)
    teacher, student = tiny_net(seed=1), tiny_net(seed=2)
    data = _data()
    x = data.train_loader.images.float() / 255

    def gap() -> float:
        with torch.no_grad():
            return float((student(x).softmax(1) - teacher(x).softmax(1)).abs().mean())

    before = gap()
    cfg = TrainConfig(epochs=5, optimizer="adam", lr=3e-3, schedule="constant", val_size=0)
    train(student, data.train_loader, None, cfg,
          objective=Distillation(teacher, temperature=2.0, weight=1.0))
    assert gap() < 0.5 * before
    with pytest.raises(TinydeployError, match="temperature"):
        Distillation(teacher, temperature=0.0)


# ---- LR rewinding ----

def test_rewinding_follows_the_tail_of_the_training_schedule(monkeypatch):
    full = lr_curve("onecycle", 3e-3, 10 * 4)
    data = _data()  # 4 steps per epoch
    used = []
    step = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        used.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    cfg = TrainConfig(epochs=3, lr=3e-3, schedule="onecycle", schedule_epochs=10, val_size=0)
    train(tiny_net(), data.train_loader, None, cfg)
    assert used == pytest.approx(full[-12:])
    assert used[-1] < 1e-6 < used[0]


# ---- gradual (AGP) ----

def test_gradual_takes_k_cubic_updates_and_selects_at_the_final_mask():
    net = tiny_net()
    data = _data()
    ft = finetune_config(epochs=5, val_size=0, patience=0)
    out = run_schedule(net, PruneConfig(method="magnitude", sparsity=0.8),
                       Schedule.parse("gradual:4"), data, ft)
    info = out.rounds[0]
    assert info["mask_updates"] == 4
    assert info["achieved_sparsity"] == pytest.approx(0.8, abs=1e-3)
    # 20 steps, pruning over the first 14: the mask is final from epoch 4 on
    assert info["best_epoch"] >= 4
    assert str(Schedule.parse("gradual:4")) == "gradual:4" and str(Schedule("gradual")) == \
        "gradual"


def test_weight_average_keeps_the_moving_average_from_the_selection_epoch():
    net = tiny_net()
    data = _data()
    prune_model(net, PruneConfig(method="magnitude", sparsity=0.7), data.score_batch,
                input_shape=SHAPE)
    original = prunable_layers(net)["fc1"].parametrizations.weight.original
    after_step: list[torch.Tensor] = []  # fc1's weights after every optimizer step
    cfg = replace(finetune_config(epochs=3, val_size=0, patience=0, weight_average=0.6,
                                  select_from_epoch=2), restore_best=False)
    train(net, data.train_loader, None, cfg,
          step_callback=lambda m: after_step.append(original.detach().clone()))
    steps = len(data.train_loader)
    # the average starts at the end of epoch 2 (the first selectable one) and follows
    # every step of epoch 3: ema = 0.6 ema + 0.4 w
    ema = after_step[2 * steps - 1]
    for w in after_step[2 * steps:]:
        ema = 0.6 * ema + 0.4 * w
    assert torch.allclose(original.detach(), ema, atol=1e-6)
    assert not torch.equal(original.detach(), after_step[-1])  # not the last step's weights
    mask = get_mask(prunable_layers(net)["fc1"])
    assert torch.equal(original.detach()[mask == 0], torch.zeros(int((mask == 0).sum())))
    with pytest.raises(TinydeployError, match="weight-average"):
        Recipe(weight_average=1.0)


# ---- QAT ----

def test_fake_quant_weight_is_the_converters_per_channel_grid():
    w = torch.tensor([[0.5, -0.25, 0.0, 0.1], [2.0, 1.0, -0.013, 0.0]])
    out = qat.FakeQuantWeight()(w)
    for row_in, row_out in zip(w, out, strict=True):
        scale = float(row_in.abs().max()) / 127
        expected = np.clip(np.round(row_in.numpy() / scale), -127, 127) * scale
        assert row_out.numpy() == pytest.approx(expected, abs=1e-7)
    assert out[0, 2] == 0 and out[1, 3] == 0


def test_activation_points_are_the_int8_tensors_of_tinynet():
    net = tiny_net()
    names = [n for n, m in net.named_modules() if isinstance(m, nn.ReLU)]
    points = qat.activation_points(net, torch.rand(2, *SHAPE))
    # conv1, conv2 and fc1 are fused with their ReLU; the logits are quantized on their own
    assert points == [*names, "fc2"]


def test_qat_phase_keeps_masks_and_bakes_weights_onto_the_grid():
    from tinydeploy.prune.engine import prune_model
    from tinydeploy.prune.schedules import qat_phase

    net = tiny_net()
    prune_model(net, PruneConfig(sparsity=0.7), tiny_batch())
    masks = get_masks(net)
    data = _data()
    info = qat_phase(net, data, TrainConfig(val_size=0), epochs=2, lr=1e-3)
    assert info["epochs"] == 2 and info["mask_checks"] == 8
    for name, layer in prunable_layers(net).items():
        assert torch.equal(get_mask(layer), masks[name])  # only the mask is left on the layer
        assert len(layer.parametrizations.weight) == 1
        w = layer.weight.detach()
        assert torch.equal(w == 0, (masks[name] == 0) | (weight_param(layer) == 0))
        rows = w.reshape(w.shape[0], -1)
        scale = rows.abs().amax(1, keepdim=True) / 127
        q = rows / scale.clamp_min(1e-12)
        assert torch.allclose(q, q.round(), atol=1e-3)  # already on the int8 grid
    assert not any(m._forward_hooks for m in net.modules())  # no fake-quant hook left


# ---- SR-STE ----

def test_sparse_refined_gradient_is_ste_plus_decay_on_pruned_weights():
    w = torch.tensor([[0.9, -0.1, 0.3, 0.05]], requires_grad=True)
    out = LearnedNM(2, 4, decay=0.5)(w)
    assert out.detach()[0].tolist() == pytest.approx([0.9, 0.0, 0.3, 0.0])
    out.sum().backward()
    # straight-through gradient 1 everywhere, plus decay * w on the two pruned entries
    assert w.grad[0].tolist() == pytest.approx([1.0, 1.0 + 0.5 * -0.1, 1.0, 1.0 + 0.5 * 0.05])


def test_srste_learns_an_nm_pattern_and_fixes_it_as_masks():
    net = tiny_net()
    data = _data()
    cfg = PruneConfig(granularity="nm:2:4", layers=("conv2", "fc1"))
    info = srste_train(net, cfg, data, TrainConfig(epochs=2, val_size=0), decay=2e-4)
    assert info["epochs"] == 2
    layers = prunable_layers(net)
    for name in ("conv2", "fc1"):
        assert get_mask(layers[name]) is not None
        assert satisfies_nm(layers[name].weight.detach(), 2, 4)
    assert get_mask(layers["conv1"]) is None
    with pytest.raises(TinydeployError, match="already masked"):
        srste_train(net, cfg, data, TrainConfig(epochs=1, val_size=0))


def test_nm_ramp_follows_the_agp_cubic_from_dense_to_the_target():
    # 1:8 -> target sparsity 7/8; s(t) = 7/8 (1 - (1 - t)^3), N = round(8 (1 - s))
    assert [ramped_n(1, 8, t) for t in (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)] == [8, 6, 4, 2, 1, 1]
    assert ramped_n(2, 4, 0.0) == 4 and ramped_n(2, 4, 1.0) == 2
    assert all(ramped_n(1, 8, a / 50) >= ramped_n(1, 8, (a + 1) / 50) for a in range(50))


def test_srste_nm_ramp_ends_on_the_target_pattern_and_needs_srste_nm():
    net = tiny_net()
    data = _data()
    seen: list[int] = []  # N of fc1's pattern at every forward pass
    fc1 = prunable_layers(net)["fc1"]
    fc1.register_forward_hook(lambda layer, *_: seen.append(layer.parametrizations.weight[0].n))
    cfg = PruneConfig(granularity="nm:1:4", layers=("conv2", "fc1"))
    # 2 epochs x 4 steps, the ramp over the first int(0.7 * 8) = 5: N falls from 4 (dense)
    info = srste_train(net, cfg, data, TrainConfig(epochs=2, val_size=0), nm_ramp=True)
    assert info["epochs"] == 2
    train_steps = [n for i, n in enumerate(seen) if i != 4]  # pass 4: epoch 1's validation
    assert train_steps[0] == 4 and train_steps[-1] == 1
    assert train_steps == sorted(train_steps, reverse=True)
    for name in ("conv2", "fc1"):
        assert satisfies_nm(prunable_layers(net)[name].weight.detach(), 1, 4)
    with pytest.raises(TinydeployError, match="nm_ramp"):
        run_schedule(tiny_net(), PruneConfig(sparsity=0.5), Schedule(), data,
                     TrainConfig(epochs=1, val_size=0), nm_ramp=True)


def test_unstructured_mask_learning_reaches_the_target_and_lets_weights_return():
    net = tiny_net()
    data = _data()
    before = {n: layer.weight.detach().clone() for n, layer in prunable_layers(net).items()}
    out = run_schedule(net, PruneConfig(sparsity=0.8), Schedule("gradual"), data,
                       finetune_config(epochs=4, val_size=0, lr=3e-2), mask_learning="srste")
    assert out.rounds[0]["mask_learning"] == "srste"
    masks = get_masks(net)
    total = sum(m.numel() for m in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == round(0.2 * total)  # global target
    # the final masks differ from one-shot magnitude masks of the starting weights: the
    # pattern was learned (pruned weights came back, kept ones left)
    start = torch.cat([w.abs().flatten() for w in before.values()])
    oneshot = torch.zeros_like(start)
    oneshot[start.topk(round(0.2 * total)).indices] = 1
    learned = torch.cat([m.flatten() for m in masks.values()])
    assert not torch.equal(oneshot, learned)
    for layer in prunable_layers(net).values():  # ordinary fixed masks, weights zero there
        assert len(layer.parametrizations.weight) == 1
        assert not (layer.weight.detach() * (1 - get_mask(layer))).any()
    with pytest.raises(TinydeployError, match="ranks weights by magnitude"):
        run_schedule(tiny_net(), PruneConfig(method="lamp", sparsity=0.5), Schedule(), data,
                     TrainConfig(epochs=1, val_size=0), mask_learning="srste")
