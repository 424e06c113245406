"""What ``reaction report`` reads: run folders (``RUN@OFFSET``), manifests, scene lists.

A screening is loaded one at a time (:func:`load_run`), so that memory holds
one screening's events and intervals, never all of them. Viewer ids are
opaque strings; every time here is recording time, in seconds.
"""

import csv
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ..types import ReactionError

_HMS = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


def parse_offset(text: str, where: str = "offset") -> float:
    """Seconds (``95.5``) or ``[HH:]MM:SS[.mmm]`` as seconds; never negative."""
    s = str(text).strip()
    if s == "":
        return 0.0
    m = _HMS.match(s)
    if m:
        hours, minutes, seconds = int(m.group(1) or 0), int(m.group(2)), float(m.group(3))
        if minutes >= 60 or seconds >= 60:
            raise ReactionError("{}: {!r} is not a time (minutes and seconds must be below 60)".format(where, text))
        return hours * 3600.0 + minutes * 60.0 + seconds
    try:
        value = float(s)
    except ValueError:
        raise ReactionError("{}: {!r} is not a time (seconds or HH:MM:SS.mmm)".format(where, text)) from None
    if not math.isfinite(value) or value < 0:
        raise ReactionError("{}: {!r} is not a time (seconds or HH:MM:SS.mmm, not negative)".format(where, text))
    return value


