"""C code generation: IR -> `model.h` + `model.c` calling the tdnn kernels.

`select` (per-layer format choice, the latency cost-model hook, formats allocated by
latency-aware pruning), `memplan` (static activation arena), `generator` (the C text and
the size report), `host` (a generated model built and run on this machine). The weight
formats themselves belong to the kernel library's Python side, `tinydeploy.tdnn`.
"""

from tinydeploy.codegen.generator import GeneratedModel, generate_c

__all__ = ["GeneratedModel", "generate_c"]
