"""BatchNormalization (constant parameters folded -- on CUDA channel_affine --, run-time
ones computed), InstanceNormalization, LayerNormalization (with its Mean/InvStdDev outputs)
and GroupNormalization agree with the reference on every backend of ``helpers.BACKENDS``
over the cases of tests/ops/test_norm.py, 0-D to 3-D spatial, float32 and float64;
statistics are float64 as in the reference (on CUDA a block of threads per row, tree sums
in double); float16 on TVM.  One graph per shape holds the attribute variants; on C two run
as the standalone driver under ASan+UBSan too."""
import numpy as np
import pytest
from helpers import backends, c_sanitize_dir, graph_check, only

SHAPES = [(4, 6), (2, 6, 7), (2, 6, 5, 4), (1, 6, 3, 4, 5)]


def _vec(rng, c, positive=False, dtype=np.float32):
    v = rng.uniform(0.5, 2.0, c) if positive else rng.standard_normal(c)
    return v.astype(dtype)


def _bn_params(rng, c, dtype=np.float32):
    return [_vec(rng, c, dtype=dtype), _vec(rng, c, dtype=dtype), _vec(rng, c, dtype=dtype),
            _vec(rng, c, positive=True, dtype=dtype)]


@backends
@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm(backend, rng, shape):
    """Operands 1-4 are graph inputs, 5-8 the same values as Constants (folded)."""
    params = _bn_params(rng, shape[1])
    inputs = [rng.standard_normal(shape).astype(np.float32), *params, *params]
    nodes = [("BatchNormalization", ops, attrs) for ops in ([0, 1, 2, 3, 4], [0, 5, 6, 7, 8])
             for attrs in ({}, {"epsilon": 1e-3, "momentum": 0.5}, {"training_mode": 0})]
    graph_check(inputs, nodes, const=(5, 6, 7, 8), backend=backend)


@backends
def test_batch_norm_float64_and_mixed_dtypes(backend, rng, tmp_path):
    x64, x32 = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 3)).astype(np.float32)
    p64 = _bn_params(rng, 4, np.float64)
    inputs = [x64, *p64, *p64, x32]
    nodes = [("BatchNormalization", [0, 1, 2, 3, 4], {}), ("BatchNormalization", [0, 5, 6, 7, 8], {}),
             ("BatchNormalization", [9, 1, 2, 3, 4], {}), ("BatchNormalization", [9, 5, 6, 7, 8], {})]
    graph_check(inputs, nodes, const=(5, 6, 7, 8), rtol=1e-7, atol=1e-12,
                sanitize_in=c_sanitize_dir(backend, tmp_path), backend=backend)


@backends
@pytest.mark.parametrize("shape", SHAPES[1:])
def test_instance_norm(backend, rng, shape):
    c = shape[1]
    inputs = [rng.standard_normal(shape).astype(np.float32), _vec(rng, c), _vec(rng, c)]
    nodes = [("InstanceNormalization", [0, 1, 2], a) for a in ({}, {"epsilon": 1e-2})]
    graph_check(inputs + inputs[1:], nodes + [("InstanceNormalization", [0, 3, 4], {})],
                const=(3, 4), atol=1e-5, backend=backend)


@backends
@pytest.mark.parametrize("shape,axis,scale_shape,bias_shape", [
    ((4, 10), -1, (10,), (10,)),
    ((2, 5, 8), -1, (8,), (1,)),
    ((2, 5, 8), 1, (5, 8), (5, 8)),
    ((2, 5, 8), 1, (1, 8), (5, 1)),          # Scale and B broadcast differently
    ((2, 3, 4, 5), -3, (3, 4, 5), (4, 1)),
    ((2, 3, 4, 5), 0, (2, 3, 4, 5), (5,)),
    ((1, 2, 3, 4, 5), 2, (3, 4, 5), (3, 4, 5)),
    ((2, 700), -1, (700,), (700,)),          # on CUDA several elements per thread
])
def test_layer_norm(backend, rng, shape, axis, scale_shape, bias_shape):
    inputs = [rng.standard_normal(shape).astype(np.float32),
              rng.standard_normal(scale_shape).astype(np.float32),
              rng.standard_normal(bias_shape).astype(np.float32)]
    nodes = [("LayerNormalization", ops, {"axis": axis, "epsilon": eps})
             for ops in ([0, 1], [0, 1, 2]) for eps in (1e-5, 1e-2)]
    nodes.append(("LayerNormalization", [0, 1, 2], {"axis": axis, "stats_outputs": 1}))
    graph_check(inputs, nodes, atol=1e-5, backend=backend)


@backends
def test_layer_norm_statistics_are_float64(backend, rng, tmp_path):
    """A large offset with a small spread (float32 statistics would be off by ~1e-3), and
    float64 in and out."""
    x = (1e4 + rng.standard_normal((2, 3, 64))).astype(np.float32)
    ones, zeros = np.ones(64, np.float32), np.zeros(64, np.float32)
    x64 = rng.standard_normal((3, 4, 5))
    graph_check([x, ones, zeros], [("LayerNormalization", [0, 1, 2], {"stats_outputs": 1})], const=(1, 2),
                rtol=1e-5, atol=1e-5, sanitize_in=c_sanitize_dir(backend, tmp_path / "offset"), backend=backend)
    graph_check([x64, rng.standard_normal((4, 5))], [("LayerNormalization", [0, 1], {"axis": 1, "stats_outputs": 1})],
                rtol=1e-12, atol=1e-12, sanitize_in=c_sanitize_dir(backend, tmp_path / "float64"), backend=backend)


@backends
@pytest.mark.parametrize("shape", SHAPES)
def test_group_norm(backend, rng, shape):
    """Scale and B graph inputs, and the same values as Constants."""
    c = shape[1]
    inputs = [rng.standard_normal(shape).astype(np.float32), _vec(rng, c), _vec(rng, c)]
    nodes = [("GroupNormalization", [0, 1, 2], {"num_groups": g, "epsilon": eps})
             for g in (1, 2, 3, 6) for eps in (1e-5, 1e-2)]
    nodes += [("GroupNormalization", [0, 3, 4], {"num_groups": 1, "epsilon": eps}) for eps in (1e-5, 1e-2)]
    graph_check(inputs + inputs[1:], nodes, const=(3, 4), atol=1e-5, backend=backend)


@only("tvm")  # float16: TVM's alone
def test_norm_tvm_only_float16(backend, rng):
    x = rng.standard_normal((2, 4, 3)).astype(np.float16)
    p = [v.astype(np.float16) for v in _bn_params(rng, 4)]
    nodes = [("BatchNormalization", [0, 1, 2, 3, 4], {}), ("InstanceNormalization", [0, 1, 2], {}),
             ("GroupNormalization", [0, 1, 2], {"num_groups": 2}), ("LayerNormalization", [0, 5], {"axis": 1})]
    graph_check([x, *p, rng.standard_normal((4, 3)).astype(np.float16)], nodes, rtol=2e-3, atol=2e-3,
                backend=backend)
