"""``reaction train``: options of :class:`TrainConfig`; MXNet loads only to train."""

import argparse
import logging
import os

from ..training.config import ARCHS, TrainConfig
from ..types import ReactionError
from ._args import yes_no


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    p.add_argument("--data", default=d.data, help="shared data folder (default %(default)s)")
    p.add_argument("--out", default=d.out, help="model output folder (default %(default)s)")
    p.add_argument("--cache", default=None, help="crop cache folder (default OUT/cache)")
    p.add_argument(
        "--sets", default=",".join(d.sets), help="training sets, NAME[:REPEAT] comma-separated (default %(default)s)"
    )
    p.add_argument("--arch", default=d.arch, choices=ARCHS)
    p.add_argument("--widths", default=",".join(map(str, d.widths)), help="smilenet stage widths")
    p.add_argument("--size", type=int, default=d.size, help="input side in pixels")
    p.add_argument("--channels", default=d.channels, choices=("grey", "bgr", "rgb"))
    p.add_argument("--margin", type=float, default=d.margin, help="crop margin around the box")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument(
        "--label-smoothing",
        type=float,
        default=d.label_smoothing,
        help="share of each target spread over both classes, 0..0.5 (default %(default)s)",
    )
    p.add_argument(
        "--mixup",
        type=float,
        default=d.mixup,
        metavar="A",
        help="blend pairs of faces, weight ~ Beta(A, A); 0 is off (default %(default)s)",
    )
    p.add_argument(
        "--ema-epochs",
        type=float,
        default=d.ema_epochs,
        metavar="E",
        help="export the weights averaged over about the last E epochs; "
        "0 exports the last weights (default %(default)s)",
    )
    p.add_argument(
        "--align",
        type=yes_no,
        default=d.align,
        metavar="yes|no",
        help="align crops on YuNet's five face landmarks instead of centring them on the box (default no)",
    )
    p.add_argument(
        "--set-bias",
        type=yes_no,
        default=d.set_bias,
        metavar="yes|no",
        help="learn a smile logit shift per training set, not exported (default no)",
    )
    p.add_argument(
        "--calibrate",
        default=d.calibrate,
        metavar="SET",
        help="training set whose dev part sets the exported smile offset, or 'all' "
        "(each set's dev log-loss weighted equally) (default %(default)s)",
    )
    p.add_argument(
        "--teacher",
        default=None,
        metavar="DIR",
        help="model folder whose P(smile) on the train crops is blended into the targets",
    )
    p.add_argument(
        "--teacher-weight",
        type=float,
        default=d.teacher_weight,
        metavar="W",
        help="share of each target taken from --teacher, 0..1 (default %(default)s)",
    )
    p.add_argument("--wd", type=float, default=d.wd, help="weight decay (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument(
        "--members",
        type=int,
        default=d.members,
        help="nets to train (seeds SEED, SEED+1, ...) and fuse into one model (default %(default)s)",
    )
    p.add_argument(
        "--dev-percent",
        type=int,
        default=d.dev_percent,
        help="share of each training set kept out as dev (default %(default)s)",
    )
    p.add_argument("--limit", type=int, default=None, help="use at most N images per set")
    p.add_argument("--prefix", default=d.prefix, help="model file prefix")


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
        raise ReactionError("--widths must be comma-separated integers, got {}".format(args.widths)) from None
    if not os.path.isdir(args.data):
        raise ReactionError("{}: data folder not found (--data)".format(args.data))
    return TrainConfig(
        data=args.data,
        out=args.out,
        cache=args.cache,
        sets=[s for s in args.sets.split(",") if s],
        arch=args.arch,
        widths=widths,
        size=args.size,
        channels=args.channels,
        margin=args.margin,
        align=args.align,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        wd=args.wd,
        label_smoothing=args.label_smoothing,
        mixup=args.mixup,
        ema_epochs=args.ema_epochs,
        set_bias=args.set_bias,
        calibrate=args.calibrate,
        teacher=args.teacher,
        teacher_weight=args.teacher_weight,
        seed=args.seed,
        members=args.members,
        dev_percent=args.dev_percent,
        limit=args.limit,
        prefix=args.prefix,
    )


def run(args: argparse.Namespace) -> int:
    # Training is long: its per-epoch lines show even without -v (the CLI's
    # root logger is already configured, so basicConfig here would do nothing).
    logging.getLogger("reaction").setLevel(logging.INFO)
    cfg = config_from_args(args)
    if cfg.members > 1:
        from ..training.ensemble import train_members

        train_members(cfg)
    else:
        from ..training.train import train

        train(cfg)
    return 0


def register(subparsers) -> None:
    """Add ``reaction train`` to the CLI."""
    p = subparsers.add_parser("train", help="train smile-net on the shared data")
    add_arguments(p)
    p.set_defaults(func=run)
