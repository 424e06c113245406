"""What a worker runs for one video: ``reaction analyze``'s own code path, into a folder renamed when complete."""

import os
import shutil
import time
from typing import Any, Dict, Optional

#: Set in each worker process before OpenCV, numpy or MXNet load there: the
#: workers are the parallelism, and a library's own threads would only
#: contend for the same cores (see also reaction/__init__.py).
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MXNET_CPU_WORKER_NTHREADS": "1",
    "OPENCV_FOR_THREADS_NUM": "1",
    "OPENCV_FFMPEG_LOGLEVEL": "-8",  # one line per bad video in batch.json, not FFmpeg's own chatter
}

_smile_nets: Dict[Optional[str], Any] = {}


def smile_net(model_dir: Optional[str]):
    """The process's smile-net for ``model_dir``: loaded once per worker, not once per video."""
    net = _smile_nets.get(model_dir)
    if net is None:
        from ..smile import SmileNet

        net = _smile_nets[model_dir] = SmileNet.load(model_dir)
    return net


def _one_line(e: BaseException) -> str:
    from ..types import ReactionError

    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return text if isinstance(e, ReactionError) else "{}: {}".format(type(e).__name__, text).rstrip(": ")


def analyze_video(video: str, screening: str, out_dir: str, profile: str, model_dir: Optional[str]) -> Dict[str, Any]:
    """Analyse one video into ``out_dir/screening``; never raises for a bad video, says why instead.

    The config is built here from plain settings, the same way ``reaction
    analyze --profile P [--model DIR]`` builds it, so the outputs are the same.
    """
    import cv2

    from ..analysis import analyze
    from ..profiles import profile_config
    from .jobs import partial_dir, result_dir

    cv2.setNumThreads(1)
    started = time.perf_counter()
    final, partial = result_dir(out_dir, screening), partial_dir(out_dir, screening)
    # A worker killed mid-video leaves its partial folder; the retry starts afresh.
    shutil.rmtree(partial, ignore_errors=True)
    try:
        os.makedirs(partial)
        config = profile_config(profile)
        if model_dir is not None:
            from dataclasses import replace

            config = replace(config, model_dir=model_dir)
        done = analyze(
            video, partial, config, smile_net=smile_net(model_dir), extra={"video": video, "profile": profile}
        )
        os.rename(partial, final)
    except Exception as e:
        shutil.rmtree(partial, ignore_errors=True)
        return {
            "screening": screening,
            "status": "failed",
            "error": _one_line(e),
            "seconds": round(time.perf_counter() - started, 3),
        }
    return {
        "screening": screening,
        "status": "done",
        "frames": done.summary["frames"],
        "skipped_frames": done.summary["skipped_frames"],
        "seconds": round(time.perf_counter() - started, 3),
    }
