"""Opsets 1-6 forms through the ops' versioned importers: legacy ``broadcast``/``axis`` on the
binary ops and Gemm, BatchNormalization's ``is_test``/``consumed_inputs``, PRelu's
per-channel slope of shape (C,); their refusals name the node and what was expected.  (The
PyTorch-exported suites, tests/conformance/test_pytorch_cases.py, run them on every backend.)"""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import cnnc
from cnnc.ir import CnncError


def _model(nodes, inputs, outputs, inits=(), opset=6):
    g = helper.make_graph(nodes, "legacy", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
                          [numpy_helper.from_array(a, n) for n, a in inits])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=3)


def _run(model, feeds):
    return cnnc.compile(cnnc.load_onnx(model)).run(feeds)


@pytest.mark.parametrize("op,fn", [("Add", np.add), ("Sub", np.subtract), ("Mul", np.multiply), ("Div", np.divide)])
def test_broadcast_at_an_axis(rng, op, fn):
    a = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    b = rng.standard_normal((3, 4)).astype(np.float32) + 3
    node = helper.make_node(op, ["a", "b"], ["y"], broadcast=1, axis=1)
    got = _run(_model([node], [("a", a.shape), ("b", b.shape)], [("y", a.shape)]), {"a": a, "b": b})["y"]
    np.testing.assert_allclose(got, fn(a, b[None, :, :, None]), rtol=1e-6)


def test_broadcast_of_trailing_dims_and_consumed_inputs(rng):
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    b = rng.standard_normal((4,)).astype(np.float32)
    node = helper.make_node("Add", ["a", "b"], ["y"], broadcast=1, consumed_inputs=[0, 0])
    got = _run(_model([node], [("a", a.shape), ("b", b.shape)], [("y", a.shape)], opset=1), {"a": a, "b": b})["y"]
    np.testing.assert_allclose(got, a + b)


def test_without_broadcast_the_shapes_must_agree():
    node = helper.make_node("Add", ["a", "b"], ["y"])
    with pytest.raises(CnncError, match=r"node 'y' \(Add, opset 6\).*differ, and broadcast=0"):
        cnnc.load_onnx(_model([node], [("a", (2, 3)), ("b", (3,))], [("y", (2, 3))]))


def test_an_axis_that_does_not_fit_is_named():
    node = helper.make_node("Mul", ["a", "b"], ["y"], broadcast=1, axis=2)
    with pytest.raises(CnncError, match=r"B \(3, 4\) cannot be broadcast at axis 2 of a rank-3 operand"):
        cnnc.load_onnx(_model([node], [("a", (2, 3, 4)), ("b", (3, 4))], [("y", (2, 3, 4))]))


def test_gemm_broadcast(rng):
    a, w, c = (rng.standard_normal(s).astype(np.float32) for s in ((2, 5), (3, 5), (3,)))
    node = helper.make_node("Gemm", ["a", "w", "c"], ["y"], transB=1, broadcast=1)
    got = _run(_model([node], [("a", a.shape), ("w", w.shape), ("c", c.shape)], [("y", (2, 3))], [("w", w), ("c", c)]),
               {"a": a})["y"]
    np.testing.assert_allclose(got, a @ w.T + c, rtol=1e-5)


def test_batch_norm_is_test(rng):
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    s, bias, mean = (rng.standard_normal(3).astype(np.float32) for _ in range(3))
    var = rng.random(3).astype(np.float32) + 0.5
    inits = [("s", s), ("bias", bias), ("mean", mean), ("var", var)]
    ins = [("x", x.shape)] + [(n, (3,)) for n, _ in inits]
    node = helper.make_node("BatchNormalization", ["x", "s", "bias", "mean", "var"], ["y"], is_test=1, epsilon=1e-5,
                            consumed_inputs=[0, 0, 0, 1, 1])
    got = _run(_model([node], ins, [("y", x.shape)], inits, opset=1), {"x": x})["y"]
    shape = (1, 3, 1, 1)
    want = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + 1e-5) * s.reshape(shape) + bias.reshape(shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    training = helper.make_node("BatchNormalization", ["x", "s", "bias", "mean", "var"], ["y"], is_test=0)
    with pytest.raises(CnncError, match=r"BatchNormalization, opset 6\).*is_test=0 \(training"):
        cnnc.load_onnx(_model([training], ins, [("y", x.shape)], inits))


def test_prelu_per_channel_slope(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    slope = np.array([0.1, 0.2, 0.3], np.float32)
    node = helper.make_node("PRelu", ["x", "slope"], ["y"])
    got = _run(_model([node], [("x", x.shape), ("slope", (3,))], [("y", x.shape)], [("slope", slope)]), {"x": x})["y"]
    np.testing.assert_allclose(got, np.where(x >= 0, x, x * slope[None, :, None, None]))
