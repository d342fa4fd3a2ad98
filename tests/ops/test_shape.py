"""Tensor-shape ops against onnx.reference on random inputs (DepthToSpace/SpaceToDepth
outside ONNX's 4-D against a direct loop)."""
import numpy as np
import pytest
from helpers import cnnc_run, onnx_run

from cnnc.ir import CnncError, Graph, TensorType

INT_MAX, INT_MIN = 2**63 - 1, -(2**63)


def onnx_with_tensors(op, x, tensors=(), attrs=None):
    """Run ONNX's ``op`` with the operands cnnc takes as attributes (Reshape's shape, Slice's
    starts/ends/axes/steps, ...) passed as int64 input tensors; None omits one."""
    ins = [x] + [None if t is None else np.array(t, np.int64) for t in tensors]
    while ins[-1] is None:
        ins.pop()
    (y,) = onnx_run(op, ins, attrs)
    return y


def check(op, x, attrs, tensors=(), onnx_attrs=None):
    (got,) = cnnc_run(op, [x], attrs)
    want = onnx_with_tensors(op, x, tensors, onnx_attrs)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)  # pure data movement: exact


@pytest.mark.parametrize("shape,axis", [((5,), 0), ((5,), 1), ((2, 3, 4), 0), ((2, 3, 4), 1),
                                        ((2, 3, 4), 3), ((2, 3, 4), -1), ((2, 3, 4), -3),
                                        ((2, 3, 4, 5), 2)])
def test_flatten(rng, shape, axis):
    x = rng.standard_normal(shape).astype(np.float32)
    check("Flatten", x, {"axis": axis}, onnx_attrs={"axis": axis})


@pytest.mark.parametrize("shape,target,allowzero", [
    ((2, 3, 4), (4, -1), 0), ((2, 3, 4), (-1,), 0), ((2, 3, 4), (0, -1), 0),
    ((2, 3, 4), (0, 0, 2, 2), 0), ((6,), (1, 2, 1, 3), 0), ((2, 3, 4, 5), (2, 0, -1), 0),
    ((2, 0, 4), (0, 0, 4), 0), ((0, 3), (3, 0), 1), ((2, 3, 4), (4, 3, 2), 1),
])
def test_reshape(rng, shape, target, allowzero):
    x = rng.standard_normal(shape).astype(np.float32)
    check("Reshape", x, {"shape": target, "allowzero": allowzero}, [target],
          {"allowzero": allowzero})


@pytest.mark.parametrize("shape,perm", [((5,), None), ((2, 3), None), ((2, 3), (1, 0)),
                                        ((2, 3, 4), (0, 2, 1)), ((2, 3, 4), None),
                                        ((2, 3, 4, 5), (3, 0, 2, 1))])
def test_transpose(rng, shape, perm):
    x = rng.standard_normal(shape).astype(np.float32)
    attrs = {} if perm is None else {"perm": perm}
    check("Transpose", x, attrs, onnx_attrs=attrs)


@pytest.mark.parametrize("shape,axes", [((1, 3, 1, 4), None), ((1, 3, 1, 4), (0,)),
                                        ((1, 3, 1, 4), (-2, 0)), ((1,), None), ((1,), (0,)),
                                        ((2, 3), None), ((3, 1, 1), (1, 2))])
def test_squeeze(rng, shape, axes):
    x = rng.standard_normal(shape).astype(np.float32)
    check("Squeeze", x, {} if axes is None else {"axes": axes}, [axes])


@pytest.mark.parametrize("shape,axes", [((3,), (0,)), ((3,), (-1,)), ((3, 4), (0, 3)),
                                        ((3, 4), (1, -1)), ((2, 3, 4), (4, 0, 2)), ((), (0,))])
def test_unsqueeze(rng, shape, axes):
    x = rng.standard_normal(shape).astype(np.float32)
    check("Unsqueeze", x, {"axes": axes}, [axes])


@pytest.mark.parametrize("shape,target", [((3, 1), (2, 1, 4)), ((1,), (3,)), ((2, 3), (1, 1)),
                                          ((4, 1, 1), (2, 1, 3, 5)), ((3,), (2, 1)),
                                          ((1, 2, 1, 1, 1), (3, 1, 4, 2, 1))])
def test_expand(rng, shape, target):
    x = rng.standard_normal(shape).astype(np.float32)
    check("Expand", x, {"shape": target}, [target])


