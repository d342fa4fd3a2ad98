"""The conformance harness: ONNX node cases and light models, run on any backend.

``node_cases()`` yields the CNN subset of ONNX's node test cases (see
``shared/conformance/README.md``; the op list is ``cnn_ops.txt`` here); ``run_node_case(case, backend)`` imports the case's model
with its int64 inputs bound as constants (cnnc compiles static shapes: binding those inputs
is what a user does), compiles it for ``backend``, runs every data set and compares with the
expected outputs.
"""
from __future__ import annotations

import os
import shutil
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import onnx
from onnx import TensorProto, numpy_helper

import cnnc
from helpers import compile_for

#: the CNN op set of the node cases: a copy, kept in the repository, of
#: shared/conformance/cnn_ops.txt, so that the tests run from any clone
CNN_OPS = Path(__file__).resolve().parent / "cnn_ops.txt"
TYPES = {TensorProto.FLOAT, TensorProto.INT64}


def _scope_ops() -> set[str]:
    text = CNN_OPS.read_text()
    return {ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")}


#: the backends every conformance case and light model runs on (``helpers.compile_for`` names);
#: "cuda-emu" is the generated CUDA on the CPU emulator (no GPU), "cuda" the real GPU build,
#: collected only where CNNC_GPU=1 says a GPU is there (scripts/gpu_check.sh)
BACKENDS = ["reference", "c", "tvm", "cuda-emu"] + (["cuda"] if os.environ.get("CNNC_GPU") == "1" else [])


def require_backend(backend: str) -> None:
    """Skip, naming the missing piece, where a backend's optional dependency is absent."""
    if backend.startswith("tvm"):
        pytest.importorskip("tvm", reason="the tvm backend needs Apache TVM: pip install 'cnnc[tvm]'")
    if backend == "cuda-emu" and shutil.which(os.environ.get("CXX", "g++")) is None:
        pytest.skip("the cuda-emu backend builds the generated CUDA with g++, which is not installed")
    if backend == "cuda":
        from cnnc.backends.cuda import nvcc_path
        if nvcc_path() is None:
            pytest.skip("the cuda backend needs nvcc (the CUDA toolkit), which is not installed")


@lru_cache(maxsize=1)
def node_cases() -> dict:
    from onnx.backend.test.case import node
    ops = _scope_ops()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = {}
        for case in node.collect_testcases(None):
            graph = case.model.graph
            types = {v.type.tensor_type.elem_type for v in list(graph.input) + list(graph.output)}
            if {n.op_type for n in graph.node} <= ops and types <= TYPES:
                cases[case.name] = case
    return cases


#: ONNX's suites of models exported by PyTorch (old opsets: 6 and below, IR version 3),
#: shipped in the onnx package beside the node cases
PYTORCH_SUITES = ("pytorch-converted", "pytorch-operator")


@lru_cache(maxsize=1)
def pytorch_cases() -> dict:
    """``suite/name`` -> the model folder (``model.onnx`` and ``test_data_set_*``) of every
    case of the PyTorch suites."""
    data = Path(onnx.__file__).parent / "backend" / "test" / "data"
    return {f"{suite}/{d.name}": d for suite in PYTORCH_SUITES
            for d in sorted((data / suite).iterdir()) if (d / "model.onnx").is_file()}


def run_model_case(folder: Path, backend: str, rtol=1e-4, atol=1e-5) -> None:
    """A model folder of ONNX's backend test data (``model.onnx``, ``test_data_set_*/
    input_*.pb``, ``output_*.pb``) on ``backend``: each data set gives the expected outputs."""
    model = onnx.load(str(folder / "model.onnx"))
    for ds in sorted(folder.glob("test_data_set_*")):
        inputs = [numpy_helper.to_array(onnx.load_tensor(str(f))) for f in sorted(ds.glob("input_*.pb"))]
        expected = [numpy_helper.to_array(onnx.load_tensor(str(f))) for f in sorted(ds.glob("output_*.pb"))]
        _compare(model, inputs, expected, backend, rtol, atol)


def compile_time_inputs(model: onnx.ModelProto) -> set[str]:
    """Graph inputs that cnnc takes as compile-time constants: the int64 ones (shapes,
    axes, pads, sizes) and those read only at ONNX input positions that an op's OnnxMap
    makes attributes (Resize's scales, Clip's bounds, Pad's value, Range's operands...)."""
    from cnnc.onnx.importer import onnx_ops
    table = onnx_ops()
    static, dynamic = set(), set()
    for node in model.graph.node:
        op = table.get(node.op_type)
        positions = set(op.onnx.const_inputs) if op is not None else set()
        if node.op_type in ("Range", "ConstantOfShape"):
            positions = set(range(len(node.input)))
        for i, name in enumerate(node.input):
            (static if i in positions else dynamic).add(name)
    names = {vi.name for vi in model.graph.input}
    int64 = {vi.name for vi in model.graph.input if vi.type.tensor_type.elem_type == TensorProto.INT64}
    return (int64 | (static - dynamic)) & names


def bind_compile_time_inputs(model: onnx.ModelProto, inputs) -> tuple[onnx.ModelProto, dict]:
    """Turn the compile-time graph inputs (``compile_time_inputs``) into initializers
    holding ``inputs``' values; returns the new model and the remaining feeds by name."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    feeds = {}
    keep = []
    bind = compile_time_inputs(model)
    # a model of IR version < 4 lists its initializers among the graph inputs too (with
    # defaults there); the data sets feed the others only
    inits = {t.name for t in model.graph.initializer}
    fed = [vi for vi in model.graph.input if vi.name not in inits]
    for vi, arr in zip(fed, inputs):
        if vi.name in bind:
            m.graph.initializer.append(numpy_helper.from_array(np.asarray(arr), vi.name))
            if model.ir_version < 4:  # IR < 4: an initializer must be a graph input too
                inits.add(vi.name)
        else:
            keep.append(vi)
            feeds[vi.name] = np.asarray(arr)
    del m.graph.input[:]
    m.graph.input.extend([vi for vi in model.graph.input if vi.name in inits] + keep)
    return m, feeds


def run_node_case(case, backend: str, rtol=1e-4, atol=1e-5) -> None:
    """Raises AssertionError (or CnncError) when the case fails on ``backend``."""
    for inputs, expected in case.data_sets:
        _compare(case.model, inputs, expected, backend, rtol, atol)


def _compare(model, inputs, expected, backend: str, rtol, atol) -> None:
    """``model`` run on ``backend`` with ``inputs`` (the compile-time ones bound) gives
    ``expected``."""
    model, feeds = bind_compile_time_inputs(model, inputs)
    g = cnnc.load_onnx(model)
    outs = compile_for(g, backend).run(feeds)
    assert len(outs) == len(expected), (list(outs), len(expected))
    for (name, got), want in zip(outs.items(), expected):
        want = np.asarray(want)
        assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
        if want.dtype.kind in "fc":
            # some cases store expected values rounded to 4 decimals (RoiAlign, a ceil-mode
            # AveragePool): those carry +-5e-5 of rounding, so they are compared to 1e-4
            tol = 1e-4 if want.size and np.array_equal(want, np.round(want, 4)) else atol
            np.testing.assert_allclose(got, want, rtol=rtol, atol=max(atol, tol), err_msg=name)
        else:
            np.testing.assert_array_equal(got, want, err_msg=name)
