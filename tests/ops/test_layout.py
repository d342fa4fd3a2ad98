"""LayoutTransform (layout strings, plans, reference) and BlockedConv (FusedConv's meaning
on blocked operands)."""
from __future__ import annotations

import numpy as np
import pytest

import cnnc
from cnnc.ir import ShapeError, TensorType, get_op
from cnnc.ops.layout import parse_layout, plan, transform


@pytest.mark.parametrize("text", ["", "NCHW16", "NCHW16x", "NCHC", "NCHW1c", "NCHW8c8c", "nchw", "NCH W"])
def test_bad_layout_strings_are_named(text):
    with pytest.raises(ShapeError, match="bad layout"):
        parse_layout(text)


def test_blocked_activation_indexing(rng):
    x = rng.standard_normal((2, 32, 3, 5)).astype(np.float32)
    b = transform(x, "NCHW", "NCHW16c")
    assert b.shape == (2, 2, 3, 5, 16)
    assert np.array_equal(b[1, 1, 2, 3], x[1, 16:32, 2, 3])
    assert np.array_equal(transform(b, "NCHW16c", "NCHW"), x)
    assert np.array_equal(transform(transform(x, "NCHW", "NCHW8c"), "NCHW8c", "NCHW"), x)


def test_packed_weight_indexing(rng):
    w = rng.standard_normal((32, 48, 3, 3)).astype(np.float32)
    p = transform(w, "OIHW", "OIHW16i16o")
    assert p.shape == (2, 3, 3, 3, 16, 16)
    assert np.array_equal(p[1, 2, 0, 1, 3, :], w[16:32, 2 * 16 + 3, 0, 1])
    assert np.array_equal(transform(p, "OIHW16i16o", "OIHW"), w)
    d = rng.standard_normal((32, 1, 3, 3)).astype(np.float32)
    assert np.array_equal(transform(d, "OIHW", "OIHW16o")[1, 0, 2, 1], d[16:, 0, 2, 1])


def test_plans_refuse_what_they_cannot_do():
    with pytest.raises(ShapeError, match="not a multiple of the block 8"):
        plan((1, 12, 4, 4), "NCHW", "NCHW8c")
    with pytest.raises(ShapeError, match="different axes"):
        plan((1, 16, 4, 4), "NCHW", "NCDHW8c")
    with pytest.raises(ShapeError, match="blocked by 8 and by 16"):
        plan((1, 2, 4, 4, 8), "NCHW8c", "NCHW16c")


def test_layout_transform_node_errors_name_the_node():
    g = cnnc.Graph("t")
    x = g.add_input("x", TensorType((1, 12, 4, 4)))
    with pytest.raises(cnnc.CnncError, match="LayoutTransform.*multiple of the block 8"):
        g.add_node("LayoutTransform", [x], {"src": "NCHW", "dst": "NCHW8c"})


@pytest.mark.parametrize("backend", ["reference", "c", "tvm"])
def test_layout_transform_runs_on_the_backends(rng, backend):
    if backend == "tvm":
        pytest.importorskip("tvm", reason="the tvm backend needs Apache TVM")
    g = cnnc.Graph("t")
    x = g.add_input("x", TensorType((2, 16, 3, 5)))
    (b,) = g.add_node("LayoutTransform", [x], {"src": "NCHW", "dst": "NCHW4c"})
    (r,) = g.add_node("Relu", [b])
    g.add_output(r, "b")
    (y,) = g.add_node("LayoutTransform", [r], {"src": "NCHW4c", "dst": "NCHW"})
    g.add_output(y, "y")
    xs = rng.standard_normal((2, 16, 3, 5)).astype(np.float32)
    out = cnnc.compile(g, backend).run({"x": xs})
    assert np.array_equal(out["b"], np.maximum(transform(xs, "NCHW", "NCHW4c"), 0))
    assert np.array_equal(out["y"], np.maximum(xs, 0))


@pytest.mark.parametrize("attrs,depthwise", [
    ({"kernel_shape": (3, 3), "pads": (1, 1, 1, 1), "activation": "Relu"}, False),
    ({"kernel_shape": (3, 3), "strides": (2, 2), "auto_pad": "SAME_UPPER"}, False),
    ({"kernel_shape": (3, 3), "pads": (1, 1, 1, 1), "residual": "post", "activation": "Sigmoid"}, True)])
def test_blocked_conv_means_fused_conv(rng, attrs, depthwise):
    x = rng.standard_normal((1, 16, 7, 9)).astype(np.float32)
    w = rng.standard_normal((16, 1 if depthwise else 16, 3, 3)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    a = {**attrs, **({"group": 16} if depthwise else {})}
    fused = get_op("FusedConv")
    plain = [x, w, b]
    fa = fused.make_attrs(a, [TensorType.of(v) for v in plain])
    want = fused.run(plain, fa)[0]
    if attrs.get("residual"):
        z = rng.standard_normal(want.shape).astype(np.float32)
        plain.append(z)
        want = fused.run(plain, fa)[0]
    blocked = [transform(x, "NCHW", "NCHW8c"), transform(w, "OIHW", "OIHW8o" if depthwise else "OIHW8i8o"), b]
    if len(plain) > 3:
        blocked.append(transform(plain[3], "NCHW", "NCHW8c"))
    op = get_op("BlockedConv")
    ba = op.make_attrs({**a, "block": 8}, [TensorType.of(v) for v in blocked])
    (yt,) = op.infer([TensorType.of(v) for v in blocked], ba)
    got = op.run(blocked, ba)[0]
    assert yt == TensorType.of(got)
    np.testing.assert_allclose(transform(got, "NCHW8c", "NCHW"), want, rtol=1e-6, atol=1e-6)


def test_blocked_conv_refuses_other_groups():
    g = cnnc.Graph("t")
    x = g.add_input("x", TensorType((1, 2, 5, 5, 8)))
    w = g.add_constant(np.zeros((2, 1, 3, 3, 8), np.float32))
    b = g.add_constant(np.zeros(16, np.float32))
    with pytest.raises(cnnc.CnncError, match="group 1 or depthwise"):
        g.add_node("BlockedConv", [x, w, b], {"block": 8, "kernel_shape": (3, 3), "group": 2})
