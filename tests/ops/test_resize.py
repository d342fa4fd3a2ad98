"""Resize (opset 19) and Upsample against ONNX on random inputs: every mode x coordinate
transformation x nearest mode x exclude_outside x antialias, up- and downsampling, 1-D to
3-D, against onnx.reference; where ONNX's reference departs from ONNX's spec, against
onnxruntime (see SPEC_CASES)."""
import numpy as np
import pytest
from helpers import assert_close, cnnc_run, onnx_run

from cnnc.ir import CnncError, Graph, TensorType
from cnnc.ops.resize import resize_plan

COORDS = ["half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
          "asymmetric", "tf_crop_and_resize"]
NEAREST = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]


def onnx_resize(x, attrs, runtime="reference"):
    """ONNX's Resize (opset 19), with cnnc's roi/scales/sizes attributes passed as its
    input tensors (float32, float32, int64, as ONNX types them)."""
    attrs = dict(attrs)
    tensors = [(attrs.pop("roi", None), np.float32), (attrs.pop("scales", None), np.float32),
               (attrs.pop("sizes", None), np.int64)]
    ins = [x] + [None if v is None else np.array(v, t) for v, t in tensors]
    while ins[-1] is None:
        ins.pop()
    (y,) = onnx_run("Resize", ins, attrs, opset=19, runtime=runtime)
    return y


def roi_for(n_axes):
    """A crop window per axis, partly outside the input so that extrapolation shows."""
    return tuple([-0.2, 0.1, 0.3, 0.0, 0.25][:n_axes] + [0.9, 1.3, 0.8, 1.0, 0.75][:n_axes])


# Output extents are exact multiples (in * scale is an integer): there ONNX's reference and
# its spec agree (see SPEC_CASES for where they do not).
CASES = [
    ((7,), {"scales": (2.0,)}),
    ((8,), {"scales": (0.5,)}),
    ((5,), {"sizes": (8,)}),
    ((2, 3, 4, 6), {"scales": (1.0, 1.0, 1.5, 0.5)}),
    ((2, 3, 4, 6), {"sizes": (7, 3), "axes": (3, 2)}),
    ((1, 2, 4, 3, 4), {"scales": (0.5, 2.0, 1.25), "axes": (2, 3, 4)}),
    ((1, 1, 6, 4, 8), {"sizes": (3, 5, 12), "axes": (2, 3, 4)}),
]

COMBOS = ([("nearest", ct, nm, 0, 0) for ct in COORDS for nm in NEAREST]
          + [("nearest", ct, "round_prefer_floor", 1, 0) for ct in ("half_pixel", "asymmetric")]
          + [(m, ct, "round_prefer_floor", ex, aa) for m in ("linear", "cubic") for ct in COORDS
             for ex in (0, 1) for aa in (0, 1)])


def resize_attrs(base, mode, ct, nm, ex, aa):
    attrs = {**base, "mode": mode, "coordinate_transformation_mode": ct, "nearest_mode": nm,
             "exclude_outside": ex, "antialias": aa}
    if ct == "tf_crop_and_resize":
        attrs["roi"] = roi_for(len(base.get("scales") or base["sizes"]))
        attrs["extrapolation_value"] = 0.5
    return attrs


@pytest.mark.parametrize("shape,base", CASES, ids=lambda v: str(v).replace(" ", ""))
@pytest.mark.parametrize("mode,ct,nm,ex,aa", COMBOS)
def test_resize_matches_onnx(rng, shape, base, mode, ct, nm, ex, aa):
    x = rng.standard_normal(shape).astype(np.float32)
    attrs = resize_attrs(base, mode, ct, nm, ex, aa)
    (got,) = cnnc_run("Resize", [x], attrs)
    assert_close(got, onnx_resize(x, attrs))


