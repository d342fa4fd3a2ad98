"""C kernels of GlobalAveragePool, GlobalMaxPool and GlobalLpPool (p = 1, 2, 3) agree with
the reference, 1-D/2-D/3-D, float32 and float64; one graph per shape holds every op (the
float64 one also runs as the standalone driver under ASan+UBSan)."""
import numpy as np
import pytest
from test_c_reduce import graph_check

SHAPES = [(2, 3, 7), (2, 3, 5, 6), (1, 4, 3, 4, 5), (1, 2, 1, 1)]
NODES = [("GlobalAveragePool", [0], {}), ("GlobalMaxPool", [0], {}),
         ("GlobalLpPool", [0], {"p": 1}), ("GlobalLpPool", [0], {}), ("GlobalLpPool", [0], {"p": 3})]


@pytest.mark.parametrize("xs", SHAPES)
def test_global_pool_c(rng, xs):
    graph_check([rng.standard_normal(xs).astype(np.float32)], NODES)


def test_global_pool_c_float64_and_nan(rng, tmp_path):
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    x[1, 2, 3, 0] = np.nan                   # one NaN poisons its channel's max, as in numpy
    graph_check([rng.standard_normal((1, 2, 3, 3)), x],
                NODES + [("GlobalMaxPool", [1], {})], rtol=1e-12, atol=1e-12, sanitize_in=tmp_path)
