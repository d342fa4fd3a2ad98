"""tvm-cuda's schedules (``cnnc/backends/tvm_rules.py``): DLight's GPU rules, then cnnc's
``GpuThreads`` for the kernels DLight declines, and the count of what scheduled each
kernel (``Coverage``) in the model, its folder's manifest and the compile line.

This machine may have no GPU, so a GPU schedule is checked on the CPU: the rule's
schedule is replayed without its thread bindings (``bind`` is the only step that needs a
GPU, and TVM's ``bind`` admits data-parallel loops only), built by LLVM, and run beside
the unscheduled kernel on the same operands.  That holds for rules with no shared memory
and no cross-thread step: ``GpuThreads`` and DLight's ``Fallback``.  Building for CUDA
(nvcc) needs no GPU either; running does."""
from __future__ import annotations

import json

import numpy as np
import pytest
from test_tvm_rules import _model, _run

import cnnc
from cnnc.cli import main

pytest.importorskip("tvm", reason="the tvm backend needs Apache TVM: pip install 'cnnc[tvm]'")
from tvm import s_tir, tirx  # noqa: E402
from tvm.s_tir.meta_schedule.arg_info import ArgInfo  # noqa: E402
from tvm.s_tir.schedule import Trace  # noqa: E402

from cnnc.backends import tvm as tb  # noqa: E402
from cnnc.backends import tvm_rules  # noqa: E402

#: ONNX node cases with a kernel each that no DLight rule schedules: RoiAlign's, a fused
#: chain of slices, a slice and a reduction of zero-size tensors, a zero-size reshape
DECLINED = {"RoiAlign": "test_roialign_aligned_false", "RotaryEmbedding": "test_rotary_embedding_expanded",
            "Slice": "test_slice_start_out_of_bounds", "ReduceSum": "test_reduce_sum_empty_set_non_reduced_axis_zero",
            "Reshape": "test_reshape_allowzero_reordered"}


def _node_graph(name: str):
    """The ONNX node case ``name`` (of ``op``) as a graph, its compile-time inputs bound."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))
    from harness import bind_compile_time_inputs
    from onnx.backend.test.case import node
    # all of them: ONNX collects the cases once a process, and a filtered first call
    # would leave the conformance tests only those
    case = next(c for c in node.collect_testcases(None) if c.name == name)
    model, _ = bind_compile_time_inputs(case.model, case.data_sets[0][0])
    return cnnc.load_onnx(model)


def _cuda_kernels(g):
    target = tb.cuda_target()
    mod = tb._prepare(tb.lower(g), target, None)
    return target, {gv.name_hint: f for gv, f in mod.functions.items() if isinstance(f, tirx.PrimFunc)}


def _unbound(func, sch):
    """``sch``'s schedule of ``func`` replayed without its ``bind`` steps."""
    trace = sch.trace
    keep = [i for i in trace.insts if i.kind.name != "Bind"]
    serial = s_tir.Schedule(func)
    Trace(keep, {i: d for i, d in trace.decisions.items() if i.kind.name != "Bind"}).apply_to_schedule(
        serial, remove_postproc=False)
    return serial.mod["main"]


def _same_numbers_serially(func, sch, rng):
    """The GPU schedule ``sch`` of ``func``, its bindings dropped, computes what ``func``
    does (float operands random, integer ones zero: an index in range of any axis)."""
    host = tb.host_target()
    arrays = [rng.standard_normal(s).astype(d) if d.startswith("float") else np.zeros(s, d)
              for s, d in (([int(x) for x in i.shape], str(i.dtype)) for i in ArgInfo.from_prim_func(func))]
    want = _run(func, host, [a.copy() for a in arrays])
    got = _run(_unbound(func, sch), host, [a.copy() for a in arrays])
    for w, h in zip(want, got):
        np.testing.assert_allclose(h, w, rtol=1e-5, atol=1e-5)


def _binds(sch) -> int:
    return sum(i.kind.name == "Bind" for i in sch.trace.insts)


def test_gpu_threads_schedules_every_kernel_of_a_model(rng):
    """GpuThreads alone, on every kernel of a small CNN (convs, depthwise, pools, the
    global pool, softmax, the classifier): bound to blocks and threads, same numbers."""
    target, kernels = _cuda_kernels(_model())
    assert len(kernels) >= 8
    for name, func in kernels.items():
        with target:
            sch = tvm_rules.GpuThreads().apply(func, target, False)
        assert sch is not None and _binds(sch) >= 2, name
        text = sch.mod["main"].script()
        assert 'T.thread_binding' in text and '"blockIdx.x"' in text and '"threadIdx.x"' in text, name
        _same_numbers_serially(func, sch, rng)


