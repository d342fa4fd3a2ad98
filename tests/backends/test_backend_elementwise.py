"""The broadcasting elementwise ops agree with the reference on every backend of
``helpers.BACKENDS``: arithmetic over broadcast patterns in every dtype (float16 on TVM;
integer wrap-around, truncating division and its edge cases), mixed-dtype Pow, comparisons
and logic, N-ary Max/Min/Sum/Mean with numpy's NaN and signed-zero rules (and in place,
where the memory plan gives the result an operand's buffer), Where.  Several nodes share
one graph (one compile); on C one build per test also runs as the standalone driver under
ASan+UBSan."""
import numpy as np
import pytest
from helpers import add, backend_params, backends, c_sanitize_dir, check_graph

from cnnc.ir import Graph, TensorType

PAIRS = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((2, 1, 4), (3, 1)), ((1,), (2, 3)), ((), (2, 3)),
         ((5,), ()), ((2, 3, 1, 5), (3, 4, 1))]


def rank0_const(xs):
    return [i for i, a in enumerate(xs) if np.ndim(a) == 0]


def operands(rng, op, sa, sb, dtype):
    """Random operands in each op's domain (non-zero float divisors, positive float bases)."""
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, sa, dtype=dtype, endpoint=True)
        b = rng.integers(info.min, info.max, sb, dtype=dtype, endpoint=True)
        if op == "Pow":
            a, b = rng.integers(-5, 6, sa).astype(dtype), rng.integers(-2, 6, sb).astype(dtype)
        return np.asarray(a), np.asarray(b)
    a = np.asarray(rng.standard_normal(sa).astype(dtype))
    b = np.asarray(rng.standard_normal(sb).astype(dtype))
    if op == "Div":
        b = (np.sign(b) + (b == 0)) * rng.uniform(0.5, 2, sb).astype(dtype)
    if op == "Pow":
        a = np.abs(a) + dtype(0.5)
    return a, np.asarray(b)


RTOL = {"float32": 1e-5, "float64": 1e-12, "float16": 1e-3}


# float16: TVM's alone
@pytest.mark.parametrize("backend,dtype", backend_params("dtype", ["float32", "float64"])
                         + backend_params("dtype", ["float16"], "tvm"))
def test_arith_float(backend, rng, tmp_path, dtype):
    g, feeds = Graph(f"arith_{dtype}"), {}
    for op in ["Add", "Sub", "Mul", "Div", "Pow"]:
        for sa, sb in PAIRS:
            xs = operands(rng, op, sa, sb, np.dtype(dtype).type)
            add(g, feeds, op, xs, const=rank0_const(xs))
    check_graph(g, feeds, c_sanitize_dir(backend, tmp_path) if dtype == "float32" else None, rtol=RTOL[dtype],
                backend=backend)


@backends
@pytest.mark.parametrize("dtype", ["int64", "int32", "int8", "uint8"])
def test_arith_integers_wrap(backend, rng, tmp_path, dtype):
    """Full-range operands: +, -, * wrap; Div truncates toward zero, gives 0 for a zero
    divisor and wraps MIN / -1, as the reference does (ASan+UBSan builds for int64)."""
    g, feeds = Graph(f"arith_{dtype}"), {}
    for op in ["Add", "Sub", "Mul", "Div"]:
        for sa, sb in PAIRS[:4]:
            add(g, feeds, op, operands(rng, op, sa, sb, dtype))
    info = np.iinfo(dtype)
    a = np.array([7, -7, 7, -7, 6, -1, info.min, info.min, 5, info.max, 0], dtype=np.int64)
    b = np.array([2, 2, -2, -2, 3, 4, -1, 1, 0, -1, 0], dtype=np.int64)
    keep = (a >= info.min) & (b >= info.min)
    add(g, feeds, "Div", [a[keep].astype(dtype), b[keep].astype(dtype)], name="div_edges")
    if dtype in ("int64", "int32"):
        add(g, feeds, "Pow", operands(rng, "Pow", (2, 3, 4), (3, 1), dtype))
    check_graph(g, feeds, c_sanitize_dir(backend, tmp_path) if dtype == "int64" else None, backend=backend)


@backends
@pytest.mark.parametrize("base,exp", [("float32", "int64"), ("float32", "float64"),
                                      ("float64", "float32"), ("int64", "int32"),
                                      ("float32", "int8"), ("int32", "float32")])
def test_pow_mixed_dtypes(backend, rng, base, exp):
    x = (rng.uniform(0.5, 2, (2, 3, 4)) * (3 if base.startswith("int") else 1)).astype(base)
    y = rng.integers(-1, 4, (3, 1)).astype(exp)
    g, feeds = Graph("pow_mixed"), {}
    add(g, feeds, "Pow", [x, y])
    add(g, feeds, "Pow", [np.array([2, -1, 1, 3, -2, 5], base),
                          np.array([-1, -3, -2, 2, 3, 0], exp)], name="negative_exponents")
    check_graph(g, feeds, backend=backend)


