"""``cnnc verify``: does a compiled model compute what the model says?

The model runs on a cnnc target and on onnxruntime (the original ONNX file, or the graph
exported with ``to_onnx``), on the same seeded random inputs or on given arrays.  Where
onnxruntime is not installed or cannot run the model, cnnc's numpy reference backend is the
other side (the report says which).  Per output: the largest absolute and relative error,
the largest distance in ULPs (units in the last place of the output's float type) and the
index of the worst element; the output passes when every element is within
``atol + rtol * |expected|`` (NaN matching NaN) and, with ``max_ulp``, within that many ULPs.

``per_layer=True`` looks for the first node whose output differs, when a model disagrees:
the optimized graph is compiled for the target once more with every node's output made a
graph output, and compared in topological order against cnnc's reference on the same inputs.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .backends import compile as compile_model
from .ir import CnncError, Graph, Value
from .passes import optimize


@dataclass
class OutputCheck:
    """How one output of the target compares with the expected one."""

    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    max_ulp: int
    worst: tuple[int, ...]
    ok: bool

    def line(self) -> str:
        return (f"{self.name}: max abs {self.max_abs:.3g}, max rel {self.max_rel:.3g}, max ULP {self.max_ulp} at "
                f"{self.worst}: {'ok' if self.ok else 'MISMATCH'}")


@dataclass
class VerifyReport:
    """What ``verify`` found.  ``expected_from``: "onnxruntime" or "reference" (cnnc's numpy
    oracle), with the reason in ``note`` when onnxruntime was not used; ``first_bad_node``
    (with ``per_layer``): the first node whose output differs, or None."""

    target: str
    expected_from: str
    atol: float
    rtol: float
    max_ulp: int | None
    outputs: list[OutputCheck] = field(default_factory=list)
    note: str = ""
    first_bad_node: str | None = None
    first_bad_detail: str = ""

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outputs)

    def __str__(self) -> str:
        tol = f"atol {self.atol:g}, rtol {self.rtol:g}" + (f", max ULP {self.max_ulp}" if self.max_ulp is not None
                                                            else "")
        lines = [f"{self.target} against {self.expected_from} ({tol})" + (f"; {self.note}" if self.note else "")]
        lines += [f"  {o.line()}" for o in self.outputs]
        if self.first_bad_node is not None:
            lines.append(f"  first differing node: {self.first_bad_node} ({self.first_bad_detail})")
        lines.append("ok: every output within tolerance" if self.ok else "MISMATCH: an output is out of tolerance")
        return "\n".join(lines)


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise distance in representable floats between two arrays of one float type
    (0 for equal values and for two NaNs; the largest distance for a NaN against a number)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind != "f":
        return (a != b).astype(np.int64)
    ints = {2: np.int16, 4: np.int32, 8: np.int64}[a.dtype.itemsize]
    big = np.iinfo(ints).max

    def ordered(x):
        i = x.view(ints).astype(np.int64)
        return np.where(i < 0, np.int64(np.iinfo(ints).min) - i, i)
    with np.errstate(over="ignore"):
        d = np.abs(ordered(np.ascontiguousarray(a)) - ordered(np.ascontiguousarray(b.astype(a.dtype))))
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    return np.where(nan_a & nan_b, 0, np.where(nan_a | nan_b, big, d))


def compare(name: str, got: np.ndarray, want: np.ndarray, atol: float, rtol: float,
            max_ulp: int | None) -> OutputCheck:
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return OutputCheck(name, got.shape, float("inf"), float("inf"), 0, (), False)
    if got.size == 0:
        return OutputCheck(name, got.shape, 0.0, 0.0, 0, (), True)
    if got.dtype.kind not in "fc":
        diff = (got != want)
        worst = np.unravel_index(int(np.argmax(diff)), got.shape)
        return OutputCheck(name, got.shape, float(diff.any()), float(diff.any()), int(diff.sum() > 0),
                           tuple(int(i) for i in worst), not diff.any())
    g64, w64 = got.astype(np.float64), want.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(g64 - w64)
        both_nan = np.isnan(g64) & np.isnan(w64)
        same_inf = np.isinf(g64) & (g64 == w64)
        err = np.where(both_nan | same_inf, 0.0, np.where(np.isnan(err), np.inf, err))
        rel = err / np.maximum(np.abs(w64), np.finfo(np.float64).tiny)
        rel = np.where(err == 0, 0.0, rel)
    ulps = ulp_distance(got, want)
    within = err <= atol + rtol * np.abs(np.where(np.isfinite(w64), w64, 0.0))
    if max_ulp is not None:
        within &= ulps <= max_ulp
    excess = err - (atol + rtol * np.abs(np.where(np.isfinite(w64), w64, 0.0)))
    worst = np.unravel_index(int(np.argmax(np.where(np.isnan(excess), np.inf, excess))), got.shape)
    return OutputCheck(name, got.shape, float(err.max()), float(rel.max()), int(ulps.max()),
                       tuple(int(i) for i in worst), bool(within.all()))


def random_inputs(types: Mapping, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded inputs of the given types: standard normal floats, small non-negative ints."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, t in types.items():
        if t.dtype.startswith("float"):
            out[name] = rng.standard_normal(t.shape).astype(t.dtype)
        elif t.dtype == "bool":
            out[name] = rng.random(t.shape) < 0.5
        else:
            out[name] = rng.integers(0, 4, t.shape).astype(t.dtype)
    return out


def _onnxruntime(onnx_model, graph: Graph, feeds, bound: Mapping | None = None) -> tuple[dict | None, str]:
    """onnxruntime's outputs by graph-output name, or None and why not.  ``bound``: values of
    the ONNX model's inputs that cnnc took as constants (``load_onnx(constants=)``), fed to
    onnxruntime with the others."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None, "onnxruntime is not installed"
    from onnx import TensorProto, helper

    from .onnx import to_onnx
    try:
        if onnx_model is None:
            data = to_onnx(graph).SerializeToString()
        elif isinstance(onnx_model, (str, os.PathLike)):
            data = str(onnx_model)
        else:
            data = onnx_model.SerializeToString()
        so = ort.SessionOptions()
        so.log_severity_level = 3
        sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        # the session's input types ("tensor(float)") as numpy's, through ONNX's own table
        wanted = {i.name: helper.tensor_dtype_to_np_dtype(TensorProto.DataType.Value(i.type[7:-1].upper()))
                  for i in sess.get_inputs()}
        given = {k: np.asarray(v, wanted[k]) for k, v in {**(bound or {}), **feeds}.items() if k in wanted}
        return dict(zip(names, sess.run(None, given))), ""
    except Exception as e:  # noqa: BLE001 - any failure of the other runtime means: use the reference
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        return None, f"onnxruntime could not run the model ({first})"


