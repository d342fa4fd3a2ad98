"""Decompose separable kernels: a k×k (k×k×k) conv becomes a chain of 1-D convs.

Why.  A 5×5 Gaussian blur costs 25 multiply-adds per output; as a 5×1 conv followed by a
1×5 conv it costs 10.  Hand-designed kernels (Gaussian, box, Sobel, Prewitt, Haar, an
axis-aligned Gabor) are exact outer products, and filter banks often have a low rank across
channels (Jaderberg, Vedaldi & Zisserman 2014, "Speeding up convolutional neural networks
with low rank expansions", scheme 2).

The construction.  A conv's output channels are split into *units* that read the same input
channels: every output channel of a depthwise conv (one input channel per output,
``W.shape[1] == 1``, channel multipliers included), else every group.  A unit's weight
``T (mu, cin, k1, ..., kn)`` — over the n axes of extent >= 2 — is factored one axis at a
time: reshaped to the ``(cin·k1) × (mu·k2···kn)`` matrix, its SVD ``U Σ Vᵀ`` truncated to
rank ``r`` gives a conv ``cin -> r`` whose kernel ``U`` spans axis 1 only, and the weight
``Σ Vᵀ`` ``(mu, r, k2, ..., kn)`` of what is left, factored the same way on the next axis
until one axis remains (Jaderberg's scheme 2 in 2-D, applied twice in 3-D)::

    2-D, group 1:    C --(kh×1)--> r --(1×kw)--> M
    2-D, depthwise:  C --(kh×1, group C)--> M·r --(1×kw, group M)--> M      (r = 1: v ⊗ h)
    3-D:             C --(k×1×1)--> r1 --(1×k×1)--> r2 --(1×1×k)--> M

Units lie side by side along the channels, so a stage is one grouped Conv: the first with
the conv's groups, the later ones with one group per unit.  The rank of a stage is the
largest over its units (a unit of lower rank carries singular vectors of zero weight).
Covered in 3-D: kernels a⊗b⊗c per output channel of a depthwise conv (or of a conv over one
input channel), and full/grouped convs whose recursive ranks are low.  A full conv that is
rank 1 per (output, input) pair is split when its recursive ranks make that cheaper (always
for C = 1, the depthwise case above); its cheapest chain, depthwise convs per pair, would
need a channel shuffle that Conv cannot express.

Windows.  Pads are resolved to explicit ones; the stage of axis ``a`` takes that axis's
stride, dilation and pads (1, 1 and 0 on the others), so zeros and strides apply exactly
where the original window met them.  Axes of kernel extent 1 (a 3×3×1 kernel) ride on the
first stage.  The bias and a FusedConv's epilogue (residual, activation) go on the last
stage, which keeps the original op; the earlier stages are Convs without bias.

Exactness.  A stage keeps the fewest singular values (common to its units) with which every
unit's matrix is reproduced to a relative Frobenius error of ``rank_tol`` (1e-6 by default),
so the chain reproduces the weight to float32 precision.  ``approximate=True`` with an
``error_budget`` ε also accepts a rank at which the layer's relative Frobenius error
``||W - Ŵ|| / ||W||`` stays within ε (so it never keeps more than the exact rule).  The left
factors are orthonormal, so the stages' errors add in quadrature and the reported error is
that of the factorization (before the factors are rounded to the weight's dtype); in 3-D each
stage may spend an even share of what is left of ε².

Cost model.  Replace when the chain's FLOPs (the ops' ``cost`` hooks: ``conv_flops``, plus
the epilogue of a FusedConv) are below the conv's.  Memory is not weighed: the chain
materializes its intermediates (``intermediate_bytes`` in the report; a blur's is the size
of its output), and its weights are smaller.  Each channel a stage keeps costs FLOPs in it
and in the next stage, which bounds the useful rank ``r_max`` before any SVD; the SVD of a
learned 512-channel 3×3 conv is a 1536×1536 one, so ``_truncated_svd`` first rejects a
weight whose rank provably exceeds ``r_max`` at the cost of one Cholesky factorization, and
finds a low rank by randomized sketches before it falls back to the full SVD.  A weight
rejected by mistake is only a missed optimization; an accepted one is always measured.

``analyze_separable(g, ...)`` returns one :class:`LayerDecision` per conv — split or kept,
why, the ranks, the error, FLOPs before and after; the pass applies the ones marked
``replace``.  ``decompose_separable`` is the exact pass; ``separable_pass(...)`` makes the
others.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from ..ir import CnncError, Graph, Node, TensorType, Value, get_op
from ..ops import _spatial as sp
from .manager import Pass, graph_pass, graph_property

RANK_TOL = 1e-6
PROPERTY = "no_separable_conv"


@dataclass(frozen=True)
class Stage:
    """One conv of a chain; ``name`` (d, h or w) is the axis it filters along."""

    op: str
    weight: np.ndarray
    attrs: dict
    name: str


@dataclass(frozen=True)
class LayerDecision:
    """What the pass does with one conv, and why."""

    node: str
    label: str
    kernel: tuple[int, ...]
    flops_before: int
    reason: str
    replace: bool = False
    ranks: tuple[int, ...] = ()          # channels per unit between the stages
    error: float | None = None           # relative Frobenius error of the chain's weight
    flops_after: int | None = None
    intermediate_bytes: int = 0
    stages: tuple[Stage, ...] = ()

    def line(self) -> str:
        kernel = "x".join(map(str, self.kernel))
        ranks = ",".join(map(str, self.ranks)) or "-"
        error = "-" if self.error is None else f"{self.error:.1e}"
        return (f"{'split' if self.replace else 'keep '} {self.label:24s} {kernel:8s} "
                f"ranks {ranks:7s} error {error:8s} {self.reason}")


@dataclass(frozen=True)
class _Config:
    error_budget: float = 0.0        # 0: exact
    rank_tol: float = RANK_TOL


class _Kept(Exception):
    """Raised by the factorization when the chain cannot be cheaper."""


def _fraction(name: str, v) -> float:
    number = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
    if not number or not 0 < v < 1:
        raise CnncError(f"{name} must be a number in (0, 1), got {v!r}",
                        where="decompose_separable")
    return float(v)


def _config(approximate: bool, error_budget, rank_tol) -> _Config:
    if approximate != (error_budget is not None):
        raise CnncError("approximate=True needs an error_budget (and an error_budget needs "
                        "approximate=True)", where="decompose_separable")
    budget = 0.0 if error_budget is None else _fraction("error_budget", error_budget)
    return _Config(budget, _fraction("rank_tol", rank_tol))


# ---------------------------------------------------------------- truncated SVD
def _tails(sigma: np.ndarray, total: np.ndarray) -> np.ndarray:
    """``(U, k + 1)``: the energy each unit (of energy ``total``) drops when it keeps its
    ``r = 0..k`` leading singular values ``sigma``."""
    kept = np.cumsum(np.concatenate([np.zeros((len(sigma), 1)), sigma ** 2], 1), 1)
    return np.maximum(total[:, None] - kept, 0.0)


def _rank(tails: np.ndarray, limit: np.ndarray, allowance: float) -> int:
    """The fewest singular values, common to all units and at least 1, with which every
    unit drops at most its ``limit`` or all together at most ``allowance``
    (``tails.shape[1]`` when none does)."""
    ok = (tails <= limit[:, None]).all(0) | (tails.sum(0) <= allowance)
    return max(int(np.argmax(ok)), 1) if ok.any() else tails.shape[1]


def _truncated_svd(a: np.ndarray, r_max: int, rtol: float, allowance: float):
    """``(u, s, vt, dropped energy)`` of the matrices ``a (U, rows, cols)`` at the rank
    ``_rank`` picks, or None when it exceeds ``r_max``.

    First a cheap rejection of full-rank weights: the singular values of a submatrix never
    exceed the matrix's, so when the ``(r_max + 1)``-square submatrix ``S`` on evenly
    spaced rows and columns has ``σ_min² > τ`` — ``SᵀS - τI`` has a Cholesky factor — with
    ``τ`` the most a unit may drop, no rank ``<= r_max`` will do.  Then randomized range
    finders (Halko, Martinsson & Tropp 2011) of doubling width ``k`` look for the rank (the
    factors are an orthogonal projection of ``a``, so the energy they drop is exact whatever
    the sketch), and at ``k = min(rows, cols)`` the full SVD decides.
    """
    n, total = min(a.shape[1:]), (a ** 2).sum((1, 2))
    limit = rtol ** 2 * total
    if r_max + 1 < n:
        rows, cols = (np.linspace(0, size - 1, r_max + 1).astype(int) for size in a.shape[1:])
        sub = a[:, rows][:, :, cols]
        tau = np.maximum(limit, allowance)[:, None, None] * np.eye(r_max + 1)
        try:
            np.linalg.cholesky(sub.transpose(0, 2, 1) @ sub - tau)
            return None
        except np.linalg.LinAlgError:
            pass
    rng, k = np.random.default_rng(0), 4
    while True:
        k = min(2 * k, n)
        if k < n:
            q = np.linalg.qr(a @ rng.standard_normal((a.shape[2], k)))[0]
            ub, s, vt = np.linalg.svd(q.transpose(0, 2, 1) @ a, full_matrices=False)
            u = q @ ub
        else:
            u, s, vt = np.linalg.svd(a, full_matrices=False)
        tails = _tails(s, total)
        r = _rank(tails, limit, allowance)
        if r <= min(k, r_max):
            return u[:, :, :r], s[:, :r], vt[:, :r], float(tails[:, r].sum())
        if k == n:
            return None


# ---------------------------------------------------------------- the chain
def _window(a, pads: tuple[int, ...], keep: set[int]) -> dict:
    """Window attributes of a stage that filters along the axes in ``keep`` only."""
    nd = len(a["strides"])
    return {"kernel_shape": None, "auto_pad": "NOTSET",
            "strides": tuple(a["strides"][i] if i in keep else 1 for i in range(nd)),
            "dilations": tuple(a["dilations"][i] if i in keep else 1 for i in range(nd)),
            "pads": tuple(p if i % nd in keep else 0 for i, p in enumerate(pads))}


def _apply(op: str, x: TensorType, w_shape, attrs: dict, extra=()) -> tuple[TensorType, int]:
    """Output type and FLOPs of ``op`` over ``x`` with a weight of shape ``w_shape``."""
    opdef = get_op(op)
    ins = [x, TensorType(tuple(w_shape), x.dtype), *extra]
    canon = opdef.make_attrs(attrs, ins)
    (y,) = opdef.infer(ins, canon)
    return y, opdef.cost(ins, canon, [y])


def _unfold(t: np.ndarray) -> np.ndarray:
    """Units' weights ``(U, mu, cin, k, *rest)`` as matrices ``(U, cin·k, mu·prod(rest))``."""
    units, _, cin, k = t.shape[:4]
    return t.transpose(0, 2, 3, 1, *range(4, t.ndim)).reshape(units, cin * k, -1)


