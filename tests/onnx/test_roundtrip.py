"""Export → onnx.checker(full_check) → onnxruntime → import back, for every op.

ONNX's own node cases supply the ops ONNX has (each case is imported, exported again,
run in onnxruntime and re-imported); explicit samples cover the ops ONNX lacks, which
export as model-local functions.  A registry-wide test checks that every op is covered.
"""
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest

import cnnc
import cnnc.dsl as nn
from cnnc.ir import all_ops

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))
from harness import bind_compile_time_inputs, node_cases  # noqa: E402
from skips import NODE_SKIPS  # noqa: E402


def ort_run(model: onnx.ModelProto, feeds):
    import onnxruntime as ort
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def check_roundtrip(g: cnnc.Graph, feeds, rtol=1e-4, atol=1e-5):
    """The exported model passes the full checker, runs in onnxruntime with the reference's
    outputs, and imports back into a graph with the same outputs."""
    ref = cnnc.compile(g).run(feeds)
    model = cnnc.to_onnx(g)
    onnx.checker.check_model(model, full_check=True)
    got = ort_run(model, feeds)
    for (name, want), have in zip(ref.items(), got):
        np.testing.assert_allclose(have, want, rtol=rtol, atol=atol, err_msg=f"onnxruntime {name}")
    back = cnnc.compile(cnnc.load_onnx(model)).run(feeds)
    assert list(back) == list(ref)
    for name in ref:
        np.testing.assert_allclose(back[name], ref[name], rtol=rtol, atol=atol, err_msg=f"re-import {name}")


# cases whose ops onnxruntime computes differently from ONNX's reference (the expected data)
ORT_DIFFERS = {
    "test_maxunpool_export_with_output_shape": "onnxruntime indexes into output_shape, ONNX into the computed shape",
}


@pytest.mark.parametrize("name", sorted(set(node_cases()) - set(NODE_SKIPS)))
def test_conformance_case_roundtrip(name):
    case = node_cases()[name]
    inputs, _ = case.data_sets[0]
    model, feeds = bind_compile_time_inputs(case.model, inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = cnnc.load_onnx(model)
    if name in ORT_DIFFERS:
        pytest.skip(ORT_DIFFERS[name])
    if any(n.op not in ("Input", "Constant") for n in g.nodes()):
        check_roundtrip(g, feeds, rtol=1e-4, atol=1e-4)


def _one_op(op, shape, attrs, weights=(), name="m"):
    m = nn.Model(name)
    x = m.input("x", shape)
    g = m.graph
    ops = [x.value] + [g.add_constant(np.asarray(w, np.float32), f"w{i}") for i, w in enumerate(weights)]
    (y,) = g.add_node(op, ops, attrs, label=op.lower())
    g.add_output(y, "y")
    return g.verify()


RNG = np.random.default_rng(0)
LACKING = [  # ops ONNX lacks: (op, input shape, attrs, weights)
    ("LocalConv", (2, 3, 7, 6), {"pads": (1, 0, 0, 1)}, [RNG.standard_normal((6, 5, 4, 3, 3, 3))]),
    ("LocalConv", (1, 2, 9), {"strides": (2,), "dilations": (2,)}, [RNG.standard_normal((4, 4, 2, 2)), RNG.standard_normal((4, 4))]),
    ("LocalConv", (1, 2, 5, 5, 4), {"auto_pad": "SAME_UPPER"}, [RNG.standard_normal((5, 5, 4, 3, 2, 3, 3, 2))]),
    ("TiledConv", (1, 3, 8, 8), {"pads": (1, 1, 1, 1)}, [RNG.standard_normal((2, 2, 4, 3, 3, 3)), RNG.standard_normal(4)]),
    ("TiledConv", (2, 2, 9, 7), {"strides": (2, 1), "auto_pad": "FULL"}, [RNG.standard_normal((3, 2, 2, 2, 2, 3))]),
    ("LSEPool", (2, 3, 7, 7), {"kernel_shape": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1)}, []),
    ("LSEPool", (1, 2, 8), {"kernel_shape": (3,), "strides": (2,), "ceil_mode": 1}, []),
    ("LSEPool", (1, 2, 4, 5, 4), {"kernel_shape": (2, 2, 2), "auto_pad": "SAME_LOWER"}, []),
    ("WeightedAvgPool", (2, 3, 8, 8), {"kernel_shape": (3, 3), "sigma": 0.8, "auto_pad": "SAME_UPPER"}, []),
    ("WeightedAvgPool", (1, 2, 9), {"kernel_shape": (4,), "strides": (3,), "dilations": (2,), "ceil_mode": 1}, []),
    ("SpatialPyramidPool", (2, 3, 9, 7), {"levels": (1, 2, 4)}, []),
    ("SpatialPyramidPool", (1, 2, 5, 6, 3), {"levels": (1, 2), "mode": "avg"}, []),
    ("SpatialPyramidPool", (1, 4, 10), {"levels": (3, 1), "mode": "avg"}, []),
    ("Silu", (2, 3, 4), {}, []),
    ("Upsample", (1, 2, 3, 4), {"scales": (1.0, 1.0, 2.0, 3.0), "mode": "nearest"}, []),
    ("Conv", (1, 2, 6, 5), {"auto_pad": "FULL", "dilations": (2, 1)}, [RNG.standard_normal((3, 2, 3, 2))]),
    ("MaxPool", (1, 2, 7, 7), {"kernel_shape": (3, 3), "auto_pad": "FULL"}, []),
]


