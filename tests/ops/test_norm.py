"""BatchNormalization, InstanceNormalization, LayerNormalization and GroupNormalization
against onnx.reference on random inputs, 0-D to 3-D spatial."""
import numpy as np
import pytest
from helpers import assert_close, cnnc_run, onnx_run

from cnnc.ir import CnncError, UnsupportedError

SHAPES = [(4, 6), (2, 6, 7), (2, 6, 5, 4), (1, 6, 3, 4, 5)]


def _vec(rng, c, positive=False):
    v = rng.uniform(0.5, 2.0, c) if positive else rng.standard_normal(c)
    return v.astype(np.float32)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("attrs", [{}, {"epsilon": 1e-3, "momentum": 0.5}, {"training_mode": 0}])
def test_batch_norm_matches_onnx(rng, shape, attrs):
    c = shape[1]
    x = rng.standard_normal(shape).astype(np.float32)
    ins = [x, _vec(rng, c), _vec(rng, c), _vec(rng, c), _vec(rng, c, positive=True)]
    (got,) = cnnc_run("BatchNormalization", ins, attrs)
    (want,) = onnx_run("BatchNormalization", ins, attrs)
    assert_close(got, want)


@pytest.mark.parametrize("shape", SHAPES[1:])
@pytest.mark.parametrize("attrs", [{}, {"epsilon": 1e-2}])
def test_instance_norm_matches_onnx(rng, shape, attrs):
    c = shape[1]
    ins = [rng.standard_normal(shape).astype(np.float32), _vec(rng, c), _vec(rng, c)]
    (got,) = cnnc_run("InstanceNormalization", ins, attrs)
    (want,) = onnx_run("InstanceNormalization", ins, attrs)
    assert_close(got, want)


@pytest.mark.parametrize("shape,axis,scale_shape", [
    ((4, 10), -1, (10,)),
    ((2, 5, 8), -1, (8,)),
    ((2, 5, 8), 1, (5, 8)),
    ((2, 5, 8), 1, (1, 8)),          # Scale broadcast over the normalized shape
    ((2, 3, 4, 5), -3, (3, 4, 5)),
    ((2, 3, 4, 5), 0, (2, 3, 4, 5)),
    ((1, 2, 3, 4, 5), 2, (3, 4, 5)),
])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("epsilon", [1e-5, 1e-2])
def test_layer_norm_matches_onnx(rng, shape, axis, scale_shape, bias, epsilon):
    x = rng.standard_normal(shape).astype(np.float32)
    scale = rng.standard_normal(scale_shape).astype(np.float32)
    b = rng.standard_normal(scale_shape).astype(np.float32) if bias else None
    attrs = {"axis": axis, "epsilon": epsilon}
    (got,) = cnnc_run("LayerNormalization", [x, scale] + ([b] if bias else []), attrs)
    (want,) = onnx_run("LayerNormalization", [x, scale, b], attrs)
    assert_close(got, want)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("num_groups", [1, 2, 3, 6])
@pytest.mark.parametrize("epsilon", [1e-5, 1e-2])
def test_group_norm_matches_onnx(rng, shape, num_groups, epsilon):
    c = shape[1]
    ins = [rng.standard_normal(shape).astype(np.float32), _vec(rng, c), _vec(rng, c)]
    attrs = {"num_groups": num_groups, "epsilon": epsilon}
    (got,) = cnnc_run("GroupNormalization", ins, attrs)
    (want,) = onnx_run("GroupNormalization", ins, attrs)
    assert_close(got, want)


def test_group_norm_with_one_channel_per_group_is_instance_norm(rng):
    ins = [rng.standard_normal((2, 4, 5, 5)).astype(np.float32), _vec(rng, 4), _vec(rng, 4)]
    (gn,) = cnnc_run("GroupNormalization", ins, {"num_groups": 4})
    (inn,) = cnnc_run("InstanceNormalization", ins)
    assert_close(gn, inn)


def test_statistics_are_float64(rng):
    """A large offset with a small spread: float32 statistics would be off by ~1e-3 here."""
    x = (1e4 + rng.standard_normal((2, 3, 64))).astype(np.float32)
    ones, zeros = np.ones(64, np.float32), np.zeros(64, np.float32)
    (got,) = cnnc_run("LayerNormalization", [x, ones, zeros])
    x64 = x.astype(np.float64)
    want = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, keepdims=True) + 1e-5)
    assert got.dtype == np.float32
    assert_close(got, want.astype(np.float32))


def test_float64_in_float64_out(rng):
    x = rng.standard_normal((2, 4, 3)).astype(np.float64)
    v = rng.uniform(0.5, 2, 4)
    (got,) = cnnc_run("BatchNormalization", [x, v, v, v, v])
    assert got.dtype == np.float64
    assert_close(got, onnx_run("BatchNormalization", [x, v, v, v, v])[0])


F = np.float32
C4 = np.zeros(4, F)


@pytest.mark.parametrize("op,ins,attrs,msg", [
    ("BatchNormalization", [np.zeros((2, 4, 3), F), C4, C4, C4, C4], {"training_mode": 1},
     "training mode .* not supported"),
    ("BatchNormalization", [np.zeros((2, 4, 3), F), C4, C4, C4, C4], {"training_mode": 2},
     "must be one of"),
    ("BatchNormalization", [np.zeros((2, 4, 3), F), np.zeros(3, F), C4, C4, C4], {},
     r"scale must have shape \(4,\)"),
    ("BatchNormalization", [np.zeros((2, 4, 3), np.int64), C4, C4, C4, C4], {}, "float tensor"),
    ("BatchNormalization", [np.zeros(4, F), C4, C4, C4, C4], {}, "spatial axes"),
    ("InstanceNormalization", [np.zeros((2, 4), F), C4, C4], {}, "spatial axes"),
    ("InstanceNormalization", [np.zeros((2, 4, 3), F), C4, np.zeros(4)], {}, "share one dtype"),
    ("GroupNormalization", [np.zeros((2, 4, 3), F), C4, C4], {"num_groups": 3},
     "not divisible by num_groups 3"),
    ("GroupNormalization", [np.zeros((2, 4, 3), F), C4, C4], {}, "missing required attribute"),
    ("GroupNormalization", [np.zeros((2, 4, 3), F), np.zeros(2, F), np.zeros(2, F)],
     {"num_groups": 2}, r"scale must have shape \(4,\)"),
    ("LayerNormalization", [np.zeros((2, 4, 3), F), np.zeros(3, F)], {"axis": 3}, "out of range"),
    ("LayerNormalization", [np.zeros((2, 4, 3), F), np.zeros(4, F)], {},
     r"must broadcast to the normalized shape \(3,\)"),
    ("LayerNormalization", [np.zeros((2, 4, 3), F), np.zeros((2, 4, 3), F)], {"axis": 1},
     "normalized shape"),
    ("LayerNormalization", [np.zeros((2, 4, 3), F), np.zeros(3, F)], {"epsilon": -1.0}, ">= 0"),
])
def test_norm_rejects_bad_input(op, ins, attrs, msg):
    with pytest.raises(CnncError, match=msg):
        cnnc_run(op, ins, attrs)


def test_training_mode_is_unsupported_error():
    with pytest.raises(UnsupportedError):
        cnnc_run("BatchNormalization", [np.zeros((2, 4, 3), F), C4, C4, C4, C4],
                 {"training_mode": 1})
