"""C code generation: IR -> `model.h` + `model.c` calling the tdnn kernels.

`formats` (weight encoders, owned by the kernel library), `select` (per-layer format choice
and the latency cost-model hook), `memplan` (static activation arena), `generator` (the C
text and the size report).
"""

from tinydeploy.codegen.generator import GeneratedModel, generate_c

__all__ = ["GeneratedModel", "generate_c"]
