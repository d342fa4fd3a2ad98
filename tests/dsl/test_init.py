"""Kernel initializers: random statistics, hand-designed values, Gabor formula, k-means recovery."""
import math

import numpy as np
import pytest

from cnnc.dsl import init
from cnnc.ir import CnncError

# ----------------------------------------------------------------------------- random

SHAPES = [  # (shape, batch_dims, fan_in, fan_out)
    ((64, 32, 3, 3), 0, 288, 576),          # 2-D conv
    ((48, 24, 5), 0, 120, 240),             # 1-D conv
    ((16, 8, 3, 3, 3), 0, 216, 432),        # 3-D conv
    ((300, 200), 0, 200, 300),              # dense (out, in)
    ((4, 4, 16, 8, 3, 3), 2, 72, 144),      # unshared conv (oh, ow, out, in, kh, kw)
]

RANDOM = {  # name: (variance from fans, distribution)
    "he_normal": (lambda fi, fo: 2 / fi, "normal"),
    "he_uniform": (lambda fi, fo: 2 / fi, "uniform"),
    "xavier_normal": (lambda fi, fo: 2 / (fi + fo), "normal"),
    "xavier_uniform": (lambda fi, fo: 2 / (fi + fo), "uniform"),
}


@pytest.mark.parametrize("shape,batch_dims,fan_in,fan_out", SHAPES)
def test_fans(shape, batch_dims, fan_in, fan_out):
    assert init.fans(shape, batch_dims) == (fan_in, fan_out)


def _check_stats(w, std, distribution):
    n = w.size
    # std of a sample std is ~ std / sqrt(2n); 6 of those is a loose but safe bound
    assert abs(w.std() - std) < 6 * std / math.sqrt(2 * n) + 1e-7
    assert abs(w.mean()) < 6 * std / math.sqrt(n)
    if distribution == "uniform":
        limit = math.sqrt(3) * std
        assert w.min() >= -limit and w.max() <= limit
        assert w.min() < -0.95 * limit and w.max() > 0.95 * limit


@pytest.mark.parametrize("shape,batch_dims,fan_in,fan_out", SHAPES)
@pytest.mark.parametrize("name", RANDOM)
def test_variance_scaling(rng, name, shape, batch_dims, fan_in, fan_out):
    variance, distribution = RANDOM[name]
    w = getattr(init, name)(shape, rng, batch_dims=batch_dims)
    assert w.shape == shape and w.dtype == np.float32
    _check_stats(w, math.sqrt(variance(fan_in, fan_out)), distribution)


@pytest.mark.parametrize("low,high", [(-0.05, 0.05), (0.0, 1.0), (-3.0, -2.0)])
def test_uniform(rng, low, high):
    w = init.uniform((100, 50), rng, low, high)
    assert w.dtype == np.float32 and w.shape == (100, 50)
    assert w.min() >= low and w.max() <= high
    _check_stats(w - (low + high) / 2, (high - low) / math.sqrt(12), "uniform")


@pytest.mark.parametrize("std", [0.01, 1.0])
@pytest.mark.parametrize("shape", [(10,), (20, 30), (8, 4, 3, 3)])
def test_normal_and_zeros(rng, std, shape):
    w = init.normal(shape, rng, std=std)
    assert w.dtype == np.float32 and w.shape == shape
    if w.size > 100:
        _check_stats(w, std, "normal")
    z = init.zeros(shape, rng)
    assert z.dtype == np.float32 and z.shape == shape and not z.any()


@pytest.mark.parametrize("name", list(init.INITIALIZERS))
def test_initializers_table(name):
    shape = (8, 4, 3, 3)
    a = init.INITIALIZERS[name](shape, np.random.default_rng(7))
    b = init.INITIALIZERS[name](shape, np.random.default_rng(7))
    assert a.shape == shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)   # a fixed seed reproduces the weights


