"""Dilated context module + spatial pyramid pooling.

* Yu & Koltun (2016), "Multi-scale context aggregation by dilated convolutions", ICLR:
  a stack of 3x3 convolutions with exponentially growing dilation (here 1, 2, 4) keeps
  the resolution while the receptive field grows exponentially — 3 + 2 * (1 + 2 + 4) = 17
  pixels after the stem with the defaults, for the weights of three ordinary 3x3 convs.
  As in the paper's context module every layer keeps C channels, is followed by ReLU, the
  module ends in a 1x1 conv, and the layers are *identity-initialized* (random
  initialization trained poorly there): each starts out passing its input through, plus
  a little noise so the filters differ.
* He, Zhang, Ren & Sun (2014), "Spatial pyramid pooling in deep convolutional networks
  for visual recognition", ECCV: max pooling over a 1x1, 2x2 and 4x4 grid of bins that
  cover the whole map, whatever its size, gives a fixed-length (N, C * (1 + 4 + 16))
  vector — so a dense layer can follow a conv stack fed with images of any size.

What it demonstrates: dilated convs with ``padding="same"``, a callable initializer
(``init=identity_init``), ``nn.spatial_pyramid_pool``, and one model definition built for
two input sizes that gives outputs of the same length (and, the model being seeded and its
weight shapes independent of the input size, the very same weights).

    cnnc run examples/dilated_spp.py
    python examples/dilated_spp.py
"""
import numpy as np

import cnnc
import cnnc.dsl as nn


def identity_init(shape, rng, noise: float = 0.01):
    """Yu & Koltun's identity initialization plus N(0, noise^2), so the filters differ."""
    return (nn.init.identity(shape) + rng.normal(0.0, noise, shape)).astype(np.float32)


def context_module(x, dilations, name: str = "context"):
    """3x3 convs with the given dilations (resolution kept), then a 1x1 conv; ReLU after each."""
    c = x.shape[1]
    for d in dilations:
        x = nn.conv(x, c, 3, dilation=d, padding="same", init=identity_init, activation="relu",
                    name=f"{name}_d{d}")
    return nn.conv(x, c, 1, init=identity_init, activation="relu", name=f"{name}_out")


def build(batch: int = 1, height: int = 48, width: int = 64, channels: int = 16,
          dilations=(1, 2, 4), levels=(1, 2, 4), classes: int = 10, seed: int = 0) -> cnnc.Graph:
    """Stem conv, context module, SPP; outputs ``features`` (batch, channels * sum(l*l))
    and ``logits`` (batch, classes) for an input of any ``height`` x ``width``."""
    m = nn.Model(f"dilated_spp_{height}x{width}", seed=seed)
    x = m.input("image", (batch, 3, height, width))
    x = nn.conv(x, channels, 3, padding="same", activation="relu", name="stem")
    x = context_module(x, dilations)
    features = nn.spatial_pyramid_pool(x, levels, mode="max", name="spp")
    m.output(features, "features")
    m.output(nn.dense(features, classes, name="fc"), "logits")
    return m.build()


def main():
    rng = np.random.default_rng(0)
    graphs, lengths = [], []
    for h, w in [(48, 64), (37, 91)]:
        g = build(height=h, width=w)
        image = rng.random((1, 3, h, w), dtype=np.float32)
        outs = cnnc.compile(g, target="reference").run({"image": image})
        f, logits = outs["features"], outs["logits"]
        graphs.append(g)
        lengths.append(f.shape[1])
        print(f"{g.name}: input (1, 3, {h}, {w}) -> features {list(f.shape)}, "
              f"logits {list(logits.shape)}, argmax {int(logits[0].argmax())}")
    weights = [[n.attrs["value"] for n in g.nodes() if n.op == "Constant"] for g in graphs]
    same = all(np.array_equal(a, b) for a, b in zip(*weights))
    print(f"  feature lengths {lengths}: {'equal' if len(set(lengths)) == 1 else 'DIFFERENT'}; "
          f"weights of the two graphs {'identical' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
