"""The client side of a batch: the cluster, one task per video, progress, ``batch.json`` and ``runs.csv``."""

import csv
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from ..types import ReactionError
from .jobs import Job, result_dir
from .worker import ONE_THREAD, analyze_video

#: A worker that dies mid-video is replaced by its nanny; the video is tried
#: again on another worker, at most twice more, before it counts as failed.
RETRIES = 2


@dataclass
class BatchResult:
    """Per-video status, as written to ``DIR/batch.json``."""

    videos: List[Dict[str, Any]] = field(default_factory=list)
    dashboard: Optional[str] = None

    @property
    def failed(self) -> List[Dict[str, Any]]:
        return [v for v in self.videos if v["status"] == "failed"]

    @property
    def exit_status(self) -> int:
        return 1 if self.failed else 0


def local_cluster(workers: Optional[int] = None):
    """A ``LocalCluster`` on 127.0.0.1: worker processes of one thread, OpenCV, MXNet and BLAS on one thread each."""
    import dask
    from distributed import LocalCluster

    # The workers are the parallelism: a library's own threads would only
    # contend for the same cores. The nanny puts pre-spawn-environ into the
    # environment before it starts a worker process, so these hold before
    # numpy, OpenCV and MXNet load there (env= alone is applied too late for
    # OpenMP); a user's own setting of a variable wins, as in reaction/__init__.py.
    spawn_env = dict(dask.config.get("distributed.nanny.pre-spawn-environ"), **ONE_THREAD)
    with dask.config.set(
        {"distributed.nanny.pre-spawn-environ": spawn_env, "distributed.scheduler.allowed-failures": RETRIES}
    ):
        return LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            # The scheduler's web server always starts: here, never on the default public port.
            dashboard_address="127.0.0.1:0",
            env=dict(ONE_THREAD),
            silence_logs=40,  # errors only: a killed worker is reported per video, not as a log storm
        )


def _client(scheduler: Optional[str], workers: Optional[int]):
    from distributed import Client

    scheduler = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if scheduler:
        # An existing cluster keeps its own settings (allowed-failures is 3 by default).
        try:
            return Client(scheduler, timeout="20s"), None
        except (OSError, TimeoutError, ValueError) as e:
            raise ReactionError("cannot reach the Dask scheduler at {} ({})".format(scheduler, e)) from None
    cluster = local_cluster(workers)
    return Client(cluster), cluster


def _dashboard(client, local: bool) -> Optional[str]:
    if local:
        try:
            import bokeh  # noqa: F401  without it the local scheduler serves no dashboard pages
        except ImportError:
            return None
    try:
        if "dashboard" in client.scheduler_info().get("services", {}):
            return str(client.dashboard_link)
    except Exception:  # a dashboard is a nicety; the batch runs without one
        pass
    return None


def _write_json(path: str, data: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def write_runs(out_dir: str, jobs: Sequence[Job], result: BatchResult) -> str:
    """``DIR/runs.csv`` for ``reaction report``: ``run,offset,screening,group``, one row per finished screening."""
    ok = {v["screening"] for v in result.videos if v["status"] in ("done", "skipped")}
    path = os.path.join(out_dir, "runs.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", "offset", "screening", "group"])
        for job in jobs:
            if job.screening in ok:
                w.writerow([os.path.abspath(result_dir(out_dir, job.screening)), job.offset, job.screening, job.group])
    return path


def run_batch(
    jobs: Sequence[Job],
    out_dir: str,
    profile: str = "balanced",
    model_dir: Optional[str] = None,
    workers: Optional[int] = None,
    scheduler: Optional[str] = None,
    progress: bool = True,
) -> BatchResult:
    """Analyse every job not already finished in ``out_dir``; write ``batch.json`` and ``runs.csv``."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker
    from tqdm import tqdm

    from ..profiles import profile_config

    profile_config(profile)  # a bad profile is the command's input error, not every video's
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ReactionError("--out {}: not a folder".format(out_dir))
    os.makedirs(out_dir, exist_ok=True)
    out_dir = os.path.abspath(out_dir)
    result = BatchResult()
    status: Dict[str, Dict[str, Any]] = {}
    todo = []
    for job in jobs:
        entry: Dict[str, Any] = {"video": job.video, "screening": job.screening}
        if os.path.isdir(result_dir(out_dir, job.screening)):
            entry["status"] = "skipped"  # finished by an earlier run: a folder exists only when complete
        else:
            entry["status"] = "pending"  # stays so in batch.json if the batch is interrupted
            todo.append(job)
        status[job.screening] = entry
        result.videos.append(entry)

    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), unit="video", disable=not progress, file=sys.stderr)
    client, cluster = _client(scheduler, workers) if todo else (None, None)
    try:
        if client is not None:
            result.dashboard = _dashboard(client, local=cluster is not None)
            if result.dashboard:
                print("dask dashboard: {}".format(result.dashboard), file=sys.stderr)
            batch_id = uuid.uuid4().hex[:8]  # two batches on one cluster may name the same screening
            futures = {
                client.submit(
                    analyze_video,
                    job.video,
                    job.screening,
                    out_dir,
                    profile,
                    model_dir,
                    key="analyze-{}-{}".format(job.screening, batch_id),
                    pure=False,
                    retries=0,
                ): job
                for job in todo
            }
            started, frames = time.perf_counter(), 0
            for future in as_completed(futures):
                job = futures[future]
                try:
                    outcome = future.result()
                except KilledWorker as e:
                    died = "a worker process died on this video {} times".format(e.allowed_failures + 1)
                    outcome = {"status": "failed", "error": died}
                except Exception as e:  # the task itself catches the video's errors; this is dask's
                    outcome = {"status": "failed", "error": "{}: {}".format(type(e).__name__, e).splitlines()[0]}
                outcome.pop("screening", None)
                status[job.screening].update(outcome)
                if outcome["status"] == "failed":
                    name = (
                        job.screening if job.video in outcome["error"] else "{} ({})".format(job.screening, job.video)
                    )
                    bar.write("reaction: {} failed: {}".format(name, outcome["error"]), file=sys.stderr)
                frames += outcome.get("frames", 0)
                bar.set_postfix_str("{:.1f} frames/s".format(frames / max(time.perf_counter() - started, 1e-9)))
                bar.update(1)
    finally:
        bar.close()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        _write_json(os.path.join(out_dir, "batch.json"), {"videos": result.videos, "profile": profile})
        write_runs(out_dir, jobs, result)
    return result
