"""Layer functions: each adds one op (plus its weights, and optionally a following
activation) to the model of its input tensor.

Conventions: tensors are NCHW (NCW / NCDHW for 1-D / 3-D; the rank of the input picks
the dimensionality); ``kernel``, ``stride`` and ``dilation`` take an int (same on every
axis) or one int per spatial axis; ``padding`` is ``"valid"``, ``"same"`` (=
``"same_upper"``: odd total padding at the end), ``"same_lower"``, ``"full"``, an int or
one int per axis (symmetric), or ``2 * nd`` ints ``(begin..., end...)``.  Weights come
from ``init`` — an initializer name (``"he"``, ``"xavier"``, … see ``init.INITIALIZERS``),
a callable ``(shape, rng) -> array`` or an explicit array (hand-designed kernels).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ir import CnncError, ShapeError
from .init import INITIALIZERS
from .model import LayerContext, Tensor, layer

ACTIVATIONS = {  # DSL name -> (op, attrs)
    "relu": ("Relu", {}),
    "relu6": ("Clip", {"min": 0.0, "max": 6.0}),
    "leaky_relu": ("LeakyRelu", {"alpha": 0.1}),
    "elu": ("Elu", {}),
    "selu": ("Selu", {}),
    "sigmoid": ("Sigmoid", {}),
    "hard_sigmoid": ("HardSigmoid", {}),
    "hard_swish": ("HardSwish", {}),
    "silu": ("Silu", {}),
    "swish": ("Silu", {}),
    "tanh": ("Tanh", {}),
    "gelu": ("Gelu", {}),
    "softplus": ("Softplus", {}),
    "softsign": ("Softsign", {}),
    "mish": ("Mish", {}),
}

_PADDING = {"valid": "VALID", "same": "SAME_UPPER", "same_upper": "SAME_UPPER",
            "same_lower": "SAME_LOWER", "full": "FULL"}


# ----------------------------------------------------------------------------- helpers
def _spatial(x: Tensor, ranks=(1, 2, 3)) -> int:
    nd = len(x.shape) - 2
    if nd not in ranks:
        raise ShapeError(f"expects an N, C, *spatial input with {' or '.join(map(str, ranks))} "
                         f"spatial axes, got shape {x.shape}")
    return nd


def _per_axis(v, nd: int, what: str) -> tuple[int, ...]:
    t = (v,) * nd if isinstance(v, (int, np.integer)) else tuple(v)
    if len(t) != nd or not all(isinstance(i, (int, np.integer)) for i in t):
        raise CnncError(f"{what} must be an int or {nd} ints, got {v!r}")
    return tuple(int(i) for i in t)


def window_attrs(nd: int, kernel, stride, padding, dilation=None) -> dict:
    """ONNX-style window attributes from the DSL's kernel/stride/padding/dilation."""
    attrs = {"kernel_shape": _per_axis(kernel, nd, "kernel"),
             "strides": _per_axis(stride, nd, "stride")}
    if dilation is not None:
        attrs["dilations"] = _per_axis(dilation, nd, "dilation")
    if isinstance(padding, str):
        if padding.lower() not in _PADDING:
            raise CnncError(f"padding must be one of {', '.join(map(repr, _PADDING))}, an int or "
                            f"a tuple of ints; got {padding!r}")
        attrs["auto_pad"] = _PADDING[padding.lower()]
    else:
        p = (padding,) * nd if isinstance(padding, (int, np.integer)) else tuple(padding)
        if len(p) == nd:
            p = p + p
        if len(p) != 2 * nd or not all(isinstance(i, (int, np.integer)) and i >= 0 for i in p):
            raise CnncError(f"padding must be a string, an int, {nd} ints or {2 * nd} "
                            f"non-negative ints (begin..., end...); got {padding!r}")
        attrs["pads"] = tuple(int(i) for i in p)
    return attrs


