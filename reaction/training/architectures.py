"""smile-net architectures (MXNet Gluon), and their cost.

* ``smilenet``: the small modern design that ships. A 3x3 stem, then stages
  of depthwise-separable residual blocks with batch norm (MobileNet-v1 style
  units, ResNet shortcuts), global average pooling, dropout and a 2-way dense
  layer. All ops are plain Convolution/BatchNorm/Activation/Pooling/
  FullyConnected, which the DeepLens model optimiser handles.
* ``alexnet``: the original DeepLens design re-created for comparison, a
  5-conv + 2-dense AlexNet variant on 224x224 RGB (about 3.5 M parameters).

Both output 2 logits, smile = index 1; :class:`WithSoftmax` adds the softmax
for export. The exported graph's surgery is in :mod:`reaction.training.export`.
"""

import json
from typing import Dict, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet.gluon import nn


def _conv_bn(channels: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.HybridSequential:
    block = nn.HybridSequential()
    block.add(
        nn.Conv2D(channels, kernel, stride, kernel // 2, groups=groups, use_bias=False),
        nn.BatchNorm(),
        nn.Activation("relu"),
    )
    return block


def _shortcut(in_channels: int, channels: int, stride: int):
    """Identity (``None``), or avg-pool and/or 1x1 conv to match the block's output."""
    if stride == 1 and in_channels == channels:
        return None
    short = nn.HybridSequential()
    if stride != 1:
        short.add(nn.AvgPool2D(stride, stride, ceil_mode=True))
    if in_channels != channels:
        short.add(nn.Conv2D(channels, 1, use_bias=False), nn.BatchNorm())
    return short


def _residual(F, body, x, short):
    return F.Activation(body + (x if short is None else short(x)), act_type="relu")


class SepBlock(nn.HybridBlock):
    """Depthwise 3x3 + pointwise 1x1 unit with an identity (or 1x1) shortcut."""

    def __init__(self, in_channels: int, channels: int, stride: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.body = nn.HybridSequential()
        self.body.add(
            nn.Conv2D(in_channels, 3, stride, 1, groups=in_channels, use_bias=False),
            nn.BatchNorm(),
            nn.Activation("relu"),
            nn.Conv2D(channels, 1, use_bias=False),
            nn.BatchNorm(),
        )
        self.short = _shortcut(in_channels, channels, stride)

    def hybrid_forward(self, F, x):
        return _residual(F, self.body(x), x, self.short)


class ResBlock(nn.HybridBlock):
    """ResNet basic block: two full 3x3 convolutions with batch norm and a shortcut.

    On MXNet's CPU (oneDNN) full 3x3 convolutions run faster per multiply-add
    than depthwise ones, which are memory-bound; see the model card.
    """

    def __init__(self, in_channels: int, channels: int, stride: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.body = nn.HybridSequential()
        self.body.add(
            nn.Conv2D(channels, 3, stride, 1, use_bias=False),
            nn.BatchNorm(),
            nn.Activation("relu"),
            nn.Conv2D(channels, 3, 1, 1, use_bias=False),
            nn.BatchNorm(),
        )
        self.short = _shortcut(in_channels, channels, stride)

    def hybrid_forward(self, F, x):
        return _residual(F, self.body(x), x, self.short)


BLOCKS = {"sep": SepBlock, "res": ResBlock}


class SmileNetBlock(nn.HybridBlock):
    """Small residual CNN; ``widths`` per stage, each stage after the first halves the size.

    ``block``: ``"sep"`` (depthwise-separable) or ``"res"`` (two full 3x3 convs).
    """

    def __init__(
        self,
        widths: Sequence[int] = (32, 64, 128, 256),
        depth: int = 2,
        dropout: float = 0.2,
        block: str = "sep",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.features = nn.HybridSequential()
        self.features.add(_conv_bn(widths[0], 3))
        prev = widths[0]
        for i, w in enumerate(widths):
            for j in range(depth):
                stride = 2 if j == 0 and i > 0 else 1
                self.features.add(BLOCKS[block](prev, w, stride))
                prev = w
        self.features.add(nn.GlobalAvgPool2D(), nn.Flatten())
        self.drop = nn.Dropout(dropout) if dropout else None
        self.output = nn.Dense(2)

    def hybrid_forward(self, F, x):
        x = self.features(x)
        if self.drop is not None:
            x = self.drop(x)
        return self.output(x)


class AlexNet224(nn.HybridBlock):
    """AlexNet variant like the original DeepLens smile model (224x224 RGB in)."""

    def __init__(self, dropout: float = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.features = nn.HybridSequential()
        self.features.add(
            nn.Conv2D(64, 11, 4, 2, activation="relu"),
            nn.MaxPool2D(3, 2),
            nn.Conv2D(192, 5, padding=2, activation="relu"),
            nn.MaxPool2D(3, 2),
            nn.Conv2D(384, 3, padding=1, activation="relu"),
            nn.Conv2D(256, 3, padding=1, activation="relu"),
            nn.Conv2D(256, 3, padding=1, activation="relu"),
            nn.MaxPool2D(3, 2),
            nn.Flatten(),
            nn.Dense(110, activation="relu"),
            nn.Dropout(dropout),
        )
        self.output = nn.Dense(2)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


class WithSoftmax(nn.HybridBlock):
    """Wraps a logits network so the exported graph outputs class probabilities."""

    def __init__(self, net: nn.HybridBlock, **kwargs) -> None:
        super().__init__(**kwargs)
        self.net = net

    def hybrid_forward(self, F, x):
        return F.softmax(self.net(x), axis=1)


def build(arch: str, **kwargs) -> nn.HybridBlock:
    """A fresh network by name (see :data:`ARCHS`)."""
    if arch == "smilenet":
        return SmileNetBlock(**kwargs)
    if arch == "alexnet":
        return AlexNet224(**kwargs)
    raise ValueError("unknown architecture {}".format(arch))


def cost(net: nn.HybridBlock, shape: Tuple[int, int, int, int]) -> Dict[str, int]:
    """Parameter count and multiply-adds per input of ``shape`` (N ignored).

    Counts Convolution and FullyConnected layers from the symbolic graph's
    inferred shapes; batch norm, pooling and activations are not counted
    (they are a few percent and fold into the convolutions at deployment).
    """
    sym = net(mx.sym.var("data"))
    internals = sym.get_internals()
    _, out_shapes, _ = internals.infer_shape(data=(1,) + tuple(shape[1:]))
    outputs = dict(zip(internals.list_outputs(), out_shapes))
    arg_shapes, _, _ = sym.infer_shape(data=(1,) + tuple(shape[1:]))
    weights = dict(zip(sym.list_arguments(), arg_shapes))
    params = sum(int(np.prod(s)) for n, s in weights.items() if n != "data")
    macs = 0
    nodes = json.loads(sym.tojson())["nodes"]
    for node in nodes:
        if node["op"] not in ("Convolution", "FullyConnected"):
            continue
        # Weight is (out, in/groups, kh, kw) or (out, in): one MAC per weight per output pixel.
        per_pixel = int(np.prod(weights[nodes[node["inputs"][1][0]]["name"]]))
        out = outputs[node["name"] + "_output"]
        pixels = int(np.prod(out[2:])) if node["op"] == "Convolution" else 1
        macs += per_pixel * pixels
    return {"params": params, "macs": macs}
