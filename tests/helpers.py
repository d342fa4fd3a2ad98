"""Shared test utilities: run one op through cnnc's reference and through ONNX's."""
from __future__ import annotations

import importlib.util
import os
import shutil
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import cnnc
from cnnc.backends import c as cb
from cnnc.ir import Graph, TensorType

OPSET = 21


def one_node_graph(op: str, inputs: Sequence[np.ndarray], attrs: Mapping | None = None,
                   const: Sequence[int] = ()):
    """A verified graph of one ``op`` node: operands listed in ``const`` are Constants, the
    rest graph inputs ``in<i>``; every result is a graph output ``out<i>``.  Returns the
    graph, the feeds and the node's output values."""
    g = Graph(f"single_{op}")
    vals, feeds = [], {}
    for i, a in enumerate(inputs):
        a = np.asarray(a)
        if i in const:
            vals.append(g.add_constant(a, f"c{i}"))
        else:
            vals.append(g.add_input(f"in{i}", TensorType.of(a)))
            feeds[f"in{i}"] = a
    outs = g.add_node(op, vals, attrs or {}, label=op.lower())
    for i, v in enumerate(outs):
        g.add_output(v, f"out{i}")
    return g.verify(), feeds, outs


def cnnc_run(op: str, inputs: Sequence[np.ndarray], attrs: Mapping | None = None,
             const: Sequence[int] = ()) -> tuple[np.ndarray, ...]:
    """Run a one-node graph (``one_node_graph``) on the reference backend, and assert that
    the inferred output types equal the computed outputs' shapes and dtypes."""
    g, feeds, outs = one_node_graph(op, inputs, attrs, const)
    res = cnnc.compile(g, target="reference").run(feeds)
    for (name, arr), v in zip(res.items(), outs):
        t = g.type_of(v)
        assert arr.shape == t.shape and arr.dtype.name == t.dtype, (name, arr.shape, t)
    return tuple(res.values())


def compile_for(g, backend: str, **options):
    """``cnnc.compile`` for a test backend name: a target, or ``cuda-emu`` (the generated
    CUDA run by the CPU emulator: no GPU involved)."""
    if backend == "cuda-emu":
        return cnnc.compile(g, target="cuda", emulate=True, **options)
    return cnnc.compile(g, target=backend, **options)


def backend_check(op: str, inputs: Sequence[np.ndarray], attrs: Mapping | None = None,
                  const: Sequence[int] = (), rtol: float = 1e-5, atol: float = 1e-6,
                  backend: str = "c") -> None:
    """A one-node graph (``one_node_graph``) built for ``backend`` gives the reference's outputs."""
    g, feeds, _ = one_node_graph(op, inputs, attrs, const)
    check_graph(g, feeds, rtol=rtol, atol=atol, backend=backend)


def onnx_run(op_type: str, inputs: Sequence[np.ndarray], attrs: Mapping | None = None,
             n_outputs: int = 1, opset: int = OPSET, domain: str = "",
             runtime: str = "reference") -> list[np.ndarray]:
    """Run one ONNX node through ``onnx.reference.ReferenceEvaluator`` (or onnxruntime with
    ``runtime="ort"``, where ONNX's reference is known to be wrong). ``None`` entries in
    ``inputs`` become omitted optional inputs."""
    names = [f"in{i}" if a is not None else "" for i, a in enumerate(inputs)]
    node = helper.make_node(op_type, names, [f"out{i}" for i in range(n_outputs)],
                            domain=domain, **(attrs or {}))
    graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
                    for n, a in zip(names, inputs) if a is not None]
    out_type = helper.np_dtype_to_tensor_dtype(next(a for a in inputs if a is not None).dtype)
    graph_outputs = [helper.make_tensor_value_info(f"out{i}", out_type, None)
                     for i in range(n_outputs)]
    model = helper.make_model(helper.make_graph([node], "single", graph_inputs, graph_outputs),
                              opset_imports=[helper.make_opsetid(domain, opset)])
    feeds = {n: a for n, a in zip(names, inputs) if a is not None}
    if runtime == "ort":
        import onnxruntime as ort
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return sess.run(None, feeds)
    from onnx.reference import ReferenceEvaluator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(ReferenceEvaluator(model).run(None, feeds))


