"""``fuse_activation_patterns``: the activations exporters write out as elementwise ops
become the one activation op they compute.

Why: PyTorch exports SiLU as ``Mul(x, Sigmoid(x))`` and older exporters HardSwish as
``Mul(x, HardSigmoid(x; 1/6, 1/2))``.  As two ops they read and write the tensor twice more,
and the conv before them keeps two uses of its output, so ``fuse_conv_norm_act`` cannot
put the activation in its epilogue; as one ``Silu`` / ``HardSwish`` it does.

The rules (``PATTERNS``): a ``Mul`` whose operands are some value ``x`` and the result of a
gate op over ``x`` (either order), where that result has no other use and is not a graph
output, becomes the activation op over ``x`` (both compute ``x * gate(x)`` with the same
gate, so the values are the same).  The gate's attributes must be the activation's own
(HardSigmoid's alpha 1/6 and beta 1/2, as float32).  The Mul and the gate go.

Not in the default pipelines (run it with ``optimize(g, passes=[...])``): on the C target
a SiLU in a conv's epilogue is still slower than the conv followed by the separate,
vectorized Sigmoid and Mul kernels (a YOLOv8n-like net at 1 thread, ``bench/bench_mobile.py``
shapes: 1.20x onnxruntime fused against 1.09x not), as the GEMM's microkernel has no
store form of the exponential and its tile epilogue makes a second pass over each tile.

Contract: outputs keep their names and types and their values; ensures
``no_activation_patterns``.  Nothing is required before the pass.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Value
from .manager import graph_pass, graph_property

#: gate op -> (the activation, the gate attributes it needs)
PATTERNS = {"Sigmoid": ("Silu", {}), "HardSigmoid": ("HardSwish", {"alpha": 1 / 6, "beta": 0.5})}


def _match(g: Graph, name: str):
    """``(x, gate node, activation)`` where Mul ``name`` is ``x * gate(x)``, else None."""
    n = g.node(name)
    if n.op != "Mul":
        return None
    a, b = g.operands(name)
    for x, s in ((a, b), (b, a)):
        gate = g.node(s.node)
        if gate.op not in PATTERNS or g.operands(gate.name) != [x]:
            continue
        act, need = PATTERNS[gate.op]
        if any(np.float32(gate.attrs[k]) != np.float32(v) for k, v in need.items()):
            continue
        if len(g.users(s)) != 1 or g.is_output(s) or g.type_of(x) != n.types[0]:
            continue
        return x, gate, act
    return None


@graph_property("no_activation_patterns")
def no_activation_patterns(g: Graph) -> bool:
    """No ``x * gate(x)`` is left that one activation op computes."""
    return not any(_match(g, n.name) for n in g.nodes())


@graph_pass("fuse_activation_patterns", ensures=("no_activation_patterns",))
def fuse_activation_patterns(g: Graph) -> Graph:
    """Replace each ``Mul(x, Sigmoid(x))`` by ``Silu(x)`` and each ``Mul(x, HardSigmoid(x;
    1/6, 1/2))`` by ``HardSwish(x)``."""
    g = g.copy()
    for n in list(g.nodes()):
        if n.name not in g:
            continue
        m = _match(g, n.name)
        if m is None:
            continue
        x, gate, act = m
        (y,) = g.add_node(act, [x], {}, label=n.label, source=n.source)
        g.replace_all_uses(Value(n.name), y)
        g.remove_node(n.name)
        g.remove_node(gate.name)
    return g
