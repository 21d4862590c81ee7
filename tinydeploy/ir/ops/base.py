"""The interface of one TFLite op on the IR side.

An `OpDef` holds everything the IR knows about one TFLite builtin operator: the IR
dataclass it builds, how it reads the flatbuffer operator into that dataclass (with every
check of what tinydeploy supports), how it checks the shapes of a finished graph, and its
numpy reference, bit-exact with TFLite Micro's reference kernel.

Adding an op (PAD, in `pad.py`, was added this way):

1. One file here, `tinydeploy/ir/ops/pad.py`: the `Pad` dataclass and a `PadDef(OpDef)`
   decorated with `@register`. The registry imports every module of this package, so the
   reader accepts PAD, names the ops pad1, pad2, ... and `reference.run` executes them;
   nothing else in `tinydeploy.ir` changes. Shared numpy and reader helpers are in
   `tinydeploy.ir.ops.common`, TFLM's prepare-time arithmetic in `tinydeploy.ir.prepare`.
2. On the C side, one kernel file in the tdnn library and the op's C emitter, the method
   `emit_c(self, em: CEmitter, call: EmitCall) -> list[str]` in the same file: it adds the
   op's static declarations with `em.decls.append(...)` and returns the statements of its
   kernel call (setting `st`). `tinydeploy.codegen` calls it and rejects ops whose
   `emit_c` is None (an op with only an IR side can be read, inspected and run in numpy,
   but not generated as C). `tinydeploy.ir` never imports codegen: `CEmitter` below is
   the interface codegen's emitter provides.

Op definitions are stateless: the registry holds one instance per TFLite op.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np

if TYPE_CHECKING:
    from tinydeploy.ir.graph import Graph, Tensor
    from tinydeploy.ir.tflite_reader import Reader

OpT = TypeVar("OpT")  # the IR dataclass of one op definition


@dataclass
class ReadContext:
    """One flatbuffer operator being read into the IR.

    The first input and the output are already in `tensors` (keys `x` and `y`); an op with
    more activation inputs adds them with `act(flatbuffer tensor index)`, which returns the
    new key. Error messages start with `source` (the file) and the op's `name`."""

    reader: Reader
    fb_op: Any  # tflite.Operator
    name: str  # the IR name of the op: short name + running number (conv1, conv2, ...)
    ins: list[int]  # flatbuffer tensor indices of all inputs (weights, bias, ... included)
    x: str
    y: str
    tensors: dict[str, Tensor]
    act: Callable[[int], str]

    @property
    def source(self) -> str:
        return self.reader.source

    @property
    def tin(self) -> Tensor:
        return self.tensors[self.x]

    @property
    def tout(self) -> Tensor:
        return self.tensors[self.y]

    def options(self, cls_name: str):
        """The operator's builtin options as `tflite.<cls_name>`, or None if it has none."""
        return self.reader.options(self.fb_op, cls_name)


@dataclass(frozen=True)
class EmitCall:
    """One layer's call site in tdm_invoke: C expressions for its inputs, output and kernel
    scratch, the statement returning its failure code, and `p`, the prefix of its
    declarations (the op name as a C identifier)."""

    idx: int
    layer: Any  # tinydeploy.codegen.generator.Layer: op, fused_pool, encoding, scratch, ...
    p: str
    ins: list[str]
    out: str
    scratch: str
    fail: str


@dataclass(frozen=True)
class WeightArgs:
    """What a weighted op's kernel call needs from its weight format: the kernel family
    (td_<op>_<kernel>_s8), the weight argument, whether the scratch size is computed from
    the descriptor, and whether a conv of this format reads td_conv_taps."""

    kernel: str
    weights: str
    sized_by_descriptor: bool
    needs_taps: bool


class CEmitter(Protocol):
    """What codegen's emitter offers an op's `emit_c`."""

    g: Graph
    decls: list[str]

    def quant_arrays(self, p: str, op: Any) -> None: ...
    def weight_args(self, p: str, layer: Any) -> WeightArgs: ...
    def conv_taps(self, p: str, layer: Any) -> str: ...
    def helper(self, name: str, text: str) -> None: ...
    def array(self, name: str, ctype: str, values: np.ndarray) -> str: ...
    def dims(self, shape: tuple[int, ...]) -> str: ...


class OpDef(ABC, Generic[OpT]):
    """One TFLite op: subclasses set `kind` and `short` and implement `read` and
    `reference`; `@register` (from `tinydeploy.ir.ops`) makes them known."""

    kind: ClassVar[str] = ""  # the TFLite builtin operator name, e.g. "CONV_2D"
    short: ClassVar[str] = ""  # stem of the IR op names, e.g. "conv" -> conv1, conv2, ...
    weighted: ClassVar[bool] = False  # carries int8 weights / int32 bias (Graph.weighted_ops)
    # The C emitter of this op (a method `emit_c(self, em: CEmitter, call: EmitCall) ->
    # list[str]`), or None if the op has no C kernel; see the module docstring.
    emit_c: ClassVar[Callable[..., list[str]] | None] = None
    # An op that needs no C at all: its output is its input's bytes under another shape
    # (RESHAPE); the generator aliases the two tensors.
    c_alias: ClassVar[bool] = False
    # An op that converts a model edge's float32 / uint8 tensor (QUANTIZE, DEQUANTIZE) and
    # checks its own dtypes; the reader requires int8 tensors for every other op.
    edge_dtypes: ClassVar[bool] = False

    @abstractmethod
    def read(self, ctx: ReadContext) -> OpT:
        """The IR op for one flatbuffer operator; anything unsupported raises ExportError."""

    def check_shapes(self, op: OpT, graph: Graph) -> None:
        """Raise ExportError if the op's tensors disagree with its parameters (run on the
        whole graph after reading, so a corrupt file fails here and not in C). Ops whose
        `read` already checks their shapes keep this default, which checks nothing."""

    @abstractmethod
    def reference(self, op: OpT, inputs: list[np.ndarray],
                  out_shape: tuple[int, ...]) -> np.ndarray:
        """int8 outputs (B, *out_shape[1:]) from the int8 `inputs` (B, ...), one array per
        name in `self.inputs(op)`; bit-exact with TFLite Micro. (An `edge_dtypes` op takes
        or gives its float32 / uint8 tensor in that dtype.)"""

    def inputs(self, op: OpT) -> list[str]:
        """The activation tensors the op reads, in the order `reference` takes them."""
        return [op.input]