# ONNX's reference evaluator departs from ONNX's spec in two places, and onnxruntime follows
# the spec: align_corners and tf_crop_and_resize divide by (length_resized - 1), the integer
# output extent, where the reference divides by the fractional in * scale - 1; and
# pytorch_half_pixel maps a length-1 output to 0, where the reference gives -0.5 and tests
# the fractional extent.  onnxruntime only runs linear/cubic on 2-D (or N, C, H, W) data.
SPEC_CASES = [
    ((1, 2, 5, 6), {"scales": (1.0, 1.0, 1.7, 0.5)}, "align_corners"),
    ((1, 2, 5, 6), {"scales": (1.0, 1.0, 1.7, 0.5), "roi": (0, 0, 0.2, 0.1, 1, 1, 0.9, 0.7)},
     "tf_crop_and_resize"),
    ((1, 1, 3, 4), {"sizes": (1, 1, 1, 1)}, "pytorch_half_pixel"),
    ((1, 1, 3, 4), {"scales": (1.0, 1.0, 0.34, 0.26)}, "pytorch_half_pixel"),
    ((6, 5), {"scales": (0.7, 1.5)}, "align_corners"),
]


@pytest.mark.parametrize("shape,base,ct", SPEC_CASES)
@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_resize_follows_spec_like_onnxruntime(rng, shape, base, ct, mode):
    x = rng.standard_normal(shape).astype(np.float32)
    attrs = {**base, "mode": mode, "coordinate_transformation_mode": ct}
    (got,) = cnnc_run("Resize", [x], attrs)
    assert_close(got, onnx_resize(x, attrs, runtime="ort"))


@pytest.mark.parametrize("policy,expected", [("stretch", (3, 3)), ("not_larger", (2, 3)),
                                             ("not_smaller", (3, 5))])
@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_keep_aspect_ratio_policy(rng, policy, expected, mode):
    x = rng.standard_normal((1, 2, 4, 6)).astype(np.float32)
    attrs = {"sizes": (3, 3), "axes": (2, 3), "keep_aspect_ratio_policy": policy, "mode": mode}
    (got,) = cnnc_run("Resize", [x], attrs)
    assert got.shape[2:] == expected
    assert_close(got, onnx_resize(x, attrs))


@pytest.mark.parametrize("dtype", ["uint8", "int32"])
@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_resize_integer_dtypes_round_and_saturate(rng, dtype, mode):
    x = rng.integers(0, 256, (1, 1, 4, 5)).astype(dtype)
    attrs = {"scales": (1.0, 1.0, 2.0, 1.5), "mode": mode}
    (got,) = cnnc_run("Resize", [x], attrs)
    assert got.dtype == x.dtype
    # rounding a computed .5 may go either way after float noise
    np.testing.assert_allclose(got.astype(np.int64), onnx_resize(x, attrs).astype(np.int64), atol=1)


@pytest.mark.parametrize("mode,ct,scale,taps", [
    ("nearest", "half_pixel", 2.0, 1), ("linear", "half_pixel", 2.0, 2),
    ("cubic", "asymmetric", 0.5, 4), ("linear", "half_pixel", 0.25, 2),
])
@pytest.mark.parametrize("antialias", [0, 1])
def test_plan_is_small_tap_tables(mode, ct, scale, taps, antialias):
    """One table of taps per resized axis; antialias stretches the filter when shrinking."""
    if mode == "nearest" and antialias:
        return
    g = Graph()
    x = g.add_input("x", TensorType((1, 3, 8, 8)))
    (v,) = g.add_node("Resize", [x], {"scales": (1.0, 1.0, 1.0, scale), "mode": mode,
                                      "coordinate_transformation_mode": ct,
                                      "antialias": antialias})
    (plan,) = resize_plan((1, 3, 8, 8), g.node(v.node).attrs)
    want_taps = int(taps / scale) if antialias and scale < 1 else taps
    assert plan.axis == 3 and plan.index.shape == plan.weight.shape == (8 * scale, want_taps)
    assert plan.index.min() >= 0 and plan.index.max() <= 7
    np.testing.assert_allclose(plan.weight.sum(axis=1), 1.0)


