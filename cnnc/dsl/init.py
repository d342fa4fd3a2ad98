"""Kernel initializers: random, designed by hand, and learned without labels.

Everything here is plain numpy and returns float32 arrays, so a result can be passed
straight to a DSL layer as ``init=`` (an array, or a ``(shape, rng) -> array`` callable;
:data:`INITIALIZERS` maps the names a layer accepts, ``init="he"``).  Randomness always
comes from an explicit ``numpy.random.Generator``, so a model seed reproduces every weight.

Random (variance scaling).  Fans are read from the conv weight layout
``(out_channels, in_channels / group, *kernel)``: ``fan_in = shape[1] * prod(kernel)``,
``fan_out = shape[0] * prod(kernel)``; a dense weight ``(out, in)`` is the case of an
empty kernel.  For a grouped conv ``shape[1]`` is already the per-group input count,
which is the number of inputs one output really sees.  ``batch_dims`` leading axes index
independent kernels (the output positions of an unshared conv, the tiles of a tiled conv,
whose layout is ``(*positions, out, in, *kernel)``) and count in neither fan.  He (He et
al. 2015) keeps the forward variance through ReLUs: ``Var = 2 / fan_in``; Xavier/Glorot
(Glorot & Bengio 2010) balances forward and backward: ``Var = 2 / (fan_in + fan_out)``.
Normal variants draw N(0, Var) (not truncated, as in both papers); uniform variants draw
U(-l, l) with ``l = sqrt(3 Var)``.

Hand-designed kernels are 2-D ``(kh, kw)`` arrays indexed ``[row, column]`` and meant for
cross-correlation (what Conv computes): the difference kernel ``[-1, +1]`` answers
``x[j + 1] - x[j]``, so derivative kernels are positive where intensity rises along the
axis they differentiate (``axis=1``: along x, the columns; ``axis=0``: along y, the rows).
:func:`stack_filters` turns a list of them into a conv weight.  The Haar filters are named
by the filter along x first, then along y: ``LH`` is low-pass in x and high-pass in y,
i.e. it responds to horizontal edges (PyWavelets' "horizontal detail").

Gabor filters follow Goodfellow, Bengio & Courville, *Deep Learning*, eq. 9.16-9.17, on
pixel coordinates centred on the kernel centre: ``x`` is the column offset and ``y`` the
row offset (rows grow downwards), both ``index - (size - 1) / 2``, so an even size puts the
centre between pixels.

k-means filters follow Coates & Ng (2011): random patches, each normalized to zero mean
and unit contrast, optionally ZCA-whitened, clustered by k-means (greedy k-means++ seeding as in
scikit-learn, Lloyd iterations).  The centroids ``c`` are returned as they are, i.e. in whitened space,
where Coates & Ng use them: their features compare a whitened patch ``W (x - mu)`` with
``c``.  ``W`` is symmetric, so ``<W (x - mu), c> = <x, W c> - <mu, W c>``: with
``fold_whitening`` the filters are ``W c`` instead, and a convolution over the
contrast-normalized (not whitened) image computes the same feature up to a per-filter
constant (a bias).  Folded filters weight the low-variance directions of the patch data
by ``1 / (eigenvalue + zca_eps)``, so they look far noisier than the centroids.
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence

import numpy as np

from ..ir import CnncError

F32 = np.float32


# --------------------------------------------------------------------------- validation

def _fail(fn: str, message: str):
    raise CnncError(message, where=f"init.{fn}")


def _int(fn: str, name: str, v, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        _fail(fn, f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _float(fn: str, name: str, v, minimum: float | None = None, strict: bool = False) -> float:
    ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
    if not ok or not math.isfinite(v) or (minimum is not None and (v <= minimum if strict else v < minimum)):
        bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum}"
        _fail(fn, f"{name} must be a finite number{bound}, got {v!r}")
    return float(v)


def _shape(fn: str, shape, min_ndim: int = 1) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if isinstance(shape, np.ndarray):
        shape = shape.tolist()
    if not isinstance(shape, Sequence) or len(shape) < min_ndim:
        _fail(fn, f"shape must be a sequence of at least {min_ndim} positive ints, got {shape!r}")
    return tuple(_int(fn, f"shape {tuple(shape)} dimension", d) for d in shape)


def _rng(fn: str, rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        _fail(fn, f"rng must be a numpy.random.Generator (numpy.random.default_rng(seed)), "
                  f"got {type(rng).__name__}")
    return rng


def _axis(fn: str, axis) -> int:
    if axis not in (0, 1) or isinstance(axis, bool):
        _fail(fn, f"axis must be 0 (along y, the rows) or 1 (along x, the columns), got {axis!r}")
    return int(axis)


# --------------------------------------------------------------------------- random

def _fans(fn: str, shape: tuple[int, ...], batch_dims: int) -> tuple[int, int]:
    batch_dims = _int(fn, "batch_dims", batch_dims, minimum=0)
    if len(shape) < batch_dims + 2:
        _fail(fn, f"shape {shape} needs at least {batch_dims + 2} dims: {batch_dims} batch dims, "
                  "then (out, in, *kernel)")
    out, inp, *kernel = shape[batch_dims:]
    receptive = math.prod(kernel)
    return inp * receptive, out * receptive


def fans(shape, batch_dims: int = 0) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight laid out ``(*batch, out, in, *kernel)``."""
    return _fans("fans", _shape("fans", shape), batch_dims)