@pytest.mark.parametrize("shape,repeats", [((3,), (2,)), ((2, 3), (1, 3)), ((2, 3), (2, 0)),
                                           ((2, 1, 3), (2, 2, 1)), ((1, 2, 2, 2), (1, 1, 3, 2))])
def test_tile(rng, shape, repeats):
    x = rng.standard_normal(shape).astype(np.float32)
    check("Tile", x, {"repeats": repeats}, [repeats])


SLICES = [
    # (shape, starts, ends, axes, steps)
    ((10,), (2,), (7,), None, None),
    ((10,), (-3,), (INT_MAX,), None, None),
    ((10,), (8,), (1,), None, (-2,)),
    ((10,), (-1,), (INT_MIN,), None, (-1,)),
    ((10,), (20,), (-20,), None, (-3,)),
    ((10,), (-20,), (20,), None, (4,)),
    ((10,), (5,), (5,), None, None),
    ((10,), (7,), (2,), None, None),
    ((4, 6), (1, 0), (3, INT_MAX), None, (1, 2)),
    ((4, 6), (0,), (-1,), (-1,), None),
    ((4, 6), (3, 4), (0, 1), (0, 1), (-1, -2)),
    ((3, 4, 5), (1, -2), (INT_MAX, 0), (2, 0), (2, -1)),
    ((2, 3, 4, 5), (0, 1, 0), (2, 3, 4), (-1, 1, 2), (3, 1, 2)),
]


@pytest.mark.parametrize("shape,starts,ends,axes,steps", SLICES)
def test_slice(rng, shape, starts, ends, axes, steps):
    x = rng.standard_normal(shape).astype(np.float32)
    attrs = {"starts": starts, "ends": ends}
    attrs.update({k: v for k, v in (("axes", axes), ("steps", steps)) if v is not None})
    check("Slice", x, attrs, [starts, ends, axes, steps])


@pytest.mark.parametrize("op,attrs", [("Reshape", {"shape": (6, -1)}), ("Transpose", {}),
                                      ("Slice", {"starts": (1,), "ends": (5,), "axes": (1,)}),
                                      ("Tile", {"repeats": (2, 1)})])
@pytest.mark.parametrize("dtype", ["int64", "uint8", "bool"])
def test_any_dtype(rng, op, attrs, dtype):
    x = (rng.standard_normal((3, 6)) * 10).astype(dtype)
    (got,) = cnnc_run(op, [x], attrs)
    assert got.dtype == x.dtype


