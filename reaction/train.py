"""Train smile-net with MXNet Gluon: ``reaction train --data DIR --out DIR``.

Reproducible: fixed seeds (numpy, MXNet, augmentation), fixed schedule (no
early stopping on any test set), one log line of loss and accuracy per epoch.
Crops come from :mod:`reaction.datasets`, i.e. the run-time Haar detector and
:func:`reaction.preprocess.crop_faces`; augmentation (flip, small affine
jitter, brightness/contrast) works on those uint8 crops and normalisation is
the same float32 arithmetic as ``crop_faces``.

A ``dev`` part (a fixed hash of the file name) of every training set is kept
out of training and reported each epoch; design choices were made on it,
never on GENKI-4K test or LFW val.
"""
import argparse
import json
import logging
import os
import random
import time
import zlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import datasets, netarch
from .augment import augment, mixup, smoothed_targets
from .calibration import calibrated_offset, shift
from .distill import distilled_targets, teacher_predictions
from .preprocess import InputSpec, model_paths
from .types import ReactionError
from .weight_average import WeightAverage

log = logging.getLogger(__name__)

DEFAULT_SETS = ("smilesmiled-train", "genki-train:2", "lfw-rekognition-train")


@dataclass
class TrainConfig:
    """Everything a training run depends on (also written beside the model)."""

    data: str = "../shared/data"
    out: str = "models"
    cache: Optional[str] = None
    sets: Sequence[str] = DEFAULT_SETS
    arch: str = "smilenet"
    # The defaults are the shipped recipe (models/README.md), so that the
    # one-command run reproduces the shipped model.
    widths: Tuple[int, ...] = (16, 32, 64, 128)
    size: int = 48
    channels: str = "grey"
    margin: float = 0.1
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    wd: float = 1e-4
    # Share of each target spread evenly over both classes (0.1: 0.95/0.05).
    # LFW's Rekognition labels disagree with muxspace's on many images; a
    # smoothed target stops the net chasing the ones that are simply wrong.
    label_smoothing: float = 0.0
    # Beta(mixup, mixup) blending of sample pairs; 0 is off.
    mixup: float = 0.0
    # Export a moving average of the weights with this horizon in epochs; 0 exports the last weights.
    ema_epochs: float = 0.0
    # A learned smile-logit shift per training set (training only, not exported): the
    # sets disagree on where a smile starts, and the net need not bend to reconcile them.
    # Off: with calibrate="genki-train" it lifted GENKI-4K test to 92.3% but cut laugh
    # recall on video to 0.57 (models/README.md, "Where a smile starts").
    set_bias: bool = False
    # The training set whose dev part sets the exported smile offset (its idea of a
    # smile is the one shipped), or "all" for the mean per-set log-loss.
    calibrate: str = "all"
    # A model folder whose P(smile) on the (un-augmented) train crops is blended
    # into the targets with this weight: knowledge distillation, None is off.
    # Off: lfw-only students taught by the shipped pair were worse on dev.
    teacher: Optional[str] = None
    teacher_weight: float = 0.5
    seed: int = 7
    # Nets trained side by side (seeds seed, seed+1, ...) and fused into one
    # exported model that averages their logits (netarch.fuse).
    members: int = 2
    dev_percent: int = 10
    limit: Optional[int] = None  # per-set sample cap, for quick tests
    prefix: str = "smile-net"
    history: List[Dict[str, float]] = field(default_factory=list)
    dev_sizes: List[int] = field(default_factory=list)
    train_sizes: List[int] = field(default_factory=list)  # per set, repeats included
    smile_offset: float = 0.0  # logit added to "smile", chosen on dev at the end

    def set_names(self) -> List[str]:
        """The training sets' names, without their repeat counts."""
        return [parse_set(item)[0] for item in self.sets]

    def spec(self) -> InputSpec:
        if self.arch == "alexnet":
            # The original's 224 RGB input. It used raw 0..255 pixels; this
            # comparison centres them like ours, which can only help it train.
            return InputSpec(224, 224, "rgb", 127.5, 1.0 / 127.5, self.margin)
        return InputSpec(self.size, self.size, self.channels, 127.5, 1.0 / 127.5, self.margin)