def assert_close(actual, expected, rtol=1e-4, atol=1e-5):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def dynamic_convnet(opset=17) -> onnx.ModelProto:
    """What a PyTorch export with dynamic axes looks like: symbolic batch and spatial dims,
    a flatten written as Shape -> Gather -> Unsqueeze -> Concat -> Reshape."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")
    zero = numpy_helper.from_array(np.array(0, np.int64), "zero")
    minus1 = numpy_helper.from_array(np.array([-1], np.int64), "minus1")
    axes0 = numpy_helper.from_array(np.array([0], np.int64), "axes0")
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="gap"),
        helper.make_node("Shape", ["p"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0, name="batch"),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"], name="unsq"),
        helper.make_node("Concat", ["n1", "minus1"], ["newshape"], axis=0, name="cat"),
        helper.make_node("Reshape", ["p", "newshape"], ["y"], name="flatten"),
    ]
    graph = helper.make_graph(
        nodes, "dyn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])], [w, b, zero, minus1, axes0])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


# ---------------------------------------------------------------- pass equivalence
def random_feeds(g: Graph, rng: np.random.Generator) -> dict:
    feeds = {}
    for name, t in g.input_types().items():
        if t.dtype.startswith("float"):
            feeds[name] = rng.standard_normal(t.shape).astype(t.dtype)
        else:
            feeds[name] = rng.integers(0, 3, t.shape).astype(t.dtype)
    return feeds


def assert_equivalent(before: Graph, after: Graph, *, trials: int = 3, rtol: float = 1e-4,
                      atol: float = 1e-5, seed: int = 0) -> None:
    """Same input names/types, same output names/types, same outputs on random inputs."""
    assert before.input_types() == after.input_types()
    assert before.output_types() == after.output_types()
    m0, m1 = cnnc.compile(before), cnnc.compile(after)
    rng = np.random.default_rng(seed)
    for _ in range(trials):
        feeds = random_feeds(before, rng)
        want, got = m0.run(feeds), m1.run(feeds)
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=rtol, atol=atol, err_msg=name)


# ---------------------------------------------------------------- code-generating backends
#: TVM as a test backend: skipped where Apache TVM is not installed
TVM = pytest.param("tvm", marks=pytest.mark.skipif(
    importlib.util.find_spec("tvm") is None, reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'"))
#: the generated CUDA run by the CPU emulator as a test backend (built with g++, no GPU
#: involved): skipped where g++ is not installed, as in tests/conformance/harness.py
CUDA_EMU = pytest.param("cuda-emu", marks=pytest.mark.skipif(
    shutil.which(os.environ.get("CXX", "g++")) is None,
    reason="the cuda-emu backend builds the generated CUDA with g++, which is not installed"))
#: the backends the shared cases of tests/backends run on (``compile_for`` names): the C
#: backend, TVM, and the generated CUDA on the emulator
BACKENDS = ["c", TVM, CUDA_EMU]
#: parametrize a test over BACKENDS (its ``backend`` argument)
backends = pytest.mark.parametrize("backend", BACKENDS)


def _backends(names):
    known = {b if isinstance(b, str) else b.values[0]: b for b in BACKENDS}
    return [known[n] for n in names] if names else BACKENDS


def only(*names: str):
    """Parametrize a test's ``backend`` over the named backends of BACKENDS alone (with
    their skip marks): a case that applies to those backends only, or that another backend
    does not pass (the test says why)."""
    return pytest.mark.parametrize("backend", _backends(names))


def backend_params(argnames: str, argvalues, *names: str, marks=None) -> list:
    """The values of ``parametrize("backend," + argnames, ...)``: every backend of ``names``
    (default: BACKENDS) with every entry of ``argvalues``, keeping the backend's skip marks;
    ``marks(backend, i)`` adds marks to the combination with entry ``i`` (say, slow).  For a
    grid whose entries differ by backend (a dtype one backend alone has)."""
    single = len(argnames.split(",")) == 1
    params = []
    for b in _backends(names):
        name, bmarks = (b, ()) if isinstance(b, str) else (b.values[0], tuple(b.marks))
        for i, v in enumerate(argvalues):
            extra = tuple(marks(name, i)) if marks else ()
            if isinstance(v, type(TVM)):
                params.append(pytest.param(name, *v.values, marks=bmarks + tuple(v.marks) + extra,
                                           id=v.id and f"{name}-{v.id}"))
            else:
                params.append(pytest.param(name, *((v,) if single else v), marks=bmarks + extra))
    return params


def c_sanitize_dir(backend: str, folder):
    """``folder`` for the C backend, else None: a shared case that also runs the C model's
    standalone driver under ASan+UBSan (``check_graph``'s ``tmp_path``) does so on C alone."""
    return folder if backend == "c" else None


SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all")


def run_sanitized(g, feeds, folder, impl=None, layout="auto") -> dict:
    """Outputs of ``g``'s standalone driver built under ASan+UBSan (every report fatal),
    with the implementations ``impl`` forced and the layout pass in mode ``layout``."""
    exe = cb.build_exe(cb.generate(g, folder, impl=impl, layout=layout), flags=("-O1",), sanitize_flags=SANITIZE)
    outs = cb.run_exe(exe, [feeds[n] for n in g.input_types()], list(g.output_types().values()),
                      env={**os.environ, "ASAN_OPTIONS": "detect_leaks=0"})
    return dict(zip(g.output_types(), outs))


def check_graph(g, feeds, tmp_path=None, rtol=1e-5, atol=1e-6, cc=None, backend="c", **options):
    """The ``backend`` build of ``g`` (``compile_for`` options) gives the reference's
    outputs, integers exactly; returns the build's.  For C: built with compiler ``cc``, and
    given ``tmp_path``, also its driver under ASan+UBSan."""
    want = cnnc.compile(g, target="reference").run(feeds)
    runs = [compile_for(g, backend, **({"cc": cc} if cc else {}), **options).run(feeds)]
    if tmp_path is not None:
        assert backend == "c", "the sanitized driver is the C backend's"
        runs.append(run_sanitized(g, feeds, tmp_path / "gen", impl=options.get("impl"),
                                  layout=options.get("layout", "auto")))
    for got in runs:
        for name, w in want.items():
            assert got[name].shape == w.shape and got[name].dtype == w.dtype, name
            if w.dtype.kind == "f":
                np.testing.assert_allclose(got[name], w, rtol=rtol, atol=atol, err_msg=name)
            else:
                np.testing.assert_array_equal(got[name], w, err_msg=name)
    return runs[0]


def graph_check(inputs: Sequence[np.ndarray], nodes: Sequence[tuple[str, Sequence[int], Mapping]],
                const: Sequence[int] = (), rtol: float = 1e-5, atol: float = 1e-6,
                sanitize_in: Path | None = None, backend: str = "c") -> Graph:
    """One graph: ``inputs`` (those in ``const`` as Constants) and ``nodes`` ``(op, operand
    indices, attrs)``, every result a graph output; the ``backend`` model (C by default)
    gives the reference's outputs (exactly for integers).  With ``sanitize_in`` (a folder),
    so does the C model's standalone driver built there under ASan+UBSan.  Returns the
    graph."""
    g = Graph("c_check")
    vals, feeds = [], {}
    for i, a in enumerate(inputs):
        if i in const:
            vals.append(g.add_constant(a, f"c{i}"))
        else:
            vals.append(g.add_input(f"in{i}", TensorType.of(a)))
            feeds[f"in{i}"] = a
    for k, (op, operands, attrs) in enumerate(nodes):
        for j, v in enumerate(g.add_node(op, [vals[i] for i in operands], attrs)):
            g.add_output(v, f"n{k}_{op}_{j}")
    check_graph(g, feeds, sanitize_in, rtol=rtol, atol=atol, backend=backend)
    return g


def cases_graph(cases):
    """One graph for all ``cases``, each ``(x, nodes)``: an input ``x<i>`` read as operand 0
    by one node per ``(op, constant operands, attrs)`` of ``nodes``, one output each.
    Returns the graph and its feeds."""
    g = Graph("nodes")
    feeds = {}
    for c, (x, nodes) in enumerate(cases):
        feeds[f"x{c}"] = x
        xv = g.add_input(f"x{c}", TensorType.of(x))
        for i, (op, operands, attrs) in enumerate(nodes):
            vals = [xv] + [g.add_constant(a, f"c{c}_{i}_{j}") for j, a in enumerate(operands)]
            (y,) = g.add_node(op, vals, attrs, label=f"{op.lower()}{c}_{i}")
            g.add_output(y, f"y{c}_{i}")
    return g.verify(), feeds


def check_cases(cases, *, rtol=1e-4, atol=1e-5, backend="c", **options):
    """The ``backend`` build (``compile_for`` options) of ``cases_graph(cases)`` gives the
    reference's outputs: a whole attribute grid in one build keeps compiled backends'
    tests fast."""
    return check_graph(*cases_graph(cases), rtol=rtol, atol=atol, backend=backend, **options)


def check_nodes(x, nodes, *, rtol=1e-4, atol=1e-5, backend="c", **options):
    """``check_cases`` of one input ``x`` and its ``nodes``."""
    return check_cases([(x, nodes)], rtol=rtol, atol=atol, backend=backend, **options)


def add(g, feeds, op, operands, attrs=None, const=(), name=None):
    """Node ``op`` over ``operands`` (new graph inputs; Constants at the indices in
    ``const``), each of its results a graph output."""
    name = name or f"{op.lower()}{len(g.outputs)}"
    vals = []
    for i, a in enumerate(operands):
        if i in const:
            vals.append(g.add_constant(np.asarray(a), f"{name}_c{i}"))
        else:
            feeds[f"{name}_{i}"] = a
            vals.append(g.add_input(f"{name}_{i}", TensorType.of(a)))
    for j, v in enumerate(g.add_node(op, vals, attrs or {})):
        g.add_output(v, f"{name}_out{j}")


def nvcc_check_graph(g, folder) -> None:
    """``g``'s generated CUDA (model and driver) compiles with nvcc for sm_80 and sm_90,
    warnings as errors -- no GPU involved; skipped where the CUDA toolkit is missing."""
    from cnnc.backends import cuda
    if cuda.nvcc_path() is None:
        pytest.skip("nvcc (the CUDA toolkit) is not installed: the sm_80/sm_90 compile check needs it")
    cuda.nvcc_check(cuda.generate(g, folder))