@backends
def test_compare_and_logic(backend, rng, tmp_path):
    g, feeds = Graph("compare"), {}
    for dtype in ["float32", "int64", "uint8", "float64"]:
        for op in ["Equal", "Greater", "Less"]:
            for sa, sb in PAIRS:
                xs = [np.asarray(rng.integers(0, 3, s).astype(dtype)) for s in (sa, sb)]
                add(g, feeds, op, xs, const=rank0_const(xs))
    nan = np.array([np.nan, 1.0, np.nan, -0.0], np.float32)
    for op in ["Equal", "Greater", "Less"]:
        add(g, feeds, op, [nan, np.array([np.nan, np.nan, 1.0, 0.0], np.float32)], name=f"{op}_nan")
    for op in ["And", "Equal"]:
        for sa, sb in PAIRS:
            xs = [np.asarray(rng.random(s) < 0.5) for s in (sa, sb)]
            add(g, feeds, op, xs, const=rank0_const(xs))
    for shape in [(5,), (2, 3), (2, 3, 4)]:
        add(g, feeds, "Not", [rng.random(shape) < 0.5])
    check_graph(g, feeds, c_sanitize_dir(backend, tmp_path), backend=backend)


VARIADIC_SHAPES = [[(3, 4)] * 3, [(2, 1, 4), (3, 1), (4,)], [(2, 3), (2, 1)], [(5,)],
                   [(2, 3, 4), (1, 3, 1), (4,), (2, 1, 1)]]


@backends
def test_variadic_float(backend, rng, tmp_path):
    g, feeds = Graph("variadic"), {}
    for op in ["Max", "Min", "Sum", "Mean"]:
        for shapes in VARIADIC_SHAPES:
            add(g, feeds, op, [rng.standard_normal(s).astype(np.float32) for s in shapes])
        add(g, feeds, op, [rng.standard_normal((3, 4)), np.array(0.25), rng.standard_normal(4)],
            const=(1,), name=f"{op}_f64")
    # numpy's maximum/minimum: any NaN operand gives NaN, ties keep the earlier operand
    a = np.array([np.nan, 1.0, 2.0, np.nan, -0.0, 0.0, 3.0], np.float32)
    b = np.array([1.0, np.nan, 2.0, np.nan, 0.0, -0.0, 3.0], np.float32)
    c = np.array([0.0, 0.0, np.nan, 5.0, 0.0, -0.0, -1.0], np.float32)
    for op in ["Max", "Min"]:
        add(g, feeds, op, [a, b], name=f"{op}_nan2")
        add(g, feeds, op, [a, b, c], name=f"{op}_nan3")
    got = check_graph(g, feeds, c_sanitize_dir(backend, tmp_path), backend=backend)
    assert list(np.signbit(got["Max_nan2_out0"][4:6])) == [True, False]
    assert list(np.signbit(got["Min_nan2_out0"][4:6])) == [True, False]


@backends
@pytest.mark.parametrize("dtype", ["int64", "int32", "int8", "uint8", "float64"])
def test_variadic_max_min_other_dtypes(backend, rng, dtype):
    g, feeds = Graph("variadic_int"), {}
    for op in ["Max", "Min"]:
        for shapes in VARIADIC_SHAPES[1:]:
            add(g, feeds, op, [rng.integers(0, 100, s).astype(dtype) for s in shapes])
    check_graph(g, feeds, backend=backend)


@backends
def test_max_min_in_place(backend, rng):
    """Max/Min over a dying intermediate and a broadcast operand: the result takes the
    intermediate's buffer (each element's operands are read before it is written)."""
    x = rng.standard_normal((2, 3, 8)).astype(np.float32)
    b = rng.standard_normal((3, 1)).astype(np.float32)
    g = Graph("in_place")
    xv, bv = g.add_input("x", TensorType.of(x)), g.add_input("b", TensorType.of(b))
    (r,) = g.add_node("Neg", [xv])
    (m,) = g.add_node("Max", [r, bv])
    (m,) = g.add_node("Min", [bv, m, r])
    (y,) = g.add_node("Abs", [m])
    g.add_output(y, "y")
    check_graph(g, {"x": x, "b": b}, backend=backend)


WHERE_SHAPES = [[(3, 4), (3, 4), (3, 4)], [(3, 1), (1, 4), (4,)], [(2, 3, 4), (), (3, 1)],
                [(), (), ()]]


@backends
def test_where(backend, rng):
    g, feeds = Graph("where"), {}
    for dtype in ["float32", "int64", "bool", "uint8"]:
        for shapes in WHERE_SHAPES:
            xs = [np.asarray(rng.random(shapes[0]) < 0.5)]
            xs += [np.asarray(rng.integers(-9, 10, s).astype(dtype)) for s in shapes[1:]]
            add(g, feeds, "Where", xs, const=rank0_const(xs))
    check_graph(g, feeds, backend=backend)