def _factor(n: Node, w: np.ndarray, types: list[TensorType], axes: list[int], cfg: _Config,
            before: int) -> LayerDecision:
    """Factor ``n``'s weight axis by axis into the stages of a chain (module notes)."""
    kernel, (m, cin), groups = w.shape[2:], w.shape[:2], n.attrs["group"]
    units = m if cin == 1 else groups
    nd = len(kernel)
    names = "dhw"[3 - nd:]
    pads = sp.resolve_pads(types[0].shape[2:], kernel, n.attrs["strides"], n.attrs["dilations"],
                           n.attrs["auto_pad"], n.attrs["pads"])
    keeps = [{a} for a in axes]
    keeps[0] |= {a for a in range(nd) if kernel[a] == 1}
    attrs = [{**_window(n.attrs, pads, keep), "group": groups if j == 0 else units}
             for j, keep in enumerate(keeps)]
    one_axis = [tuple(kernel[a] if i == a else 1 for i in range(nd)) for a in axes]

    t = w.astype(np.float64).reshape(units, m // units, cin, *(kernel[a] for a in axes))
    norm2 = float(np.sum(t * t))
    allowance = cfg.error_budget ** 2 * norm2
    x, flops, err2, stages, inter = types[0], 0, 0.0, [], 0
    for j in range(len(axes) - 1):
        # a channel more (per unit) costs this stage one filter and the next stage at least
        # one input channel of each of its outputs (m on the last stage, one per unit before)
        y1, per_rank = _apply("Conv", x, (units, cin, *one_axis[j]), attrs[j])
        outputs = m if j + 2 == len(axes) else units
        per_rank += _apply("Conv", y1, (outputs, 1, *one_axis[j + 1]), attrs[j + 1])[1]
        r_max = (before - flops - 1) // per_rank
        if r_max < 1:
            raise _Kept("even a rank-1 chain costs more FLOPs than the conv")
        share = max(allowance - err2, 0.0) / (len(axes) - 1 - j)
        found = _truncated_svd(_unfold(t), r_max, cfg.rank_tol, share)
        if found is None:
            raise _Kept(f"the rank along {names[axes[j]]} exceeds {r_max}, "
                        "the most that saves FLOPs")
        u, s, vt, dropped = found
        r, err2 = s.shape[1], err2 + dropped
        weight = u.transpose(0, 2, 1).reshape(units * r, cin, *one_axis[j])
        stages.append(Stage("Conv", weight.astype(w.dtype), attrs[j], names[axes[j]]))
        x, cost = _apply("Conv", x, weight.shape, attrs[j])
        flops, inter = flops + cost, inter + x.nbytes
        rest = (s[:, :, None] * vt).reshape(units, r, t.shape[1], *t.shape[4:])
        t, cin = np.moveaxis(rest, 1, 2), r
    last = {**n.attrs, **attrs[-1]}
    weight = t.reshape(m, cin, *one_axis[-1])
    stages.append(Stage(n.op, weight.astype(w.dtype), last, names[axes[-1]]))
    flops += _apply(n.op, x, weight.shape, last, types[2:])[1]
    cheaper = flops < before
    return LayerDecision(n.name, n.label, kernel, before,
                         f"FLOPs {before} -> {flops} ({before / flops:.2f}x)" if cheaper
                         else f"the chain costs {flops} FLOPs, the conv {before}",
                         cheaper, tuple(st.weight.shape[1] for st in stages[1:]),
                         float(np.sqrt(err2 / norm2)) if norm2 else 0.0, flops, inter,
                         tuple(stages))


def _decide(g: Graph, n: Node, cfg: _Config) -> LayerDecision:
    operands = g.operands(n.name)
    types = [g.type_of(v) for v in operands]
    before = get_op(n.op).cost(types, n.attrs, n.types)
    kept = partial(LayerDecision, n.name, n.label, tuple(types[1].shape[2:]), before)
    w = g.constant(operands[1])
    axes = [a for a, k in enumerate(types[1].shape[2:]) if k >= 2]
    if w is None:
        return kept("the weight is not a constant")
    if len(axes) < 2:
        return kept("the kernel spans fewer than two axes")
    try:
        return _factor(n, w, types, axes, cfg, before)
    except _Kept as e:
        return kept(str(e))


def _analyze(g: Graph, cfg: _Config) -> list[LayerDecision]:
    return [_decide(g, n, cfg) for n in g.nodes() if get_op(n.op).conv]


def analyze_separable(g: Graph, *, approximate: bool = False, error_budget: float | None = None,
                      rank_tol: float = RANK_TOL) -> list[LayerDecision]:
    """One decision per Conv/FusedConv of ``g``, in topological order (see the module notes)."""
    return _analyze(g, _config(approximate, error_budget, rank_tol))


# ---------------------------------------------------------------- the pass
def _split(g: Graph, d: LayerDecision) -> None:
    """Replace conv ``d.node`` by the chain of ``d.stages``."""
    n = g.node(d.node)
    x, w, *rest = g.operands(n.name)
    for i, st in enumerate(d.stages):
        label = f"{n.label}_sep_{st.name}"
        wv = g.add_constant(st.weight, f"{label}_w", source=n.source)
        tail = rest if i == len(d.stages) - 1 else []
        (x,) = g.add_node(st.op, [x, wv, *tail], st.attrs, label=label, source=n.source)
    g.replace_all_uses(Value(n.name), x)
    g.remove_node(n.name)
    if not g.users(w) and not g.is_output(w):
        g.remove_node(w.node)


def _decompose(g: Graph, cfg: _Config) -> Graph:
    g = g.copy()
    for d in _analyze(g, cfg):
        if d.replace:
            _split(g, d)
    return g


@graph_property(PROPERTY)
def no_separable_conv(g: Graph) -> bool:
    """No conv is left that an exact split would make cheaper."""
    return not any(d.replace for d in _analyze(g, _Config()))


@graph_pass("decompose_separable", ensures=(PROPERTY,))
def decompose_separable(g: Graph) -> Graph:
    """Replace each conv whose kernel is exactly separable (to rank_tol = 1e-6) by a chain
    of 1-D convs, where that needs fewer FLOPs."""
    return _decompose(g, _Config())


def separable_pass(*, approximate: bool = False, error_budget: float | None = None,
                   rank_tol: float = RANK_TOL) -> Pass:
    """The pass with other settings: ``approximate=True, error_budget=ε`` allows a relative
    Frobenius error ε of each layer's weight.  Only the default settings ensure
    ``no_separable_conv`` (a tighter ``rank_tol`` splits less)."""
    cfg = _config(approximate, error_budget, rank_tol)
    if cfg == _Config():
        return decompose_separable
    name = f"decompose_separable(error_budget={cfg.error_budget:g}, rank_tol={cfg.rank_tol:g})"
    return Pass(name, partial(_decompose, cfg=cfg), doc=separable_pass.__doc__ or "")
