"""Ensembles of smile-nets: ``reaction train --members N``.

Several nets of one recipe, differing only in their seed, are trained side by
side (one child ``reaction train`` per core) and fused into one exported model
whose smile logit is their mean (:func:`reaction.export.fuse`). On LFW's
noisy labels a single net of this size sits at a plateau that more width or
epochs did not lift (docs/experiments.md); averaging independently trained nets
removes the part of their errors that differs from seed to seed.
"""

import json
import logging
import os
import subprocess
import sys
import time
from typing import Any, Dict, List, Tuple

from ..preprocess import model_paths
from ..types import ReactionError
from . import datasets, export, train
from .calibration import calibrated_offset, shift
from .config import TrainConfig, parse_set

log = logging.getLogger(__name__)


# What a member's training depends on, each also a ``reaction train`` option
# (``--batch-size`` for batch_size); a member folder whose log matches these
# (with the member's seed) is not trained again.
RECIPE = (
    "sets",
    "arch",
    "widths",
    "size",
    "channels",
    "margin",
    "align",
    "epochs",
    "batch_size",
    "lr",
    "wd",
    "label_smoothing",
    "mixup",
    "ema_epochs",
    "set_bias",
    "calibrate",
    "teacher",
    "teacher_weight",
    "dev_percent",
    "limit",
    "prefix",
)


def _acting_recipe(values: Dict) -> Dict:
    """RECIPE fields as they act on training: with one set, a per-set bias and a
    calibration set that is not trained on change nothing; without a teacher,
    neither does its weight."""
    recipe = {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in values.items() if k in RECIPE}
    names = [parse_set(item)[0] for item in recipe["sets"]]
    if len(names) < 2:
        recipe["set_bias"] = False
    if recipe["calibrate"] not in names:
        recipe["calibrate"] = "all"
    if not recipe["teacher"]:
        recipe["teacher_weight"] = TrainConfig.teacher_weight
    return recipe


def _member_command(cfg: TrainConfig, seed: int, out: str, cache: str) -> List[str]:
    """``reaction train`` arguments that train one member of ``cfg`` with ``seed``."""
    args = ["--data", cfg.data, "--out", out, "--cache", cache, "--seed", str(seed), "--members", "1"]
    for key in RECIPE:
        value = getattr(cfg, key)
        if value is not None:
            text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
            args += ["--" + key.replace("_", "-"), text]
    return [sys.executable, "-m", "reaction", "train"] + args


def _finished_member(cfg: TrainConfig, seed: int, out: str) -> bool:
    """True if ``out`` holds a complete model trained with ``cfg``'s recipe and ``seed``."""
    log_path = os.path.join(out, cfg.prefix + "-train.json")
    if not all(os.path.isfile(p) for p in model_paths(out, cfg.prefix) + (log_path,)):
        return False
    try:
        with open(log_path) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return False
    default = TrainConfig()
    # A field missing from an older log predates its option: it had the default.
    logged = {k: meta.get(k, getattr(default, k)) for k in RECIPE}
    same = _acting_recipe(logged) == _acting_recipe({k: getattr(cfg, k) for k in RECIPE})
    return same and meta.get("seed") == seed and len(meta.get("history", [])) == cfg.epochs


def train_members(cfg: TrainConfig) -> Dict[str, Any]:
    """Train ``cfg.members`` nets side by side and export their fused average to ``cfg.out``.

    Each member is a ``reaction train`` child process with its own seed
    (``seed``, ``seed + 1``, ...) writing to ``OUT/members/seed-S``, with one
    OpenMP thread and MXNet's NaiveEngine unless ``OMP_NUM_THREADS`` and
    ``MXNET_ENGINE_TYPE`` say otherwise. At most one runs per core, so two
    members take about the wall time of one on two cores. A member folder
    that already holds this recipe's model for its seed is kept. The fused
    model's smile offset is chosen on dev like a single net's.
    """
    from ..smile import SmileNet

    t0 = time.time()
    spec = cfg.spec()
    cache = os.path.abspath(cfg.cache or os.path.join(cfg.out, "cache"))
    cfg.cache = cache
    # Crops are cut once here, so that the members only read the cache.
    _, _, dev_x, dev_y = train.load_training_data(cfg)
    seeds = [cfg.seed + k for k in range(cfg.members)]
    dirs = [os.path.join(cfg.out, "members", "seed-{}".format(s)) for s in seeds]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    # MXNet's synchronous engine: 15% less time per training step of this
    # small net than the threaded one (measured on the 2-core AMD machine),
    # same results. It prints one line at start (apache/mxnet#16666), which a
    # training log can bear; the pipeline does not use it for that reason.
    env.setdefault("MXNET_ENGINE_TYPE", "NaiveEngine")
    pending = list(zip(seeds, dirs))
    running: List[Tuple[subprocess.Popen, str]] = []
    failed: List[str] = []
    while pending or running:
        while pending and len(running) < max(1, os.cpu_count() or 1):
            seed, out = pending.pop(0)
            if _finished_member(cfg, seed, out):
                log.info("member seed %d: already trained with this recipe in %s, kept", seed, out)
                continue
            log.info("member seed %d -> %s", seed, out)
            running.append((subprocess.Popen(_member_command(cfg, seed, out, cache), env=env), out))
        if not running:
            continue
        proc, out = running.pop(0)
        if proc.wait() != 0:
            failed.append(out)
    if failed:
        raise ReactionError("member training failed ({}); see the lines above".format(", ".join(failed)))
    sym_path, params_path, spec_path = model_paths(cfg.out, cfg.prefix)
    export.fuse([model_paths(d, cfg.prefix)[:2] for d in dirs], sym_path, params_path)
    spec.save(spec_path)
    p = datasets.smile_probabilities(SmileNet.load(cfg.out, cfg.prefix).predict_batch, dev_x, spec)
    cfg.smile_offset = calibrated_offset(p, dev_y, cfg.dev_sizes, cfg.set_names(), cfg.calibrate)
    export.shift_smile_logit(sym_path, params_path, cfg.smile_offset, spec.smile_index)
    # The offset moves every logit by the same amount: no second pass needed.
    dev_acc, by_set = train.dev_accuracy(shift(p, cfg.smile_offset), dev_y, cfg)
    figures = {"dev_acc": dev_acc, "dev_acc_by_set": by_set, "total_seconds": time.time() - t0}
    log.info(
        "fused %d members, smile logit offset %+.2f: dev_acc %.4f %s; total %.0fs",
        len(dirs),
        cfg.smile_offset,
        figures["dev_acc"],
        figures["dev_acc_by_set"],
        figures["total_seconds"],
    )
    export.write_log(cfg, {"member_dirs": [os.path.relpath(d, cfg.out) for d in dirs], "fused": figures})
    return figures