def parse_set(item: str) -> Tuple[str, int]:
    name, _, repeat = item.partition(":")
    try:
        return name, int(repeat) if repeat else 1
    except ValueError:
        raise ReactionError("--sets: repeat count in {!r} is not an integer".format(item))


def _is_dev(path: str, percent: int) -> bool:
    return (zlib.crc32(os.path.basename(path).encode()) >> 8) % 100 < percent


def load_training_data(cfg: TrainConfig) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train crops, train labels, dev crops, dev labels), train already repeated per set.

    ``cfg.dev_sizes`` and ``cfg.train_sizes`` get the number of crops per set, in order.
    """
    spec, cache = cfg.spec(), cfg.cache or os.path.join(cfg.out, "cache")
    xs, ys, dx, dy = [], [], [], []
    for item in cfg.sets:
        name, repeat = parse_set(item)
        if name.startswith("genki-test") or name.endswith("-val") or name.endswith("heldout"):
            raise ReactionError("--sets: {} is an evaluation set and is never trained on".format(name))
        cs = datasets.build_crops(cfg.data, name, spec, cache)
        idx = np.arange(len(cs))
        if cfg.limit:
            # Not keyed on the seed: the members of an ensemble share one subset.
            idx = np.random.RandomState(0).permutation(idx)[: cfg.limit]
        dev = np.array([_is_dev(cs.paths[i], cfg.dev_percent) for i in idx], bool)
        tr = idx[~dev]
        xs += [cs.crops[tr]] * repeat
        ys += [cs.labels[tr]] * repeat
        dx.append(cs.crops[idx[dev]])
        dy.append(cs.labels[idx[dev]])
        cfg.dev_sizes.append(int(dev.sum()))
        cfg.train_sizes.append(len(tr) * repeat)
        log.info("%s: %d train (x%d), %d dev, %.0f%% smile, Haar found %.1f%%", name, len(tr),
                 repeat, dev.sum(), 100 * cs.labels.mean(), 100 * cs.detected.mean())
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(dx), np.concatenate(dy)


def predict(net, x: np.ndarray, spec: InputSpec, batch: int = 256) -> np.ndarray:
    """P(smile) for uint8 crops, in inference mode."""
    import mxnet as mx

    probs = []
    for i in range(0, len(x), batch):
        logits = net(mx.nd.array(datasets.normalise(x[i:i + batch], spec)))
        probs.append(mx.nd.softmax(logits, axis=1)[:, spec.smile_index].asnumpy())
    return np.concatenate(probs) if probs else np.zeros(0, np.float32)


def seed_everything(seed: int) -> None:
    import mxnet as mx

    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


def train(cfg: TrainConfig) -> Dict[str, float]:
    """Train, export to ``cfg.out`` and return the last epoch's figures."""
    import mxnet as mx
    from mxnet import autograd, gluon

    seed_everything(cfg.seed)
    t0 = time.time()
    spec = cfg.spec()
    x, y, dev_x, dev_y = load_training_data(cfg)
    log.info("data ready: %d train, %d dev crops %s in %.0fs", len(x), len(dev_x),
             x.shape[1:], time.time() - t0)
    teacher_smile = teacher_predictions(cfg.teacher, x, spec) if cfg.teacher else None
    kwargs = {"widths": tuple(cfg.widths)} if cfg.arch == "smilenet" else {}
    net = netarch.build(cfg.arch, **kwargs)
    net.initialize(mx.init.Xavier(magnitude=2.0))
    net.hybridize(static_alloc=True, static_shape=True)
    steps = max(1, len(x) // cfg.batch_size)
    schedule = mx.lr_scheduler.CosineScheduler(
        max_update=steps * cfg.epochs, base_lr=cfg.lr, final_lr=cfg.lr * 0.01,
        warmup_steps=min(200, steps * cfg.epochs // 10), warmup_begin_lr=cfg.lr * 0.1,
    )
    set_bias = None
    if cfg.set_bias and len(cfg.sets) > 1:
        set_bias = gluon.Parameter("set_bias", shape=(len(cfg.sets),), init=mx.init.Zero())
        set_bias.initialize()
    params = net.collect_params() if set_bias is None else list(net.collect_params().values()) + [set_bias]
    # Adam: SGD+Nesterov at lr 0.05 sat at chance for 5 epochs on GENKI; Adam
    # reached 77% train accuracy in 3 (same net, same data).
    trainer = gluon.Trainer(params, "adam", {
        "learning_rate": cfg.lr, "wd": cfg.wd, "lr_scheduler": schedule})
    train_set = np.repeat(np.arange(len(cfg.sets)), cfg.train_sizes)
    dev_set = np.repeat(np.arange(len(cfg.sets)), cfg.dev_sizes)

    def biases() -> np.ndarray:
        return np.zeros(len(cfg.sets)) if set_bias is None else set_bias.data().asnumpy()

    def dev_figures() -> Tuple[np.ndarray, Tuple[float, Dict[str, float]]]:
        """Dev P(smile) as exported (no learned shifts), and dev accuracy with each set's shift."""
        p = predict(net, dev_x, spec)
        return p, dev_accuracy(shift(p, biases()[dev_set]), dev_y, cfg)

    eps = cfg.label_smoothing
    dense = eps > 0 or cfg.mixup > 0 or teacher_smile is not None
    # Integer labels unless smoothing, mixup or a teacher: the shipped recipe's loss, bit for bit.
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=not dense)
    average = WeightAverage(net.collect_params(), cfg.ema_epochs * steps) if cfg.ema_epochs > 0 else None
    rng = np.random.RandomState(cfg.seed)
    figures: Dict[str, float] = {}
    for epoch in range(1, cfg.epochs + 1):
        te = time.time()
        order = rng.permutation(len(x))
        total_loss, correct, seen = 0.0, 0, 0
        for s in range(steps):
            idx = order[s * cfg.batch_size:(s + 1) * cfg.batch_size]
            batch = datasets.normalise(augment(x[idx], rng), spec)
            target = smoothed_targets(y[idx], eps) if dense else y[idx]
            if teacher_smile is not None:
                target = distilled_targets(target, teacher_smile[idx], cfg.teacher_weight, spec.smile_index)
            if cfg.mixup > 0:
                batch, target = mixup(batch, target, cfg.mixup, rng)
            data, label = mx.nd.array(batch), mx.nd.array(target)
            with autograd.record():
                out = net(data)
                if set_bias is not None:
                    out = shift_smile_logits(out, set_bias.data().take(mx.nd.array(train_set[idx])),
                                             spec.smile_index)
                loss = loss_fn(out, label)
            loss.backward()
            trainer.step(len(idx))
            if average:
                average.update()
            total_loss += float(loss.sum().asscalar())
            correct += int((out.argmax(axis=1).asnumpy() == y[idx]).sum())
            seen += len(idx)
        dev_p, (dev_acc, by_set) = dev_figures()
        figures = {"epoch": epoch, "loss": total_loss / seen, "train_acc": correct / seen,
                   "dev_acc": dev_acc, "dev_acc_by_set": by_set, "seconds": time.time() - te}
        cfg.history.append(figures)
        log.info("seed %d epoch %d/%d loss %.4f train_acc %.4f dev_acc %.4f %s lr %.4f (%.0fs)", cfg.seed,
                 epoch, cfg.epochs, figures["loss"], figures["train_acc"], dev_acc, by_set,
                 trainer.learning_rate, figures["seconds"])
    if average:
        average.apply()
        figures["dev_acc_last_weights"] = figures["dev_acc"]
        # figures is the last history entry: the log keeps the averaged model's dev figures.
        dev_p, (figures["dev_acc"], figures["dev_acc_by_set"]) = dev_figures()
        log.info("weights averaged over the last ~%g epochs: dev_acc %.4f %s (last weights %.4f)",
                 cfg.ema_epochs, figures["dev_acc"], figures["dev_acc_by_set"],
                 figures["dev_acc_last_weights"])
    if set_bias is not None:
        figures["set_bias"] = {item: round(float(b), 3) for item, b in zip(cfg.sets, biases())}
        log.info("learned smile logit shift per set: %s", figures["set_bias"])
    # dev_p is from the exported weights (the last, or their average): no further pass.
    cfg.smile_offset = calibrated_offset(dev_p, dev_y, cfg.dev_sizes, cfg.set_names(), cfg.calibrate)
    export(net, spec, cfg)
    figures["total_seconds"] = time.time() - t0
    log.info("exported %s in %s; total %.0fs", cfg.prefix, cfg.out, figures["total_seconds"])
    return figures


def shift_smile_logits(logits, offsets, smile_index: int = 1):
    """``logits`` (N, 2 NDArray) with ``offsets`` (N,) added to the smile column."""
    import mxnet as mx

    zeros = mx.nd.zeros_like(offsets)
    return logits + mx.nd.stack(*[offsets if k == smile_index else zeros for k in range(2)], axis=1)


def write_log(cfg: TrainConfig, extra: Dict) -> None:
    """``<prefix>-train.json`` in ``cfg.out``: the configuration plus ``extra``."""
    meta = {k: v for k, v in vars(cfg).items() if k not in ("history",)}
    meta["sets"] = list(cfg.sets)
    meta.update(extra)
    with open(os.path.join(cfg.out, cfg.prefix + "-train.json"), "w") as f:
        json.dump(meta, f, indent=1, default=list)


def dev_accuracy(p: np.ndarray, y: np.ndarray, cfg: TrainConfig) -> Tuple[float, Dict[str, float]]:
    """Dev accuracy of P(smile) ``p`` at 0.5, overall and per training set.

    Per set as well: the sets differ in size by 4x, and GENKI's dev accuracy
    is the one that predicts GENKI test.
    """
    hit = (p >= 0.5) == y
    bounds = np.cumsum([0] + list(cfg.dev_sizes))
    by_set = {name: round(float(hit[a:e].mean()), 4)
              for name, a, e in zip(cfg.set_names(), bounds, bounds[1:]) if e > a}
    return (float(hit.mean()) if len(y) else float("nan")), by_set


def export(net, spec: InputSpec, cfg: TrainConfig) -> None:
    """Write ``<prefix>-symbol.json``, ``<prefix>-0000.params`` (softmax output) and the spec."""
    import mxnet as mx

    os.makedirs(cfg.out, exist_ok=True)
    wrapped = netarch.WithSoftmax(net)
    wrapped.hybridize()
    wrapped(mx.nd.zeros((1, spec.n_channels, spec.height, spec.width)))
    sym_path, params_path, spec_path = model_paths(cfg.out, cfg.prefix)
    wrapped.export(os.path.join(cfg.out, cfg.prefix), epoch=0)
    # Inference graph: batch norm folded into the convolutions (same outputs to
    # ~1e-6, 0.71 -> 0.42 CPU ms per face at batch 16 for smilenet).
    folded = netarch.fold_batchnorm(sym_path, params_path)
    netarch.shift_smile_logit(sym_path, params_path, cfg.smile_offset, spec.smile_index)
    flushed = netarch.flush_denormals(params_path)
    log.info("folded %d batch-norm layers into convolutions; %d subnormal weights set to 0",
             folded, flushed)
    spec.save(spec_path)
    write_log(cfg, {"history": cfg.history})


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    p.add_argument("--data", default=d.data, help="shared data folder (default %(default)s)")
    p.add_argument("--out", default=d.out, help="model output folder (default %(default)s)")
    p.add_argument("--cache", default=None, help="crop cache folder (default OUT/cache)")
    p.add_argument("--sets", default=",".join(d.sets),
                   help="training sets, NAME[:REPEAT] comma-separated (default %(default)s)")
    p.add_argument("--arch", default=d.arch, choices=netarch.ARCHS)
    p.add_argument("--widths", default=",".join(map(str, d.widths)), help="smilenet stage widths")
    p.add_argument("--size", type=int, default=d.size, help="input side in pixels")
    p.add_argument("--channels", default=d.channels, choices=("grey", "bgr", "rgb"))
    p.add_argument("--margin", type=float, default=d.margin, help="crop margin around the box")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing,
                   help="share of each target spread over both classes, 0..0.5 (default %(default)s)")
    p.add_argument("--mixup", type=float, default=d.mixup, metavar="A",
                   help="blend pairs of faces, weight ~ Beta(A, A); 0 is off (default %(default)s)")
    p.add_argument("--ema-epochs", type=float, default=d.ema_epochs, metavar="E",
                   help="export the weights averaged over about the last E epochs; "
                        "0 exports the last weights (default %(default)s)")
    p.add_argument("--set-bias", type=_yes_no, default=d.set_bias, metavar="yes|no",
                   help="learn a smile logit shift per training set, not exported (default no)")
    p.add_argument("--calibrate", default=d.calibrate, metavar="SET",
                   help="training set whose dev part sets the exported smile offset, or 'all' "
                        "(each set's dev log-loss weighted equally) (default %(default)s)")
    p.add_argument("--teacher", default=None, metavar="DIR",
                   help="model folder whose P(smile) on the train crops is blended into the targets")
    p.add_argument("--teacher-weight", type=float, default=d.teacher_weight, metavar="W",
                   help="share of each target taken from --teacher, 0..1 (default %(default)s)")
    p.add_argument("--wd", type=float, default=d.wd, help="weight decay (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--members", type=int, default=d.members,
                   help="nets to train (seeds SEED, SEED+1, ...) and fuse into one model (default %(default)s)")
    p.add_argument("--dev-percent", type=int, default=d.dev_percent,
                   help="share of each training set kept out as dev (default %(default)s)")
    p.add_argument("--limit", type=int, default=None, help="use at most N images per set")
    p.add_argument("--prefix", default=d.prefix, help="model file prefix")


