"""``fuse_conv_norm_act``: fold inference normalization into the convolution's weights and
fuse the activation and the residual add into its epilogue (one ``FusedConv``).

Why: after a conv, a BatchNormalization, its old-export Mul/Add form, a residual Add and
an activation each read and write the whole output tensor once more, for one or two
FLOPs per element.  An inference normalization is a per-channel affine map
``y * k + c``, so it folds into the conv for free (``W' = W * k`` per output channel,
``B' = B * k + c``, computed once here, in float64, stored in the weight's dtype); the
activation and the residual add run in the conv kernel's epilogue while the output is
still in registers.  Each rewrite saves a full read and write of an intermediate tensor
and adds no arithmetic (at most the add of a zero bias, for a conv that had none), so
there is no cost model: every match is taken.

The rules (``RULES``), tried in this order on every ``Conv``/``FusedConv`` whose output
``y`` has exactly one use, is not a graph output (else the intermediate value would
disappear) and whose user keeps ``y``'s type:

    the single user of y            also needs                        rewrite
    ------------------------------  --------------------------------  ----------------------------
    BatchNormalization(y, s,b,m,v)  no epilogue; W, B, s, b, m, v     fold k = s / sqrt(v + eps),
                                    constant                          c = b - m * k
    Mul(y, a), either order         no epilogue; W, B constant; a a   fold k = a, c = 0
                                    constant, one value per channel
                                    (or one for all)
    Add/Sum(y, a), either order     the same                          fold k = 1, c = a
    Add/Sum(y, z), either order     no residual yet; z of y's type    Z = z; residual "pre", or
                                                                      "post" after an activation
    a fusable activation            no activation yet                 activation = the op,
                                                                      act_* = its attributes

"No epilogue" means no activation and no residual: a per-channel map commutes with
neither.  A rule rewrites :class:`Fused`, the conv seen as FusedConv's operands and
attributes (a ``Conv`` without bias gets ``B = 0``); the driver builds the new node, reroutes
the user's uses to it and drops the two old nodes with the constants only they used.  It
sweeps the graph in topological order until no rule applies anywhere (a fixpoint), which is
the property ``conv_norm_act_fused`` the pass ensures.

Contract: outputs keep their names and types; values agree within float rounding (the
folded weights round once, in their own dtype).  Nothing is required before the pass.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from ..ir import Graph, Node, TensorType, Value, get_op
from ..ops.fused_conv import ACT_PARAMS, fusable_activation
from ..ops.norm import bn_affine
from .manager import graph_pass, graph_property


@dataclass(frozen=True)
class Fused:
    """A conv as FusedConv's operands and attributes; an array is a constant to be added."""

    x: Value
    w: Value | np.ndarray
    b: Value | np.ndarray
    z: Value | None
    attrs: Mapping

    @property
    def plain(self) -> bool:
        """Nothing follows the bias yet, so a per-channel affine map still folds into W, B."""
        return not self.attrs.get("activation") and self.z is None


def _view(g: Graph, conv: Node) -> Fused:
    x, w, *rest = g.operands(conv.name)
    b = rest[0] if rest else np.zeros(conv.types[0].shape[1], g.type_of(w).dtype)
    return Fused(x, w, b, rest[1] if len(rest) > 1 else None, dict(conv.attrs))


def _array(g: Graph, v: Value | np.ndarray) -> np.ndarray | None:
    return v if isinstance(v, np.ndarray) else g.constant(v)


def _channel_vector(g: Graph, v: Value, t: TensorType) -> np.ndarray | None:
    """Constant ``v`` as a float64 ``(M,)`` vector when it broadcasts against ``t`` with one
    value per channel (or one for all), else None."""
    c = g.constant(v)
    if c is None or c.ndim > t.rank:
        return None
    shape = (1,) * (t.rank - c.ndim) + c.shape
    if any(d != 1 for i, d in enumerate(shape) if i != 1) or shape[1] not in (1, t.shape[1]):
        return None
    return np.broadcast_to(c.astype(np.float64).reshape(-1), (t.shape[1],))


def _fold(g: Graph, f: Fused, k: np.ndarray, c: np.ndarray) -> Fused | None:
    """``f`` followed by ``y * k + c`` per channel: ``W' = W * k``, ``B' = B * k + c``."""
    w, b = _array(g, f.w), _array(g, f.b)
    if not f.plain or w is None or b is None:
        return None
    w64 = w.astype(np.float64) * k.reshape((-1,) + (1,) * (w.ndim - 1))
    return replace(f, w=w64.astype(w.dtype), b=(b * k + c).astype(b.dtype))


# ---------------------------------------------------------------- the rules
def fold_batch_norm(g: Graph, f: Fused, bn: Node, others: list[Value]) -> Fused | None:
    params = [g.constant(v) for v in others]
    if any(p is None for p in params):
        return None
    return _fold(g, f, *bn_affine(*params, bn.attrs["epsilon"]))


def fold_mul(g: Graph, f: Fused, mul: Node, others: list[Value]) -> Fused | None:
    k = _channel_vector(g, others[0], mul.types[0])
    return None if k is None else _fold(g, f, k, np.zeros_like(k))


def fold_add(g: Graph, f: Fused, add: Node, others: list[Value]) -> Fused | None:
    c = _channel_vector(g, others[0], add.types[0])
    return None if c is None else _fold(g, f, np.ones_like(c), c)


def fuse_residual(g: Graph, f: Fused, add: Node, others: list[Value]) -> Fused | None:
    if f.z is not None or g.type_of(others[0]) != add.types[0]:
        return None
    return replace(f, z=others[0],
                   attrs={**f.attrs, "residual": "post" if f.attrs.get("activation") else "pre"})


