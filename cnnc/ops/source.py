"""The two ops with no operands: a graph ``Input`` and a ``Constant`` (weights, biases)."""
from __future__ import annotations

from ..ir import Attr, OpDef, TensorType, register


def _input_ref(inputs, a):
    raise AssertionError("Input nodes are bound by the backend, never evaluated")


register(OpDef(
    name="Input",
    inputs=(),
    attrs={"shape": Attr("ints"), "dtype": Attr("str", "float32")},
    infer=lambda types, a: (TensorType(a["shape"], a["dtype"]),),
    reference=_input_ref,
    doc="a graph input; its value is given at run time",
))

register(OpDef(
    name="Constant",
    inputs=(),
    attrs={"value": Attr("tensor")},
    infer=lambda types, a: (TensorType.of(a["value"]),),
    reference=lambda inputs, a: a["value"],
    doc="a constant tensor (read-only array in attrs['value'])",
))
