"""AlexNet — Krizhevsky, Sutskever & Hinton (2012), "ImageNet classification with deep
convolutional neural networks", NeurIPS.

The network that won ILSVRC-2012, with the features that set it apart in its day:

* ReLU after every conv and hidden dense layer;
* local response normalization (LRN: size 5, alpha 1e-4, beta 0.75, k 2) after conv1 and
  conv2 (Section 3.3);
* overlapping max pooling, 3x3 windows with stride 2 (Section 3.4);
* grouped convolutions, ``groups=2``: the network was split over two GPUs, and conv2, conv4
  and conv5 only see the maps on their own GPU (conv3 and the dense layers see both);
* dropout 0.5 before the two 4096-wide dense layers (the identity at inference, kept so
  the graph mirrors the training code).

Layout (``width=1``): 227x227 input (the paper's "224" does not add up with an 11x11,
stride-4 conv; 227 does) -> conv1 96@11x11/4 -> 55 -> pool 27 -> conv2 256@5x5 -> pool 13
-> conv3 384@3x3 -> conv4 384@3x3 -> conv5 256@3x3 -> pool 6 -> 9216 -> 4096 -> 4096 ->
1000-way softmax.  The real network has 61 M weights; ``width`` scales every channel count
and the dense widths (keeping each even, for the two groups) so the default runs in well
under a second on the numpy reference — the topology, kernels, strides and groups are
unchanged.  ``build(width=1.0)`` is the full-size model (a few seconds, most of them
drawing its random weights).

    cnnc run examples/alexnet.py
    python examples/alexnet.py
"""
import numpy as np

import cnnc
import cnnc.dsl as nn

# Section 3.3: k = 2, n = 5, alpha = 1e-4, beta = 0.75.  The paper multiplies the plain sum
# of squares by alpha; ONNX's LRN (and cnnc's) multiplies by alpha / size, hence n * alpha.
LRN = dict(size=5, alpha=5 * 1e-4, beta=0.75, bias=2.0)


def build(batch: int = 1, image_size: int = 227, classes: int = 1000, width: float = 0.25,
          seed: int = 0) -> cnnc.Graph:
    """AlexNet on (batch, 3, image_size, image_size); outputs ``probs`` (batch, classes)."""
    def ch(n):  # scaled channel count, a positive multiple of the two groups
        return max(2, 2 * round(n * width / 2))

    m = nn.Model("alexnet", seed=seed)
    x = m.input("image", (batch, 3, image_size, image_size))

    x = nn.conv(x, ch(96), 11, stride=4, activation="relu", name="conv1")
    x = nn.lrn(x, **LRN, name="norm1")
    x = nn.max_pool(x, 3, stride=2, name="pool1")

    x = nn.conv(x, ch(256), 5, padding=2, groups=2, activation="relu", name="conv2")
    x = nn.lrn(x, **LRN, name="norm2")
    x = nn.max_pool(x, 3, stride=2, name="pool2")

    x = nn.conv(x, ch(384), 3, padding=1, activation="relu", name="conv3")
    x = nn.conv(x, ch(384), 3, padding=1, groups=2, activation="relu", name="conv4")
    x = nn.conv(x, ch(256), 3, padding=1, groups=2, activation="relu", name="conv5")
    x = nn.max_pool(x, 3, stride=2, name="pool5")

    x = nn.flatten(x, name="flatten")
    x = nn.dropout(x, 0.5, name="drop6")
    x = nn.dense(x, ch(4096), activation="relu", name="fc6")
    x = nn.dropout(x, 0.5, name="drop7")
    x = nn.dense(x, ch(4096), activation="relu", name="fc7")
    x = nn.dense(x, classes, name="fc8")
    m.output(nn.softmax(x, name="softmax"), "probs")
    return m.build()


def main():
    g = build()
    weights = sum(n.attrs["value"].size for n in g.nodes() if n.op == "Constant")
    model = cnnc.compile(g, target="reference")
    image = np.random.default_rng(0).random((1, 3, 227, 227), dtype=np.float32)
    probs = model.run({"image": image})["probs"]
    top5 = np.argsort(probs[0])[::-1][:5]
    print(f"{g.name}: {len(g)} nodes, {weights / 1e6:.2f} M weights "
          "(the full-size model, build(width=1.0), has 61 M)")
    print(f"  output probs: {probs.dtype}{list(probs.shape)}, sum={probs.sum():.6f}")
    print("  top-5 classes (random weights):", ", ".join(f"{c} ({probs[0, c]:.4f})" for c in top5))


if __name__ == "__main__":
    main()
