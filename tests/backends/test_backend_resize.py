"""Resize and Upsample agree with the reference on every backend of ``helpers.BACKENDS`` (on
CUDA linear/cubic run one kernel per resized axis, doubles in scratch between passes;
nearest the gather kernel) over the grid of tests/ops/test_resize.py: every mode x
coordinate_transformation_mode x nearest_mode x exclude_outside x antialias on up- and
downsampling 1-D to 3-D inputs (on CUDA one input by default, 3-D sizes with axes: three
passes, both scratch buffers; every input with ``-m slow``), with axes, sizes and
keep_aspect_ratio_policy; integer dtypes round half to even and saturate; float64 (float16
on TVM).  All variants over one input are nodes of one graph (one compile); on C one graph
also runs as the standalone driver under ASan+UBSan, one is built with clang."""
import shutil

import numpy as np
import pytest
from helpers import backend_params, backends, c_sanitize_dir, check_graph, only
from test_resize import CASES, COMBOS, SPEC_CASES, resize_attrs  # the attribute grids of tests/ops

from cnnc.ir import Graph, TensorType

# tests/ops/test_resize.py's COMBOS: nearest, and linear/cubic
NEAREST_COMBOS = [c for c in COMBOS if c[0] == "nearest"]
FILTER_COMBOS = [c for c in COMBOS if c[0] != "nearest"]


def check_nodes(x, nodes, *, rtol=1e-6, atol=1e-7, cc=None, sanitize_dir=None, backend="c"):
    """One graph with one node per ``(op, attrs)`` over ``x``: the ``backend`` build (on C
    with ``cc``; given ``sanitize_dir``, also the driver under ASan+UBSan) gives the
    reference's outputs, integers exactly."""
    g = Graph("resize")
    xv = g.add_input("x", TensorType.of(x))
    for i, (op, attrs) in enumerate(nodes):
        (y,) = g.add_node(op, [xv], attrs, label=f"{op.lower()}{i}")
        g.add_output(y, f"y{i}")
    check_graph(g, {"x": x}, sanitize_dir, rtol=rtol, atol=atol, cc=cc, backend=backend)


CUDA_DEFAULT = (6,)  # the index of CASES checked on cuda-emu without -m slow


@pytest.mark.parametrize("backend,shape,base", backend_params(
    "shape,base", CASES, marks=lambda b, i: [pytest.mark.slow] if b == "cuda-emu" and i not in CUDA_DEFAULT else []),
    ids=lambda v: str(v).replace(" ", ""))
@pytest.mark.parametrize("combos", [NEAREST_COMBOS, FILTER_COMBOS], ids=["nearest", "linear_cubic"])
def test_resize(backend, rng, shape, base, combos):
    x = rng.standard_normal(shape).astype(np.float32)
    check_nodes(x, [("Resize", resize_attrs(base, *c)) for c in combos], backend=backend)


@backends
@pytest.mark.parametrize("shape,base,ct", SPEC_CASES)
def test_resize_fractional_scales(backend, rng, shape, base, ct):
    """tests/ops/test_resize.py's SPEC_CASES: extents that are not in * scale."""
    x = rng.standard_normal(shape).astype(np.float32)
    check_nodes(x, [("Resize", {**base, "mode": m, "coordinate_transformation_mode": ct})
                    for m in ("nearest", "linear", "cubic")], backend=backend)


@backends
@pytest.mark.parametrize("policy", ["stretch", "not_larger", "not_smaller"])
def test_resize_keep_aspect_ratio_policy(backend, rng, policy):
    x = rng.standard_normal((1, 2, 4, 6)).astype(np.float32)
    check_nodes(x, [("Resize", {"sizes": (3, 3), "axes": (2, 3), "keep_aspect_ratio_policy": policy,
                                "mode": m}) for m in ("nearest", "linear", "cubic")], backend=backend)


@backends
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int32", "int64"])
def test_resize_integer_dtypes_round_and_saturate(backend, rng, dtype):
    """Cubic overshoots past the dtype's range (saturates); tf_crop_and_resize's
    extrapolation value is rounded too."""
    info = np.iinfo(dtype)
    lo, hi = max(info.min, -1000), min(info.max, 1000)
    x = rng.integers(lo, hi, (1, 1, 4, 5), endpoint=True).astype(dtype)
    x[0, 0, 1, 1:3] = (lo, hi)
    attrs = {"scales": (1.0, 1.0, 2.0, 1.5)}
    crop = {"coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": 2.5,
            "roi": (0, 0, -0.2, 0.1, 1, 1, 0.9, 1.3)}
    check_nodes(x, [("Resize", {**attrs, "mode": m, **c}) for m in ("nearest", "linear", "cubic")
                    for c in ({}, crop)], backend=backend)


#: a float64 input and Resize nodes over it
FLOAT64_NODES = [("Resize", resize_attrs(CASES[5][1], *c)) for c in
                 [("nearest", "half_pixel", "floor", 1, 0), ("linear", "tf_crop_and_resize", "floor", 0, 1),
                  ("cubic", "half_pixel", "floor", 1, 0), ("cubic", "align_corners", "floor", 0, 1)]]


@backends
def test_resize_float64(backend, rng):
    check_nodes(rng.standard_normal((1, 2, 4, 3, 4)), FLOAT64_NODES, rtol=1e-13, atol=1e-14, backend=backend)


@only("tvm")  # float16: TVM's alone
def test_resize_tvm_only_float16(backend, rng):
    x = rng.standard_normal((1, 2, 4, 3, 4))
    check_nodes(x.astype(np.float16), FLOAT64_NODES[:2], rtol=1e-3, atol=1e-3, backend=backend)


@backends
@pytest.mark.parametrize("shape,scales", [((6,), (2.0,)), ((2, 5), (2.0, 1.7)),
                                          ((1, 2, 3, 4), (1.0, 1.0, 1.5, 2.5)),
                                          ((1, 2, 3, 4), (1.0, 2.0, 3.0, 2.0)),
                                          ((1, 1, 2, 3, 4), (1.0, 1.0, 2.0, 2.0, 1.5))])
def test_upsample(backend, rng, shape, scales):
    x = rng.standard_normal(shape).astype(np.float32)
    check_nodes(x, [("Upsample", {"mode": m, "scales": scales}) for m in ("nearest", "linear")], backend=backend)


@backends
def test_resize_three_axes(backend, rng, tmp_path):
    """Three resized axes (both scratch buffers), antialiased downsampling, extrapolation;
    on C under ASan+UBSan too."""
    x = rng.standard_normal((1, 2, 6, 4, 8)).astype(np.float32)
    base = {"sizes": (3, 5, 12), "axes": (4, 2, 3)}
    check_nodes(x, [("Resize", resize_attrs(base, *c)) for c in
                    [("cubic", "tf_crop_and_resize", "floor", 1, 1), ("linear", "half_pixel", "floor", 0, 1),
                     ("nearest", "asymmetric", "ceil", 1, 0)]],
                sanitize_dir=c_sanitize_dir(backend, tmp_path / "gen"), backend=backend)


@only("c")  # the C backend's compiler
def test_resize_c_only_clang(backend, rng):
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    x = rng.integers(0, 256, (1, 2, 4, 3, 4)).astype(np.uint8)
    check_nodes(x, [("Resize", resize_attrs(CASES[5][1], *c)) for c in
                    [("cubic", "tf_crop_and_resize", "floor", 1, 1),
                     ("nearest", "half_pixel", "ceil", 0, 0)]],
                cc="clang", backend=backend)
