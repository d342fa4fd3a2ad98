"""Hand-designed and unsupervised kernels on an image: edge detectors, Sobel, Gabor, Haar,
k-means.

Before kernels were learned end to end they were designed by hand or learned without
labels, and these are still the clearest way to see what a convolution does.  One graph
applies a bank of them to a synthetic grey-level scene (:func:`scene`: a shaded backdrop,
a lit box, a shaded ball and an oblique grating, with sensor noise), each bank a
``nn.conv`` whose weights are given explicitly (``init=`` an array):

* ``diff_x``, ``diff_y`` — the 2-element difference kernel [-1, +1] along x (1x2: responds
  to *vertical* edges) and along y (2x1: *horizontal* edges); Goodfellow, Bengio &
  Courville, *Deep Learning* (2016), Fig. 9.6.  An even kernel, so ``padding="valid"``
  and the output is one column (row) shorter.
* ``sobel`` — the 3x3 Sobel derivatives along x and along y (Sobel & Feldman, 1968).
* ``gabor`` — four Gabor filters (Deep Learning eq. 9.16-9.17) at orientations 0, 45, 90
  and 135 degrees, tuned to the grating's frequency, as in models of V1 simple cells.
* ``haar`` — the four 2x2 Haar wavelets (LL, LH, HL, HH) with stride 2: one level of the
  2-D Haar transform (Haar 1910; Mallat 1989).  The transform is orthonormal, so the
  four half-size maps hold exactly the image's energy.
* ``kmeans`` — eight 5x5 filters learned without labels by k-means on contrast-normalized,
  ZCA-whitened patches of the same image (Coates & Ng, 2011).

:func:`checks` then measures what each kernel is for: the difference kernels respond at
the box's edges and nowhere else, and each only to its own orientation; the Gabor filter
matching the grating's orientation responds most inside it; the Haar maps preserve the
energy; the k-means filters respond at edges rather than in flat regions.

    cnnc run examples/edge_gabor.py
    python examples/edge_gabor.py [--png montage.png]
"""
import argparse
import math
import struct
import zlib

import numpy as np

import cnnc
import cnnc.dsl as nn
from cnnc.dsl import init

PERIOD = 6.0          # the grating's period in pixels; the Gabor filters are tuned to it
THETA = math.pi / 4   # the grating's orientation: intensity varies along this direction


