"""Concat and Split against onnx.reference on random inputs."""
import numpy as np
import pytest
from helpers import cnnc_run, onnx_run

import cnnc
from cnnc.ir import CnncError, Graph, TensorType


@pytest.mark.parametrize("shapes,axis", [
    ([(3,), (5,)], 0),
    ([(2, 3), (2, 4), (2, 1)], 1),
    ([(2, 3), (1, 3)], -2),
    ([(1, 2, 4, 4), (1, 3, 4, 4), (1, 1, 4, 4)], 1),   # DenseNet-style channel concat
    ([(1, 2, 4, 4)], 1),
    ([(2, 3, 4), (2, 3, 0), (2, 3, 2)], -1),
    ([(1, 2, 2, 3, 3), (1, 2, 2, 3, 3)], 2),
])
def test_concat_matches_onnx(rng, shapes, axis):
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    (got,) = cnnc_run("Concat", xs, {"axis": axis})
    (want,) = onnx_run("Concat", xs, {"axis": axis})
    np.testing.assert_array_equal(got, want)


def test_concat_keeps_dtype(rng):
    xs = [rng.integers(0, 9, (2, n)).astype(np.int64) for n in (1, 2)]
    (got,) = cnnc_run("Concat", xs, {"axis": 1})
    assert got.dtype == np.int64 and got.shape == (2, 3)


def onnx_split(x, split, attrs, n_outputs):
    """ONNX's Split, with cnnc's ``split`` attribute passed as its int64 input."""
    ins = [x] + ([] if split is None else [np.array(split, np.int64)])
    return onnx_run("Split", ins, attrs, n_outputs=n_outputs)


@pytest.mark.parametrize("shape,attrs,sizes", [
    ((6,), {"split": (2, 4)}, (2, 4)),
    ((6,), {"num_outputs": 3}, (2, 2, 2)),
    ((7,), {"num_outputs": 3}, (3, 3, 1)),
    ((2, 5), {"axis": 1, "split": (1, 0, 4)}, (1, 0, 4)),
    ((2, 5), {"axis": -1, "num_outputs": 2}, (3, 2)),
    ((4, 6, 3, 3), {"axis": 1, "split": (1, 2, 3)}, (1, 2, 3)),
    ((2, 3, 4, 5, 6), {"axis": 4, "num_outputs": 4}, (2, 2, 2, 0)),
    ((3, 2), {"num_outputs": 1}, (3,)),
])
def test_split_matches_onnx(rng, shape, attrs, sizes):
    x = rng.standard_normal(shape).astype(np.float32)
    got = cnnc_run("Split", [x], attrs)
    want = onnx_split(x, attrs.get("split"), {k: v for k, v in attrs.items() if k != "split"},
                      len(sizes))
    assert len(got) == len(want) == len(sizes)
    axis = attrs.get("axis", 0)
    for g, w, n in zip(got, want, sizes):
        assert g.shape[axis] == n
        np.testing.assert_array_equal(g, w)


def test_split_then_concat_is_identity(rng):
    x = rng.standard_normal((2, 9, 3)).astype(np.float32)
    g = Graph()
    v = g.add_input("x", TensorType.of(x))
    parts = g.add_node("Split", [v], {"axis": 1, "num_outputs": 4})
    assert [g.type_of(p).shape for p in parts] == [(2, 3, 3)] * 3 + [(2, 0, 3)]
    assert g.node(parts[0].node).attrs["split"] == (3, 3, 3, 0)
    (y,) = g.add_node("Concat", list(parts), {"axis": 1})
    g.add_output(y, "y")
    np.testing.assert_array_equal(cnnc.compile(g, target="reference").run({"x": x})["y"], x)


@pytest.mark.parametrize("op,shapes,attrs,msg", [
    ("Concat", [(2, 3), (3, 3)], {"axis": 1}, r"every dim but axis 1; got \(2, 3\), \(3, 3\)"),
    ("Concat", [(2, 3), (2, 3, 1)], {"axis": 0}, "share their rank"),
    ("Concat", [(2, 3)], {"axis": 2}, "out of range"),
    ("Concat", [(2, 3)], {}, "missing required attribute 'axis'"),
    ("Split", [(6,)], {"split": (2, 2)}, "sums to 4"),
    ("Split", [(6,)], {}, "exactly one of"),
    ("Split", [(6,)], {"split": (3, 3), "num_outputs": 2}, "exactly one of"),
    ("Split", [(5,)], {"num_outputs": 4}, "cannot be split into 4 parts"),
    ("Split", [(6,)], {"num_outputs": 0}, ">= 1"),
    ("Split", [(6,)], {"split": (7, -1)}, ">= 0"),
])
def test_rejects_bad_attributes(op, shapes, attrs, msg):
    with pytest.raises(CnncError, match=msg):
        cnnc_run(op, [np.zeros(s, np.float32) for s in shapes], attrs)


def test_concat_rejects_mixed_dtypes():
    with pytest.raises(CnncError, match="one dtype"):
        cnnc_run("Concat", [np.zeros(2, np.float32), np.zeros(2, np.int64)], {"axis": 0})