def test_initializer_aliases():
    for alias, fn in [("he", init.he_normal), ("xavier", init.xavier_uniform), ("glorot", init.xavier_uniform)]:
        np.testing.assert_array_equal(init.INITIALIZERS[alias]((6, 5), np.random.default_rng(1)),
                                      fn((6, 5), np.random.default_rng(1)))


@pytest.mark.parametrize("call,match", [
    (lambda r: init.he_normal((10,), r), "at least 2 dims"),
    (lambda r: init.he_normal((4, 4, 3), r, batch_dims=2), "at least 4 dims"),
    (lambda r: init.xavier_uniform((4, 0, 3), r), "dimension must be an integer >= 1"),
    (lambda r: init.he_uniform((4, 2.5), r), "dimension must be an integer"),
    (lambda r: init.he_normal((4, 4), 42), "numpy.random.Generator"),
    (lambda r: init.he_normal((4, 4), np.random.RandomState(0)), "numpy.random.Generator"),
    (lambda r: init.uniform((4,), r, 1.0, 1.0), "low must be < high"),
    (lambda r: init.uniform((4,), r, 0.0, math.inf), "high must be a finite number"),
    (lambda r: init.normal((4,), r, std=0.0), "std must be a finite number > 0"),
    (lambda r: init.zeros("ab"), "dimension must be an integer"),
])
def test_random_errors(rng, call, match):
    with pytest.raises(CnncError, match=match):
        call(rng)


# ----------------------------------------------------------------------------- hand-designed

