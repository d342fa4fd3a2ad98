"""C kernel of LRN agrees with the reference, 1-D/2-D/3-D, odd and even sizes (the window
wider than the channel axis too), float32 and float64; one graph per shape (the float64
one also runs as the standalone driver under ASan+UBSan)."""
import numpy as np
import pytest
from test_c_reduce import graph_check

SHAPES = [(2, 5, 7), (2, 6, 4, 5), (1, 4, 3, 4, 2), (1, 3, 300)]
ATTRS = [
    {"size": 1},
    {"size": 3},
    {"size": 5, "alpha": 0.3, "beta": 0.5, "bias": 2.0},
    {"size": 9, "alpha": 1.0, "beta": 1.0},
    {"size": 2, "alpha": 0.5},
    {"size": 4, "alpha": 0.5, "beta": 0.9, "bias": 0.5},
]


@pytest.mark.parametrize("shape", SHAPES)
def test_lrn_c(rng, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    graph_check([x], [("LRN", [0], a) for a in ATTRS])


def test_lrn_c_float64(rng, tmp_path):
    graph_check([rng.standard_normal((2, 6, 3, 3))], [("LRN", [0], a) for a in ATTRS],
                rtol=1e-12, atol=1e-12, sanitize_in=tmp_path)
