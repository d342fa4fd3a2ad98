"""Single ops on the C target beside onnxruntime (alternating turns, medians), the cases
behind this repository's notes on nearest/linear Resize (the gather row plan), MatMul with
a B that is not a constant (attention's products) and stride-1/stride-2 MaxPool (the rows
plan and the direct kernel, each forced as well).  Run by hand; not a test.

    python bench/bench_ops.py [--repeat 25] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import cnnc
from cnnc.bench import bench


def _model(nodes, inputs, outputs, inits=()):
    g = helper.make_graph(nodes, "op", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
                          [numpy_helper.from_array(a, n) for n, a in inits])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def resize(shape, mode, ctm, scale, nearest_mode="round_prefer_floor"):
    out = list(shape[:2]) + [int(s * scale) for s in shape[2:]]
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode, coordinate_transformation_mode=ctm,
                            nearest_mode=nearest_mode)
    return _model([node], [("x", shape)], [("y", out)], [("scales", np.array([1, 1, scale, scale], np.float32))])


def matmul(a, b):
    out = list(np.matmul(np.zeros(a), np.zeros(b)).shape)
    return _model([helper.make_node("MatMul", ["a", "b"], ["y"])], [("a", a), ("b", b)], [("y", out)])


def maxpool(c, hw, k, s, p, ceil=0):
    o = -(-(hw + 2 * p - k) // s) + 1 if ceil else (hw + 2 * p - k) // s + 1
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4, ceil_mode=ceil)
    return _model([node], [("x", (1, c, hw, hw))], [("y", (1, c, o, o))])


CASES = [
    ("Resize nearest x2 1x128x40x40", resize((1, 128, 40, 40), "nearest", "asymmetric", 2.0, "floor"), [None]),
    ("Resize nearest x2 1x256x20x20", resize((1, 256, 20, 20), "nearest", "asymmetric", 2.0, "floor"), [None]),
    ("Resize linear x2 1x64x80x80", resize((1, 64, 80, 80), "linear", "half_pixel", 2.0), [None]),
    ("MatMul 8x(160x32 . 32x160)", matmul((1, 8, 160, 32), (1, 8, 32, 160)), [None]),
    ("MatMul 8x(160x160 . 160x32)", matmul((1, 8, 160, 160), (1, 8, 160, 32)), [None]),
    ("MatMul 256x512 . 512x256", matmul((1, 256, 512), (1, 512, 256)), [None]),
    ("MaxPool 3x3/s1 128x40x40", maxpool(128, 40, 3, 1, 1), [None, "direct", "rows"]),
    ("MaxPool 5x5/s1 128x20x20", maxpool(128, 20, 5, 1, 2), [None, "direct", "rows"]),
    ("MaxPool 3x3/s2 ceil 64x111x111", maxpool(64, 111, 3, 2, 0, ceil=1), [None, "direct", "rows"]),
    ("MaxPool 3x3/s2 64x112x112 pad 1", maxpool(64, 112, 3, 2, 1), [None, "direct", "rows"]),
    ("MaxPool 2x2/s2 256x56x56", maxpool(256, 56, 2, 2, 0), [None, "direct", "rows"]),
    ("MaxPool 2x2/s2 64x224x224", maxpool(64, 224, 2, 2, 0), [None, "direct", "rows"]),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=25)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", help="run the cases whose title contains this text")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for title, model, impls in CASES:
            if args.only and args.only not in title:
                continue
            path = Path(tmp) / "m.onnx"
            onnx.save(model, str(path))
            g = cnnc.load_onnx(path)
            op = model.graph.node[0].op_type
            for impl in impls:
                r = bench(g, onnx_model=path, threads=args.threads, repeat=args.repeat,
                          impl={op: impl} if impl else None)
                c, o = statistics.median(r.cnnc_ms), statistics.median(r.ort_ms)
                print(f"{title}{' [' + impl + ']' if impl else ''}: cnnc {c:.3f} ms, onnxruntime {o:.3f} ms, "
                      f"ratio {c / o:.2f}x", flush=True)


if __name__ == "__main__":
    main()
