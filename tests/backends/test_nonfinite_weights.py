"""A padded conv with an Inf or NaN weight: padding taps are not multiplied at all, so the
border outputs whose window puts that weight on padding stay finite.  Checked on every
backend against a plain loop that skips padding taps, and, for 2-D, against onnxruntime,
which gives the same (its 1-D conv multiplies the zero padding and gives NaN there)."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import cnnc
from helpers import BACKENDS, compile_for

ort = pytest.importorskip("onnxruntime", reason="the comparison needs onnxruntime")

CASES = {  # name: (x shape, w shape, conv attributes)
    "3x3_pad1": ((1, 3, 6, 5), (4, 3, 3, 3), {"pads": [1, 1, 1, 1]}),
    "3x3_s2_same": ((1, 4, 7, 7), (4, 4, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    "depthwise": ((1, 4, 5, 5), (4, 1, 3, 3), {"pads": [1, 1, 1, 1], "group": 4}),
    "1d_dilated": ((2, 3, 9), (2, 3, 3), {"pads": [2, 2], "dilations": [2]}),
}


def _model(case):
    xs, ws, attrs = CASES[case]
    rng = np.random.default_rng(3)
    w = rng.standard_normal(ws).astype(np.float32)
    w.reshape(-1)[0] = np.inf          # the first tap of the first output channel
    w.reshape(-1)[-1] = -np.inf        # the last tap of the last one
    w.reshape(w.shape[0], -1)[w.shape[0] // 2, 1] = np.nan
    node = helper.make_node("Conv", ["x", "w"], ["y"], **attrs)
    y = ort.InferenceSession(helper.make_model(
        helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, xs)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(w, "w")]),
        opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(), providers=["CPUExecutionProvider"])
    x = rng.standard_normal(xs).astype(np.float32)
    want = _skipping_padding(x, w, attrs)
    if len(xs) == 4:
        np.testing.assert_array_equal(np.isnan(y.run(None, {"x": x})[0]), np.isnan(want))
        np.testing.assert_allclose(y.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-5)
    model = helper.make_model(helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, xs)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, want.shape)], [numpy_helper.from_array(w, "w")]),
        opset_imports=[helper.make_opsetid("", 17)])
    return model, x, want


def _skipping_padding(x, w, attrs):
    """Conv by its definition, one output at a time, summing only the taps on the input."""
    nd = x.ndim - 2
    g = attrs.get("group", 1)
    s, d = attrs.get("strides", [1] * nd), attrs.get("dilations", [1] * nd)
    k = w.shape[2:]
    if attrs.get("auto_pad") == "SAME_UPPER":
        out = [-(-n // si) for n, si in zip(x.shape[2:], s)]
        total = [max((o - 1) * si + (ki - 1) * di + 1 - n, 0) for o, si, ki, di, n in zip(out, s, k, d, x.shape[2:])]
        begin = [t // 2 for t in total]
    else:
        p = attrs["pads"]
        begin = p[:nd]
        out = [(n + p[i] + p[nd + i] - (ki - 1) * di - 1) // si + 1
               for i, (n, ki, si, di) in enumerate(zip(x.shape[2:], k, s, d))]
    m, cg = w.shape[0], w.shape[1]
    y = np.zeros((x.shape[0], m, *out), np.float64)
    with np.errstate(all="ignore"):
        for n in range(x.shape[0]):
            for mi in range(m):
                c0 = mi // (m // g) * cg
                for o in np.ndindex(*out):
                    acc = 0.0
                    for ci in range(cg):
                        for t in np.ndindex(*k):
                            i = [oi * si + ti * di - bi for oi, si, ti, di, bi in zip(o, s, t, d, begin)]
                            if all(0 <= ii < e for ii, e in zip(i, x.shape[2:])):
                                acc += float(w[(mi, ci, *t)]) * float(x[(n, c0 + ci, *i)])
                    y[(n, mi, *o)] = acc
    return y.astype(np.float32)


def _check(got, want):
    assert np.isfinite(want).sum() > 0 and (~np.isfinite(want)).sum() > 0   # the case has both kinds
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("backend", ["reference", *BACKENDS])
def test_padding_taps_are_not_multiplied(case, backend):
    model, x, want = _model(case)
    _check(compile_for(cnnc.load_onnx(model), backend).run({"x": x})["y"], want)


@pytest.mark.parametrize("case", ["3x3_pad1", "3x3_s2_same"])
def test_fused_conv_too(case):
    """Fused with a ReLU (FusedConv), on C; the C GEMM plans leave such a conv to the direct kernel."""
    model, x, want = _model(case)
    model.graph.node[0].output[0] = "c"
    model.graph.node.append(helper.make_node("Relu", ["c"], ["y"]))
    g = cnnc.optimize(cnnc.load_onnx(model))
    assert any(n.op == "FusedConv" for n in g.nodes())
    got = cnnc.compile(g, target="c").run({"x": x})["y"]
    keep = ~np.isnan(want)  # what ReLU makes of NaN differs between runtimes: not this test's matter
    np.testing.assert_allclose(got[keep], np.maximum(want[keep], 0), rtol=1e-4, atol=1e-5)
    assert np.isfinite(got[keep]).sum() > 0 and np.isinf(got[keep]).sum() > 0
    with pytest.raises(cnnc.CnncError, match="does not apply"):
        cnnc.compile(g, target="c", impl={"Conv": "gemm_padded"})


def test_without_padding_the_gemm_plans_still_apply():
    model, x, want = _model("3x3_pad1")
    for a in model.graph.node[0].attribute:
        if a.name == "pads":
            a.ints[:] = [0, 0, 0, 0]
    model.graph.output[0].type.tensor_type.shape.dim[2].dim_value = 4
    model.graph.output[0].type.tensor_type.shape.dim[3].dim_value = 3
    g = cnnc.load_onnx(model)
    ref = cnnc.compile(g, target="reference").run({"x": x})["y"]
    got = cnnc.compile(g, target="c", impl={"Conv": "gemm_padded"}).run({"x": x})["y"]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
