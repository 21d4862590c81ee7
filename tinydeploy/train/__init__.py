"""Training and evaluation (pruning-agnostic): the loop, recipes per dataset, knowledge
distillation (`distill`), quantization-aware training (`qat`)."""
