"""Pruning: masks kept beside the weights, criteria, scopes, granularities and schedules.

Layering: `prune` builds on `models` and `train` and nothing above them. Masks live on the
model itself (a `torch.nn.utils.parametrize` parametrization holding a `mask` buffer), so
fine-tuning a pruned model is plain `tinydeploy.train.trainer.train`.

    masks       apply / read / verify masks, make them permanent, restore them from a checkpoint
    graph       the chain of prunable layers and how their channels connect
    criteria/   one file per scoring criterion, looked up by name
    engine      PruneConfig + prune_model: scores -> masks for a scope and a granularity
    structured  physically_remove: channel masks -> a smaller dense model
    report      honest sparsity / MACs / bytes / collapse report (JSON + Markdown)
    schedules   oneshot, iterative, gradual (Zhu & Gupta), lottery (IMP with rewinding); the
                QAT phase
    recipes     named fine-tuning recipes (schedule, budget, LR schedule, distillation, QAT)
    srste       learned masks (SR-STE): N:M or unstructured patterns learned while training
    run         `tinydeploy prune` as library functions (prune_experiment, prune_checkpoint)
    trials      sweep trial functions for the benchmarks (after_training, foresight; the
                int8 variant is `tinydeploy.export.trials`, above the exporter)
"""