def test_canonical_axes():
    g = Graph()
    (v,) = g.add_node("Resize", [g.add_input("x", TensorType((1, 2, 3, 4)))],
                      {"sizes": (8, 5), "axes": (-1, 2)})
    assert g.node(v.node).attrs["axes"] == (3, 2) and g.type_of(v).shape == (1, 2, 5, 8)


# ---------------------------------------------------------------- Upsample
UPSAMPLE_CASES = [((6,), (2.0,)), ((2, 5), (2.0, 1.7)), ((1, 2, 3, 4), (1.0, 1.0, 1.5, 2.5)),
                  ((1, 2, 3, 4), (1.0, 1.0, 2.0, 3.0)),
                  ((1, 1, 2, 3, 4), (1.0, 1.0, 2.0, 2.0, 1.5))]


# onnxruntime runs linear Upsample on 2-D to 5-D data only
@pytest.mark.parametrize("shape,scales,mode", [(s, sc, m) for s, sc in UPSAMPLE_CASES
                                               for m in ("nearest", "linear")
                                               if m == "nearest" or len(s) > 1])
def test_upsample_matches_onnxruntime(rng, shape, scales, mode):
    x = rng.standard_normal(shape).astype(np.float32)
    (got,) = cnnc_run("Upsample", [x], {"mode": mode, "scales": scales})
    # ONNX's reference evaluator implements Upsample for integer nearest scales only
    (want,) = onnx_run("Upsample", [x, np.array(scales, np.float32)], {"mode": mode}, opset=9,
                       runtime="ort")
    assert_close(got, want)


def test_upsample_integer_nearest_matches_onnx_reference(rng):
    x = rng.standard_normal((1, 2, 3, 4)).astype(np.float32)
    (got,) = cnnc_run("Upsample", [x], {"scales": (1.0, 2.0, 3.0, 2.0)})
    (want,) = onnx_run("Upsample", [x, np.array((1, 2, 3, 2), np.float32)], {}, opset=9)
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("op,shape,attrs,msg", [
    ("Resize", (1, 4), {}, "exactly one of scales and sizes"),
    ("Resize", (1, 4), {"scales": (1.0, 2.0), "sizes": (1, 8)}, "exactly one of"),
    ("Resize", (1, 4), {"scales": (2.0,)}, "one entry per resized axis"),
    ("Resize", (1, 4), {"scales": (1.0, 0.0)}, "> 0"),
    ("Resize", (1, 4), {"sizes": (1, 8, 2), "axes": (1, 0)}, "one entry per resized axis"),
    ("Resize", (1, 4), {"sizes": (8, 8), "axes": (1, -1)}, "repeat"),
    ("Resize", (1, 4), {"scales": (1.0, 0.2)}, "empty output"),
    ("Resize", (1, 4), {"scales": (1.0, 2.0),
                        "coordinate_transformation_mode": "tf_crop_and_resize"}, "needs roi"),
    ("Resize", (1, 4), {"scales": (1.0, 2.0), "roi": (0.0, 1.0)}, "needs 4 entries"),
    ("Resize", (1, 4), {"scales": (1.0, 0.5), "antialias": 1}, "not nearest"),
    ("Resize", (1, 4), {"scales": (1.0, 2.0), "mode": "bilinear"}, "must be one of"),
    ("Upsample", (1, 4), {"scales": (1.0, 0.5)}, ">= 1"),
    ("Upsample", (1, 4), {"scales": (2.0,)}, "one entry per axis"),
])
def test_rejects_bad_attributes(op, shape, attrs, msg):
    with pytest.raises(CnncError, match=msg):
        cnnc_run(op, [np.zeros(shape, np.float32)], attrs)


def test_resize_rejects_bool():
    with pytest.raises(CnncError, match="numeric tensor"):
        cnnc_run("Resize", [np.zeros((2, 2), bool)], {"scales": (2.0, 2.0)})
