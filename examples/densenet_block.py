"""A DenseNet dense block and transition layer — Huang, Liu, van der Maaten & Weinberger
(2017), "Densely connected convolutional networks", CVPR.

Inside a dense block every layer receives the feature maps of *all* preceding layers,
concatenated along the channels, and adds ``growth`` (the growth rate k) new maps of its
own; after ``layers`` layers the block holds ``c0 + layers * k`` channels.  Each layer is
the DenseNet-B bottleneck, in pre-activation order:

    BN - ReLU - conv 1x1 (4k maps) - BN - ReLU - conv 3x3 (k maps), concatenated to its input

A transition layer then shrinks the block between two resolutions: BN - ReLU - conv 1x1
keeping ``compression`` of the channels (DenseNet-C, theta = 0.5) - 2x2 average pool.
(The paper lists BN, 1x1 conv and pooling; its reference code also applies the ReLU.)

The block here sits on a DenseNet-BC CIFAR stem (one 3x3 conv to 2k maps), so the graph
maps an RGB image (batch, 3, 32, 32) to the transition's (batch, 48, 16, 16) with the
defaults k = 12, 6 layers: 24 + 6 * 12 = 96 channels, compressed to 48.

What it demonstrates: concat along channels (``nn.concat``), a ``dense_layer`` helper
and a loop.  As in the ResNet example, the BN layers get random stand-ins for trained
statistics so they are not no-ops.

    cnnc run examples/densenet_block.py
    python examples/densenet_block.py
"""
import numpy as np

import cnnc
import cnnc.dsl as nn


def bn_relu(x, name):
    """BN (random stand-ins for trained scale, shift and statistics) followed by ReLU."""
    x = nn.batch_norm(x, random_stats=True, name=f"{name}_bn")
    return nn.relu(x, name=f"{name}_relu")


def dense_layer(x, growth: int, name: str):
    """The bottleneck layer: ``growth`` new maps, concatenated after the ones it was given."""
    y = nn.conv(bn_relu(x, f"{name}_1"), 4 * growth, 1, bias=False, name=f"{name}_conv1")
    y = nn.conv(bn_relu(y, f"{name}_2"), growth, 3, padding=1, bias=False, name=f"{name}_conv2")
    return nn.concat([x, y], axis=1, name=f"{name}_concat")


def transition(x, compression: float, name: str):
    """BN - ReLU - conv 1x1 to ``compression`` of the channels - 2x2 average pool."""
    x = nn.conv(bn_relu(x, name), int(x.shape[1] * compression), 1, bias=False, name=f"{name}_conv")
    return nn.avg_pool(x, 2, name=f"{name}_pool")


def build(batch: int = 1, image_size: int = 32, layers: int = 6, growth: int = 12,
          compression: float = 0.5, seed: int = 0) -> cnnc.Graph:
    """Stem, one dense block and a transition; outputs ``features``."""
    m = nn.Model("densenet_block", seed=seed)
    x = m.input("image", (batch, 3, image_size, image_size))
    x = nn.conv(x, 2 * growth, 3, padding=1, bias=False, name="stem")
    for i in range(layers):
        x = dense_layer(x, growth, name=f"dense{i + 1}")
    m.output(transition(x, compression, name="transition"), "features")
    return m.build()


def main():
    g = build()
    model = cnnc.compile(g, target="reference")
    image = np.random.default_rng(0).standard_normal((1, 3, 32, 32), dtype=np.float32)
    features = model.run({"image": image})["features"]
    print(f"{g.name}: {len(g)} nodes")
    print("  channels after each dense layer:",
          ", ".join(str(n.types[0].shape[1]) for n in g.nodes() if n.op == "Concat"))
    print(f"  output features: {features.dtype}{list(features.shape)} "
          f"mean={features.mean():.4f} std={features.std():.4f}")


if __name__ == "__main__":
    main()
