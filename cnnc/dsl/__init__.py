"""Layer 3: the model-building DSL.

    import cnnc.dsl as nn
    m = nn.Model("tiny")
    x = m.input("image", (1, 3, 32, 32))
    y = nn.conv(x, 8, 3, padding="same", activation="relu")
    m.output(nn.global_avg_pool(y), "features")
    g = m.build()            # a verified cnnc.Graph
"""
from . import init
from .layers import (ACTIVATIONS, activation, add, avg_pool, batch_norm, clip, concat, conv,
                     conv_transpose, dense, depthwise_conv, dropout, elu, flatten,
                     gelu, global_avg_pool, global_max_pool, global_pool, group_norm, hard_sigmoid,
                     hard_swish, instance_norm, layer_norm, leaky_relu, local_conv, log_softmax,
                     lp_pool, lrn, lse_pool, max_pool, mish, pad, pool, prelu, reduce, relu, relu6,
                     reshape, resize, roi_pool, sigmoid, silu, softmax, spatial_pyramid_pool,
                     split, tanh, tiled_conv, transpose, upsample, weighted_avg_pool)
from .model import Model, Tensor, elementwise, layer
from .sequential import Sequential

__all__ = [
    "Model", "Tensor", "Sequential", "layer", "init", "ACTIVATIONS", "activation", "add",
    "avg_pool", "batch_norm", "clip", "concat", "conv", "conv_transpose", "dense",
    "depthwise_conv", "dropout", "elementwise", "elu", "flatten", "gelu", "global_avg_pool",
    "global_max_pool", "global_pool", "group_norm", "hard_sigmoid", "hard_swish",
    "instance_norm", "layer_norm", "leaky_relu", "local_conv", "log_softmax", "lp_pool", "lrn",
    "lse_pool", "max_pool", "mish", "pad", "pool", "prelu", "reduce", "relu", "relu6", "reshape",
    "resize", "roi_pool", "sigmoid", "silu", "softmax", "spatial_pyramid_pool", "split", "tanh",
    "tiled_conv", "transpose", "upsample", "weighted_avg_pool",
]
