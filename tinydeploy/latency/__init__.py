"""Measured latency on the target core: per-layer cost tables (instructions retired on QEMU)
for a model's real layer shapes x weight formats x sparsities.

- `shapes`: the layer shapes a table is keyed by, and a synthetic one-layer graph per shape;
- `sparsify`: int8 weights zeroed into a format's pattern at a sparsity;
- `measure`: one point measured on QEMU (a sweep trial, cached by content hash);
- `table`: building a table through the sweep runner, and interpolating it.
"""
