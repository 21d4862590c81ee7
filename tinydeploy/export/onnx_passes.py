"""Clean-ups of the TorchScript exporter's ONNX graph before onnx2tf sees it.

- `fold_constants`: the exporter spells the pads of `F.pad` as a chain of ConstantOfShape /
  Concat / Reshape / Slice / Transpose / Cast nodes on constants; every node whose inputs are
  all constants is evaluated (onnx.reference) and replaced by an initializer.
- `fuse_pad_into_conv`: a constant zero Pad of the spatial dims feeding only Conv nodes
  becomes those convs' own (possibly asymmetric) pads. TensorFlow 'SAME' padding at stride 2
  (the odd pixel at the bottom/right) is such a pad; onnx2tf converts the fused conv to one
  CONV_2D / DEPTHWISE_CONV_2D with padding SAME, where a Pad it keeps becomes a PAD op (and,
  after a residual Add, TRANSPOSE + PAD + TRANSPOSE).
"""

from __future__ import annotations

import numpy as np


def _constants(graph) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {i.name: numpy_helper.to_array(i) for i in graph.initializer}


def fold_constants(model):
    """In place: evaluate every node computed from constants only; returns the model."""
    import onnx
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    graph = model.graph
    const = _constants(graph)
    folded: set[str] = set()
    keep = []
    for node in graph.node:
        inputs = [i for i in node.input if i]
        if node.op_type != "Constant" and not (inputs and all(i in const for i in inputs)):
            keep.append(node)
            continue
        outputs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None)
                   for o in node.output]
        single = helper.make_model(
            helper.make_graph([node], "fold", [], outputs,
                              initializer=[numpy_helper.from_array(const[i], i) for i in inputs]),
            opset_imports=model.opset_import)
        for name, value in zip(node.output, ReferenceEvaluator(single).run(None, {}),
                               strict=True):
            const[name] = np.asarray(value)
            folded.add(name)
    used = {i for n in keep for i in n.input} | {o.name for o in graph.output}
    old = {i.name for i in graph.initializer}
    del graph.node[:]
    graph.node.extend(keep)
    kept_inits = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept_inits)
    graph.initializer.extend(numpy_helper.from_array(const[n], n)
                             for n in sorted(folded - old) if n in used)
    return model


def _zero_spatial_pads(node, const: dict[str, np.ndarray]) -> list[int] | None:
    """[top, left, bottom, right] of a constant-mode zero Pad touching only H and W of an
    NCHW tensor, else None."""
    from onnx import helper

    mode = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "mode"),
                b"constant")
    if mode not in (b"constant", "constant") or len(node.input) < 2 or node.input[1] not in const:
        return None
    if len(node.input) > 2 and node.input[2]:
        value = const.get(node.input[2])
        if value is None or np.any(value != 0):
            return None
    if len(node.input) > 3 and node.input[3]:
        return None  # explicit axes: not produced by the exporter, not worth handling
    pads = [int(p) for p in const[node.input[1]].reshape(-1)]
    if len(pads) != 8 or any(p < 0 for p in pads) or any(pads[i] for i in (0, 1, 4, 5)):
        return None
    return [pads[2], pads[3], pads[6], pads[7]]


def fuse_pad_into_conv(model):
    """In place: fold zero spatial Pads into the pads of the Conv nodes that read them."""
    from onnx import helper

    graph = model.graph
    const = _constants(graph)
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    removed = []
    for node in graph.node:
        if node.op_type != "Pad" or node.output[0] in outputs:
            continue
        pads = _zero_spatial_pads(node, const)
        readers = consumers.get(node.output[0], [])
        if pads is None or not readers or any(
                r.op_type != "Conv" or r.input[0] != node.output[0] for r in readers):
            continue
        for conv in readers:
            attrs = {a.name: a for a in conv.attribute}
            if "auto_pad" in attrs and helper.get_attribute_value(attrs["auto_pad"]) not in (
                    b"NOTSET", "NOTSET"):
                break
        else:
            for conv in readers:
                old = next((list(helper.get_attribute_value(a)) for a in conv.attribute
                            if a.name == "pads"), [0, 0, 0, 0])
                new = [a + b for a, b in zip(old, pads, strict=True)]
                kept = [a for a in conv.attribute if a.name != "pads"]
                del conv.attribute[:]
                conv.attribute.extend([*kept, helper.make_attribute("pads", new)])
                conv.input[0] = node.input[0]
            removed.append(node)
    for node in removed:
        graph.node.remove(node)
    _drop_unused_initializers(graph)
    return model


def _drop_unused_initializers(graph) -> None:
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def simplify(model):
    """fold_constants, then fuse_pad_into_conv (in place); returns the model."""
    return fuse_pad_into_conv(fold_constants(model))
