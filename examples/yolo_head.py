"""A YOLO detection head — Redmon, Divvala, Girshick & Farhadi (2016), "You only look once:
unified, real-time object detection", CVPR.

YOLO v1 divides the image into an S x S grid and, in one forward pass, predicts for every
grid cell B boxes and one class distribution.  The network ends in a tensor of shape
``(N, S, S, B*5 + C)``; for the cell in grid row ``i`` and column ``j`` the last axis is

    [x, y, w, h, conf] for box 0, ..., [x, y, w, h, conf] for box B-1, p_1, ..., p_C

* ``x, y``: the box centre, relative to the cell's bounds (0..1 inside the cell);
* ``w, h``: the box size, relative to the whole image;
* ``conf``: Pr(object) * IoU(predicted box, true box);
* ``p_c``: Pr(class c | object), one distribution per cell, shared by its B boxes.

At test time a box's score for class c is ``conf * p_c`` (see :func:`decode`).  With the
paper's S = 7, B = 2, C = 20 (PASCAL VOC) that is 7 x 7 x 30.  (Darknet's own 1470-long
output vector orders the same numbers differently: all cells' class probabilities, then all
confidences, then all boxes; this example uses the paper's tensor layout.)

The backbone is a small stand-in for the paper's 24 convs: 3x3 conv + 2x2 max pool stages
with leaky ReLU (slope 0.1, as in the paper) and one of the paper's 1x1 reduction + 3x3
pairs, downsampling the (N, 3, 16S, 16S) image to an S x S map.  Two heads:

* ``head="dense"`` — the paper's: flatten, dense + leaky ReLU, dropout, a linear dense of
  S*S*(B*5+C) units, reshaped to (N, S, S, B*5+C);
* ``head="conv"`` — a 1x1 conv with B*5+C filters on the S x S map (the fully
  convolutional head of later YOLOs), transposed from NCHW to (N, S, S, B*5+C).

    cnnc run examples/yolo_head.py
    python examples/yolo_head.py
"""
import numpy as np

import cnnc
import cnnc.dsl as nn


def backbone(x, width: int):
    """Four conv3x3 + maxpool stages (/16), then a 1x1 reduction and a 3x3 conv."""
    for i in range(4):
        x = nn.conv(x, width * 2 ** i, 3, padding="same", activation="leaky_relu",
                    name=f"conv{i + 1}")
        x = nn.max_pool(x, 2, name=f"pool{i + 1}")
    x = nn.conv(x, width * 4, 1, activation="leaky_relu", name="reduce")
    return nn.conv(x, width * 8, 3, padding="same", activation="leaky_relu", name="conv5")


def build(batch: int = 1, S: int = 7, B: int = 2, C: int = 20, width: int = 16,
          head: str = "dense", hidden: int = 256, seed: int = 0) -> cnnc.Graph:
    """Backbone + YOLO head on a (batch, 3, 16S, 16S) image; outputs ``predictions``
    (batch, S, S, B*5+C)."""
    depth = B * 5 + C
    m = nn.Model(f"yolo_{head}_head", seed=seed)
    x = backbone(m.input("image", (batch, 3, 16 * S, 16 * S)), width)
    if head == "dense":
        x = nn.dense(nn.flatten(x), hidden, activation="leaky_relu", name="fc1")
        x = nn.dense(nn.dropout(x, 0.5), S * S * depth, name="fc2")
        y = nn.reshape(x, (batch, S, S, depth), name="grid")
    elif head == "conv":
        x = nn.conv(x, depth, 1, name="detect")
        y = nn.transpose(x, (0, 2, 3, 1), name="grid")
    else:
        raise cnnc.CnncError(f"head must be 'dense' or 'conv', got {head!r}")
    m.output(y, "predictions")
    return m.build()


def decode(pred: np.ndarray, B: int, C: int):
    """One image's (S, S, B*5+C) predictions -> per box: centre, size (image fractions),
    best class and its score ``conf * p_class``; arrays of shape (S, S, B)."""
    S = pred.shape[0]
    boxes = pred[..., :5 * B].reshape(S, S, B, 5)
    scores = boxes[..., 4:5] * pred[:, :, None, 5 * B:]          # (S, S, B, C)
    row, col = np.mgrid[0:S, 0:S]
    cx = (col[..., None] + boxes[..., 0]) / S
    cy = (row[..., None] + boxes[..., 1]) / S
    return {"cx": cx, "cy": cy, "w": boxes[..., 2], "h": boxes[..., 3],
            "cls": scores.argmax(-1), "score": scores.max(-1)}


def main():
    S, B, C = 7, 2, 20
    image = np.random.default_rng(0).random((1, 3, 16 * S, 16 * S), dtype=np.float32)
    for head in ("dense", "conv"):
        g = build(S=S, B=B, C=C, head=head)
        pred = cnnc.compile(g, target="reference").run({"image": image})["predictions"]
        print(f"{g.name}: {len(g)} nodes, output predictions: {pred.dtype}{list(pred.shape)} "
              f"= (N, S, S, B*5+C) with S={S}, B={B}, C={C}")
        print("  top-3 boxes (random weights, so not real detections):")
        d = decode(pred[0], B, C)
        best = np.argsort(d["score"], axis=None)[::-1][:3]
        for i, j, b in zip(*np.unravel_index(best, d["score"].shape)):
            box = {k: v[i, j, b] for k, v in d.items()}
            print(f"  cell ({i},{j}) box {b}: centre ({box['cx']:.2f}, {box['cy']:.2f}) "
                  f"size ({box['w']:.2f}, {box['h']:.2f}) class {box['cls']} "
                  f"score {box['score']:.3f}")


if __name__ == "__main__":
    main()
