"""A 3-D CNN over a stereo cost volume — Kendall, Martirosyan, Dasgupta, Henry, Kennedy,
Bachrach & Bry (2017), "End-to-end learning of geometry and context for deep stereo
regression" (GC-Net), ICCV.

GC-Net estimates disparity from a rectified stereo pair in three steps:

1. *Cost volume.*  Features F of the left and right images are concatenated for every
   candidate disparity d: ``V[:, :F, d, y, x] = left[:, :, y, x]`` and
   ``V[:, F:, d, y, x] = right[:, :, y, x - d]`` (zeros where ``x - d`` falls off the
   image), a (N, 2F, D, H, W) tensor.  Here it is built in numpy (:func:`cost_volume`) from
   the raw image channels and fed to the graph as its input.
2. *Regularization* by 3-D convolutions over (disparity, height, width), here a small
   encoder-decoder: 3x3x3 convs, a stride-2 conv down, a stride-2 *transposed* 3-D conv
   back up with a skip connection, and a last 3x3x3 conv to one cost per (d, y, x).
3. *Soft argmin* over the disparity axis, inside the graph:
   ``d_hat(y, x) = sum_d d * softmax_d(-c_d(y, x))`` — Softmax over D, a Mul by the
   constant disparity indices 0..D-1, a ReduceSum over D — a differentiable, sub-pixel
   argmin giving (N, H, W).

With random weights (``matching="gcnet"``) the output is a disparity-shaped field in
[0, D-1] and nothing more.  ``matching="ssd"`` replaces step 2 by hand-set 3-D convs
computing the classic block-matching cost — the sum over a window of squared differences
between the left features and the right features shifted by d: a 1x1x1 conv with weights
(+I, -I) takes the difference, a Mul squares it, and a (1, w, w) box-filter conv sums it
over the window and the channels.  The same soft argmin then recovers the known
disparities of the synthetic pair in :func:`main`.

    cnnc run examples/stereo_3d.py
    python examples/stereo_3d.py
"""
import numpy as np

import cnnc
import cnnc.dsl as nn


