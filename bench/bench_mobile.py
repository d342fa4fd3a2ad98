"""cnnc's C target beside onnxruntime on mobile-style CNNs built with the DSL (random
weights, batch norm folded): MobileNetV2 (depthwise 3x3, ReLU6, inverted residuals), a
PP-LCNet-like stack (depthwise 3x3/5x5, hard-swish) and a YOLOv8n-like detector at 320x320
(SiLU, C2f split/concat blocks, SPPF's 5x5 max pools, nearest upsampling), at 1 and 2
threads.  None is in the test suite; they exercise the depthwise and pool plans and the
activations' epilogues.  Run by hand; not a test.

    python bench/bench_mobile.py [--repeat 15] [--threads 1,2]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import cnnc
import cnnc.dsl as nn
from cnnc.bench import bench


def _conv_bn(x, filters, kernel, stride=1, groups=1, activation="relu6"):
    y = nn.conv(x, filters, kernel, stride=stride, padding="same", groups=groups, bias=False)
    return nn.activation(nn.batch_norm(y, random_stats=True), activation) if activation else nn.batch_norm(y, random_stats=True)


def mobilenet_v2() -> cnnc.Graph:
    m = nn.Model("mobilenet_v2")
    x = m.input("x", (1, 3, 224, 224))
    y = _conv_bn(x, 32, 3, 2)
    c = 32
    for t, out, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                         (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            h = _conv_bn(y, c * t, 1) if t != 1 else y
            h = _conv_bn(h, c * t, 3, s if i == 0 else 1, groups=c * t)
            h = _conv_bn(h, out, 1, activation=None)
            y = y + h if (i > 0 and out == c) else h
            c = out
    y = _conv_bn(y, 1280, 1)
    m.output(nn.dense(nn.flatten(nn.global_avg_pool(y)), 1000), "logits")
    return m.build()


def lcnet() -> cnnc.Graph:
    m = nn.Model("lcnet")
    x = m.input("x", (1, 3, 224, 224))
    y = _conv_bn(x, 16, 3, 2, activation="hard_swish")
    c = 16
    for k, out, s in ((3, 32, 1), (3, 64, 2), (3, 64, 1), (3, 128, 2), (3, 128, 1), (3, 256, 2), (5, 256, 1),
                      (5, 256, 1), (5, 256, 1), (5, 256, 1), (5, 256, 1), (5, 512, 2), (5, 512, 1)):
        y = _conv_bn(y, c, k, s, groups=c, activation="hard_swish")
        y = _conv_bn(y, out, 1, activation="hard_swish")
        c = out
    y = nn.global_avg_pool(y)
    y = nn.activation(nn.conv(y, 1280, 1), "hard_swish")
    m.output(nn.dense(nn.flatten(y), 1000), "logits")
    return m.build()


def _c2f(x, out, n):
    y = _conv_bn(x, out, 1, activation="silu")
    a, b = nn.split(y, 2)
    parts = [a, b]
    for _ in range(n):
        h = _conv_bn(parts[-1], out // 2, 3, activation="silu")
        parts.append(parts[-1] + _conv_bn(h, out // 2, 3, activation="silu"))
    return _conv_bn(nn.concat(parts), out, 1, activation="silu")


def yolo_ish() -> cnnc.Graph:
    m = nn.Model("yolo_ish")
    x = m.input("images", (1, 3, 320, 320))
    y = _conv_bn(x, 16, 3, 2, activation="silu")
    y = _conv_bn(y, 32, 3, 2, activation="silu")
    y = _c2f(y, 32, 1)
    y = _conv_bn(y, 64, 3, 2, activation="silu")
    p3 = _c2f(y, 64, 2)
    y = _conv_bn(p3, 128, 3, 2, activation="silu")
    p4 = _c2f(y, 128, 2)
    y = _conv_bn(p4, 256, 3, 2, activation="silu")
    y = _c2f(y, 256, 1)
    s = _conv_bn(y, 128, 1, activation="silu")                       # SPPF
    p1 = nn.max_pool(s, 5, 1, "same")
    p2 = nn.max_pool(p1, 5, 1, "same")
    y = _conv_bn(nn.concat([s, p1, p2, nn.max_pool(p2, 5, 1, "same")]), 256, 1, activation="silu")
    y = _c2f(nn.concat([nn.upsample(y, 2), p4]), 128, 1)
    y = _c2f(nn.concat([nn.upsample(y, 2), p3]), 64, 1)
    m.output(nn.conv(y, 80 + 64, 1), "head")
    return m.build()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--cpu", default="native", help="the ISA cnnc builds for (as cnnc compile --cpu)")
    ap.add_argument("--layout", default="auto",
                    help="the layout pass's modes to run, comma-separated (auto, nchwc, nchw; default auto)")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for build in (mobilenet_v2, lcnet, yolo_ish):
            g = build()
            path = Path(tmp) / f"{g.name}.onnx"
            cnnc.save_onnx(g, path)
            g = cnnc.optimize(cnnc.load_onnx(path))
            for t in threads:
                for layout in args.layout.split(","):
                    res = bench(g, onnx_model=path, threads=t, repeat=args.repeat, layout=layout, cpu=args.cpu)
                    c, o = statistics.median(res.cnnc_ms), statistics.median(res.ort_ms)
                    print(f"{g.name} ({t} thread{'s' * (t > 1)}, layout {layout}): cnnc-c {c:.2f} ms, "
                          f"onnxruntime {o:.2f} ms, ratio {c / o:.2f}x", flush=True)


if __name__ == "__main__":
    main()
