"""The layout-assignment pass (``cnnc.passes.layout``): it keeps the reference's outputs on
random inputs and random graphs, keeps the graph's I/O plain, folds the weight packing,
and blocks by the cost model in mode "auto"."""
from __future__ import annotations

import numpy as np
import pytest

import cnnc
import cnnc.dsl as nn
from cnnc.backends import isa
from cnnc.ir import TensorType
from cnnc.passes.layout import assign_layouts, choose

AVX512 = isa.CPUS["x86-64-v4"]


def _random_net(seed: int):
    """A random stack of the blockable ops (pointwise, kxk, strided, dilated and depthwise
    convs with epilogues, Add, Concat) and boundaries (MaxPool, a 12-channel conv)."""
    r = np.random.default_rng(seed)
    m = nn.Model(f"net{seed}", seed=seed)
    c = int(r.choice([8, 16]))
    x = m.input("x", (1, c, 12, 12))
    y = x
    for _ in range(int(r.integers(3, 7))):
        kind = r.choice(["pw", "kxk", "dw", "add", "concat", "pool", "odd"])
        c = y.shape[1] if hasattr(y, "shape") else c
        act = r.choice(["relu", "sigmoid", None])
        if kind == "pw":
            y = nn.conv(y, int(r.choice([8, 16, 24])), 1, activation=act)
        elif kind == "kxk":
            y = nn.conv(y, int(r.choice([8, 16])), 3, padding=int(r.integers(0, 2)) * 2, dilation=2, activation=act)
        elif kind == "dw":
            y = nn.conv(y, c, 3, padding=1, groups=c, activation=act)
        elif kind == "add":
            y = nn.relu(nn.add(nn.conv(y, c, 3, padding=1), y))
        elif kind == "concat":
            y = nn.concat([y, nn.conv(y, 8, 1)], axis=1)
        elif kind == "pool" and y.shape[2] >= 4:
            y = nn.max_pool(y, 2, stride=2)
        elif kind == "odd":
            y = nn.conv(nn.conv(y, 12, 1), 16, 1, activation=act)
    m.output(y, "y")
    return cnnc.optimize(m.build())


@pytest.mark.parametrize("block", [4, 8])
@pytest.mark.parametrize("seed", range(6))
def test_the_pass_keeps_the_reference_outputs(rng, seed, block):
    g = _random_net(seed)
    b = assign_layouts(g, block, mode="nchwc")
    assert b.input_types() == g.input_types() and b.output_types() == g.output_types()
    for n in b.nodes():  # a conv left plain is one that cannot be blocked
        if n.op in ("Conv", "FusedConv"):
            c = b.type_of(b.operands(n.name)[0]).shape[1]
            assert c % block or n.types[0].shape[1] % block or n.attrs["group"] not in (1, c), n.label
    for n in b.nodes():  # every packed weight is folded into a constant
        if n.op == "LayoutTransform":
            assert b.constant(b.operands(n.name)[0]) is None
    feeds = {"x": rng.standard_normal(g.input_types()["x"].shape).astype(np.float32)}
    want = cnnc.compile(g).run(feeds)["y"]
    got = cnnc.compile(b).run(feeds)["y"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert g.verify() is g


def test_a_region_passes_blocked_values_straight_through():
    """Inside a region the convs hand each other blocked tensors; the 3-channel stem reads
    its plain input and the last conv writes a plain result, so no transform is left."""
    m = nn.Model("chain")
    x = m.input("x", (1, 3, 16, 16))
    y = nn.conv(x, 16, 3, padding=1, activation="relu")
    for _ in range(3):
        y = nn.conv(y, 16, 3, padding=1, activation="relu")
    m.output(y, "y")
    g = assign_layouts(cnnc.optimize(m.build()), 8, mode="nchwc")
    convs = [n for n in g.nodes() if n.op not in ("Input", "Constant")]
    assert [n.op for n in convs] == ["BlockedConv"] * 4
    assert [(n.attrs["x_blocked"], n.attrs["y_blocked"]) for n in convs] == [
        (False, True), (True, True), (True, True), (True, False)]


def test_auto_blocks_only_where_the_cost_model_gains():
    """A region of Relu and Add alone gains nothing (the same kernels), so it stays plain;
    every region's gain counts its boundary transforms."""
    g = cnnc.Graph("eltwise")
    x = g.add_input("x", TensorType((1, 16, 8, 8)))
    (r,) = g.add_node("Relu", [x])
    (y,) = g.add_node("Add", [r, x])
    g.add_output(y, "y")
    ((region, gain),) = choose(g, 16, isa=AVX512)
    assert len(region.region) == 2 and len(region.enter) == 1 and len(region.leave) == 1 and gain < 0
    assert assign_layouts(g, 16, isa=AVX512) is g


def test_a_forced_implementation_keeps_its_convs_plain():
    from cnnc.backends.codegen import forced_ops
    g = _random_net(1)
    assert forced_ops({"Conv": "direct"}) == {"Conv", "FusedConv"}
    b = assign_layouts(g, 8, mode="nchwc", keep=forced_ops({"Conv": "direct"}))
    assert "BlockedConv" not in [n.op for n in b.nodes()]


def _ragged_net():
    """Channel counts that are not multiples of the block: convs that write a plain
    partial last block and read plain inputs of any channels."""
    m = nn.Model("ragged", seed=3)
    x = m.input("x", (1, 8, 10, 10))
    y = nn.conv(x, 12, 1, activation="relu")
    y = nn.conv(y, 16, 3, padding=1, activation="relu")
    y = nn.conv(y, 16, 3, padding=1, groups=16)
    m.output(nn.add(nn.conv(y, 12, 1), nn.conv(x, 12, 1)), "y")
    return cnnc.optimize(m.build())


@pytest.mark.parametrize("backend", ["reference", "tvm", "onnxruntime"])
def test_ragged_channels_on_every_engine(rng, backend):
    g = _ragged_net()
    b = assign_layouts(g, 8, mode="nchwc")
    convs = [n for n in b.nodes() if n.op == "BlockedConv"]
    assert any(not n.attrs["y_blocked"] and n.attrs["out_channels"] % 8 for n in convs)
    assert any(not n.attrs["x_blocked"] and b.type_of(b.operands(n.name)[0]).shape[1] % 8 for n in convs)
    feeds = {"x": rng.standard_normal((1, 8, 10, 10)).astype(np.float32)}
    want = cnnc.compile(g).run(feeds)["y"]
    if backend == "onnxruntime":
        ort = pytest.importorskip("onnxruntime", reason="the export check runs the model in onnxruntime")
        model = cnnc.to_onnx(b)
        got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    else:
        if backend == "tvm":
            pytest.importorskip("tvm", reason="the tvm backend needs Apache TVM")
        got = cnnc.compile(b, backend).run(feeds)["y"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_ragged_channels_on_c(rng):
    if isa.resolve("native").vector == 0:
        pytest.skip("the blocked conv needs a vector ISA (GNU C vector extensions); generic C99 has none")
    g = _ragged_net()
    feeds = {"x": rng.standard_normal((1, 8, 10, 10)).astype(np.float32)}
    want = cnnc.compile(g).run(feeds)["y"]
    for threads in (1, 2):
        got = cnnc.compile(g, "c", layout="nchwc", cpu="x86-64-v3" if isa.runs_here(isa.resolve("x86-64-v3"))
                           else "native", threads=threads).run(feeds)["y"]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