def test_gpu_threads_declines_cpu_targets():
    target, kernels = _cuda_kernels(_model())
    host = tb.host_target()
    assert all(tvm_rules.GpuThreads().apply(f, host, False) is None for f in kernels.values())


@pytest.mark.parametrize("op", sorted(DECLINED))
def test_what_dlight_declines_gpu_threads_schedules(op, rng):
    """Each of these cases has a kernel every DLight rule declines; the chain gives it to
    GpuThreads, whose schedule keeps its numbers, and the case builds for CUDA."""
    g = _node_graph(DECLINED[op])
    target, kernels = _cuda_kernels(g)
    taken = {}
    with target:
        for name, func in kernels.items():
            rule, sch = tvm_rules.schedule(func, target)
            taken[name] = rule
            if rule in ("cnnc.GpuThreads", "dlight.Fallback"):
                _same_numbers_serially(func, sch, rng)
    assert "cnnc.GpuThreads" in taken.values(), taken
    m = cnnc.compile(g, target="tvm-cuda")
    assert m.schedules["cnnc.GpuThreads"] >= 1 and m.schedules["unscheduled"] == 0, m.schedules
    if any(t.size for t in g.output_types().values()):    # zero-size results launch no kernel
        cuda = [mod for mod in _modules(m.executable.mod) if mod.kind == "cuda"]
        assert cuda and "__global__" in cuda[0].inspect_source()


def _modules(mod):
    yield mod
    for imported in mod.imports:
        yield from _modules(imported)


def test_coverage_counts_every_kernel():
    """The tvm-cuda build of a CNN: every kernel counted once, by the rule that took it, in
    the rules' order; a GPU build with a kernel no rule binds is one error naming it."""
    g = cnnc.optimize(_model())
    target, kernels = _cuda_kernels(g)
    m = cnnc.compile(g, target="tvm-cuda")
    counts = m.schedules
    assert sum(counts.values()) == len(kernels) and counts["unscheduled"] == 0, counts
    order = [n for n, _ in tvm_rules.rules(target)]
    ruled = [k for k in counts if k != "unscheduled"]
    assert ruled == sorted(ruled, key=order.index) and all(k.startswith("dlight.") for k in ruled), counts
    cpu = cnnc.compile(g, target="tvm").schedules
    assert cpu["cnnc.RegisterTile"] >= 3 and cpu["cnnc.Loops"] >= 1 and cpu["unscheduled"] == 0, cpu
    mod = tb._prepare(tb.lower(g), target, None)
    with target:
        _, cover = tvm_rules.apply_rules(mod, target, tried=[])
    assert cover.counts() == {"unscheduled": len(kernels)} and cover.line().endswith(f"; {len(kernels)} unscheduled")
    from unittest import mock
    with mock.patch.object(tvm_rules, "rules", lambda target=None: []), \
            pytest.raises(cnnc.CnncError, match="no schedule rule binds kernel"):
        tb._schedule(tb._prepare(tb.lower(g), target, None), target, g.name)


def test_compile_line_and_manifest_carry_the_counts(tmp_path, capsys):
    model = tmp_path / "m.py"
    model.write_text("import cnnc.dsl as nn\n\ndef build():\n    m = nn.Model('cov')\n"
                     "    x = m.input('x', (1, 3, 8, 8))\n"
                     "    m.output(nn.max_pool(nn.conv(x, 8, 3, padding=1, activation='relu'), 2), 'y')\n"
                     "    return m.build()\n")
    for target in ("tvm-cuda", "tvm"):
        out = tmp_path / target
        assert main(["compile", str(model), "--target", target, "-o", str(out)]) == 0
        line = capsys.readouterr().out
        counts = json.loads((out / "cnnc_manifest.json").read_text())["schedules"]
        assert counts["unscheduled"] == 0 and sum(counts.values()) >= 2, counts
        assert tvm_rules.describe(counts) in line and "0 unscheduled" in line, line
        if target == "tvm":  # a tvm-cuda folder loads on a GPU machine only
            assert cnnc.backends.load(out).schedules == counts
