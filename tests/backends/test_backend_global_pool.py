"""GlobalAveragePool, GlobalMaxPool and GlobalLpPool (p = 1, 2, 3) agree with the reference
on every backend of ``helpers.BACKENDS``, 1-D/2-D/3-D (and ResNet's 7x7 and SqueezeNet's
13x13: 49 and 169 elements per row, 8 lanes and a tail of 1; 54, a tail of 6; on CUDA a
block per row), float32 and float64, a NaN (it poisons its
channel's max, as in numpy) and a channel of -inf; float16 on TVM.  One graph per shape
holds every op (on C the float64 one also runs as the standalone driver under ASan+UBSan)."""
import numpy as np
import pytest
from helpers import backends, c_sanitize_dir, graph_check, only

SHAPES = [(2, 3, 7), (2, 3, 5, 6), (1, 4, 3, 4, 5), (1, 2, 1, 1), (2, 8, 7, 7), (1, 5, 13, 13), (1, 2, 6, 9)]
NODES = [("GlobalAveragePool", [0], {}), ("GlobalMaxPool", [0], {}),
         ("GlobalLpPool", [0], {"p": 1}), ("GlobalLpPool", [0], {}), ("GlobalLpPool", [0], {"p": 3})]


@backends
@pytest.mark.parametrize("xs", SHAPES)
def test_global_pool(backend, rng, xs):
    graph_check([rng.standard_normal(xs).astype(np.float32)], NODES, backend=backend)


@backends
def test_global_pool_float64_and_nan(backend, rng, tmp_path):
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    x[1, 2, 3, 0] = np.nan                   # one NaN poisons its channel's max, as in numpy
    x[0, 1] = -np.inf                        # a channel of -inf has max -inf
    graph_check([rng.standard_normal((1, 2, 3, 3)), x], NODES + [("GlobalMaxPool", [1], {})],
                rtol=1e-12, atol=1e-12, sanitize_in=c_sanitize_dir(backend, tmp_path), backend=backend)


@only("tvm")  # float16: TVM's alone
def test_global_pool_tvm_only_float16(backend, rng):
    graph_check([rng.standard_normal((1, 3, 5, 6)).astype(np.float16)], NODES, rtol=1e-2, atol=1e-2,
                backend=backend)
