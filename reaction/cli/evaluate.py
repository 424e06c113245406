"""``reaction evaluate``: smile-net and two baselines on the held-out face sets."""

import argparse
import json
import logging
import os

from ..smile import DEFAULT_MODEL_DIR
from ..types import ReactionError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="../shared/data", help="shared data folder (default %(default)s)")
    p.add_argument("--model", default=DEFAULT_MODEL_DIR, help="model folder (default: the shipped model)")
    p.add_argument(
        "--lfw-model", default=None, help="model trained on lfw-rekognition-train only (default MODEL/lfw-only)"
    )
    p.add_argument("--cache", default=None, help="crop cache folder (default MODEL/cache)")
    p.add_argument("--no-baselines", action="store_true", help="skip the two baselines")
    p.add_argument("--failures", type=int, default=5, help="worst errors listed per row")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not os.path.isdir(args.data):
        raise ReactionError("{}: data folder not found (--data)".format(args.data))
    from ..training.evaluate import evaluate, format_table

    rows = evaluate(
        args.data,
        args.model,
        args.lfw_model or os.path.join(args.model, "lfw-only"),
        args.cache or os.path.join(args.model, "cache"),
        not args.no_baselines,
        args.failures,
    )
    print(format_table(rows))
    for r in rows:
        if r.get("failures"):
            print(
                "{} / {}: haar found {:.1%}; most confident errors (file, label, P(smile)):".format(
                    r["set"], r["method"], r["haar_found"]
                )
            )
            for f in r["failures"]:
                print("   {} {} {}".format(*f))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


def register(subparsers) -> None:
    """Add ``reaction evaluate`` to the CLI."""
    p = subparsers.add_parser("evaluate", help="measure smile-net and baselines on the shared data")
    add_arguments(p)
    p.set_defaults(func=run)