def timecode(seconds: float) -> str:
    """``HH:MM:SS`` of a film time."""
    s = int(math.floor(max(0.0, seconds)))
    return "{:02d}:{:02d}:{:02d}".format(s // 3600, s // 60 % 60, s % 60)


@dataclass(frozen=True)
class RunSpec:
    """One screening to load: a run folder, where the film starts in it, its id and group."""

    path: str
    offset_s: float = 0.0
    screening: str = ""
    group: str = ""


@dataclass
class Screening:
    """One screening as loaded: on-screen intervals and laughs per viewer, in recording seconds."""

    id: str
    group: str
    offset_s: float
    media_s: float
    presence: Dict[str, List[Tuple[float, float]]] = field(default_factory=dict)
    laughs: Dict[str, List[Tuple[float, float]]] = field(default_factory=dict)
    skipped_frames: int = 0
    source: str = ""


def parse_run_arg(arg: str) -> RunSpec:
    """``RUN`` or ``RUN@OFFSET``; a folder whose own name holds ``@`` is taken whole."""
    if "@" in arg and not os.path.isdir(arg):
        path, _, offset = arg.rpartition("@")
        return RunSpec(path, parse_offset(offset, "{}: offset".format(arg)))
    return RunSpec(arg)


def read_manifest(path: str) -> List[RunSpec]:
    """``run,offset,screening,group`` rows; runs are relative to the manifest's folder."""
    base = os.path.dirname(os.path.abspath(path))
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise ReactionError("{}: cannot read manifest ({})".format(path, e.strerror)) from None
    if not rows or "run" not in rows[0]:
        raise ReactionError("{}: a manifest needs a header run,offset,screening,group and one row per run".format(path))
    specs = []
    for n, row in enumerate(rows, start=2):
        run = (row.get("run") or "").strip()
        if not run:
            raise ReactionError("{}:{}: empty run".format(path, n))
        where = "{}:{}: offset".format(path, n)
        specs.append(
            RunSpec(
                os.path.join(base, run),
                parse_offset(row.get("offset") or "", where),
                (row.get("screening") or "").strip(),
                (row.get("group") or "").strip(),
            )
        )
    return specs


def run_specs(args: Sequence[str]) -> List[RunSpec]:
    """Positional arguments of ``reaction report``: run folders, ``RUN@OFFSET`` or manifest CSVs."""
    specs: List[RunSpec] = []
    for arg in args:
        if arg.lower().endswith(".csv") and os.path.isfile(arg):
            specs.extend(read_manifest(arg))
        else:
            specs.append(parse_run_arg(arg))
    seen: Dict[str, str] = {}
    out = []
    for spec in specs:
        sid = spec.screening or os.path.basename(os.path.normpath(spec.path))
        if sid in seen:
            raise ReactionError("screening {!r} is given twice ({} and {})".format(sid, seen[sid], spec.path))
        seen[sid] = spec.path
        out.append(RunSpec(spec.path, spec.offset_s, sid, spec.group))
    return out


def _need(run: str, name: str) -> str:
    path = os.path.join(run, name)
    if not os.path.isfile(path):
        raise ReactionError("{}: not a reaction analyze output (no {})".format(run, name))
    return path


def _presence_from_smiles(path: str, period: float) -> Dict[str, List[Tuple[float, float]]]:
    """Intervals from the per-frame rows, for run folders written before presence.csv existed."""
    seen: Dict[str, List[float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            seen.setdefault(row["viewer_id"], []).append(float(row["time_s"]))
    out: Dict[str, List[Tuple[float, float]]] = {}
    for vid, times in seen.items():
        spans: List[Tuple[float, float]] = []
        start = prev = times[0]
        for t in times[1:]:
            if t - prev > 1.5 * period:
                spans.append((start, prev + period))
                start = t
            prev = t
        spans.append((start, prev + period))
        out[vid] = spans
    return out


def load_run(spec: RunSpec) -> Screening:
    """One run folder of ``reaction analyze``; a folder that is not one is a one-line error."""
    run = spec.path
    if not os.path.isdir(run):
        raise ReactionError("{}: not a reaction analyze output (no such folder)".format(run))
    events_path, summary_path = _need(run, "events.jsonl"), _need(run, "summary.json")
    try:
        with open(summary_path) as f:
            summary = json.load(f)
        laughs: Dict[str, List[Tuple[float, float]]] = {}
        with open(events_path) as f:
            for line in f:
                if line.strip():
                    e = json.loads(line)
                    laughs.setdefault(str(e["viewer_id"]), []).append((float(e["start_s"]), float(e["end_s"])))
    except (ValueError, KeyError, TypeError) as e:
        raise ReactionError("{}: not a reaction analyze output ({})".format(run, e)) from None
    presence_path = os.path.join(run, "presence.csv")
    presence: Dict[str, List[Tuple[float, float]]] = {}
    if os.path.isfile(presence_path):
        with open(presence_path, newline="") as f:
            for row in csv.DictReader(f):
                presence.setdefault(row["viewer_id"], []).append((float(row["start_s"]), float(row["end_s"])))
    else:
        presence = _presence_from_smiles(_need(run, "smiles.csv"), 0.04)
    media_s = summary.get("media_s")
    if media_s is None:  # older folders: the end of the last interval
        media_s = max((b for spans in presence.values() for _, b in spans), default=0.0)
    return Screening(
        spec.screening,
        spec.group,
        spec.offset_s,
        float(media_s),
        presence,
        laughs,
        int(summary.get("skipped_frames") or 0),
        run,
    )


@dataclass(frozen=True)
class Scene:
    start_s: float
    end_s: float
    title: str


def read_scenes(path: str) -> List[Scene]:
    """``start,end,title`` rows (times as for offsets), in order and not overlapping."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise ReactionError("{}: cannot read scene list ({})".format(path, e.strerror)) from None
    if rows and rows[0] and rows[0][0].strip().lower() == "start":
        rows = rows[1:]
    scenes: List[Scene] = []
    for n, row in enumerate(rows, start=1):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 3:
            raise ReactionError("{}: row {}: expected start,end,title".format(path, n))
        where = "{}: row {}".format(path, n)
        start, end = parse_offset(row[0], where + " start"), parse_offset(row[1], where + " end")
        if end <= start:
            raise ReactionError("{}: scene {!r} ends before it starts".format(where, row[2]))
        if scenes and start < scenes[-1].end_s:
            raise ReactionError("{}: scene {!r} overlaps scene {!r}".format(where, row[2], scenes[-1].title))
        scenes.append(Scene(start, end, ",".join(row[2:]).strip()))
    if not scenes:
        raise ReactionError("{}: no scenes (expected start,end,title rows)".format(path))
    return scenes


def parse_compare(items: Optional[Sequence[str]], specs: List[RunSpec]) -> Dict[str, List[str]]:
    """``NAME=RUN,RUN...`` (run folders or screening ids) -> group name -> screening ids."""
    if not items:
        groups: Dict[str, List[str]] = {}
        for spec in specs:
            if spec.group:
                groups.setdefault(spec.group, []).append(spec.screening)
        return groups if len(groups) == 2 else {}
    by_key: Dict[str, str] = {}
    for spec in specs:
        by_key[spec.screening] = spec.screening
        by_key[os.path.normpath(spec.path)] = spec.screening
        by_key[os.path.abspath(spec.path)] = spec.screening
    groups = {}
    owner: Dict[str, str] = {}
    for item in items:
        name, eq, runs = item.partition("=")
        if not eq or not name.strip() or not runs.strip():
            raise ReactionError("--compare: {!r} is not NAME=RUN,RUN...".format(item))
        members = []
        for run in runs.split(","):
            key = run.strip().split("@")[0]
            sid = by_key.get(key) or by_key.get(os.path.normpath(key)) or by_key.get(os.path.abspath(key))
            if sid is None:
                raise ReactionError("--compare {}: {!r} is not one of the report's runs".format(name, run))
            if sid in owner and owner[sid] != name:
                raise ReactionError("--compare: screening {!r} is in both {} and {}".format(sid, owner[sid], name))
            owner[sid] = name
            members.append(sid)
        groups[name.strip()] = members
    if len(groups) != 2:
        raise ReactionError("--compare: give exactly two groups, NAME=RUN,... NAME=RUN,...")
    return groups
