"""What halo-padded arena buffers could gain, measured (the record behind the note in
``cnnc/passes/padding.py``): each padded window layer beside the same layer reading an input
that is already padded (an unpadded window over the (H+2p, W+2p) map a halo buffer would
hand it: the same output and work, no padding logic), 1 thread, per-layer time from the
profile build.  The other half of the record, the padded-plane copy's share of the row
kernels, was measured by compiling the copy out of ``templates/c/kernels/_rows.j2``
(outputs then wrong, timing only).  Run by hand; not a test.

    python bench/bench_halo.py [--repeat 30]
"""
from __future__ import annotations

import argparse

import cnnc.dsl as nn
from cnnc.bench import bench

#: (kind, C, M, H=W, kernel, stride, pad): ResNet-style convs, MobileNet-style depthwise
#: layers, pools
CASES = [("conv", 64, 64, 56, 3, 1, 1), ("conv", 128, 128, 56, 3, 2, 1), ("conv", 3, 64, 224, 7, 2, 3),
         ("conv", 256, 256, 14, 3, 1, 1), ("dw", 144, 0, 56, 3, 1, 1), ("dw", 96, 0, 112, 3, 2, 1),
         ("dw", 256, 0, 14, 5, 1, 2), ("max", 64, 0, 112, 3, 2, 1), ("max", 128, 0, 20, 5, 1, 2)]


def graph(kind, c, m, hw, k, s, p, prepadded):
    g = nn.Model(f"{kind}_{'prepadded' if prepadded else 'padded'}")
    h = hw + 2 * p if prepadded else hw
    x = g.input("x", (1, c, h, h))
    pads = 0 if prepadded else p
    if kind == "conv":
        y = nn.conv(x, m, k, stride=s, padding=pads)
    elif kind == "dw":
        y = nn.conv(x, c, k, stride=s, padding=pads, groups=c)
    else:
        y = nn.max_pool(x, k, s, pads)
    g.output(y, "y")
    return g.build()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    for case in CASES:
        ms = []
        for prepadded in (False, True):
            res = bench(graph(*case, prepadded), threads=1, repeat=args.repeat, profile=True)
            layer = max(res.layers, key=lambda la: la.seconds)
            ms.append((layer.seconds * 1e3, layer.kernel))
        (a, ka), (b, _) = ms
        print(f"{case}: padded {a:.3f} ms, pre-padded {b:.3f} ms, saving {100 * (a - b) / a:+.1f}%  ({ka})", flush=True)


if __name__ == "__main__":
    main()