@pytest.mark.parametrize("op,shape,attrs,weights", LACKING, ids=[f"{c[0]}-{i}" for i, c in enumerate(LACKING)])
def test_ops_onnx_lacks_roundtrip(op, shape, attrs, weights):
    g = _one_op(op, shape, attrs, weights)
    check_roundtrip(g, {"x": RNG.standard_normal(shape).astype(np.float32)})
    if op in ("LocalConv", "TiledConv", "LSEPool", "WeightedAvgPool", "SpatialPyramidPool", "Silu"):
        model = cnnc.to_onnx(g)
        assert [f.domain for f in model.functions] == ["cnnc"]
        assert all(n.domain == "" for f in model.functions for n in f.node)


EXAMPLES = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "examples").glob("*.py"))


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_roundtrip(example):
    import runpy
    path = Path(__file__).resolve().parents[2] / "examples" / f"{example}.py"
    g = runpy.run_path(str(path), run_name="roundtrip")["build"]()
    feeds = {k: RNG.standard_normal(t.shape).astype(t.dtype) for k, t in g.input_types().items()}
    check_roundtrip(g, feeds, rtol=1e-4, atol=1e-4)


def _logic_graph():
    """Bool-valued ops (their conformance cases have bool inputs, outside the CNN subset)."""
    g = cnnc.Graph("logic")
    x = g.add_input("x", cnnc.TensorType((2, 3, 4)))
    zero = g.add_constant(np.zeros((1,), np.float32), "zero")
    (gt,) = g.add_node("Greater", [x, zero])
    (lt,) = g.add_node("Less", [x, zero])
    (eq,) = g.add_node("Equal", [gt, lt])
    (both,) = g.add_node("And", [gt, eq])
    (neither,) = g.add_node("Not", [both])
    (y,) = g.add_node("Where", [neither, x, zero])
    g.add_output(y, "y")
    return g


def _fused_graph():
    """A ResNet basic block after fusion: FusedConv with Relu, then with a residual."""
    m = nn.Model("block", seed=2)
    x = m.input("x", (1, 4, 6, 6))
    y = nn.relu(nn.batch_norm(nn.conv(x, 4, 3, padding=1), random_stats=True))
    y = nn.batch_norm(nn.conv(y, 4, 3, padding=1), random_stats=True)
    m.output(nn.relu(nn.add(y, x)), "y")
    return cnnc.optimize(m.build(), passes=["fuse_conv_norm_act", "eliminate_dead_code"])


def _blocked_graph():
    """The fused block with its layouts assigned (NCHW4c): LayoutTransform and BlockedConv."""
    from cnnc.passes.layout import assign_layouts
    return assign_layouts(_fused_graph(), 4, mode="nchwc")


def _blocked_pools():
    """Max and average pools (one counting its padding, in ceil mode) on NCHW4c: BlockedPool."""
    from cnnc.passes.layout import assign_layouts
    g = cnnc.Graph("pools")
    x = g.add_input("x", cnnc.TensorType((1, 8, 7, 7)))
    (y,) = g.add_node("MaxPool", [x], {"kernel_shape": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1)})
    (y,) = g.add_node("AveragePool", [y], {"kernel_shape": (2, 2), "strides": (2, 2), "pads": (1, 1, 0, 0),
                                           "ceil_mode": 1, "count_include_pad": 1})
    g.add_output(y, "y")
    return assign_layouts(g, 4, mode="nchwc")


EXTRA = {  # ops whose conformance cases are outside the subset: (graph, input shape)
    "fused_conv": (_fused_graph, (1, 4, 6, 6)),
    "blocked_conv": (_blocked_graph, (1, 4, 6, 6)),
    "blocked_pool": (_blocked_pools, (1, 8, 7, 7)),
    "layout_transform": (lambda: _one_op("LayoutTransform", (2, 8, 3, 5), {"src": "NCHW", "dst": "NCHW4c"}),
                         (2, 8, 3, 5)),
    "logic": (_logic_graph, (2, 3, 4)),
    "global_lp": (lambda: _one_op("GlobalLpPool", (2, 3, 5, 4), {"p": 3}), (2, 3, 5, 4)),
    "reduce_min": (lambda: _one_op("ReduceMin", (2, 3, 4), {"axes": (1,), "keepdims": 0}), (2, 3, 4)),
    "reduce_prod": (lambda: _one_op("ReduceProd", (2, 3, 4), {"axes": (0, 2)}), (2, 3, 4)),
    "roi_pool": (lambda: _one_op("MaxRoiPool", (2, 3, 8, 8), {"pooled_shape": (2, 3), "spatial_scale": 0.5},
                                 [np.array([[0, 0, 0, 9, 9], [1, 2, 4, 14, 12]])]), (2, 3, 8, 8)),
}


@pytest.mark.parametrize("name", sorted(EXTRA))
def test_extra_graph_roundtrip(name):
    build, shape = EXTRA[name]
    check_roundtrip(build(), {"x": RNG.standard_normal(shape).astype(np.float32)})


def test_every_op_is_covered_by_a_roundtrip():
    """Every registered op occurs in a graph that a round-trip test above exports."""
    covered = {c[0] for c in LACKING} | {"Constant"}
    for build, _ in EXTRA.values():
        covered |= {n.op for n in build().nodes()}
    for name in set(node_cases()) - set(NODE_SKIPS):
        case = node_cases()[name]
        model, _ = bind_compile_time_inputs(case.model, case.data_sets[0][0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            covered |= {n.op for n in cnnc.load_onnx(model).nodes()}
    missing = sorted(set(all_ops()) - covered - {"Input"})
    assert not missing, f"ops no round-trip test exports: {missing}"