def scene(height: int = 64, width: int = 96, seed: int = 0):
    """A (1, 1, H, W) float32 image in about [0, 1], and where its features are."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = 0.25 + 0.15 * y / height                                      # backdrop, shaded
    box = (height // 5, 3 * height // 5, width // 12, width // 3)      # rows r0:r1, cols c0:c1
    r0, r1, c0, c1 = box
    img[r0:r1, c0:c1] = 0.75 + 0.1 * (x[r0:r1, c0:c1] - c0) / (c1 - c0)
    rad = height / 8                                                   # a ball lit from the front
    d2 = ((y - 0.8 * height) ** 2 + (x - width / 5) ** 2) / rad ** 2
    img = np.where(d2 < 1, 0.3 + 0.5 * np.sqrt(np.clip(1 - d2, 0, 1)), img)
    grating = (height // 8, 7 * height // 8, width // 2, 11 * width // 12)
    g0, g1, h0, h1 = grating
    phase = 2 * math.pi / PERIOD * (x * math.cos(THETA) + y * math.sin(THETA))
    img[g0:g1, h0:h1] = (0.5 + 0.3 * np.cos(phase))[g0:g1, h0:h1]
    img += 0.02 * np.random.default_rng(seed).standard_normal(img.shape)
    return img[None, None].astype(np.float32), {"box": box, "grating": grating}


def filter_bank(image: np.ndarray, seed: int = 0) -> dict:
    """Output name -> (weight (M, 1, kh, kw), stride, padding)."""
    gabor = init.gabor_bank((11, 11), 4, 2 * math.pi / PERIOD, beta_x=0.08, beta_y=0.08)
    kmeans = init.kmeans_filters(image, 8, 5, np.random.default_rng(seed))
    return {
        "diff_x": (init.stack_filters(init.difference(axis=1)), 1, "valid"),
        "diff_y": (init.stack_filters(init.difference(axis=0)), 1, "valid"),
        "sobel": (init.stack_filters([init.sobel(axis=1), init.sobel(axis=0)]), 1, "same"),
        "gabor": (gabor, 1, "same"),
        "haar": (init.haar_bank(2), 2, "valid"),
        "kmeans": (kmeans, 1, "same"),
    }


def build(batch: int = 1, height: int = 64, width: int = 96, seed: int = 0) -> cnnc.Graph:
    """Every bank applied to a (batch, 1, height, width) image; one output per bank. The
    k-means filters are learned from :func:`scene` of the same size and seed."""
    m = nn.Model("edge_gabor", seed=seed)
    x = m.input("image", (batch, 1, height, width))
    for name, (w, stride, padding) in filter_bank(scene(height, width, seed)[0], seed).items():
        y = nn.conv(x, w.shape[0], w.shape[2:], stride=stride, padding=padding, bias=False,
                    init=w, name=name)
        m.output(y, name)
    return m.build()


def checks(outs: dict, image: np.ndarray, geometry: dict) -> list:
    """``(what, measured, low, high)`` for each property the kernels are designed to have;
    a check passes when ``low < measured < high``."""
    r0, r1, c0, c1 = geometry["box"]
    rows, cols = slice(r0 + 2, r1 - 2), slice(c0 + 2, c1 - 2)   # away from the box's corners
    dx, dy = np.abs(outs["diff_x"][0, 0]), np.abs(outs["diff_y"][0, 0])
    # [-1, +1] at column j answers x[j+1] - x[j]: the box's edges lie at c0-1, c1-1 (r0-1, r1-1)
    dx_vertical = dx[rows, [c0 - 1, c1 - 1]].mean()
    dx_horizontal = dx[[r0 - 1, r1 - 1], cols].mean()
    dy_horizontal = dy[[r0 - 1, r1 - 1], cols].mean()

    g0, g1, h0, h1 = geometry["grating"]
    energy = (outs["gabor"][0, :, g0 + 6:g1 - 6, h0 + 6:h1 - 6] ** 2).mean(axis=(1, 2))
    matched = round(THETA / (math.pi / 4)) % 4

    haar = (outs["haar"][0].astype(np.float64) ** 2).sum(axis=(1, 2))
    km = np.abs(outs["kmeans"][0]).sum(axis=0)
    km_edges = km[rows, [c0 - 1, c0, c1 - 1, c1]].mean()
    km_flat = km[r0 + 4:r1 - 4, c0 + 4:c1 - 4].mean()
    return [
        ("diff_x at the box's vertical edges / median |diff_x|",
         dx_vertical / np.median(dx), 10, np.inf),
        ("diff_y at the box's horizontal edges / median |diff_y|",
         dy_horizontal / np.median(dy), 10, np.inf),
        ("diff_x on horizontal edges / on vertical edges", dx_horizontal / dx_vertical, 0, 0.1),
        (f"Gabor energy inside the grating: the {matched * 45} degree filter / the best other",
         energy[matched] / np.delete(energy, matched).max(), 3, np.inf),
        ("Haar energy / image energy (orthonormal)",
         haar.sum() / (image.astype(np.float64) ** 2).sum(), 1 - 1e-4, 1 + 1e-4),
        ("Haar LL share of the energy (a smooth image)", haar[0] / haar.sum(), 0.9, 1),
        ("k-means |response| at the box's vertical edges / inside it",
         km_edges / km_flat, 2, np.inf),
    ]


def montage(maps: list, columns: int = 6, gap: int = 2) -> np.ndarray:
    """Grey uint8 grid of 2-D maps, each stretched to 0..255, top-left aligned in its cell."""
    h = max(a.shape[0] for a in maps) + gap
    w = max(a.shape[1] for a in maps) + gap
    rows = -(-len(maps) // columns)
    out = np.zeros((rows * h, columns * w), np.uint8)
    for i, a in enumerate(maps):
        lo, hi = float(a.min()), float(a.max())
        r, c = divmod(i, columns)
        out[r * h:r * h + a.shape[0], c * w:c * w + a.shape[1]] = (a - lo) / (hi - lo + 1e-12) * 255
    return out


def write_png(path: str, gray: np.ndarray) -> None:
    """A minimal 8-bit greyscale PNG writer (zlib + struct)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    raw = b"".join(b"\x00" + row.tobytes() for row in gray)
    header = struct.pack(">IIBBBBB", gray.shape[1], gray.shape[0], 8, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                + chunk(b"IEND", b""))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Edge, Sobel, Gabor, Haar and k-means kernels on a synthetic scene.")
    parser.add_argument("--png", metavar="PATH",
                        help="save a montage of the input and every response map")
    args = parser.parse_args(argv)

    image, geometry = scene()
    g = build()
    outs = cnnc.compile(g, target="reference").run({"image": image})
    print(f"{g.name}: {len(g)} nodes, input image {list(image.shape)}")
    for name, a in outs.items():
        for i, r in enumerate(a[0]):
            print(f"  {name}[{i}] {list(r.shape)}: mean={r.mean():+.4f} std={r.std():.4f} "
                  f"min={r.min():+.3f} max={r.max():+.3f}")
    failed = 0
    for what, value, low, high in checks(outs, image, geometry):
        ok = low < value < high
        failed += not ok
        print(f"  {'ok  ' if ok else 'FAIL'} {what}: {value:.6g} (expected {low:g} .. {high:g})")
    if args.png:
        write_png(args.png, montage([image[0, 0]] + [r for a in outs.values() for r in a[0]]))
        print(f"  wrote {args.png}")
    if failed:
        raise SystemExit(f"{failed} check(s) failed")


if __name__ == "__main__":
    main()
