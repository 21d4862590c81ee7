"""Analyses of pruned models: what pruning costs, where, and how to spend a sparsity budget.

    context     checkpoint + its validation split (every scan and selection) and test set
                (final numbers only) loaded once per process, evaluation, pruned copies,
                points run through the resumable sweep runner (`tinydeploy.sweep`)
    sensitivity one layer pruned at a time over a grid of ratios (table, heatmap)
    gap         most- minus least-sensitive layer across whole-model sparsity checkpoints,
                with a bootstrap noise band, its departure point and ranking flips
    cliff       coarse-to-fine locator of the accuracy cliff (0.1% resolution) of any
                accuracy-vs-sparsity callable
    smart       sensitivity-threshold allocation + layer-wise retraining + global fine-tune
    robustness  FGSM / PGD accuracy of pruned variants vs the dense model
    weights     histograms of the surviving weights per criterion and sparsity
    report      atomic JSON / PNG / Markdown artifacts

Layering: `analysis` builds on `prune`, `train`, `sweep` and below; nothing below imports it.
"""
