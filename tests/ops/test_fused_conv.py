"""FusedConv: its reference equals Conv, the residual Add and the activation run one after
another as the registered ops; its ONNX export (a model-local function) runs in
onnxruntime with the same result; bad attributes are cnnc errors."""
import numpy as np
import onnx
import pytest
from helpers import assert_close, cnnc_run

import cnnc
from cnnc.ir import CnncError, Graph, ShapeError, TensorType
from cnnc.ops.fused_conv import fusable_activations

CASES = [  # (input shape, weight shape, window attrs)
    ((2, 3, 9), (4, 3, 3), {"pads": (1, 2)}),
    ((1, 4, 10), (6, 2, 3), {"group": 2, "strides": (2,), "auto_pad": "SAME_UPPER"}),
    ((1, 3, 8, 7), (5, 3, 3, 2), {"pads": (0, 1, 2, 0), "strides": (2, 1)}),
    ((1, 4, 9, 9), (4, 1, 3, 3), {"group": 4, "dilations": (2, 2), "auto_pad": "SAME_LOWER"}),
    ((1, 2, 5, 6, 5), (3, 2, 3, 3, 3), {"pads": (1, 0, 1, 1, 2, 0)}),
    ((1, 4, 6, 6, 6), (4, 2, 2, 3, 2), {"group": 2, "strides": (2, 1, 2)}),
]

ACTIVATIONS = {  # activation -> the op's attributes
    "": {}, "Relu": {}, "LeakyRelu": {"alpha": 0.3}, "Clip": {"min": -0.5, "max": 1.5},
    "Sigmoid": {}, "HardSigmoid": {"alpha": 0.3, "beta": 0.4}, "HardSwish": {}, "Silu": {},
    "Tanh": {},
}


def test_every_fusable_activation_is_covered():
    assert set(ACTIVATIONS) == {"", *fusable_activations()}


def _fused_attrs(window, act, residual):
    return {**window, "activation": act, "residual": residual or "pre",
            **{f"act_{k}": v for k, v in ACTIVATIONS[act].items()}}


def _operands(rng, xs, ws, window, residual):
    """x, w, b and (with a residual) z of the conv's output shape."""
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    if not residual:
        return [x, w, b]
    (y,) = cnnc_run("Conv", [x, w, b], window)
    return [x, w, b, rng.standard_normal(y.shape).astype(np.float32)]


def _composed(ins, window, act, residual):
    (y,) = cnnc_run("Conv", ins[:3], window)
    if residual == "pre":
        (y,) = cnnc_run("Add", [y, ins[3]])
    if act:
        (y,) = cnnc_run(act, [y], ACTIVATIONS[act])
    if residual == "post":
        (y,) = cnnc_run("Add", [y, ins[3]])
    return y


@pytest.mark.parametrize("xs,ws,window", CASES)
@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("residual", [None, "pre", "post"])
def test_reference_is_conv_add_activation(rng, xs, ws, window, act, residual):
    ins = _operands(rng, xs, ws, window, residual)
    ins[0] *= 2  # reach both sides of Clip and HardSigmoid
    (got,) = cnnc_run("FusedConv", ins, _fused_attrs(window, act, residual))
    assert_close(got, _composed(ins, window, act, residual))


def _graph(ins, attrs):
    """x (and z) as graph inputs, w and b as constants, one FusedConv."""
    g = Graph("fused")
    x = g.add_input("x", TensorType.of(ins[0]))
    z = [g.add_input("z", TensorType.of(ins[3]))] if len(ins) > 3 else []
    (y,) = g.add_node("FusedConv", [x, g.add_constant(ins[1], "w"), g.add_constant(ins[2], "b"), *z],
                      attrs)
    g.add_output(y, "y")
    return g.verify()


@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("residual", [None, "pre", "post"])
@pytest.mark.parametrize("xs,ws,window", [CASES[1], CASES[3], CASES[5]])
def test_onnx_export_runs_in_onnxruntime(rng, xs, ws, window, act, residual):
    import onnxruntime as ort
    ins = _operands(rng, xs, ws, window, residual)
    g = _graph(ins, _fused_attrs(window, act, residual))
    feeds = {"x": ins[0], **({"z": ins[3]} if residual else {})}
    model = cnnc.to_onnx(g)
    onnx.checker.check_model(model, full_check=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, feeds)
    assert_close(got, cnnc.compile(g).run(feeds)["y"])


@pytest.mark.parametrize("bounds", [{"act_max": 0.5}, {"act_min": 0.0}, {}])
def test_clip_with_missing_bounds_exports(rng, bounds):
    import onnxruntime as ort
    ins = _operands(rng, *CASES[2], None)
    g = _graph(ins, {**CASES[2][2], "activation": "Clip", **bounds})
    model = cnnc.to_onnx(g)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert_close(sess.run(None, {"x": ins[0]})[0], cnnc.compile(g).run({"x": ins[0]})["y"])


@pytest.mark.parametrize("attrs,error,match", [
    ({"activation": "Gelu"}, CnncError, "activation"),
    ({"activation": "NoSuchAct"}, CnncError, "activation"),
    ({"residual": "middle"}, CnncError, "residual"),
    ({"activation": "Clip", "act_min": "zero"}, CnncError, "act_min"),
])
def test_bad_attributes_are_cnnc_errors(rng, attrs, error, match):
    ins = _operands(rng, *CASES[2], None)
    with pytest.raises(error, match=match):
        _graph(ins, {**CASES[2][2], **attrs})


@pytest.mark.parametrize("z_shape,dtype", [((1, 5, 3, 7), "float32"), ((1, 5, 4, 1), "float32"),
                                           ((1, 5, 4, 7), "float64")])
def test_residual_must_have_the_output_type(rng, z_shape, dtype):
    ins = _operands(rng, *CASES[2], None)  # output (1, 5, 4, 7), float32
    with pytest.raises(ShapeError, match="residual Z"):
        _graph(ins + [np.zeros(z_shape, dtype)], CASES[2][2])


def test_bias_is_required(rng):
    ins = _operands(rng, *CASES[2], None)
    g = Graph("nobias")
    x = g.add_input("x", TensorType.of(ins[0]))
    with pytest.raises(CnncError, match="FusedConv takes 3 to 4 operand"):
        g.add_node("FusedConv", [x, g.add_constant(ins[1], "w")], CASES[2][2])


def test_flops_count_the_epilogue():
    g = _graph(_operands(np.random.default_rng(0), *CASES[2], "pre"),
               _fused_attrs(CASES[2][2], "Relu", "pre"))
    out = 5 * 4 * 7
    conv = 2 * out * 3 * 3 * 2 + out  # multiply-adds over (C/group) * kernel, then the bias
    assert cnnc.passes.graph_flops(g) == conv + 2 * out  # the residual add and the ReLU
