"""Activations against onnx.reference (Silu, which ONNX spells x*Sigmoid(x), against that
composition)."""
import numpy as np
import pytest
from helpers import assert_close, cnnc_run, onnx_run

from cnnc.ir import CnncError

CASES = [
    ("Relu", {}), ("LeakyRelu", {}), ("LeakyRelu", {"alpha": 0.3}), ("Elu", {}),
    ("Elu", {"alpha": 0.5}), ("Selu", {}), ("Selu", {"alpha": 1.5, "gamma": 2.0}),
    ("Sigmoid", {}), ("HardSigmoid", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
    ("HardSwish", {}), ("Tanh", {}), ("Softplus", {}), ("Softsign", {}), ("Mish", {}),
    ("Gelu", {}), ("Gelu", {"approximate": "tanh"}),
]


@pytest.mark.parametrize("op,attrs", CASES)
@pytest.mark.parametrize("shape", [(7,), (2, 3, 5, 5), (1, 2, 3, 4, 5)])
def test_activation_matches_onnx(rng, op, attrs, shape):
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    (got,) = cnnc_run(op, [x], attrs)
    (want,) = onnx_run(op, [x], attrs, opset=20)
    assert_close(got, want)


def test_sigmoid_is_stable_at_extremes():
    x = np.array([-1000, -80, 0, 80, 1000], np.float32)
    (got,) = cnnc_run("Sigmoid", [x])
    assert np.isfinite(got).all()
    assert_close(got, [0, 0, 0.5, 1, 1])


def test_silu_is_x_times_sigmoid(rng):
    x = (rng.standard_normal((2, 3, 4, 4)) * 4).astype(np.float32)
    (got,) = cnnc_run("Silu", [x])
    (sig,) = onnx_run("Sigmoid", [x])
    assert_close(got, x * sig)


@pytest.mark.parametrize("lo,hi", [(0.0, 6.0), (-1.0, None), (None, 0.5), (None, None)])
def test_clip_matches_onnx(rng, lo, hi):
    x = (rng.standard_normal((2, 3, 4)) * 4).astype(np.float32)
    (got,) = cnnc_run("Clip", [x], {"min": lo, "max": hi})
    bounds = [None if v is None else np.array(v, np.float32) for v in (lo, hi)]
    while bounds and bounds[-1] is None:
        bounds.pop()
    (want,) = onnx_run("Clip", [x, *bounds])
    assert_close(got, want)


@pytest.mark.parametrize("xs,ss", [((2, 3, 4, 4), (3, 1, 1)), ((2, 3, 4), (1,)), ((5, 3), (3,))])
def test_prelu_matches_onnx(rng, xs, ss):
    x = rng.standard_normal(xs).astype(np.float32)
    s = rng.standard_normal(ss).astype(np.float32)
    (got,) = cnnc_run("PRelu", [x, s], const=[1])
    (want,) = onnx_run("PRelu", [x, s])
    assert_close(got, want)


def test_bad_input():
    with pytest.raises(CnncError, match="float tensor"):
        cnnc_run("Relu", [np.zeros(3, np.int64)])
    with pytest.raises(CnncError, match="do not broadcast"):
        cnnc_run("PRelu", [np.zeros((2, 3, 4, 4), np.float32), np.zeros((4, 1, 1), np.float32)])
    with pytest.raises(CnncError, match="one of"):
        cnnc_run("Gelu", [np.zeros(3, np.float32)], {"approximate": "fast"})