# ---------------------------------------------------------------- DepthToSpace / SpaceToDepth
def depth_to_space_loop(x, b, mode):
    n, c, *spatial = x.shape
    nd = len(spatial)
    c2 = c // b ** nd
    y = np.empty((n, c2, *(d * b for d in spatial)), x.dtype)
    for idx in np.ndindex(*y.shape):
        i, ch, pos = idx[0], idx[1], idx[2:]
        block = int(np.ravel_multi_index([p % b for p in pos], (b,) * nd))
        src = block * c2 + ch if mode == "DCR" else ch * b ** nd + block
        y[idx] = x[(i, src, *(p // b for p in pos))]
    return y


def space_to_depth_loop(x, b):
    n, c, *spatial = x.shape
    nd = len(spatial)
    y = np.empty((n, c * b ** nd, *(d // b for d in spatial)), x.dtype)
    for idx in np.ndindex(*y.shape):
        i, ch, pos = idx[0], idx[1], idx[2:]
        block = np.unravel_index(ch // c, (b,) * nd)
        y[idx] = x[(i, ch % c, *(p * b + o for p, o in zip(pos, block)))]
    return y


@pytest.mark.parametrize("shape,b", [((2, 8, 2, 3), 2), ((1, 18, 2, 2), 3), ((1, 4, 1, 1), 2)])
@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_to_space_matches_onnx(rng, shape, b, mode):
    x = rng.standard_normal(shape).astype(np.float32)
    check("DepthToSpace", x, {"blocksize": b, "mode": mode},
          onnx_attrs={"blocksize": b, "mode": mode})
    np.testing.assert_array_equal(cnnc_run("DepthToSpace", [x], {"blocksize": b, "mode": mode})[0],
                                  depth_to_space_loop(x, b, mode))


@pytest.mark.parametrize("shape,b", [((2, 6, 3), 2), ((1, 9, 2), 3), ((1, 16, 2, 1, 3), 2)])
@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_to_space_1d_3d(rng, shape, b, mode):
    x = rng.standard_normal(shape).astype(np.float32)
    (got,) = cnnc_run("DepthToSpace", [x], {"blocksize": b, "mode": mode})
    np.testing.assert_array_equal(got, depth_to_space_loop(x, b, mode))


@pytest.mark.parametrize("shape,b", [((2, 2, 4, 6), 2), ((1, 3, 6, 3), 3), ((1, 1, 2, 2), 2)])
def test_space_to_depth_matches_onnx(rng, shape, b):
    x = rng.standard_normal(shape).astype(np.float32)
    check("SpaceToDepth", x, {"blocksize": b}, onnx_attrs={"blocksize": b})


@pytest.mark.parametrize("shape,b", [((2, 3, 6), 2), ((1, 2, 4, 6), 2), ((1, 2, 4, 2, 6), 2),
                                     ((1, 1, 3, 6, 3), 3)])
def test_space_to_depth_inverts_dcr(rng, shape, b):
    x = rng.standard_normal(shape).astype(np.float32)
    (y,) = cnnc_run("SpaceToDepth", [x], {"blocksize": b})
    np.testing.assert_array_equal(y, space_to_depth_loop(x, b))
    (back,) = cnnc_run("DepthToSpace", [y], {"blocksize": b, "mode": "DCR"})
    np.testing.assert_array_equal(back, x)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("op,shape,attrs,msg", [
    ("Flatten", (2, 3), {"axis": 3}, "out of range"),
    ("Reshape", (2, 3), {"shape": (4, 2)}, "cannot reshape"),
    ("Reshape", (2, 3), {"shape": (-1, -1)}, "one -1"),
    ("Reshape", (2, 3), {"shape": (0, -1), "allowzero": 1}, "cannot infer the -1"),
    ("Reshape", (6,), {"shape": (2, 0)}, "past the input's rank"),
    ("Reshape", (6,), {"shape": (6,), "allowzero": 2}, "must be one of"),
    ("Transpose", (2, 3, 4), {"perm": (0, 0, 1)}, "not a permutation"),
    ("Squeeze", (1, 3), {"axes": (1,)}, "are not 1"),
    ("Squeeze", (1, 3), {"axes": (2,)}, "out of range"),
    ("Unsqueeze", (3,), {"axes": (0, 0)}, "repeat"),
    ("Expand", (3, 2), {"shape": (4, 1)}, "do not broadcast"),
    ("Expand", (3, 2), {"shape": (-1, 2)}, ">= 0"),
    ("Tile", (3, 2), {"repeats": (2,)}, "one entry per axis"),
    ("Slice", (5,), {"starts": (0,), "ends": (3,), "steps": (0,)}, "non-zero"),
    ("Slice", (5,), {"starts": (0, 1), "ends": (3,)}, "one entry each"),
    ("Slice", (5, 4), {"starts": (0, 1), "ends": (3, 3), "axes": (0, -2)}, "repeat"),
    ("DepthToSpace", (1, 6, 2, 2), {"blocksize": 2}, "not divisible"),
    ("DepthToSpace", (4, 2), {"blocksize": 2}, "spatial axes"),
    ("SpaceToDepth", (1, 2, 3, 4), {"blocksize": 2}, "not divisible"),
    ("SpaceToDepth", (1, 2, 4, 4), {"blocksize": 0}, ">= 1"),
    ("Transpose", (2, 3), {"axes": (1, 0)}, "unknown attribute"),
])
def test_rejects_bad_attributes(op, shape, attrs, msg):
    with pytest.raises(CnncError, match=msg):
        cnnc_run(op, [np.zeros(shape, np.float32)], attrs)


def test_canonical_attributes():
    """Stored attributes are complete: input-dependent defaults filled, axes normalized."""
    g = Graph()
    x = g.add_input("x", TensorType((1, 3, 1, 4)))
    cases = {"Squeeze": ({}, {"axes": (0, 2)}), "Transpose": ({}, {"perm": (3, 2, 1, 0)}),
             "Flatten": ({"axis": -1}, {"axis": 3}),
             "Unsqueeze": ({"axes": (-1, 0)}, {"axes": (0, 5)}),
             "Slice": ({"starts": (1,), "ends": (3,), "axes": (-1,)},
                       {"axes": (3,), "steps": (1,)})}
    for op, (given, expected) in cases.items():
        (v,) = g.add_node(op, [x], given)
        stored = g.node(v.node).attrs
        assert all(stored[k] == e for k, e in expected.items()), (op, stored)
