"""From a trained Gluon net to the files that ship: ``<prefix>-symbol.json``,
``<prefix>-0000.params`` and the input spec, rewritten for inference.

The rewrites work on the exported symbol + params pair, so they apply to any
trained model: batch norm folded into the convolutions, the calibrated smile
offset added to the smile logit, subnormal weights flushed, and several nets
fused into one graph.
"""

import json
import logging
import os
from typing import Dict, Sequence, Tuple

import mxnet as mx
import numpy as np

from ..preprocess import InputSpec, model_paths
from .architectures import WithSoftmax
from .config import TrainConfig

log = logging.getLogger(__name__)

#: The MXNet layers the DeepLens model optimiser (``mo.optimize``) takes, as listed on the
#: "Supporting MXNet Layers" page of the AWS DeepLens Developer Guide
#: (awsdocs/aws-deeplens-user-guide, doc_source/deeplens-supported-frameworks-mxnet-layers.md).
#: ``null`` is not a layer: it is how the symbol JSON spells the input and the weights.
DEEPLENS_MXNET_LAYERS = frozenset(
    {
        "Activation", "BatchNorm", "Concat", "_contrib_MultiBoxDetection", "_contrib_MultiBoxPrior",
        "Convolution", "Deconvolution", "elemwise_add", "Flatten", "FullyConnected", "InputLayer",
        "L2Norm", "LRN", "Pooling", "Reshape", "ScaleShift", "SoftmaxActivation", "SoftmaxOutput",
        "transpose", "UpSampling", "_mul", "_Plus",
    }
)  # fmt: skip


def unsupported_layers(sym_path: str) -> Dict[str, int]:
    """``{op: count}`` of the symbol's layers that are not in :data:`DEEPLENS_MXNET_LAYERS`."""
    with open(sym_path) as f:
        nodes = json.load(f)["nodes"]
    found: Dict[str, int] = {}
    for node in nodes:
        if node["op"] != "null" and node["op"] not in DEEPLENS_MXNET_LAYERS:
            found[node["op"]] = found.get(node["op"], 0) + 1
    return found


def write_log(cfg: TrainConfig, extra: Dict) -> None:
    """``<prefix>-train.json`` in ``cfg.out``: the configuration plus ``extra``."""
    meta = {k: v for k, v in vars(cfg).items() if k not in ("history",)}
    meta["sets"] = list(cfg.sets)
    meta.update(extra)
    with open(os.path.join(cfg.out, cfg.prefix + "-train.json"), "w") as f:
        json.dump(meta, f, indent=1, default=list)


def export(net, spec: InputSpec, cfg: TrainConfig) -> None:
    """Write ``<prefix>-symbol.json``, ``<prefix>-0000.params`` (softmax output) and the spec."""
    os.makedirs(cfg.out, exist_ok=True)
    wrapped = WithSoftmax(net)
    wrapped.hybridize()
    wrapped(mx.nd.zeros((1, spec.n_channels, spec.height, spec.width)))
    sym_path, params_path, spec_path = model_paths(cfg.out, cfg.prefix)
    wrapped.export(os.path.join(cfg.out, cfg.prefix), epoch=0)
    # Inference graph: batch norm folded into the convolutions (same outputs to
    # ~1e-6, 0.71 -> 0.42 CPU ms per face at batch 16 for smilenet).
    folded = fold_batchnorm(sym_path, params_path)
    shift_smile_logit(sym_path, params_path, cfg.smile_offset, spec.smile_index)
    flushed = flush_denormals(params_path)
    deploy_graph(sym_path)
    log.info("folded %d batch-norm layers into convolutions; %d subnormal weights set to 0", folded, flushed)
    spec.save(spec_path)
    write_log(cfg, {"history": cfg.history})


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
                built[conv["inputs"][0][0]],
                mx.sym.var(w_name),
                mx.sym.var(conv["name"] + "_folded_bias"),
                name=conv["name"],
                **cattrs,
            )
            folded += 1
            continue
        built[i] = getattr(mx.sym, op)(*[built[j] for j in ins], name=node["name"], **attrs)
    out = built[json.loads(sym.tojson())["heads"][0][0]]
    needed_args, needed_aux = set(out.list_arguments()), set(out.list_auxiliary_states())
    out.save(sym_path)
    mx.nd.save(
        params_path,
        {
            **{"arg:" + k: mx.nd.array(params[k]) for k in needed_args if k != "data"},
            **{"aux:" + k: mx.nd.array(params[k]) for k in needed_aux},
        },
    )
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
        if nodes[head]["op"] not in ("softmax", "SoftmaxActivation"):
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
    deploy_graph(sym_path)
    return len(members)


def deploy_graph(sym_path: str) -> int:
    """Rewrite an exported symbol, in place, into layers the DeepLens optimiser lists.

    Dropout is the identity at inference, so each one is cut out of the graph;
    the final ``softmax(axis=1)`` over the ``(N, classes)`` logits becomes
    ``SoftmaxActivation``, which computes the same softmax over the classes for
    a 2-D input. The params are untouched (neither op has weights), so the
    outputs stay what they were. Returns the number of Dropout layers cut.
    """
    graph = json.loads(mx.sym.load(sym_path).tojson())
    nodes, head = graph["nodes"], graph["heads"][0][0]
    built: Dict[int, mx.sym.Symbol] = {}
    cut = 0
    for i, node in enumerate(nodes):
        op, attrs = node["op"], dict(node.get("attrs", {}))
        ins = [built[src[0]] for src in node.get("inputs", [])]
        if op == "null":
            built[i] = mx.sym.var(node["name"])
        elif op == "Dropout":
            built[i] = ins[0]
            cut += 1
        elif op == "softmax" and i == head:
            if attrs.get("axis", "-1") not in ("1", "-1") or set(attrs) - {"axis"}:
                raise ValueError("{}: final softmax with {} is not a softmax over the classes".format(sym_path, attrs))
            built[i] = mx.sym.SoftmaxActivation(ins[0], name=node["name"])
        else:
            built[i] = getattr(mx.sym, op)(*ins, name=node["name"], **attrs)
    built[head].save(sym_path)
    return cut