def weight(ctx: LayerContext, init, shape: Sequence[int], suffix: str = "w", *,
           batch_dims: int = 0) -> Tensor:
    """A constant weight tensor of ``shape`` from an initializer name, callable or array.
    ``batch_dims`` leading axes (positions of unshared, tiles of tiled conv) are not fans."""
    shape = tuple(int(s) for s in shape)
    if isinstance(init, str):
        if init not in INITIALIZERS:
            raise CnncError(f"unknown initializer {init!r}; known: {', '.join(INITIALIZERS)}")
        arr = INITIALIZERS[init](shape, ctx.rng, batch_dims=batch_dims)
    elif callable(init):
        arr = init(shape, ctx.rng)
    else:
        arr = np.asarray(init, dtype=np.float32)
        if arr.shape != shape:
            what = "weight" if suffix == "w" else suffix
            raise ShapeError(f"given {what} has shape {arr.shape}, this layer needs {shape}")
    return ctx.const(arr, suffix)


def activate(ctx: LayerContext, t: Tensor, activation: str | None) -> Tensor:
    if activation is None:
        return t
    if activation not in ACTIVATIONS:
        raise CnncError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}")
    op, attrs = ACTIVATIONS[activation]
    return ctx.op(op, [t], attrs, suffix=activation)


def _bias(ctx, bias, n):
    if bias is False or bias is None:
        return []
    return [weight(ctx, np.zeros(n, np.float32) if bias is True else bias, (n,), "b")]


