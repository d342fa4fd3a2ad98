"""Identity and inference-time Dropout against onnx.reference."""
import numpy as np
import pytest
from helpers import cnnc_run, onnx_run

from cnnc.ir import CnncError


@pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 3, 4), (1, 2, 3, 4, 5)])
@pytest.mark.parametrize("dtype", ["float32", "float16", "int64", "uint8", "bool"])
def test_identity_matches_onnx(rng, dtype, shape):
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    (got,) = cnnc_run("Identity", [x])
    np.testing.assert_array_equal(got, onnx_run("Identity", [x])[0])


@pytest.mark.parametrize("shape", [(7,), (2, 3, 5), (2, 3, 4, 4)])
@pytest.mark.parametrize("attrs", [{}, {"ratio": 0.0}, {"ratio": 0.3, "seed": 7}, {"ratio": 0.9}])
def test_dropout_is_identity_like_onnx(rng, shape, attrs):
    x = rng.standard_normal(shape).astype(np.float32)
    (got,) = cnnc_run("Dropout", [x], attrs)
    # ONNX passes ratio as an optional tensor operand; training_mode defaults to false
    ratio = np.array(attrs["ratio"], np.float32) if "ratio" in attrs else None
    onnx_attrs = {"seed": attrs["seed"]} if "seed" in attrs else {}
    (want,) = onnx_run("Dropout", [x, ratio], onnx_attrs)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, x)


@pytest.mark.parametrize("x,attrs,msg", [
    (np.zeros(3, np.float32), {"ratio": 1.0}, r"'ratio'=1.0: must be in \[0, 1\)"),
    (np.zeros(3, np.float32), {"ratio": -0.1}, "must be in"),
    (np.zeros(3, np.float32), {"seed": 1.5}, "expects int"),
    (np.zeros(3, np.float32), {"training_mode": 1}, "unknown attribute"),
    (np.zeros(3, np.int64), {}, "Dropout data must be a float tensor"),
])
def test_dropout_rejects_bad_input(x, attrs, msg):
    with pytest.raises(CnncError, match=msg):
        cnnc_run("Dropout", [x], attrs)
