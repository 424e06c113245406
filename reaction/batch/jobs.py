"""What a batch is asked to do: the videos, their screening names, and where results go."""

import csv
import os
from dataclasses import dataclass
from typing import Dict, List, Sequence

from ..types import ReactionError

#: The manifest's columns; ``reaction report`` reads the same ones (``run`` in place of ``video``).
COLUMNS = ("video", "screening", "offset", "group")


@dataclass(frozen=True)
class Job:
    """One video and the screening it records; plain data, so that it can travel to a worker."""

    video: str
    screening: str
    offset: float = 0.0
    group: str = ""


def result_dir(out_dir: str, screening: str) -> str:
    """Where a finished screening's outputs are."""
    return os.path.join(out_dir, screening)


def partial_dir(out_dir: str, screening: str) -> str:
    """Where a screening's outputs are written until they are complete (then renamed)."""
    return os.path.join(out_dir, ".{}.partial".format(screening))


def _check_name(screening: str, where: str) -> str:
    if not screening or screening in (".", "..") or screening.startswith(".") or "/" in screening or "\\" in screening:
        raise ReactionError(
            "{}: screening {!r} cannot name a folder (no slashes, no leading dot)".format(where, screening)
        )
    return screening


def _read_manifest(path: str) -> List[Job]:
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ReactionError("{}: cannot read the manifest ({})".format(path, e)) from None
    if not rows:
        raise ReactionError("{}: the manifest has no rows (columns: {})".format(path, ",".join(COLUMNS)))
    missing = [c for c in ("video", "screening") if c not in header]
    if missing:
        raise ReactionError(
            "{}: the manifest lacks the column(s) {} (columns: {})".format(path, ",".join(missing), ",".join(COLUMNS))
        )
    base = os.path.dirname(os.path.abspath(path))
    jobs = []
    for line, row in enumerate(rows, start=2):
        where = "{}:{}".format(path, line)
        video = (row.get("video") or "").strip()
        if not video:
            raise ReactionError("{}: empty video".format(where))
        try:
            offset = float(row.get("offset") or 0.0)
        except ValueError:
            raise ReactionError(
                "{}: offset must be a number of seconds, got {!r}".format(where, row["offset"])
            ) from None
        screening = _check_name((row.get("screening") or "").strip(), where)
        # Relative paths are the manifest's, not the current folder's.
        jobs.append(Job(os.path.join(base, video), screening, offset, (row.get("group") or "").strip()))
    return jobs


def read_jobs(inputs: Sequence[str]) -> List[Job]:
    """The jobs of one manifest (``*.csv``) or of video files (screening = file name without extension)."""
    if not inputs:
        raise ReactionError("no videos: give a MANIFEST.csv or video files")
    if len(inputs) == 1 and inputs[0].lower().endswith(".csv"):
        jobs = _read_manifest(inputs[0])
    else:
        if any(i.lower().endswith(".csv") for i in inputs):
            raise ReactionError("give either one MANIFEST.csv or video files, not both")
        jobs = [Job(os.path.abspath(v), _check_name(os.path.splitext(os.path.basename(v))[0], v)) for v in inputs]
    seen: Dict[str, str] = {}
    for job in jobs:
        if job.screening in seen:
            raise ReactionError(
                "screening {!r} is named twice ({} and {}); each needs its own folder".format(
                    job.screening, seen[job.screening], job.video
                )
            )
        seen[job.screening] = job.video
    return jobs