def fuse_activation(g: Graph, f: Fused, act: Node, others: list[Value]) -> Fused | None:
    if f.attrs.get("activation"):
        return None
    params = {f"act_{k}": act.attrs.get(k) for k in ACT_PARAMS}
    return replace(f, attrs={**f.attrs, "activation": act.op, "residual": "pre", **params})


@dataclass(frozen=True)
class Rule:
    """Fuse a conv into its single user of one of ``ops`` (names, or a predicate on the
    op's name) with ``arity`` operands."""

    ops: tuple[str, ...] | Callable[[str], bool]
    arity: int
    rewrite: Callable[[Graph, Fused, Node, list[Value]], Fused | None]

    def matches(self, op: str, arity: int) -> bool:
        return arity == self.arity and (self.ops(op) if callable(self.ops) else op in self.ops)


RULES = (
    Rule(("BatchNormalization",), 5, fold_batch_norm),
    Rule(("Mul",), 2, fold_mul),
    Rule(("Add", "Sum"), 2, fold_add),
    Rule(("Add", "Sum"), 2, fuse_residual),
    Rule(fusable_activation, 1, fuse_activation),
)


# ---------------------------------------------------------------- the driver
def _match(g: Graph, name: str) -> tuple[Node, Fused] | None:
    """(the user, the fused conv) of the first rule that applies to node ``name``."""
    conv, y = g.node(name), Value(name)
    users = g.users(y)
    if not get_op(conv.op).conv or len(users) != 1 or g.is_output(y):
        return None
    ((uname, port),) = users
    user, operands = g.node(uname), g.operands(uname)
    if user.types != conv.types:
        return None
    others, seen = operands[:port] + operands[port + 1:], _view(g, conv)
    for rule in RULES:
        if rule.matches(user.op, len(operands)) and (f := rule.rewrite(g, seen, user, others)) is not None:
            return user, f
    return None


def _remove(g: Graph, name: str) -> None:
    """Remove node ``name`` and the constants that only it used."""
    operands = g.operands(name)
    g.remove_node(name)
    for v in dict.fromkeys(operands):
        if g.constant(v) is not None and not g.users(v) and not g.is_output(v):
            g.remove_node(v.node)


def _apply(g: Graph, conv: Node, user: Node, f: Fused) -> str:
    w, b = (g.add_constant(a, f"{conv.label}_{k}", source=conv.source) if isinstance(a, np.ndarray)
            else a for k, a in (("w", f.w), ("b", f.b)))
    (y,) = g.add_node("FusedConv", [f.x, w, b, *([f.z] if f.z is not None else [])], f.attrs,
                      label=conv.label, source=conv.source)
    g.replace_all_uses(Value(user.name), y)
    _remove(g, user.name)
    _remove(g, conv.name)
    return y.node


def _sweep(g: Graph, names=None) -> int:
    """Fuse every conv (of ``names``, default all), in topological order, until no rule
    applies to it; returns the number of rewrites."""
    count = 0
    for name in g.topo_order() if names is None else names:
        while name in g and (m := _match(g, name)) is not None:
            name = _apply(g, g.node(name), *m)
            count += 1
    return count


@graph_property("conv_norm_act_fused")
def conv_norm_act_fused(g: Graph) -> bool:
    """No conv has a single user that a rule of ``fuse_conv_norm_act`` would fuse."""
    return all(_match(g, name) is None for name in g.topo_order())


@graph_pass("fuse_conv_norm_act", ensures=("conv_norm_act_fused",))
def fuse_conv_norm_act(g: Graph) -> Graph:
    """Fold BatchNorm and per-channel Mul/Add into conv weights; fuse activation and residual."""
    g = g.copy()
    while _sweep(g):
        pass
    return g


def norms_as_depthwise(g: Graph, block: int) -> Graph:
    """``g`` with every inference BatchNormalization that no conv folded (DenseNet's
    pre-activation ones: constant parameters, on a map the layout pass can block by
    ``block``) made a depthwise 1x1 FusedConv (weight ``k = s / sqrt(v + eps)``, bias
    ``b - m * k``, computed in float64), then :func:`fuse_conv_norm_act`'s rules applied to
    those convs (the activation after one goes into its epilogue); other nodes stay as they
    are.  For the TVM target's layout pass: a depthwise conv has a channel-blocked form and
    a normalization has none, so a blocked region reaches through it instead of stopping on
    both sides (an unblock, a float64 normalization and a reblock a layer).

    Contract: outputs keep their names and types; values agree within float rounding (the
    folded weight and bias round once to float32).  ``g`` is left unchanged."""
    from .cleanup import eliminate_dead_code
    from .layout import blockable
    out = g.copy()
    made = []
    for n in list(out.nodes()):
        if n.op != "BatchNormalization":
            continue
        x, *params = out.operands(n.name)
        consts = [out.constant(v) for v in params]
        t = out.type_of(x)
        if any(c is None for c in consts) or not blockable(t, block):
            continue
        k, c = bn_affine(*consts, n.attrs["epsilon"])
        nd = t.rank - 2
        w = out.add_constant(k.reshape((-1, 1) + (1,) * nd).astype(np.float32), f"{n.label}.weight")
        b = out.add_constant(c.astype(np.float32), f"{n.label}.bias")
        (y,) = out.add_node("FusedConv", [x, w, b], {"kernel_shape": (1,) * nd, "group": t.shape[1]},
                            label=n.label, source=n.source)
        out.replace_all_uses(Value(n.name, 0), y)
        out.remove_node(n.name)
        made.append(y.node)
    if not made:
        return g
    out = eliminate_dead_code(out)
    _sweep(out, made)
    return out
