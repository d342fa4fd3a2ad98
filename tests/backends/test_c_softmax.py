"""C kernels of Softmax and LogSoftmax agree with the reference along every axis of the
shapes of tests/ops/test_softmax.py (axis innermost -- split over lanes when long -- or
not; a kept block longer than one chunk), float32 and float64, and stay finite for huge
inputs."""
import numpy as np
import pytest
from helpers import backend_check

OPS = ["Softmax", "LogSoftmax"]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shape,axis", [
    ((7,), None), ((7,), 0), ((3, 5), None), ((3, 5), 0), ((2, 3, 4), 1), ((2, 3, 4), -2),
    ((2, 3, 4, 5), None), ((2, 3, 4, 5), 1), ((2, 3, 4, 5), -4), ((1, 2, 3, 4, 5), 2),
    ((2, 3, 300), 1), ((3, 64), 1),
])
def test_softmax_c(rng, op, shape, axis):
    x = rng.standard_normal(shape).astype(np.float32) * 3
    backend_check(op, [x], {} if axis is None else {"axis": axis})


@pytest.mark.parametrize("op", OPS)
def test_softmax_c_is_stable_for_large_inputs(rng, op):
    x = np.concatenate([rng.standard_normal((4, 6)) * 1e4, np.full((1, 6), -3e38)])
    backend_check(op, [x.astype(np.float32)], {"axis": 0})


@pytest.mark.parametrize("op", OPS)
def test_softmax_c_float64(rng, op):
    backend_check(op, [rng.standard_normal((3, 4, 5))], {"axis": 1}, rtol=1e-12, atol=1e-12)
