"""``Identity`` and inference-time ``Dropout``: both pass their input through unchanged.

cnnc compiles models for inference, so ``Dropout`` is always the identity (ONNX's behaviour
when ``training_mode`` is false, its default).  Deviations from ONNX: ``ratio`` is an
**attribute** (ONNX passes it as an optional run-time tensor) and is checked to lie in
``[0, 1)``; there is no ``training_mode`` operand; and only the first output (the data) is
produced, never the optional ``mask`` (an importer has to refuse a model that reads it).
``seed`` is accepted so that imported models keep their attributes; it has no effect.
"""
from __future__ import annotations

from ..ir import Attr, OpDef, register
from ._common import require_float


def _passthrough(arrays, a):
    return arrays[0]


register(OpDef(
    name="Identity",
    inputs=("input",),
    infer=lambda types, a: (types[0],),
    reference=_passthrough,
    outputs=("output",),
    doc="returns its operand unchanged",
))


def _dropout_infer(types, a):
    require_float(types[0], "Dropout data")
    return (types[0],)


register(OpDef(
    name="Dropout",
    inputs=("data",),
    attrs={"ratio": Attr("float", 0.5, check=lambda r: None if 0 <= r < 1 else "must be in [0, 1)",
                         doc="drop probability in training; unused at inference"),
           "seed": Attr("int", None, doc="random seed of training; unused at inference")},
    infer=_dropout_infer,
    reference=_passthrough,
    outputs=("output",),
    doc="dropout at inference: the identity",
))