def _variance_scaling(fn: str, shape, rng, variance: Callable[[int, int], float],
                      distribution: str, batch_dims: int) -> np.ndarray:
    shape = _shape(fn, shape)
    std = math.sqrt(variance(*_fans(fn, shape, batch_dims)))
    rng = _rng(fn, rng)
    if distribution == "normal":
        return (rng.standard_normal(shape) * std).astype(F32)
    limit = math.sqrt(3.0) * std
    return rng.uniform(-limit, limit, shape).astype(F32)


def _he(fan_in, fan_out):
    return 2.0 / fan_in


def _glorot(fan_in, fan_out):
    return 2.0 / (fan_in + fan_out)


def he_normal(shape, rng, *, batch_dims: int = 0) -> np.ndarray:
    """N(0, 2 / fan_in) (He et al. 2015)."""
    return _variance_scaling("he_normal", shape, rng, _he, "normal", batch_dims)


def he_uniform(shape, rng, *, batch_dims: int = 0) -> np.ndarray:
    """U(-l, l), l = sqrt(6 / fan_in)."""
    return _variance_scaling("he_uniform", shape, rng, _he, "uniform", batch_dims)


def xavier_normal(shape, rng, *, batch_dims: int = 0) -> np.ndarray:
    """N(0, 2 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    return _variance_scaling("xavier_normal", shape, rng, _glorot, "normal", batch_dims)


def xavier_uniform(shape, rng, *, batch_dims: int = 0) -> np.ndarray:
    """U(-l, l), l = sqrt(6 / (fan_in + fan_out))."""
    return _variance_scaling("xavier_uniform", shape, rng, _glorot, "uniform", batch_dims)


def uniform(shape, rng, low: float = -0.05, high: float = 0.05, *, batch_dims: int = 0) -> np.ndarray:
    """U(low, high). ``batch_dims`` (as for every entry of INITIALIZERS) is accepted and
    unused: this distribution does not depend on the fans."""
    low, high = _float("uniform", "low", low), _float("uniform", "high", high)
    if low >= high:
        _fail("uniform", f"low must be < high, got low={low}, high={high}")
    return _rng("uniform", rng).uniform(low, high, _shape("uniform", shape)).astype(F32)


def normal(shape, rng, std: float = 0.01, *, batch_dims: int = 0) -> np.ndarray:
    """N(0, std^2); ``batch_dims`` is accepted and unused, as for ``uniform``."""
    std = _float("normal", "std", std, minimum=0.0, strict=True)
    return (_rng("normal", rng).standard_normal(_shape("normal", shape)) * std).astype(F32)


def zeros(shape, rng=None, *, batch_dims: int = 0) -> np.ndarray:
    """Zeros; ``rng`` and ``batch_dims`` are accepted (and ignored) for the common signature."""
    return np.zeros(_shape("zeros", shape), F32)


def identity(shape, rng=None, *, batch_dims: int = 0) -> np.ndarray:
    """Identity initialization (Yu & Koltun 2016): ``w[c, c, centre] = 1`` for
    ``c < min(out, in)``, zero elsewhere, so a same-padded conv starts as the identity map.
    ``rng`` and ``batch_dims`` are accepted for the common signature (leading batch axes get
    the same identity kernel)."""
    shape = _shape("identity", shape, min_ndim=2 + batch_dims)
    w = np.zeros(shape, F32)
    out, inp, *kernel = shape[batch_dims:]
    centre = tuple(k // 2 for k in kernel)
    for c in range(min(out, inp)):
        w[(Ellipsis, c, c, *centre)] = 1.0
    return w


INITIALIZERS: dict[str, Callable[..., np.ndarray]] = {
    "he": he_normal, "he_normal": he_normal, "he_uniform": he_uniform,
    "xavier": xavier_uniform, "xavier_uniform": xavier_uniform, "xavier_normal": xavier_normal,
    "glorot": xavier_uniform, "uniform": uniform, "normal": normal, "zeros": zeros,
    "identity": identity,
}


# --------------------------------------------------------------------------- hand-designed

def difference(axis: int = 1) -> np.ndarray:
    """The 2-element edge detector [-1, +1]: 1x2 along x (``axis=1``), 2x1 along y."""
    k = np.array([[-1.0, 1.0]], F32)
    return k if _axis("difference", axis) == 1 else k.T.copy()


def _smoothed_derivative(fn: str, smooth, axis) -> np.ndarray:
    k = np.outer(smooth, [-1.0, 0.0, 1.0]).astype(F32)
    return k if _axis(fn, axis) == 1 else k.T.copy()


def sobel(axis: int = 1) -> np.ndarray:
    """3x3 Sobel derivative along ``axis``: [1, 2, 1] smoothing across, [-1, 0, 1] along."""
    return _smoothed_derivative("sobel", [1.0, 2.0, 1.0], axis)


def prewitt(axis: int = 1) -> np.ndarray:
    """3x3 Prewitt derivative along ``axis``: [1, 1, 1] smoothing across, [-1, 0, 1] along."""
    return _smoothed_derivative("prewitt", [1.0, 1.0, 1.0], axis)


def laplacian(diagonals: bool = False) -> np.ndarray:
    """3x3 discrete Laplacian, 4-neighbour (or 8-neighbour with ``diagonals``)."""
    if not isinstance(diagonals, bool):
        _fail("laplacian", f"diagonals must be a bool, got {diagonals!r}")
    d = 1.0 if diagonals else 0.0
    k = np.array([[d, 1, d], [1, 0, 1], [d, 1, d]], F32)
    k[1, 1] = -k.sum()
    return k


def gaussian(size: int, sigma: float) -> np.ndarray:
    """size x size Gaussian blur summing to 1: the outer product of one normalized 1-D Gaussian."""
    size = _int("gaussian", "size", size)
    sigma = _float("gaussian", "sigma", sigma, minimum=0.0, strict=True)
    t = np.arange(size) - (size - 1) / 2
    g = np.exp(-t ** 2 / (2 * sigma ** 2))
    g /= g.sum()
    return np.outer(g, g).astype(F32)


def box(size: int) -> np.ndarray:
    """size x size mean filter."""
    size = _int("box", "size", size)
    return np.full((size, size), 1.0 / size ** 2, F32)


def haar(size: int = 2) -> np.ndarray:
    """The 4 Haar filters ``(LL, LH, HL, HH)`` of an even ``size``, shape (4, size, size).

    Each is an outer product (rows: the filter along y, columns: the filter along x) of the
    unit-norm 1-D low-pass ``1 / sqrt(size)`` and high-pass ``+-1 / sqrt(size)`` (+ on the
    first half), so the four are orthonormal for every size; size 2 is the one-level 2-D
    Haar transform.
    """
    size = _int("haar", "size", size)
    if size % 2:
        _fail("haar", f"size must be even, got {size}")
    low = np.ones(size) / math.sqrt(size)
    high = np.where(np.arange(size) < size // 2, 1.0, -1.0) / math.sqrt(size)
    return np.stack([np.outer(fy, fx) for fx, fy in
                     [(low, low), (low, high), (high, low), (high, high)]]).astype(F32)


def stack_filters(kernels, in_channels: int = 1) -> np.ndarray:
    """A conv weight ``(n, in_channels, kh, kw)`` from one or more 2-D kernels.

    Each kernel is repeated over the input channels, so an output map sums its response
    over all of them; ``in_channels=1`` gives the per-channel (depthwise) layout.
    """
    k = np.asarray(kernels, dtype=np.float64)
    k = k[None] if k.ndim == 2 else k
    if k.ndim != 3 or k.size == 0 or not np.isfinite(k).all():
        _fail("stack_filters", f"kernels must be one (kh, kw) kernel or a non-empty stack "
                               f"(n, kh, kw) of finite values, got shape {np.shape(kernels)}")
    in_channels = _int("stack_filters", "in_channels", in_channels)
    return np.repeat(k[:, None], in_channels, axis=1).astype(F32)


def haar_bank(size: int = 2, channels: int = 1) -> np.ndarray:
    """Haar filters for a depthwise conv, shape ``(4 * channels, 1, size, size)``.

    Output map ``4 c + j`` is filter ``j`` (LL, LH, HL, HH) of input channel ``c``: use it
    with ``group=channels`` and ``stride=size`` for one level of the 2-D Haar transform.
    """
    channels = _int("haar_bank", "channels", channels)
    return stack_filters(np.tile(haar(size), (channels, 1, 1)))


HAND_DESIGNED: dict[str, Callable[..., np.ndarray]] = {
    "difference": difference, "sobel": sobel, "prewitt": prewitt, "laplacian": laplacian,
    "gaussian": gaussian, "box": box,
}


def edge_kernel(name: str, **params) -> np.ndarray:
    """One of :data:`HAND_DESIGNED` by name, e.g. ``edge_kernel("sobel", axis=0)``."""
    if name not in HAND_DESIGNED:
        _fail("edge_kernel", f"unknown kernel {name!r}; known: {', '.join(HAND_DESIGNED)}")
    fn = HAND_DESIGNED[name]
    try:
        inspect.signature(fn).bind(**params)
    except TypeError as exc:
        _fail("edge_kernel", f"{name}{inspect.signature(fn)}: {exc}")
    return fn(**params)


# --------------------------------------------------------------------------- Gabor

def gabor(shape, alpha: float, beta_x: float, beta_y: float, f: float, phi: float = 0.0,
          x0: float = 0.0, y0: float = 0.0, tau: float = 0.0) -> np.ndarray:
    """Gabor kernel of ``shape`` (h, w), Deep Learning eq. 9.16-9.17.

    ``w(x, y) = alpha exp(-beta_x x'^2 - beta_y y'^2) cos(f x' + phi)`` with
    ``x' = (x - x0) cos(tau) + (y - y0) sin(tau)``, ``y' = -(x - x0) sin(tau) + (y - y0) cos(tau)``;
    ``x`` is the column and ``y`` the row offset from the kernel centre.
    """
    shape = _shape("gabor", shape, 2)
    if len(shape) != 2:
        _fail("gabor", f"shape must be (h, w), got {shape}")
    h, w = shape
    alpha, f, phi, x0, y0, tau = (_float("gabor", n, v) for n, v in
                                  [("alpha", alpha), ("f", f), ("phi", phi), ("x0", x0),
                                   ("y0", y0), ("tau", tau)])
    beta_x = _float("gabor", "beta_x", beta_x, minimum=0.0)
    beta_y = _float("gabor", "beta_y", beta_y, minimum=0.0)
    dx = (np.arange(w) - (w - 1) / 2)[None, :] - x0
    dy = (np.arange(h) - (h - 1) / 2)[:, None] - y0
    xr = dx * math.cos(tau) + dy * math.sin(tau)
    yr = -dx * math.sin(tau) + dy * math.cos(tau)
    return (alpha * np.exp(-beta_x * xr ** 2 - beta_y * yr ** 2) * np.cos(f * xr + phi)).astype(F32)


def gabor_bank(shape, n_orientations: int, frequencies, *, alpha: float = 1.0, beta_x: float,
               beta_y: float, phi: float = 0.0, x0: float = 0.0, y0: float = 0.0) -> np.ndarray:
    """Gabor filters over frequencies x orientations, shape ``(n_f * n_orientations, 1, h, w)``.

    Filter ``i * n_orientations + j`` has ``f = frequencies[i]`` and
    ``tau = pi * j / n_orientations`` (orientations span a half turn: ``tau + pi`` only
    mirrors the carrier).
    """
    n_orientations = _int("gabor_bank", "n_orientations", n_orientations)
    freqs = np.atleast_1d(np.asarray(frequencies, dtype=object))
    if freqs.ndim != 1 or len(freqs) == 0:
        _fail("gabor_bank", f"frequencies must be a number or a non-empty list, got {frequencies!r}")
    return stack_filters([gabor(shape, alpha, beta_x, beta_y, f, phi, x0, y0, math.pi * j / n_orientations)
                          for f in freqs for j in range(n_orientations)])


# --------------------------------------------------------------------------- k-means

def _sample_patches(images: np.ndarray, kernel: tuple[int, ...], n: int, rng) -> np.ndarray:
    """``n`` distinct random patches (fewer if the images hold fewer), flattened per patch."""
    spatial = tuple(range(2, images.ndim))
    windows = np.lib.stride_tricks.sliding_window_view(images, kernel, axis=spatial)
    grid = (images.shape[0], *windows.shape[2:2 + len(kernel)])
    total = math.prod(grid)
    picks = rng.choice(total, size=min(n, total), replace=False)
    batch, *pos = np.unravel_index(picks, grid)
    return windows[(batch, slice(None), *pos)].reshape(len(picks), -1)


def _sq_distances(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    d = (x ** 2).sum(1)[:, None] - 2 * x @ c.T + (c ** 2).sum(1)[None, :]
    return np.maximum(d, 0.0)


def _kmeans_pp(x: np.ndarray, k: int, rng) -> np.ndarray:
    """Greedy k-means++: of a few candidates drawn by squared distance, keep the best one."""
    trials = 2 + int(math.log(k))
    centres = [x[rng.integers(len(x))]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        total = d2.sum()
        cand = rng.choice(len(x), size=trials, p=d2 / total) if total > 0 else rng.integers(len(x), size=1)
        after = np.minimum(d2[:, None], _sq_distances(x, x[cand]))
        best = after.sum(0).argmin()
        centres.append(x[cand[best]])
        d2 = after[:, best]
    return np.array(centres)


def _lloyd(x: np.ndarray, centres: np.ndarray, iters: int) -> np.ndarray:
    k = len(centres)
    labels = None
    for _ in range(iters):
        d = _sq_distances(x, centres)
        new = d.argmin(1)
        counts = np.bincount(new, minlength=k)
        if labels is not None and (new == labels).all() and counts.all():
            break
        labels = new
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, x)
        centres = sums / np.maximum(counts, 1)[:, None]
        empty = np.flatnonzero(counts == 0)
        # re-seed empty clusters with the points worst served by their own centroid
        worst = np.argsort(-d[np.arange(len(x)), labels], kind="stable")
        centres[empty] = x[worst[:len(empty)]]
    return centres


def kmeans_filters(images, k: int, kernel_shape, rng, n_patches: int = 10000, iters: int = 50,
                   whiten: bool = True, norm_eps: float = 0.01, zca_eps: float = 0.1,
                   fold_whitening: bool = False) -> np.ndarray:
    """``k`` conv filters ``(k, C, *kernel_shape)`` learned by k-means on image patches.

    ``images`` is ``(N, C, *spatial)`` with 1-3 spatial axes (``kernel_shape`` one int per
    axis, or one int for all).  Up to ``n_patches`` distinct patches are drawn at random;
    each is normalized ``(p - mean) / (std + norm_eps)`` (``norm_eps`` in the images' units
    keeps flat, noisy patches from being blown up; 0.01 suits images scaled to [0, 1]),
    then, with ``whiten``, ZCA-whitened with eigenvalues regularized by ``zca_eps``.
    The result is the centroids, or with ``fold_whitening`` the whitening matrix times them
    (see the module notes).
    """
    fn = "kmeans_filters"
    x = np.asarray(images)
    if x.dtype.kind not in "iuf" or not 3 <= x.ndim <= 5:
        _fail(fn, f"images must be a real array (N, C, *spatial) with 1-3 spatial axes, "
                  f"got shape {x.shape} and dtype {x.dtype}")
    x = x.astype(np.float64)
    if x.size == 0 or not np.isfinite(x).all():
        _fail(fn, f"images must be non-empty and finite, got shape {x.shape}")
    nd = x.ndim - 2
    kernel = _shape(fn, (kernel_shape,) * nd if isinstance(kernel_shape, (int, np.integer)) else kernel_shape)
    if len(kernel) != nd or any(kd > sd for kd, sd in zip(kernel, x.shape[2:])):
        _fail(fn, f"kernel_shape {kernel} must have one size per spatial axis, each at most "
                  f"the image size {x.shape[2:]}")
    k, n_patches, iters = (_int(fn, n, v) for n, v in [("k", k), ("n_patches", n_patches), ("iters", iters)])
    norm_eps = _float(fn, "norm_eps", norm_eps, minimum=0.0, strict=True)
    zca_eps = _float(fn, "zca_eps", zca_eps, minimum=0.0, strict=True)
    for name, flag in [("whiten", whiten), ("fold_whitening", fold_whitening)]:
        if not isinstance(flag, bool):
            _fail(fn, f"{name} must be a bool, got {flag!r}")
    rng = _rng(fn, rng)

    p = _sample_patches(x, kernel, n_patches, rng)
    if k > len(p):
        _fail(fn, f"k={k} centroids need at least k patches, but only {len(p)} were drawn "
                  f"(n_patches={n_patches}, images {x.shape}, kernel {kernel})")
    p = p - p.mean(1, keepdims=True)
    p /= p.std(1, keepdims=True) + norm_eps
    zca = None
    if whiten:
        p -= p.mean(0)
        e, v = np.linalg.eigh(p.T @ p / len(p))
        zca = (v / np.sqrt(np.maximum(e, 0.0) + zca_eps)) @ v.T
        p = p @ zca
    centres = _lloyd(p, _kmeans_pp(p, k, rng), iters)
    if fold_whitening and zca is not None:
        centres = centres @ zca
    return centres.reshape(k, x.shape[1], *kernel).astype(F32)