# ----------------------------------------------------------------------------- data (numpy)
def disparity_map(height: int, width: int, background: int = 4, foreground: int = 10) -> np.ndarray:
    """Ground truth in the left view: a fronto-parallel background and a nearer rectangle."""
    d = np.full((height, width), background)
    d[height // 4:3 * height // 4, width // 3:2 * width // 3] = foreground
    return d


def stereo_pair(rng, disparity: np.ndarray, channels: int = 3, noise: float = 0.01):
    """A rectified pair with a random texture: left pixel (y, x) appears at (y, x - d) in
    the right image.  Nearer surfaces are drawn last, so they occlude; right-image pixels
    no left pixel maps to get fresh texture.  Returns two (1, channels, H, W) float32 arrays."""
    h, w = disparity.shape
    left = rng.random((1, channels, h, w), dtype=np.float32)
    right = rng.random((1, channels, h, w), dtype=np.float32)
    for d in np.unique(disparity):
        ys, xs = np.nonzero((disparity == d) & (np.arange(w) >= d))
        right[0, :, ys, xs - d] = left[0, :, ys, xs]
    right += noise * rng.standard_normal(right.shape, dtype=np.float32)
    return left, right


def cost_volume(left: np.ndarray, right: np.ndarray, max_disp: int) -> np.ndarray:
    """GC-Net's concatenation volume (N, 2F, max_disp, H, W) from (N, F, H, W) features."""
    n, f, h, w = left.shape
    vol = np.zeros((n, 2 * f, max_disp, h, w), np.float32)
    for d in range(max_disp):
        vol[:, :f, d] = left
        vol[:, f:, d, :, d:] = right[..., :w - d]
    return vol


# ----------------------------------------------------------------------------- the graph
def gcnet_regularizer(v, width: int):
    """3-D encoder-decoder over (D, H, W), ending in one cost channel (N, 1, D, H, W)."""
    a = nn.conv(v, width, 3, padding="same", activation="relu", name="conv3d_1")
    a = nn.conv(a, width, 3, padding="same", activation="relu", name="conv3d_2")
    b = nn.conv(a, 2 * width, 3, stride=2, padding=1, activation="relu", name="down")
    b = nn.conv(b, 2 * width, 3, padding="same", activation="relu", name="conv3d_3")
    up = nn.conv_transpose(b, width, 3, stride=2, padding=1, output_padding=1,
                           activation="relu", name="up")
    return nn.conv(nn.add(up, a, name="skip"), 1, 3, padding="same", name="cost")


def ssd_matching_cost(v, window: int):
    """Hand-set 3-D convs: sum over a window x window patch of (left - right shifted by d)^2."""
    f = v.shape[1] // 2
    difference = np.concatenate([np.eye(f), -np.eye(f)], axis=1).reshape(f, 2 * f, 1, 1, 1)
    diff = nn.conv(v, f, 1, bias=False, init=difference, name="difference")
    box = np.ones((1, f, 1, window, window))
    return nn.conv(diff * diff, 1, (1, window, window), padding="same", bias=False, init=box,
                   name="cost")


def soft_argmin(cost, sharpness: float = 1.0):
    """(N, 1, D, H, W) costs -> (N, H, W) disparity ``sum_d d * softmax_d(-sharpness * c_d)``."""
    n, _, depth, h, w = cost.shape
    c = nn.reshape(cost, (n, depth, h, w), name="squeeze")
    p = nn.softmax(c * -sharpness, axis=1, name="disparity_probs")
    d = np.arange(depth, dtype=np.float32).reshape(1, depth, 1, 1)
    return nn.reduce(p * d, "sum", axes=(1,), keepdims=False, name="soft_argmin")


def build(batch: int = 1, channels: int = 3, max_disp: int = 16, height: int = 32,
          width: int = 48, matching: str = "gcnet", width_3d: int = 8, window: int = 5,
          seed: int = 0) -> cnnc.Graph:
    """Cost volume (batch, 2*channels, max_disp, height, width) -> ``disparity`` (batch, H, W).
    ``matching`` is "gcnet" (random 3-D CNN; its one stride-2 level needs even ``max_disp``,
    ``height`` and ``width``) or "ssd" (hand-set block matching)."""
    m = nn.Model(f"stereo_{matching}", seed=seed)
    v = m.input("cost_volume", (batch, 2 * channels, max_disp, height, width))
    if matching == "gcnet":
        cost = gcnet_regularizer(v, width_3d)
    elif matching == "ssd":
        cost = ssd_matching_cost(v, window)
    else:
        raise cnnc.CnncError(f"matching must be 'gcnet' or 'ssd', got {matching!r}")
    m.output(soft_argmin(cost), "disparity")
    return m.build()


def main():
    truth = disparity_map(32, 48)
    left, right = stereo_pair(np.random.default_rng(0), truth)
    volume = cost_volume(left, right, max_disp=16)
    visible = np.arange(truth.shape[1]) >= truth              # the match is inside the right image
    print(f"cost volume {list(volume.shape)} = (N, 2F, D, H, W); true disparities "
          f"{sorted(set(truth.ravel().tolist()))}")
    for matching, what in [("gcnet", "random weights"), ("ssd", "hand-set block matching")]:
        g = build(matching=matching)
        disp = cnnc.compile(g, target="reference").run({"cost_volume": volume})["disparity"]
        err = np.abs(disp[0] - truth)[visible]
        print(f"{g.name} ({what}): {len(g)} nodes, output disparity {disp.dtype}{list(disp.shape)} "
              f"in [{disp.min():.2f}, {disp.max():.2f}]; mean |error| {err.mean():.2f} px, "
              f"{(err < 1).mean():.1%} of pixels within 1 px")


if __name__ == "__main__":
    main()