def verify(graph: Graph, target: str = "c", *, onnx_model=None, inputs: Mapping | None = None, seed: int = 0,
           atol: float = 1e-4, rtol: float = 1e-3, max_ulp: int | None = None, per_layer: bool = False,
           level: int = 2, bound: Mapping | None = None, **options) -> VerifyReport:
    """Compile ``graph`` (optimized at ``level``) for ``target`` (``options`` as for
    ``cnnc.compile``), run it and onnxruntime (on ``onnx_model``: a path or ModelProto, else
    the exported graph) on ``inputs`` (default: seeded random ones), and compare every output.
    ``bound``: the ``constants`` the graph was loaded with, which onnxruntime is fed.
    A model that cannot be compiled raises its CnncError."""
    if not isinstance(graph, Graph):
        raise CnncError(f"cnnc.verify expects a cnnc.Graph, got {type(graph).__name__}")
    graph.verify()
    feeds = random_inputs(graph.input_types(), seed)
    for name, a in (inputs or {}).items():
        if name not in feeds:
            raise CnncError(f"verify: {name!r} is not an input of the model; inputs are {', '.join(feeds)}")
        feeds[name] = np.asarray(a)
    optimized = optimize(graph, level=level)
    model = compile_model(optimized, target=target, **options)
    got = model.run(feeds)
    want, note = _onnxruntime(onnx_model, graph, feeds, bound)
    source = "onnxruntime"
    if want is None or list(want) != list(got):
        if want is not None:
            note = f"onnxruntime names the outputs {list(want)}, cnnc {list(got)}"
        want, source = compile_model(graph, target="reference").run(feeds), "reference"
    report = VerifyReport(target, source, atol, rtol, max_ulp, note=note)
    report.outputs = [compare(n, got[n], want[n], atol, rtol, max_ulp) for n in got]
    if per_layer and not report.ok:
        report.first_bad_node, report.first_bad_detail = _first_bad_node(optimized, target, feeds, atol, rtol,
                                                                         max_ulp, options)
    return report


def _first_bad_node(g: Graph, target: str, feeds, atol, rtol, max_ulp, options) -> tuple[str | None, str]:
    """The first node (in topological order) whose output on ``target`` is out of tolerance
    against the reference, with every node's output made a graph output."""
    probe = g.copy()
    order = [n for n in probe.nodes() if n.op not in ("Input", "Constant")]
    taps = {label: probe.node(v.node) for label, v in probe.outputs}
    for i, n in enumerate(order):
        for port in range(len(n.types)):
            v = Value(n.name, port)
            if not probe.is_output(v):
                label = f"cnnc_probe_{i}_{port}"
                probe.add_output(v, label)
                taps[label] = n
    probe.verify()
    got = compile_model(probe, target=target, **options).run(feeds)
    want = compile_model(probe, target="reference").run(feeds)
    by_node = {}
    for label, arr in got.items():
        node = taps.get(label)
        if node is not None:
            by_node.setdefault(node.name, []).append((label, arr))
    for n in order:
        for label, arr in by_node.get(n.name, []):
            check = compare(label, arr, want[label], atol, rtol, max_ulp)
            if not check.ok:
                return f"{n.label} ({n.op})", check.line().split(": ", 1)[1]
    return None, "every node agrees: the difference comes from the outputs' own copies"
