"""One conv layer (FusedConv with bias and ReLU) under every implementation of the C
target's table, beside onnxruntime's Conv+Relu on the same input: GFLOP/s, the ratio to
onnxruntime, and the implementation the cost model picks with its estimate.  For
calibrating the cost model and checking a kernel's speed on shapes of your own.

    python bench/bench_conv.py                       # ResNet-50 / VGG-19 / SqueezeNet shapes
    python bench/bench_conv.py --shape 1x512x28x28:512:3 --threads 2
    python bench/bench_conv.py --impls gemm_padded,winograd_f2,winograd_f4

A shape is ``NxCxHxW:M:K[:S[:G]]`` (S the stride, G the group: ``dw`` for depthwise; pads
K // 2).  The row ``nchwc`` is BlockedConv on NCHW<lanes>c input and output (the layout
pass's kernel, without the transforms at a region's edges).  Run by hand; not a test.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import cnnc
from cnnc.backends import isa as isas
from cnnc.backends.codegen import _choose
from cnnc.ir import KernelRequest, get_op

SHAPES = ["1x64x56x56:256:1", "1x256x56x56:64:1", "1x144x56x56:144:3:1:dw", "1x96x112x112:96:3:2:dw",
          "1x32x112x112:96:1", "1x64x56x56:64:3", "1x128x28x28:128:3", "1x256x14x14:256:3", "1x512x7x7:512:3",
          "1x64x224x224:64:3", "1x256x56x56:256:3", "1x512x28x28:512:3", "1x512x14x14:512:3",
          "1x64x13x13:256:3", "1x16x55x55:64:3", "1x512x7x7:2048:1", "1x1024x14x14:256:1"]


def _model(shape: str, rng):
    dims, m, k, *rest = shape.split(":")
    n, c, h, w = map(int, dims.split("x"))
    m, k, s = int(m), int(k), int(rest[0]) if rest else 1
    grp = (c if rest[1] == "dw" else int(rest[1])) if len(rest) > 1 else 1
    p = k // 2
    wt = (rng.standard_normal((m, c // grp, k, k)) * np.sqrt(2.0 / (c // grp * k * k))).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32) * 0.1
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[p] * 4, strides=[s, s], kernel_shape=[k, k],
                          group=grp),
         helper.make_node("Relu", ["c"], ["y"])], "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, (n, c, h, w))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, (n, m, oh, ow))],
        [numpy_helper.from_array(wt, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    return model, 2.0 * n * m * oh * ow * c // grp * k * k


def _blocked(g, lanes: int):
    """``g``'s one conv as a BlockedConv on NCHW<lanes>c input and output (None where it
    cannot be blocked)."""
    from cnnc.passes.layout import assign_layouts
    b = assign_layouts(g, lanes, mode="nchwc")
    conv = next((n for n in b.nodes() if n.op == "BlockedConv"), None)
    if conv is None:
        return None
    out = cnnc.Graph("blocked")
    x_t = b.type_of(b.operands(conv.name)[0])
    ops = [out.add_input("x", x_t)] + [out.add_constant(b.constant(v)) for v in b.operands(conv.name)[1:]]
    (y,) = out.add_node("BlockedConv", ops, conv.attrs)
    out.add_output(y, "y")
    return out


def _ort(model, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _time(run, feeds, repeat):
    run(feeds)
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run(feeds)
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", action="append", help="NxCxHxW:M:K[:S] (repeatable)")
    ap.add_argument("--impls", help="comma-separated implementations (default: all that apply)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cpu", default="native", help="the ISA cnnc builds for (as cnnc compile --cpu)")
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    table = get_op("FusedConv").kernels["c"]
    target = isas.resolve(args.cpu)
    for shape in args.shape or SHAPES:
        model, flops = _model(shape, rng)
        g = cnnc.optimize(cnnc.load_onnx(onnx.load_from_string(model.SerializeToString())))
        node = next(n for n in g.nodes() if n.op == "FusedConv")
        ins = g.operands(node.name)
        req = KernelRequest(node, [g.type_of(v) for v in ins], list(node.types), [g.constant(v) for v in ins],
                            target, args.threads)
        usable = [i for i in table if i.applies(req) and (not args.impls or i.name in args.impls.split(","))]
        x = {"x": rng.standard_normal(g.input_types()["x"].shape).astype(np.float32)}
        sess = _ort(model, args.threads)
        t_ort = _time(lambda f: sess.run(None, f), x, args.repeat)
        pick = _choose(table, req, None, portable_only=False).name
        print(f"{shape}: {flops / 1e9:.3f} GFLOP, onnxruntime {t_ort * 1e3:.3f} ms ({flops / t_ort / 1e9:.0f} GFLOP/s);"
              f" the cost model picks {pick}")
        for impl in usable:
            m = cnnc.compile(g, target="c", impl={"FusedConv": impl.name}, threads=args.threads, cpu=args.cpu)
            t = _time(m.run, x, args.repeat)
            print(f"    {impl.name:14s} {t * 1e3:8.3f} ms {flops / t / 1e9:7.0f} GFLOP/s  {t / t_ort:5.2f}x ORT"
                  f"  estimate {impl.cost(req) * 1e3:8.3f} ms", flush=True)
        blocked = _blocked(g, target.vector) if target.vector else None
        if blocked is not None and (not args.impls or "nchwc" in args.impls.split(",")):
            bn = next(n for n in blocked.nodes() if n.op == "BlockedConv")
            bins = blocked.operands(bn.name)
            breq = KernelRequest(bn, [blocked.type_of(v) for v in bins], list(bn.types),
                                 [blocked.constant(v) for v in bins], target, args.threads)
            m = cnnc.compile(blocked, target="c", threads=args.threads, cpu=args.cpu)
            xb = {"x": rng.standard_normal(blocked.input_types()["x"].shape).astype(np.float32)}
            t = _time(m.run, xb, args.repeat)
            est = get_op("BlockedConv").kernels["c"][0].cost(breq)
            print(f"    {'nchwc':14s} {t * 1e3:8.3f} ms {flops / t / 1e9:7.0f} GFLOP/s  {t / t_ort:5.2f}x ORT"
                  f"  estimate {est * 1e3:8.3f} ms", flush=True)


if __name__ == "__main__":
    main()
