"""Gather against onnx.reference (opset 13) on random data and random, partly negative indices."""
import numpy as np
import pytest
from helpers import assert_close, cnnc_run, onnx_run

from cnnc.ir import CnncError

CASES = [
    # (data shape, axis, indices shape)
    ((5,), 0, (3,)),
    ((5,), 0, ()),              # scalar index of a vector: a rank-0 result
    ((4, 6), 0, (2, 3)),
    ((4, 6), 1, (5,)),
    ((4, 6), -1, ()),
    ((2, 3, 4, 5), 2, (2, 2)),
    ((2, 3, 4, 5), -3, (4,)),
    ((2, 3, 4, 5), 3, (1, 2, 3)),
    ((3, 1, 4), 1, (2,)),       # repeated index 0 of a unit axis
]


@pytest.mark.parametrize("shape,axis,ishape", CASES)
@pytest.mark.parametrize("dtype,idtype", [("float32", "int64"), ("int64", "int32"),
                                          ("float64", "int32")])
def test_gather_matches_onnx(rng, shape, axis, ishape, dtype, idtype):
    data = (rng.standard_normal(shape) * 100).astype(dtype)
    n = shape[axis]
    indices = np.asarray(rng.integers(-n, n, size=ishape), dtype=idtype)
    (got,) = cnnc_run("Gather", [data, indices], {"axis": axis})
    (want,) = onnx_run("Gather", [data, indices], {"axis": axis}, opset=13)
    assert got.dtype == data.dtype
    assert got.shape == shape[:axis % len(shape)] + ishape + shape[axis % len(shape) + 1:]
    assert_close(got, want)


def test_gather_constant_indices_and_bool_data(rng):
    data = rng.standard_normal((3, 4)) > 0
    indices = np.array([[-1, 0], [2, 2]], dtype=np.int64)
    (got,) = cnnc_run("Gather", [data, indices], {"axis": 1}, const=(1,))
    np.testing.assert_array_equal(got, data[:, [[3, 0], [2, 2]]])


@pytest.mark.parametrize("shape,ishape,idtype,attrs,msg", [
    ((3, 4), (2,), "int64", {"axis": 2}, "axis 2 is out of range"),
    ((3, 4), (2,), "int64", {"axis": -3}, "axis -3 is out of range"),
    ((), (), "int64", {}, "rank-0"),
    ((3, 4), (2,), "float32", {}, "indices must be int64 or int32"),
    ((3, 4), (2,), "int64", {"dim": 0}, "unknown attribute"),
])
def test_gather_rejects_bad_operands(shape, ishape, idtype, attrs, msg):
    with pytest.raises(CnncError, match=msg):
        cnnc_run("Gather", [np.zeros(shape, np.float32), np.zeros(ishape, idtype)], attrs)


@pytest.mark.parametrize("index", [3, -4])
def test_gather_rejects_out_of_range_index_at_run_time(index):
    with pytest.raises(CnncError, match=rf"index {index} is out of range \[-3, 3\)"):
        cnnc_run("Gather", [np.zeros((2, 3), np.float32), np.array([0, index])], {"axis": 1})
