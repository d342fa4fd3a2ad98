"""LRN agrees with the reference on every backend of ``helpers.BACKENDS``, 1-D/2-D/3-D, odd
and even sizes (the window wider than the channel axis too), float32 and float64; float16
on TVM.  One graph per shape (on C the float64 one also runs as the standalone driver under
ASan+UBSan)."""
import numpy as np
import pytest
from helpers import backends, c_sanitize_dir, graph_check, only

SHAPES = [(2, 5, 7), (2, 6, 4, 5), (1, 4, 3, 4, 2), (1, 3, 300)]
ATTRS = [
    {"size": 1},
    {"size": 3},
    {"size": 5, "alpha": 0.3, "beta": 0.5, "bias": 2.0},
    {"size": 9, "alpha": 1.0, "beta": 1.0},
    {"size": 2, "alpha": 0.5},
    {"size": 4, "alpha": 0.5, "beta": 0.9, "bias": 0.5},
]


@backends
@pytest.mark.parametrize("shape", SHAPES)
def test_lrn(backend, rng, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    graph_check([x], [("LRN", [0], a) for a in ATTRS], backend=backend)


@backends
def test_lrn_float64(backend, rng, tmp_path):
    graph_check([rng.standard_normal((2, 6, 3, 3))], [("LRN", [0], a) for a in ATTRS],
                rtol=1e-12, atol=1e-12, sanitize_in=c_sanitize_dir(backend, tmp_path), backend=backend)


@only("tvm")  # float16: TVM's alone
def test_lrn_tvm_only_float16(backend, rng):
    graph_check([rng.standard_normal((1, 5, 4)).astype(np.float16)], [("LRN", [0], a) for a in ATTRS[:3]],
                rtol=1e-3, atol=1e-3, backend=backend)
