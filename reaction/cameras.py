"""Several cameras in one room: one pipeline per camera, one output folder.

Each camera runs :func:`reaction.analysis.analyze` in its own process (both
cores, no shared interpreter lock, and each MXNet model alone in its process)
into ``DIR/cam1``, ``DIR/cam2``... with its own ``summary.json``. Viewer ids
are the camera's own; over the room a viewer is ``"cam1/3"`` (camera name,
a slash, the camera's id), which is how ``DIR/cameras.json`` keys them.

Ctrl-C or SIGTERM stops every camera as an interrupted run: the parent sends
each one SIGTERM, and each keeps what it measured.
"""

import json
import logging
import multiprocessing
import os
import signal
import sys
from typing import Any, Dict, List, Optional, Sequence

from .profiles import PipelineConfig
from .streams import mask_url
from .types import ReactionError

log = logging.getLogger(__name__)


def camera_names(n: int) -> List[str]:
    return ["cam{}".format(i + 1) for i in range(n)]


def _camera(
    spec: str,
    out_dir: str,
    config: PipelineConfig,
    stream: Dict[str, Any],
    extra: Dict[str, Any],
    verbose: bool,
) -> None:
    """One camera's run, in its own process; exits with the command's status."""
    # Ctrl-C reaches the whole process group: the parent alone decides, and sends SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s {}: %(name)s: %(message)s".format(extra.get("camera")),
    )
    from .analysis import analyze, exit_status

    try:
        done = analyze(spec, out_dir, config, extra=extra, stream=stream)
    except ReactionError as e:
        print("reaction: error: {}: {}".format(extra.get("camera"), mask_url(str(e))), file=sys.stderr)
        sys.exit(2)
    sys.exit(exit_status(done.stopped_by) if done.stopped_by is not None else 0)


def analyze_cameras(
    specs: Sequence[str],
    out_dir: str,
    config: PipelineConfig,
    stream: Optional[Dict[str, Any]] = None,
    extra: Optional[Dict[str, Any]] = None,
    verbose: bool = False,
) -> Dict[str, Any]:
    """Run every camera at once into ``out_dir``; returns what ``cameras.json`` holds.

    ``result["status"]`` is the worst exit status of the cameras (0, 2 for a
    camera that never opened, 128 + signal for a stopped run), or the
    parent's own 128 + signal when it was stopped.
    """
    from .analysis import Stopped, _sigterm_raises, exit_status

    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise ReactionError("{}: cannot write outputs ({})".format(out_dir, e.strerror)) from e
    names = camera_names(len(specs))
    ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads and models in it
    procs = []
    for name, spec in zip(names, specs):
        fields = dict(extra or {}, video=mask_url(spec), camera=name)
        args = (spec, os.path.join(out_dir, name), config, dict(stream or {}), fields, verbose)
        p = ctx.Process(target=_camera, args=args, name="reaction-" + name)
        p.start()
        procs.append(p)
    stopped_by: Optional[int] = None
    try:
        with _sigterm_raises():
            for p in procs:
                p.join()
    except KeyboardInterrupt:
        stopped_by = signal.SIGINT
    except Stopped as e:
        stopped_by = e.signum
    if stopped_by is not None:
        with_held = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for p in procs:
                if p.is_alive() and p.pid is not None:
                    os.kill(p.pid, signal.SIGTERM)
            for p in procs:
                p.join()
        finally:
            signal.signal(signal.SIGINT, with_held)
    codes = [p.exitcode if p.exitcode is not None else 1 for p in procs]
    # A process killed by a signal has a negative exit code.
    codes = [128 - c if c < 0 else c for c in codes]
    room = _combine(out_dir, names, specs, codes)
    room["status"] = exit_status(stopped_by) if stopped_by is not None else max(codes)
    return room


def _combine(out_dir: str, names: Sequence[str], specs: Sequence[str], codes: Sequence[int]) -> Dict[str, Any]:
    """``cameras.json``: each camera's key figures, and every viewer as ``camera/id``."""
    cameras: List[Dict[str, Any]] = []
    viewers: Dict[str, Any] = {}
    events = 0
    for name, spec, code in zip(names, specs, codes):
        entry: Dict[str, Any] = {"camera": name, "video": mask_url(spec), "exit_status": code}
        path = os.path.join(out_dir, name, "summary.json")
        if os.path.exists(path):
            with open(path) as f:
                summary = json.load(f)
            entry.update(
                summary="{}/summary.json".format(name),
                frames=summary.get("frames"),
                fps=summary.get("fps"),
                viewers=len(summary.get("viewers", {})),
                events=summary.get("events", 0),
                interrupted=summary.get("interrupted", False),
            )
            if "stream" in summary:
                entry["stream"] = {k: v for k, v in summary["stream"].items() if k != "segments"}
            events += int(summary.get("events", 0))
            for vid, figures in summary.get("viewers", {}).items():
                viewers["{}/{}".format(name, vid)] = figures
        cameras.append(entry)
    room = {"cameras": cameras, "viewers": viewers, "events": events}
    with open(os.path.join(out_dir, "cameras.json"), "w") as f:
        json.dump(room, f, indent=2)
        f.write("\n")
    return room