# ----------------------------------------------------------------------------- convolution
@layer("conv")
def conv(ctx, x, filters: int, kernel, stride=1, padding="valid", dilation=1, groups: int = 1,
         bias=True, init="he", activation=None):
    """N-D convolution (cross-correlation). ``bias`` is True (zeros), False, or an array."""
    nd = _spatial(x)
    attrs = window_attrs(nd, kernel, stride, padding, dilation)
    if groups < 1 or x.shape[1] % groups:
        raise ShapeError(f"input channels {x.shape[1]} are not divisible by groups={groups}")
    w = weight(ctx, init, (filters, x.shape[1] // groups, *attrs["kernel_shape"]))
    y = ctx.op("Conv", [x, w, *_bias(ctx, bias, filters)], {**attrs, "group": groups})
    return activate(ctx, y, activation)


def depthwise_conv(x, kernel, stride=1, padding="valid", dilation=1, multiplier: int = 1, **kw):
    """Depthwise convolution: ``groups == channels``, ``multiplier`` filters per channel."""
    return conv(x, x.shape[1] * multiplier, kernel, stride, padding, dilation,
                groups=x.shape[1], **kw)


@layer("deconv")
def conv_transpose(ctx, x, filters: int, kernel, stride=1, padding=0, dilation=1, groups: int = 1,
                   output_padding=0, bias=True, init="he", activation=None):
    """N-D transposed convolution (``padding`` as for conv; "full" is not defined here)."""
    nd = _spatial(x)
    attrs = window_attrs(nd, kernel, stride, padding, dilation)
    attrs["output_padding"] = _per_axis(output_padding, nd, "output_padding")
    if groups < 1 or x.shape[1] % groups:
        raise ShapeError(f"input channels {x.shape[1]} are not divisible by groups={groups}")
    w = weight(ctx, init, (x.shape[1], filters // groups, *attrs["kernel_shape"]))
    y = ctx.op("ConvTranspose", [x, w, *_bias(ctx, bias, filters)], {**attrs, "group": groups})
    return activate(ctx, y, activation)


@layer("local")
def local_conv(ctx, x, filters: int, kernel, stride=1, padding="valid", dilation=1, bias=True,
               init="he", activation=None):
    """Unshared convolution: one kernel per output position (weight ``(*out, M, C, *k)``)."""
    from ..ops._spatial import canonical_window, output_shape
    nd = _spatial(x)
    attrs = window_attrs(nd, kernel, stride, padding, dilation)
    out = output_shape(x.shape[2:], canonical_window({"auto_pad": "NOTSET", "pads": None, **attrs}, nd))
    w = weight(ctx, init, (*out, filters, x.shape[1], *attrs["kernel_shape"]), batch_dims=nd)
    b = [] if not bias else [weight(ctx, np.zeros((filters, *out), np.float32) if bias is True else bias,
                                    (filters, *out), "b")]
    return activate(ctx, ctx.op("LocalConv", [x, w, *b], attrs), activation)


@layer("tiled")
def tiled_conv(ctx, x, filters: int, kernel, tiles=2, stride=1, padding="valid", dilation=1,
               bias=True, init="he", activation=None):
    """Tiled convolution: ``tiles`` kernels per axis cycle over the output positions."""
    nd = _spatial(x)
    attrs = window_attrs(nd, kernel, stride, padding, dilation)
    w = weight(ctx, init, (*_per_axis(tiles, nd, "tiles"), filters, x.shape[1], *attrs["kernel_shape"]),
               batch_dims=nd)
    y = ctx.op("TiledConv", [x, w, *_bias(ctx, bias, filters)], attrs)
    return activate(ctx, y, activation)


# ----------------------------------------------------------------------------- pooling
_POOLS = {"max": ("MaxPool", True), "avg": ("AveragePool", True), "lp": ("LpPool", True),
          "lse": ("LSEPool", True), "weighted": ("WeightedAvgPool", True)}


@layer("pool")
def pool(ctx, x, kernel, stride=None, padding="valid", mode="max", dilation=1, ceil_mode=False,
         **extra):
    """Windowed pooling: ``mode`` max | avg | lp (``p=``) | lse | weighted (``sigma=``).
    ``stride`` defaults to the kernel (non-overlapping windows)."""
    if mode not in _POOLS:
        raise CnncError(f"pool mode must be one of {', '.join(_POOLS)}, got {mode!r}")
    nd = _spatial(x)
    attrs = window_attrs(nd, kernel, kernel if stride is None else stride, padding, dilation)
    if ceil_mode:
        attrs["ceil_mode"] = 1
    return ctx.op(_POOLS[mode][0], [x], {**attrs, **extra})


def max_pool(x, kernel, stride=None, padding="valid", **kw):
    return pool(x, kernel, stride, padding, mode="max", **kw)


def avg_pool(x, kernel, stride=None, padding="valid", count_include_pad=False, **kw):
    return pool(x, kernel, stride, padding, mode="avg", count_include_pad=int(count_include_pad), **kw)


def lp_pool(x, kernel, stride=None, padding="valid", p=2, **kw):
    return pool(x, kernel, stride, padding, mode="lp", p=p, **kw)


def lse_pool(x, kernel, stride=None, padding="valid", **kw):
    return pool(x, kernel, stride, padding, mode="lse", **kw)


def weighted_avg_pool(x, kernel, stride=None, padding="valid", sigma=1.0, **kw):
    return pool(x, kernel, stride, padding, mode="weighted", sigma=sigma, **kw)


@layer("gpool")
def global_pool(ctx, x, mode="avg"):
    """Global pooling over all spatial axes: ``mode`` avg | max | lp."""
    ops = {"avg": "GlobalAveragePool", "max": "GlobalMaxPool", "lp": "GlobalLpPool"}
    if mode not in ops:
        raise CnncError(f"global pool mode must be one of {', '.join(ops)}, got {mode!r}")
    _spatial(x)
    return ctx.op(ops[mode], [x])


def global_avg_pool(x, **kw):
    return global_pool(x, "avg", **kw)


def global_max_pool(x, **kw):
    return global_pool(x, "max", **kw)


@layer("spp")
def spatial_pyramid_pool(ctx, x, levels=(1, 2, 4), mode="max"):
    """Spatial pyramid pooling: a fixed-length (N, C * sum(l**nd)) vector for any input size."""
    return ctx.op("SpatialPyramidPool", [x], {"levels": tuple(levels), "mode": mode})


@layer("roipool")
def roi_pool(ctx, x, rois, pooled_shape, spatial_scale=1.0):
    """Fast R-CNN RoI max pooling; ``rois`` is a Tensor or array of (batch, x1, y1, x2, y2)."""
    r = rois if isinstance(rois, Tensor) else ctx.const(rois, "rois")
    return ctx.op("MaxRoiPool", [x, r], {"pooled_shape": _per_axis(pooled_shape, 2, "pooled_shape"),
                                         "spatial_scale": spatial_scale})


# ----------------------------------------------------------------------------- activations
@layer("act")
def activation(ctx, x, kind: str):
    """Apply an activation by name (see ``ACTIVATIONS``)."""
    return activate(ctx, x, kind)


def _act(kind):
    def f(x, **kw):
        return activation(x, kind, **kw)
    f.__name__ = kind
    f.__doc__ = f"{ACTIVATIONS[kind][0]} activation."
    return f


relu, relu6, sigmoid, tanh, hard_sigmoid, hard_swish, silu, gelu, elu, mish = map(
    _act, ("relu", "relu6", "sigmoid", "tanh", "hard_sigmoid", "hard_swish", "silu", "gelu", "elu", "mish"))


@layer("leaky_relu")
def leaky_relu(ctx, x, alpha=0.01):
    return ctx.op("LeakyRelu", [x], {"alpha": alpha})


@layer("prelu")
def prelu(ctx, x, init=0.25):
    """PReLU with one learned slope per channel (shape (C, 1, ...))."""
    shape = (x.shape[1],) + (1,) * (len(x.shape) - 2)
    slope = np.full(shape, init, np.float32) if np.isscalar(init) else init
    return ctx.op("PRelu", [x, weight(ctx, slope, shape, "slope")])


@layer("clip")
def clip(ctx, x, min=None, max=None):  # noqa: A002
    return ctx.op("Clip", [x], {"min": min, "max": max})


@layer("softmax")
def softmax(ctx, x, axis=-1):
    return ctx.op("Softmax", [x], {"axis": axis})


@layer("log_softmax")
def log_softmax(ctx, x, axis=-1):
    return ctx.op("LogSoftmax", [x], {"axis": axis})


# ----------------------------------------------------------------------------- normalization
def _channel_params(ctx, c, given: dict, defaults: dict) -> list[Tensor]:
    """Per-channel (C,) parameters: the given arrays, else constants of the default."""
    return [weight(ctx, np.full(c, dflt, np.float32) if given[k] is None else given[k], (c,), k)
            for k, dflt in defaults.items()]


@layer("bn")
def batch_norm(ctx, x, eps=1e-5, scale=None, bias=None, mean=None, var=None, random_stats=False):
    """Inference batch normalization. Parameters not given default to the identity
    (1, 0, 0, 1), or with ``random_stats=True`` to stand-ins for trained values drawn from
    the model's rng (scale, var ~ U(0.5, 1.5); bias, mean ~ N(0, 0.1^2)), so that a model
    with untrained weights still exercises every term of the normalization."""
    c = x.shape[1]
    given = dict(scale=scale, bias=bias, mean=mean, var=var)
    if random_stats:
        draw = {"scale": lambda: ctx.rng.uniform(0.5, 1.5, c), "bias": lambda: ctx.rng.normal(0, 0.1, c),
                "mean": lambda: ctx.rng.normal(0, 0.1, c), "var": lambda: ctx.rng.uniform(0.5, 1.5, c)}
        given = {k: draw[k]() if v is None else v for k, v in given.items()}
    params = _channel_params(ctx, c, given, dict(scale=1.0, bias=0.0, mean=0.0, var=1.0))
    return ctx.op("BatchNormalization", [x, *params], {"epsilon": eps})


@layer("in")
def instance_norm(ctx, x, eps=1e-5, scale=None, bias=None):
    params = _channel_params(ctx, x.shape[1], dict(scale=scale, bias=bias), dict(scale=1.0, bias=0.0))
    return ctx.op("InstanceNormalization", [x, *params], {"epsilon": eps})


@layer("gn")
def group_norm(ctx, x, groups: int, eps=1e-5, scale=None, bias=None):
    params = _channel_params(ctx, x.shape[1], dict(scale=scale, bias=bias), dict(scale=1.0, bias=0.0))
    return ctx.op("GroupNormalization", [x, *params], {"num_groups": groups, "epsilon": eps})


@layer("ln")
def layer_norm(ctx, x, axis=-1, eps=1e-5, scale=None, bias=None):
    """Layer normalization over axes ``axis..`` (scale and bias of that trailing shape)."""
    ax = axis % len(x.shape)
    shape = x.shape[ax:]
    s = weight(ctx, np.ones(shape, np.float32) if scale is None else scale, shape, "scale")
    b = weight(ctx, np.zeros(shape, np.float32) if bias is None else bias, shape, "bias")
    return ctx.op("LayerNormalization", [x, s, b], {"axis": axis, "epsilon": eps})


@layer("lrn")
def lrn(ctx, x, size=5, alpha=1e-4, beta=0.75, bias=1.0):
    """Local response normalization across channels (AlexNet)."""
    return ctx.op("LRN", [x], {"size": size, "alpha": alpha, "beta": beta, "bias": bias})


# ----------------------------------------------------------------------------- dense & shape
@layer("dense")
def dense(ctx, x, units: int, bias=True, init="xavier", activation=None):
    """Fully connected layer on an (N, features) input: ``x @ W.T + b``, W is (units, features)."""
    if len(x.shape) != 2:
        raise ShapeError(f"dense expects an (N, features) input, got shape {x.shape}; "
                         "flatten it first")
    w = weight(ctx, init, (units, x.shape[1]))
    y = ctx.op("Gemm", [x, w, *_bias(ctx, bias, units)], {"transB": 1})
    return activate(ctx, y, activation)


@layer("flatten")
def flatten(ctx, x, axis=1):
    return ctx.op("Flatten", [x], {"axis": axis})


@layer("reshape")
def reshape(ctx, x, shape):
    return ctx.op("Reshape", [x], {"shape": tuple(shape)})


@layer("transpose")
def transpose(ctx, x, perm):
    return ctx.op("Transpose", [x], {"perm": tuple(perm)})


@layer("concat")
def concat(ctx, xs, axis=1):
    """Concatenate tensors along ``axis`` (channels by default, as DenseNet does)."""
    return ctx.op("Concat", list(xs), {"axis": axis})


@layer("split")
def split(ctx, x, parts, axis=1):
    """Split into ``parts`` equal pieces, or pieces of the given sizes (a sequence)."""
    attrs = {"axis": axis, **({"num_outputs": parts} if isinstance(parts, int) else {"split": tuple(parts)})}
    return ctx.op("Split", [x], attrs, outputs=True)


@layer("add")
def add(ctx, *xs):
    """Elementwise sum of two or more tensors (the residual connection)."""
    xs = xs[0] if len(xs) == 1 else xs
    return ctx.op("Add" if len(xs) == 2 else "Sum", list(xs))


@layer("dropout")
def dropout(ctx, x, rate=0.5):
    """Dropout: the identity at inference (kept so exported graphs match training code)."""
    return ctx.op("Dropout", [x], {"ratio": rate})


@layer("resize")
def resize(ctx, x, scale=None, size=None, mode="nearest", coordinate_mode=None):
    """Resize the spatial axes by ``scale`` (number or per-axis) or to ``size``."""
    nd = _spatial(x)
    attrs = {"mode": mode, "axes": tuple(range(2, 2 + nd))}
    if (scale is None) == (size is None):
        raise CnncError("resize takes exactly one of scale= or size=")
    if scale is not None:
        attrs["scales"] = tuple(float(s) for s in ((scale,) * nd if np.isscalar(scale) else scale))
    else:
        attrs["sizes"] = _per_axis(size, nd, "size")
    if coordinate_mode is not None:
        attrs["coordinate_transformation_mode"] = coordinate_mode
    return ctx.op("Resize", [x], attrs)


def upsample(x, factor=2, mode="nearest", **kw):
    return resize(x, scale=factor, mode=mode, **kw)


@layer("pad")
def pad(ctx, x, pads, mode="constant", value=0.0):
    """Pad every axis by ``pads`` = (begin..., end...)."""
    return ctx.op("Pad", [x], {"pads": tuple(pads), "mode": mode, "value": value})


@layer("reduce")
def reduce(ctx, x, op="mean", axes=None, keepdims=True):
    """ReduceMean/Sum/Max/... over ``axes`` (all when None)."""
    ops = {"mean": "ReduceMean", "sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin",
           "l2": "ReduceL2", "logsumexp": "ReduceLogSumExp"}
    if op not in ops:
        raise CnncError(f"reduce op must be one of {', '.join(ops)}, got {op!r}")
    attrs = {"keepdims": int(keepdims), **({} if axes is None else {"axes": tuple(axes)})}
    return ctx.op(ops[op], [x], attrs)
