"""smile-net architectures (MXNet Gluon), and their cost.

* ``smilenet``: the small modern design that ships. A 3x3 stem, then stages
  of depthwise-separable residual blocks with batch norm (MobileNet-v1 style
  units, ResNet shortcuts), global average pooling, dropout and a 2-way dense
  layer. All ops are plain Convolution/BatchNorm/Activation/Pooling/
  FullyConnected, which the DeepLens model optimiser handles.
* ``alexnet``: the original DeepLens design re-created for comparison, a
  5-conv + 2-dense AlexNet variant on 224x224 RGB (about 3.5 M parameters).

Both output 2 logits, smile = index 1; :class:`WithSoftmax` adds the softmax
for export.
"""
import json
from typing import Dict, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet.gluon import nn

ARCHS = ("smilenet", "alexnet")


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


class SmileNet(nn.HybridBlock):
    """Small residual CNN; ``widths`` per stage, each stage after the first halves the size.

    ``block``: ``"sep"`` (depthwise-separable) or ``"res"`` (two full 3x3 convs).
    """

    def __init__(
        self, widths: Sequence[int] = (32, 64, 128, 256), depth: int = 2,
        dropout: float = 0.2, block: str = "sep", **kwargs
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
        return SmileNet(**kwargs)
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


def fold_batchnorm(sym_path: str, params_path: str) -> int:
    """Fold every BatchNorm that directly follows a Convolution into that convolution.

    Rewrites the exported symbol + params pair in place for inference:
    ``W' = W * g / sqrt(var + eps)``, ``b' = beta + (b - mean) * g / sqrt(var + eps)``.
    The graph keeps only standard ops and loses a third of its nodes, which
    is what the per-op overhead of MXNet on small inputs is spent on.
    Returns the number of folded layers.
    """
    sym = mx.sym.load(sym_path)
    nodes = json.loads(sym.tojson())["nodes"]
    saved = mx.nd.load(params_path)
    params = {k.split(":", 1)[1]: v.asnumpy() for k, v in saved.items()}
    users: Dict[int, int] = {}
    for node in nodes:
        for src in node.get("inputs", []):
            users[src[0]] = users.get(src[0], 0) + 1
    built: Dict[int, mx.sym.Symbol] = {}
    folded = 0
    for i, node in enumerate(nodes):
        op, attrs = node["op"], dict(node.get("attrs", {}))
        ins = [src[0] for src in node.get("inputs", [])]
        if op == "null":
            built[i] = mx.sym.var(node["name"])
            continue
        conv = nodes[ins[0]]
        if op == "BatchNorm" and conv["op"] == "Convolution" and users.get(ins[0]) == 1:
            gamma, beta, mean, var = (params[nodes[j]["name"]] for j in ins[1:5])
            if attrs.get("fix_gamma", "False") == "True":
                gamma = np.ones_like(gamma)
            scale = gamma / np.sqrt(var + float(attrs.get("eps", "1e-3")))
            w_name = nodes[conv["inputs"][1][0]]["name"]
            bias = params[nodes[conv["inputs"][2][0]]["name"]] if len(conv["inputs"]) > 2 else 0.0
            params[w_name] = params[w_name] * scale.reshape(-1, 1, 1, 1)
            params[conv["name"] + "_folded_bias"] = beta + (bias - mean) * scale
            cattrs = dict(conv.get("attrs", {}), no_bias="False")
            built[i] = mx.sym.Convolution(
                built[conv["inputs"][0][0]], mx.sym.var(w_name),
                mx.sym.var(conv["name"] + "_folded_bias"), name=conv["name"], **cattrs)
            folded += 1
            continue
        built[i] = getattr(mx.sym, op)(*[built[j] for j in ins], name=node["name"], **attrs)
    out = built[json.loads(sym.tojson())["heads"][0][0]]
    needed_args, needed_aux = set(out.list_arguments()), set(out.list_auxiliary_states())
    out.save(sym_path)
    mx.nd.save(params_path, {
        **{"arg:" + k: mx.nd.array(params[k]) for k in needed_args if k != "data"},
        **{"aux:" + k: mx.nd.array(params[k]) for k in needed_aux},
    })
    return folded


def shift_smile_logit(sym_path: str, params_path: str, offset: float, smile_index: int = 1) -> None:
    """Add ``offset`` to the smile logit (the bias of the last dense layer), in place.

    This moves the 0.5 decision point of the exported softmax without any
    extra op in the graph.
    """
    if offset == 0.0:
        return
    nodes = json.loads(mx.sym.load(sym_path).tojson())["nodes"]
    dense = [n for n in nodes if n["op"] == "FullyConnected"][-1]
    bias_name = "arg:" + nodes[dense["inputs"][2][0]]["name"]
    saved = mx.nd.load(params_path)
    bias = saved[bias_name].asnumpy().copy()
    bias[smile_index] += offset
    saved[bias_name] = mx.nd.array(bias)
    mx.nd.save(params_path, saved)


def flush_denormals(params_path: str) -> int:
    """Set weights below float32's normal range (|w| < 1.18e-38) to zero, in place.

    Such subnormal values carry no signal, but x86 CPUs take a slow path for
    every multiply with one: 55 of them in a 30-epoch smile-net made it 13%
    slower (0.375 vs 0.331 ms per face at batch 16). Returns how many were set.
    """
    saved = mx.nd.load(params_path)
    tiny = np.finfo(np.float32).tiny
    flushed = 0
    for key, value in saved.items():
        a = value.asnumpy()
        sub = (a != 0) & (np.abs(a) < tiny)
        if sub.any():
            flushed += int(sub.sum())
            a = np.where(sub, 0, a).astype(a.dtype)
            saved[key] = mx.nd.array(a, dtype=a.dtype)
    if flushed:
        mx.nd.save(params_path, saved)
    return flushed


def fuse(members: Sequence[Tuple[str, str]], sym_path: str, params_path: str) -> int:
    """Write one exported model whose smile logit is the mean of several members'.

    ``members`` are ``(symbol, params)`` pairs of exported nets ending in
    softmax. Each member's graph is copied under the name prefix ``m<k>_``
    on one shared ``data`` input, its last dense layer scaled by ``1/n`` so
    that plain ``elemwise_add`` nodes sum to the mean of the logits, and the
    sum goes through one softmax. No op is added that the members do not
    already use, so the fused graph stays in the form ``mo.optimize`` takes.
    Returns the number of members.
    """
    data = mx.sym.var("data")
    total, params = None, {}
    for k, (m_sym, m_params) in enumerate(members):
        prefix = "m{}_".format(k)
        graph = json.loads(mx.sym.load(m_sym).tojson())
        nodes, head = graph["nodes"], graph["heads"][0][0]
        if nodes[head]["op"] != "softmax":
            raise ValueError("{}: expected a model ending in softmax, not {}".format(m_sym, nodes[head]["op"]))
        built: Dict[int, mx.sym.Symbol] = {}
        for i, node in enumerate(nodes[:head]):
            if node["op"] == "null":
                built[i] = data if node["name"] == "data" else mx.sym.var(prefix + node["name"])
                continue
            ins = [built[src[0]] for src in node.get("inputs", [])]
            built[i] = getattr(mx.sym, node["op"])(*ins, name=prefix + node["name"], **node.get("attrs", {}))
        logits_node = nodes[nodes[head]["inputs"][0][0]]
        if logits_node["op"] != "FullyConnected":
            raise ValueError("{}: the softmax does not follow a dense layer".format(m_sym))
        scaled = {nodes[src[0]]["name"] for src in logits_node["inputs"][1:]}
        for key, value in mx.nd.load(m_params).items():
            kind, name = key.split(":", 1)
            params["{}:{}{}".format(kind, prefix, name)] = value / len(members) if name in scaled else value
        logits = built[nodes[head]["inputs"][0][0]]
        total = logits if total is None else mx.sym.elemwise_add(total, logits, name="{}sum".format(prefix))
    if total is None:
        raise ValueError("fuse: no members")
    mx.sym.softmax(total, axis=1, name="ensemble_softmax").save(sym_path)
    mx.nd.save(params_path, params)
    return len(members)
