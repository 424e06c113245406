"""The ``reaction`` command line: one module per command, argparse and dispatch only.

Each command module has ``register(subparsers)``, which imports nothing
heavy, and ``run(args)``, which imports the feature it runs; so ``reaction
--help`` and ``reaction publish`` never load MXNet. Every command's errors
end here: a :class:`ReactionError` is one line on stderr and exit status 2.
"""

import argparse
import importlib
import logging
import os
import sys
from typing import List, NoReturn, Optional

from ..types import ReactionError

#: The commands, each a module of this package.
COMMANDS = ("analyze", "train", "evaluate", "publish", "batch", "report", "collect")


class _Parser(argparse.ArgumentParser):
    """Bad options are one line, as every other error is (argparse would print the usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, "{}: error: {} (see {} --help)\n".format(self.prog, message, self.prog))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="reaction", description="Measure how an audience reacts to funny media.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module("{}.{}".format(__name__, name)).register(sub)
    return parser


def _quiet_opencv() -> None:
    """FFmpeg and OpenCV print their own warnings for bad files; we print one clear line instead."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET, read when a capture opens
    import cv2

    if hasattr(cv2, "setLogLevel"):
        cv2.setLogLevel(2)  # errors only


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        _quiet_opencv()
        return int(args.func(args) or 0)
    except ReactionError as e:
        print("reaction: error: {}".format(e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reaction: interrupted", file=sys.stderr)
        return 130
