"""``reaction batch``: many videos, one task each, on a ``dask.distributed`` cluster."""

import argparse
import logging
import os
import subprocess
import sys

from ..types import ReactionError
from ._args import positive


def register(sub) -> None:
    p = sub.add_parser("batch", help="analyse many videos on a Dask cluster (needs reaction[batch])")
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="MANIFEST.csv|VIDEO",
        help="a manifest with columns video,screening,offset,group, or video files",
    )
    p.add_argument("--out", required=True, help="output folder: one sub-folder per screening, batch.json, runs.csv")
    p.add_argument(
        "--workers",
        type=positive(int, "--workers"),
        help="worker processes of the local cluster (default: one per core)",
    )
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:8786",
        help="use this existing Dask cluster (default: $DASK_SCHEDULER_ADDRESS, else a local one)",
    )
    p.add_argument("--profile", default="balanced", help="accurate | balanced | fast (default balanced)")
    p.add_argument("--model", metavar="DIR", help="smile-net folder (default: the model shipped in the package)")
    p.add_argument("--report", action="store_true", help="then run reaction report over the results into OUT/report")
    p.add_argument("--no-progress", action="store_true", help="never show the progress bar")
    p.set_defaults(func=run)


def _report(out: str) -> None:
    runs = os.path.join(out, "runs.csv")
    cmd = [sys.executable, "-m", "reaction", "report", runs, "--out", os.path.join(out, "report")]
    probe = subprocess.run([sys.executable, "-m", "reaction", "report", "--help"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise ReactionError("--report: this installation has no `reaction report` command")
    if subprocess.run(cmd).returncode != 0:
        raise ReactionError("--report: `{}` failed (see above)".format(" ".join(cmd[2:])))


def run(args: argparse.Namespace) -> int:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ReactionError("reaction batch needs dask.distributed: pip install 'reaction[batch]'") from None
    from ..batch import read_jobs, run_batch

    if not args.verbose:
        # The scheduler and nannies log every start, connection and close; a
        # failed video is reported per video instead.
        logging.getLogger("distributed").setLevel(logging.ERROR)

    jobs = read_jobs(args.inputs)
    result = run_batch(
        jobs,
        args.out,
        profile=args.profile,
        model_dir=args.model,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=sys.stderr.isatty() and not args.no_progress,
    )
    counts = {s: sum(v["status"] == s for v in result.videos) for s in ("done", "skipped", "failed")}
    print("{done} analysed, {skipped} already done, {failed} failed -> {out}".format(out=args.out, **counts))
    if args.report:
        # Over what finished: runs.csv lists only complete screenings.
        if counts["done"] + counts["skipped"]:
            _report(args.out)
        else:
            print("reaction: --report skipped: no screening finished", file=sys.stderr)
    return result.exit_status
