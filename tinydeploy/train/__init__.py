"""Training and evaluation (pruning-agnostic)."""