def xcorr2d(img, k):
    """Valid 2-D cross-correlation, written as the obvious loop."""
    kh, kw = k.shape
    out = np.zeros((img.shape[0] - kh + 1, img.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (img[i:i + kh, j:j + kw] * k).sum()
    return out


def test_difference_kernel_detects_the_edge():
    assert init.difference().tolist() == [[-1.0, 1.0]]
    assert init.difference(axis=0).tolist() == [[-1.0], [1.0]]
    step = np.zeros((6, 8))
    step[:, 4:] = 1.0                       # a vertical edge between columns 3 and 4
    along_x = xcorr2d(step, init.difference(axis=1))
    assert (along_x[:, 3] == 1).all() and (np.delete(along_x, 3, axis=1) == 0).all()
    assert not xcorr2d(step, init.difference(axis=0)).any()
    np.testing.assert_array_equal(xcorr2d(step.T, init.difference(axis=0)), along_x.T)


@pytest.mark.parametrize("fn,smooth", [(init.sobel, [1, 2, 1]), (init.prewitt, [1, 1, 1])])
def test_sobel_prewitt(fn, smooth):
    kx = fn(axis=1)
    assert kx.dtype == np.float32
    np.testing.assert_array_equal(kx, [[-s, 0, s] for s in smooth])
    np.testing.assert_array_equal(fn(axis=0), kx.T)
    assert kx.sum() == 0 and np.linalg.matrix_rank(kx) == 1
    ramp = np.tile(np.arange(7.0), (7, 1))   # intensity rising along x
    assert (xcorr2d(ramp, kx) > 0).all() and not xcorr2d(ramp, fn(axis=0)).any()


def test_laplacian():
    np.testing.assert_array_equal(init.laplacian(), [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    np.testing.assert_array_equal(init.laplacian(diagonals=True), [[1, 1, 1], [1, -8, 1], [1, 1, 1]])
    quad = np.add.outer(np.arange(6.0) ** 2, np.arange(6.0) ** 2)   # x^2 + y^2 has Laplacian 4
    np.testing.assert_allclose(xcorr2d(quad, init.laplacian()), 4.0)


@pytest.mark.parametrize("size,sigma", [(3, 1.0), (5, 0.7), (4, 1.5), (1, 2.0)])
def test_gaussian(size, sigma):
    k = init.gaussian(size, sigma)
    assert k.shape == (size, size) and k.dtype == np.float32
    c = (size - 1) / 2
    g = np.array([math.exp(-(i - c) ** 2 / (2 * sigma ** 2)) for i in range(size)])
    np.testing.assert_allclose(k, np.outer(g, g) / g.sum() ** 2, rtol=1e-6)
    np.testing.assert_allclose(k.sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(k, k.T)
    assert np.linalg.matrix_rank(k, tol=1e-6) == 1


def test_box():
    np.testing.assert_allclose(init.box(3), np.full((3, 3), 1 / 9))


def test_haar_size2_is_orthonormal():
    h = init.haar(2)
    np.testing.assert_array_equal(h * 2, [[[1, 1], [1, 1]], [[1, 1], [-1, -1]],
                                          [[1, -1], [1, -1]], [[1, -1], [-1, 1]]])
    flat = h.reshape(4, 4)
    np.testing.assert_allclose(flat @ flat.T, np.eye(4), atol=1e-7)


@pytest.mark.parametrize("size", [4, 6])
def test_haar_larger_sizes_are_block_upsampled(size):
    h = init.haar(size)
    m = size // 2
    np.testing.assert_allclose(h, np.kron(init.haar(2), np.ones((m, m))) / m, atol=1e-7)
    flat = h.reshape(4, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(4), atol=1e-6)


def test_haar_bank_is_an_orthonormal_transform(rng):
    """Depthwise, stride 2: energy is kept and the image comes back from the coefficients."""
    channels = 3
    bank = init.haar_bank(2, channels)
    assert bank.shape == (4 * channels, 1, 2, 2) and bank.dtype == np.float32
    x = rng.standard_normal((channels, 6, 8))
    coeffs = np.zeros((4 * channels, 3, 4))
    for o in range(4 * channels):
        for i in range(3):
            for j in range(4):
                coeffs[o, i, j] = (x[o // 4, 2 * i:2 * i + 2, 2 * j:2 * j + 2] * bank[o, 0]).sum()
    np.testing.assert_allclose((coeffs ** 2).sum(), (x ** 2).sum(), rtol=1e-6)
    back = np.zeros_like(x)
    for o in range(4 * channels):
        back[o // 4] += np.kron(coeffs[o], np.ones((2, 2))) * np.tile(bank[o, 0], (3, 4))
    np.testing.assert_allclose(back, x, atol=1e-6)


def test_stack_filters():
    w = init.stack_filters([init.sobel(0), init.sobel(1)], in_channels=3)
    assert w.shape == (2, 3, 3, 3) and w.dtype == np.float32
    for c in range(3):
        np.testing.assert_array_equal(w[1, c], init.sobel(1))
    assert init.stack_filters(init.laplacian()).shape == (1, 1, 3, 3)


def test_edge_kernel_by_name():
    np.testing.assert_array_equal(init.edge_kernel("sobel", axis=0), init.sobel(0))
    np.testing.assert_array_equal(init.edge_kernel("gaussian", size=5, sigma=1.0), init.gaussian(5, 1.0))
    with pytest.raises(CnncError, match="unknown kernel 'canny'; known: difference"):
        init.edge_kernel("canny")
    with pytest.raises(CnncError, match=r"sobel\(axis"):
        init.edge_kernel("sobel", size=3)


@pytest.mark.parametrize("call,match", [
    (lambda: init.difference(axis=2), "axis must be 0"),
    (lambda: init.sobel(axis=True), "axis must be 0"),
    (lambda: init.gaussian(3, 0.0), "sigma must be a finite number > 0"),
    (lambda: init.gaussian(0, 1.0), "size must be an integer >= 1"),
    (lambda: init.box(2.0), "size must be an integer"),
    (lambda: init.laplacian(diagonals=1), "diagonals must be a bool"),
    (lambda: init.haar(3), "size must be even"),
    (lambda: init.haar_bank(2, channels=0), "channels must be an integer >= 1"),
    (lambda: init.stack_filters(np.zeros((2, 2, 2, 2))), "kernels must be one"),
    (lambda: init.stack_filters([[np.nan]]), "finite values"),
])
def test_hand_designed_errors(call, match):
    with pytest.raises(CnncError, match=match):
        call()


# ----------------------------------------------------------------------------- Gabor

def gabor_loop(h, w, alpha, beta_x, beta_y, f, phi, x0, y0, tau):
    """Deep Learning eq. 9.16-9.17 evaluated pixel by pixel; x is the column, y the row."""
    out = np.zeros((h, w))
    for row in range(h):
        for col in range(w):
            x, y = col - (w - 1) / 2, row - (h - 1) / 2
            xr = (x - x0) * math.cos(tau) + (y - y0) * math.sin(tau)
            yr = -(x - x0) * math.sin(tau) + (y - y0) * math.cos(tau)
            out[row, col] = alpha * math.exp(-beta_x * xr ** 2 - beta_y * yr ** 2) * math.cos(f * xr + phi)
    return out


GABOR_PARAMS = [  # (shape, alpha, beta_x, beta_y, f, phi, x0, y0, tau)
    ((7, 7), 1.0, 0.1, 0.1, 1.0, 0.0, 0.0, 0.0, 0.0),
    ((5, 9), 2.0, 0.05, 0.2, 1.5, 0.3, 0.5, -1.0, 0.7),
    ((8, 6), -0.5, 0.3, 0.0, 0.4, 2.0, -1.5, 0.25, 2.5),
    ((1, 11), 1.0, 0.0, 0.0, math.pi, 0.0, 0.0, 0.0, 0.0),
]


@pytest.mark.parametrize("params", GABOR_PARAMS)
def test_gabor_matches_the_formula(params):
    shape, *rest = params
    k = init.gabor(shape, *rest)
    assert k.shape == shape and k.dtype == np.float32
    np.testing.assert_allclose(k, gabor_loop(*shape, *rest), rtol=1e-5, atol=1e-6)


def test_gabor_x_is_the_column():
    # no envelope, tau = 0: cos(pi x) depends on the column only
    k = init.gabor((4, 5), 1.0, 0.0, 0.0, math.pi, 0.0)
    np.testing.assert_allclose(k, np.tile([1, -1, 1, -1, 1], (4, 1)), atol=1e-6)


@pytest.mark.parametrize("alpha,phi", [(1.0, 0.0), (2.5, 0.8), (-1.0, 2.0)])
def test_gabor_centre_value(alpha, phi):
    k = init.gabor((9, 9), alpha, 0.2, 0.1, 1.3, phi, tau=0.4)
    np.testing.assert_allclose(k[4, 4], alpha * math.cos(phi), rtol=1e-6)


@pytest.mark.parametrize("size,f,phi", [(7, 1.0, 0.0), (8, 0.6, 1.1), (5, 2.0, -0.5)])
def test_gabor_quarter_turn_transposes(size, f, phi):
    k = init.gabor((size, size), 1.0, 0.15, 0.15, f, phi)
    np.testing.assert_allclose(init.gabor((size, size), 1.0, 0.15, 0.15, f, phi, tau=math.pi / 2),
                               k.T, atol=1e-6)


@pytest.mark.parametrize("shape,tau", [((7, 7), 0.0), ((6, 9), 0.9)])
def test_gabor_odd_phase_is_antisymmetric(shape, tau):
    k = init.gabor(shape, 1.0, 0.1, 0.05, 1.2, math.pi / 2, tau=tau)
    np.testing.assert_allclose(k[::-1, ::-1], -k, atol=1e-6)


def test_gabor_bank():
    freqs = [0.5, 1.0, 2.0]
    bank = init.gabor_bank((7, 7), 4, freqs, beta_x=0.1, beta_y=0.2, phi=0.3)
    assert bank.shape == (12, 1, 7, 7) and bank.dtype == np.float32
    for i, f in enumerate(freqs):
        for j in range(4):
            np.testing.assert_array_equal(bank[4 * i + j, 0],
                                          init.gabor((7, 7), 1.0, 0.1, 0.2, f, 0.3, tau=math.pi * j / 4))
    assert init.gabor_bank((5, 5), 2, 1.0, beta_x=0.1, beta_y=0.1).shape == (2, 1, 5, 5)


@pytest.mark.parametrize("call,match", [
    (lambda: init.gabor((7,), 1, 0.1, 0.1, 1), "at least 2 positive ints"),
    (lambda: init.gabor((3, 3, 3), 1, 0.1, 0.1, 1), r"shape must be \(h, w\)"),
    (lambda: init.gabor((5, 5), 1, -0.1, 0.1, 1), "beta_x must be a finite number >= 0"),
    (lambda: init.gabor((5, 5), math.nan, 0.1, 0.1, 1), "alpha must be a finite number"),
    (lambda: init.gabor((5, 5), 1, 0.1, 0.1, "1"), "f must be a finite number"),
    (lambda: init.gabor_bank((5, 5), 0, [1.0], beta_x=0.1, beta_y=0.1), "n_orientations must be"),
    (lambda: init.gabor_bank((5, 5), 4, [], beta_x=0.1, beta_y=0.1), "frequencies must be"),
])
def test_gabor_errors(call, match):
    with pytest.raises(CnncError, match=match):
        call()


# ----------------------------------------------------------------------------- k-means

def _orthogonal_patterns(rng, channels, kernel, n):
    """n orthonormal zero-mean patterns, each shaped (channels, *kernel)."""
    a = rng.standard_normal((channels * math.prod(kernel), n))
    q, _ = np.linalg.qr(a - a.mean(0))
    return q.T.reshape(n, channels, *kernel)


def _pattern_images(rng, patterns, count):
    """Each image is one pattern with random contrast, offset and a little noise."""
    which = rng.integers(len(patterns), size=count)
    contrast = rng.uniform(0.5, 2.0, size=(count,) + (1,) * (patterns.ndim - 1))
    offset = rng.uniform(-1.0, 1.0, size=contrast.shape)
    noise = 0.005 * rng.standard_normal((count,) + patterns.shape[1:])
    return patterns[which] * contrast + offset + noise


def _cosine(a, b):
    a, b = a.ravel(), b.ravel()
    return a @ b / (np.linalg.norm(a) * np.linalg.norm(b))


# folded filters amplify the noise left in each centroid by 1 / (noise variance + zca_eps)
@pytest.mark.parametrize("whiten,fold,min_cosine", [(False, False, 0.99), (True, False, 0.98),
                                                    (True, True, 0.95)])
@pytest.mark.parametrize("channels,kernel", [(1, (5, 5)), (2, (3, 4)), (1, (9,)), (2, (2, 3, 2))])
def test_kmeans_recovers_known_patterns(rng, whiten, fold, min_cosine, channels, kernel):
    base = _orthogonal_patterns(rng, channels, kernel, 2)
    patterns = np.concatenate([base, -base])        # +-pairs: the patch set has zero mean
    images = _pattern_images(rng, patterns, 400)
    filters = init.kmeans_filters(images, 4, kernel, rng, n_patches=1000, whiten=whiten,
                                  fold_whitening=fold)
    assert filters.shape == (4, channels, *kernel) and filters.dtype == np.float32
    best = [max(_cosine(f, p) for f in filters) for p in patterns]
    assert min(best) > min_cosine, best


def test_kmeans_folding_needs_whitening(rng):
    images = rng.uniform(size=(4, 1, 10, 10))
    a, b = (init.kmeans_filters(images, 3, 3, np.random.default_rng(5), n_patches=200, whiten=False,
                                fold_whitening=fold) for fold in (False, True))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape,kernel", [((5, 2, 12, 10), (4, 3)), ((3, 1, 20), (5,))])
def test_kmeans_single_centroid_is_the_mean_normalized_window(rng, shape, kernel):
    """With n_patches >= every window and k=1, the filter is the mean of all normalized windows."""
    images = rng.uniform(size=shape)
    filters = init.kmeans_filters(images, 1, kernel, rng, n_patches=10 ** 6, whiten=False)
    axes = tuple(range(2, len(shape)))
    grid = np.lib.stride_tricks.sliding_window_view(images, kernel, axis=axes)   # N, C, *pos, *k
    windows = np.moveaxis(grid, 1, len(shape) - 1).reshape(-1, shape[1] * math.prod(kernel))
    windows = windows - windows.mean(1, keepdims=True)
    windows /= windows.std(1, keepdims=True) + 0.01
    np.testing.assert_allclose(filters.reshape(-1), windows.mean(0), rtol=1e-4, atol=1e-5)


def test_kmeans_is_deterministic_for_a_seed(rng):
    images = rng.uniform(size=(6, 3, 16, 16))
    a = init.kmeans_filters(images, 8, (4, 4), np.random.default_rng(3), n_patches=500)
    b = init.kmeans_filters(images, 8, (4, 4), np.random.default_rng(3), n_patches=500)
    c = init.kmeans_filters(images, 8, (4, 4), np.random.default_rng(4), n_patches=500)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.isfinite(a).all()


def test_kmeans_more_clusters_than_distinct_patches(rng):
    """Duplicate seeds leave clusters empty; re-seeding must keep every centroid finite."""
    patterns = _orthogonal_patterns(rng, 1, (3, 3), 2)
    images = np.repeat(patterns, 10, axis=0)
    filters = init.kmeans_filters(images, 5, (3, 3), rng, whiten=False)
    assert filters.shape == (5, 1, 3, 3) and np.isfinite(filters).all()
    for p in patterns:
        assert max(_cosine(f, p) for f in filters) > 0.999


@pytest.mark.parametrize("call,match", [
    (lambda r: init.kmeans_filters(np.zeros((2, 1, 4, 4)), 2, (5, 3), r), "at most the image size"),
    (lambda r: init.kmeans_filters(np.zeros((2, 1, 4, 4)), 2, (3,), r), "one size per spatial axis"),
    (lambda r: init.kmeans_filters(np.zeros((2, 1, 4, 4)), 9, (3, 3), r), "k=9 centroids need at least"),
    (lambda r: init.kmeans_filters(np.zeros((2, 1, 8, 8)), 4, (3, 3), r, n_patches=3), "only 3 were drawn"),
    (lambda r: init.kmeans_filters(np.zeros((4, 4)), 2, 2, r), r"images must be a real array \(N, C"),
    (lambda r: init.kmeans_filters(np.full((1, 1, 4, 4), np.inf), 2, 2, r), "finite"),
    (lambda r: init.kmeans_filters(np.zeros((1, 1, 4, 4)), 0, 2, r), "k must be an integer >= 1"),
    (lambda r: init.kmeans_filters(np.zeros((1, 1, 4, 4)), 2, 2, r, iters=0), "iters must be"),
    (lambda r: init.kmeans_filters(np.zeros((1, 1, 4, 4)), 2, 2, r, zca_eps=0), "zca_eps must be"),
    (lambda r: init.kmeans_filters(np.zeros((1, 1, 4, 4)), 2, 2, None), "numpy.random.Generator"),
    (lambda r: init.kmeans_filters(np.zeros((1, 1, 4, 4)), 2, 2, r, whiten=1), "whiten must be a bool"),
])
def test_kmeans_errors(rng, call, match):
    with pytest.raises(CnncError, match=match):
        call(rng)


def test_identity_initializer_makes_a_same_conv_the_identity(rng):
    import cnnc
    import cnnc.dsl as nn
    from cnnc.dsl.init import identity
    w = identity((4, 4, 3, 3))
    assert w.dtype == np.float32 and w.sum() == 4 and w[2, 2, 1, 1] == 1
    m = nn.Model("ident")
    x = m.input("x", (1, 4, 6, 6))
    m.output(nn.conv(x, 4, 3, padding="same", dilation=2, init="identity"), "y")
    xv = rng.standard_normal((1, 4, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(cnnc.compile(m.build()).run({"x": xv})["y"], xv, atol=1e-6)
    assert identity((2, 3, 2, 1, 1), batch_dims=1)[:, 1, 1, 0, 0].tolist() == [1, 1]
