"""ResNet — He, Zhang, Ren & Sun (2016), "Deep residual learning for image recognition",
CVPR (arXiv 2015).

The ImageNet ResNet built from *basic blocks* (two 3x3 convs and an identity shortcut,
Fig. 2 of the paper); ``layers=(2, 2, 2, 2)`` is ResNet-18, ``(3, 4, 6, 3)`` ResNet-34:

    stem    conv 7x7/2 (64) - BN - ReLU - max pool 3x3/2
    stage i layers[i] basic blocks of width * 2**i filters; the first block of stages 2-4
            has stride 2, and its shortcut is a 1x1 strided conv + BN (the paper's option B
            projection) because the shapes no longer match
    head    global average pool - dense (classes) - softmax

Every conv is followed by batch normalization, so the convs have no bias.  The BN layers
get random running statistics standing in for trained ones (identity statistics would make
them no-ops and hide them from anyone checking that BN is folded correctly).

What it demonstrates: a residual network written as a stem, one ``basic_block`` helper
and a loop over stages, with the residual ``nn.add``.  The default input is 64x64 (an
ImageNet model on small images: the stages see 16, 8, 4 and 2 pixels) so the numpy
reference runs it quickly; any ``image_size`` divisible by 32 gives the same topology.

    cnnc run examples/resnet.py
    python examples/resnet.py
"""
import numpy as np

import cnnc
import cnnc.dsl as nn


def bn(x, name):
    """Inference batch norm with random stand-ins for trained scale, shift and statistics."""
    return nn.batch_norm(x, random_stats=True, name=name)


def basic_block(x, filters: int, stride: int, name: str):
    """conv3x3/stride - BN - ReLU - conv3x3 - BN, plus the shortcut, then ReLU."""
    y = nn.conv(x, filters, 3, stride=stride, padding=1, bias=False, name=f"{name}_conv1")
    y = nn.relu(bn(y, f"{name}_bn1"), name=f"{name}_relu1")
    y = bn(nn.conv(y, filters, 3, padding=1, bias=False, name=f"{name}_conv2"), f"{name}_bn2")
    if stride != 1 or x.shape[1] != filters:
        x = nn.conv(x, filters, 1, stride=stride, bias=False, name=f"{name}_proj")
        x = bn(x, f"{name}_proj_bn")
    return nn.relu(nn.add(x, y, name=f"{name}_add"), name=f"{name}_out")


def build(batch: int = 1, image_size: int = 64, layers=(2, 2, 2, 2), width: int = 64,
          classes: int = 1000, seed: int = 0) -> cnnc.Graph:
    """A basic-block ResNet on (batch, 3, image_size, image_size); outputs ``probs``."""
    m = nn.Model(f"resnet{2 + 2 * sum(layers)}", seed=seed)
    x = m.input("image", (batch, 3, image_size, image_size))

    x = nn.conv(x, width, 7, stride=2, padding=3, bias=False, name="stem_conv")
    x = nn.relu(bn(x, "stem_bn"), name="stem_relu")
    x = nn.max_pool(x, 3, stride=2, padding=1, name="stem_pool")

    for stage, blocks in enumerate(layers):
        for b in range(blocks):
            stride = 2 if stage > 0 and b == 0 else 1
            x = basic_block(x, width * 2 ** stage, stride, name=f"layer{stage + 1}_{b}")

    x = nn.flatten(nn.global_avg_pool(x, name="avgpool"), name="flatten")
    m.output(nn.softmax(nn.dense(x, classes, name="fc"), name="softmax"), "probs")
    return m.build()


def main():
    g = build()
    model = cnnc.compile(g, target="reference")
    image = np.random.default_rng(0).standard_normal((1, 3, 64, 64), dtype=np.float32)
    probs = model.run({"image": image})["probs"]
    print(f"{g.name}: {len(g)} nodes, {sum(n.op == 'Conv' for n in g.nodes())} convs; "
          "residual adds:")
    for node in g.nodes():
        if node.op == "Add":
            print(f"  {node.label:14s} -> {node.types[0]}")
    print(f"  output probs: {probs.dtype}{list(probs.shape)}, sum={probs.sum():.6f}, "
          f"argmax={int(probs[0].argmax())}")


if __name__ == "__main__":
    main()
