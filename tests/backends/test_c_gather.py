"""The C gather kernel's row plan (``ops/_c.gather``; nearest Resize, Transpose, Slice,
Tile, Pad-like fills): every row form -- contiguous runs, integer repeats, int32 tables,
fill rows and fill elements, rows copied from the row before -- against the reference, at
1 thread and split over 2 workers, bit-identical between the two; and the plan picks the
form the tables call for."""
import numpy as np
import pytest

import cnnc
from cnnc.backends.codegen import collect_kernels
from cnnc.ir import Graph, TensorType


def _resize(x, scales, **attrs):
    return ("Resize", [], {"scales": tuple(scales), "mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                           "nearest_mode": "floor", **attrs})


#: (input shape, node, the row kind it must plan, whether rows repeat)
CASES = [((1, 3, 20, 24), _resize(None, (1, 1, 2, 2)), "repeat", True),
         ((2, 5, 7, 9), _resize(None, (1, 1, 3, 1)), "run", True),
         ((1, 4, 9, 10), _resize(None, (1, 1, 1.5, 1.7)), "table", True),
         ((1, 2, 6, 8), _resize(None, (1, 1, 2, 2), coordinate_transformation_mode="tf_crop_and_resize",
                                extrapolation_value=7.0), "table", True),
         ((2, 3, 8, 16), ("Transpose", [], {"perm": (0, 2, 1, 3)}), "run", False),
         ((3, 8, 16), ("Transpose", [], {"perm": (0, 2, 1)}), "table", False)]


def _graph(xs, node):
    op, consts, attrs = node
    g = Graph("gather")
    x = g.add_input("x", TensorType(xs))
    if attrs.get("coordinate_transformation_mode") == "tf_crop_and_resize":
        attrs = {**attrs, "roi": (0, 0, -0.2, 0.1, 1, 1, 1.1, 0.8)}
    (y,) = g.add_node(op, [x], attrs, label="node")
    g.add_output(y, "y")
    return g.verify()


@pytest.mark.parametrize("xs,node,kind,dedup", CASES, ids=[f"{c[1][0]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_row_plan(rng, xs, node, kind, dedup):
    g = _graph(xs, node)
    (_, _, k), = collect_kernels(g, "c", workers=2)[1]
    assert k.params["rows"] and k.params["kind"] == kind and k.params["dedup"] == dedup
    feeds = {"x": rng.standard_normal(xs).astype(np.float32)}
    want = cnnc.compile(g).run(feeds)["y"]
    one = cnnc.compile(g, target="c", threads=1).run(feeds)["y"]
    two = cnnc.compile(g, target="c", threads=2).run(feeds)["y"]
    np.testing.assert_array_equal(one, want)
    np.testing.assert_array_equal(two, one)


def test_a_large_map_is_split_into_tasks(rng):
    g = _graph((1, 64, 40, 40), _resize(None, (1, 1, 2, 2)))
    (_, _, k), = collect_kernels(g, "c", workers=2)[1]
    assert k.params["tasks"] > 1 and k.parallel
    feeds = {"x": rng.standard_normal((1, 64, 40, 40)).astype(np.float32)}
    np.testing.assert_array_equal(cnnc.compile(g, target="c", threads=2).run(feeds)["y"], cnnc.compile(g).run(feeds)["y"])
