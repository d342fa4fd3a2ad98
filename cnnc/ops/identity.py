"""``Identity`` and inference-time ``Dropout``: both pass their input through unchanged.

cnnc compiles models for inference, so ``Dropout`` is always the identity (ONNX's behaviour
when ``training_mode`` is false, its default).  Deviations from ONNX: ``ratio`` is an
**attribute** (ONNX passes it as an optional run-time tensor) and is checked to lie in
``[0, 1)``; there is no ``training_mode`` operand; and only the first output (the data) is
produced, never the optional ``mask`` (an importer has to refuse a model that reads it).
``seed`` is accepted so that imported models keep their attributes; it has no effect.

Their C kernel, :func:`copy_kernel`, is shared with the reshaping ops (Flatten, Reshape,
Squeeze, Unsqueeze): a ``memcpy`` skipped when the memory plan made the result a view of
the operand (their ``OpDef.view`` trait: the same pointer).  Their TVM rule returns the
operand's Relax value itself.
"""
from __future__ import annotations

from ..ir import Attr, Kernel, OnnxMap, OpDef, UnsupportedError, always, register
from ._c import SHORT, ctype
from ._common import require_float


def copy_kernel(req) -> Kernel:
    """Y = X, byte for byte (nothing to do when Y is X's buffer)."""
    t = req.out_types[0]
    return Kernel("c/kernels/copy.c.j2", f"cnnc_copy_{SHORT[t.dtype]}_{t.size}",
                  {"size": t.size, "ctype": ctype(t.dtype)}, comment=f"{req.node.op} {t}")


def _passthrough(arrays, a):
    return arrays[0]


def _passthrough_tvm(req, xs, b):
    """The operand itself: a Relax value is immutable, so no copy is needed."""
    return xs[0]


register(OpDef(
    name="Identity",
    inputs=("input",),
    infer=lambda types, a: (types[0],),
    reference=_passthrough,
    outputs=("output",),
    kernels={"c": copy_kernel},
    tvm=_passthrough_tvm,
    view=True,
    no_op=always,
    doc="returns its operand unchanged",
))


def _dropout_infer(types, a):
    require_float(types[0], "Dropout data")
    return (types[0],)


def _dropout_import(node, b):
    """Opset 12+: Dropout(data, ratio, training_mode); only inference is compiled."""
    if node.has_input(2) and bool(b.const_input(2, "training_mode").reshape(())):
        raise UnsupportedError("Dropout with training_mode=true is not supported: cnnc "
                               "compiles inference graphs only")
    return b.generic(skip=(2,))


register(OpDef(
    name="Dropout",
    inputs=("data",),
    attrs={"ratio": Attr("float", 0.5, check=lambda r: None if 0 <= r < 1 else "must be in [0, 1)",
                         doc="drop probability in training; unused at inference"),
           "seed": Attr("int", None, doc="random seed of training; unused at inference")},
    infer=_dropout_infer,
    reference=_passthrough,
    outputs=("output",),
    onnx=OnnxMap(const_inputs={1: ("ratio", "like:0")}, importers={12: _dropout_import}),
    kernels={"c": copy_kernel},
    tvm=_passthrough_tvm,
    view=True,
    no_op=always,
    doc="dropout at inference: the identity",
))
