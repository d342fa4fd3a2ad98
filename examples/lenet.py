"""LeNet-5 — LeCun, Bottou, Bengio & Haffner (1998), "Gradient-based learning applied to
document recognition", Proc. IEEE 86(11).

The digit classifier that started convolutional networks, layer for layer as in Fig. 2 of
the paper: MNIST's 28x28 digits padded by 2 to the paper's 32x32 input, then

    C1  conv 6@5x5        -> 6@28x28      S2  2x2 average pool -> 6@14x14
    C3  conv 16@5x5       -> 16@10x10     S4  2x2 average pool -> 16@5x5
    C5  conv 120@5x5      -> 120@1x1      (a conv that sees the whole map: a dense layer)
    F6  dense 84, then a 10-way output with softmax.

Two modern simplifications, as most re-implementations make them: C3 connects every
input map (the paper's sparse connection table is left out), and the output is a softmax
instead of the paper's Euclidean RBF units.  ``activation`` picks tanh (the paper's
squashing function, without its 1.7159 scale) or relu; ``pool`` picks the paper's average
subsampling (without its trainable coefficient) or max pooling.

What it demonstrates: :class:`cnnc.dsl.Sequential` — a plain stack of layers written as
one ``add`` per layer, each layer named after the paper (C1, S2, ...), so a shape error
names the layer and the line of its ``add``.

    cnnc run examples/lenet.py
    python examples/lenet.py
"""
import numpy as np

import cnnc
import cnnc.dsl as nn


def build(batch: int = 1, classes: int = 10, activation: str = "tanh", pool: str = "avg",
          seed: int = 0) -> cnnc.Graph:
    """LeNet-5 on (batch, 1, 28, 28) digits; the output ``probs`` is (batch, classes)."""
    net = nn.Sequential("lenet5", (batch, 1, 28, 28), input_name="digits", output_name="probs",
                        seed=seed)
    (net.add(nn.conv, 6, 5, padding=2, activation=activation, name="C1")   # 28x28 -> 32x32 -> 28x28
        .add(nn.pool, 2, mode=pool, name="S2")
        .add(nn.conv, 16, 5, activation=activation, name="C3")
        .add(nn.pool, 2, mode=pool, name="S4")
        .add(nn.conv, 120, 5, activation=activation, name="C5")
        .add(nn.flatten, name="flatten")
        .add(nn.dense, 84, activation=activation, name="F6")
        .add(nn.dense, classes, name="output")
        .add(nn.softmax, name="softmax"))
    return net.build()


def digit_one(batch: int = 1) -> np.ndarray:
    """A deterministic stand-in for an MNIST "1": a slanted bright stroke on black."""
    img = np.zeros((batch, 1, 28, 28), np.float32)
    rows = np.arange(5, 23)
    img[:, 0, rows, 14 + (22 - rows) // 6] = 1.0
    return img


def main():
    g = build()
    model = cnnc.compile(g, target="reference")
    probs = model.run({"digits": digit_one()})["probs"]
    print(f"{g.name}: {len(g)} nodes")
    print(f"  output probs: {probs.dtype}{list(probs.shape)}, sum={probs.sum():.6f}")
    print("  class probabilities (random weights, so no real prediction):")
    print("   ", " ".join(f"{i}:{p:.3f}" for i, p in enumerate(probs[0])))
    print(f"  argmax = {int(probs[0].argmax())}")


if __name__ == "__main__":
    main()