def _yes_no(text: str) -> bool:
    value = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError("expected yes or no, got {!r}".format(text))
    return value


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    if args.epochs < 1 or args.batch_size < 1 or args.members < 1 or args.size < 16:
        raise ReactionError("--epochs, --batch-size and --members must be >= 1, --size >= 16")
    if args.ema_epochs < 0:
        raise ReactionError("--ema-epochs must be >= 0, got {}".format(args.ema_epochs))
    if args.mixup < 0:
        raise ReactionError("--mixup must be >= 0, got {}".format(args.mixup))
    if not 0.0 <= args.teacher_weight <= 1.0:
        raise ReactionError("--teacher-weight must be in [0, 1], got {}".format(args.teacher_weight))
    if args.teacher and not os.path.isdir(args.teacher):
        raise ReactionError("{}: teacher model folder not found (--teacher)".format(args.teacher))
    if not 0 <= args.dev_percent < 100:
        raise ReactionError("--dev-percent must be in [0, 100), got {}".format(args.dev_percent))
    if not 0.0 <= args.label_smoothing < 0.5:
        raise ReactionError("--label-smoothing must be in [0, 0.5), got {}".format(args.label_smoothing))
    try:
        widths = tuple(int(w) for w in args.widths.split(","))
    except ValueError:
        raise ReactionError("--widths must be comma-separated integers, got {}".format(args.widths))
    if not os.path.isdir(args.data):
        raise ReactionError("{}: data folder not found (--data)".format(args.data))
    return TrainConfig(
        data=args.data, out=args.out, cache=args.cache,
        sets=[s for s in args.sets.split(",") if s], arch=args.arch, widths=widths,
        size=args.size, channels=args.channels, margin=args.margin, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, wd=args.wd, label_smoothing=args.label_smoothing,
        mixup=args.mixup, ema_epochs=args.ema_epochs, set_bias=args.set_bias, calibrate=args.calibrate,
        teacher=args.teacher, teacher_weight=args.teacher_weight, seed=args.seed, members=args.members,
        dev_percent=args.dev_percent, limit=args.limit, prefix=args.prefix,
    )


def _run(args: argparse.Namespace) -> int:
    # Training is long: its per-epoch lines show even without -v (the CLI's
    # root logger is already configured, so basicConfig here would do nothing).
    logging.getLogger("reaction").setLevel(logging.INFO)
    from .ensemble import train_members

    cfg = config_from_args(args)
    if cfg.members > 1:
        train_members(cfg)
    else:
        train(cfg)
    return 0


def register(subparsers) -> None:
    """Add ``reaction train`` to the CLI."""
    p = subparsers.add_parser("train", help="train smile-net on the shared data")
    add_arguments(p)
    p.set_defaults(func=_run)

