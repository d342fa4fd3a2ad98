"""C kernel of SpatialPyramidPool agrees with the reference over the shapes, levels and
modes of tests/ops/test_pyramid_pool.py (bins that overlap, levels finer than the input),
float32 and float64; one graph per shape holds every level set and mode (the float64 one
also runs as the standalone driver under ASan+UBSan)."""
import numpy as np
import pytest
from test_c_reduce import graph_check

NODES = [("SpatialPyramidPool", [0], {"mode": mode} | ({"levels": levels} if levels else {}))
         for levels in (None, (1, 2, 4), (3,), (1, 3, 6)) for mode in ("max", "avg")]


@pytest.mark.parametrize("xs", [(2, 3, 13), (2, 3, 7, 9), (1, 2, 5, 3, 6), (1, 2, 3, 2)])
def test_spp_c(rng, xs):
    graph_check([rng.standard_normal(xs).astype(np.float32)], NODES)


def test_spp_c_float64(rng, tmp_path):
    graph_check([rng.standard_normal((2, 3, 8, 12))], NODES, rtol=1e-12, atol=1e-12,
                sanitize_in=tmp_path)
