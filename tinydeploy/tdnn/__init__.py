"""The Python side of tdnn, tinydeploy's int8 C kernel library (package data under
``tinydeploy/resources/firmware/lib/tdnn``).

- ``formats``: the weight storage formats, one module each; a format owns its encoding, its
  C descriptor (initialiser and ctypes mirror), the entries its kernels execute and which
  layers it can serve;
- ``taps``: the receptive-field taps the sparse conv kernels read;
- ``build``: the one host build recipe (flags, sources, cache);
- ``structs``: ctypes mirrors of the parameter structs;
- ``host``: the library loaded into Python, one method per kernel.

This package sits below ``codegen`` and ``firmware`` and imports neither.
"""
