"""Measure smile-net and two baselines: ``reaction evaluate --data DIR [--model DIR]``.

Rows (every crop made by the run-time detector + ``crop_faces``):

1. ``genki-test``: GENKI-4K ``test/``, never trained on.
2. ``lfw-rekognition-val``: the original DeepLens val split, scored by the
   model in ``--lfw-model`` (default ``MODEL/lfw-only``), which is trained on
   ``lfw-rekognition-train`` only, so the comparison with its 79.2% is fair.
3. ``smilesmiled-heldout``: the fixed-hash held-out 15% of SMILEsmileD.
4. ``lfw-muxspace-val``: the same val images with muxspace's independent
   happiness/neutral labels, a cross-check of label noise. Restricted to the
   val images because the shipped model trains on the rekognition train images.

Each smile-net row is followed by the same model on only the images where
Haar found a face (the rest use a fallback box, see ``datasets.detect_set``):
that is what the pipeline scores on video, where an unfound face is never
scored. The LFW val rows are also given on only the images whose label the
other label set gives too: where the two disagree, the label is in doubt.
Baselines on the same boxes: OpenCV's ``haarcascade_smile.xml`` (scale
factor and hit threshold tuned on the matching train set only) and the
majority class of the matching train set.
"""

import logging
import os
from dataclasses import replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..detector import cascade_path
from ..preprocess import InputSpec
from ..smile import SmileNet
from . import datasets
from .cache import is_dev
from .calibration import choose_offset
from .config import TrainConfig

log = logging.getLogger(__name__)

# (eval set, train set it is matched with for baselines, which model scores it)
ROWS = (
    ("genki-test", "genki-train", "main"),
    ("lfw-rekognition-val", "lfw-rekognition-train", "lfw"),
    ("smilesmiled-heldout", "smilesmiled-train", "main"),
    ("lfw-muxspace-val", "lfw-rekognition-train", "main"),
    ("lfw-muxspace-val", "lfw-rekognition-train", "lfw"),
)
# Evaluation sets scored also at the threshold calibrated on this training set's dev part.
CALIBRATE_ON = {"genki-test": "genki-train"}
# The same LFW val images under the other label set.
OTHER_LABELS = {"lfw-rekognition-val": "lfw-muxspace-val", "lfw-muxspace-val": "lfw-rekognition-val"}
SMILE_CROP = 96  # the smile cascade's 36x18 window needs a bigger crop than the net's
TUNE_LIMIT = 3000  # train images used to tune the smile cascade


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half)."""
    from scipy.stats import rankdata

    pos = labels == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def metrics(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> Dict[str, float]:
    """Accuracy, balanced accuracy, ROC AUC and n for P(smile) ``scores``."""
    pred = scores >= threshold
    pos = labels == 1
    recalls = [pred[pos].mean() if pos.any() else np.nan, (~pred[~pos]).mean() if (~pos).any() else np.nan]
    return {
        "n": int(len(labels)),
        "accuracy": float((pred == pos).mean()) if len(labels) else float("nan"),
        "balanced_accuracy": float(np.nanmean(recalls)),
        "roc_auc": roc_auc(labels, scores),
    }


def load_model(model_dir: str) -> SmileNet:
    """The exported model of a folder, through the same loader the pipeline uses."""
    return SmileNet.load(model_dir)


def agreed_labels(data_dir: str, eval_set: str, cs: datasets.CropSet) -> Optional[np.ndarray]:
    """Mask of ``cs``'s images that the other label set labels the same (and never otherwise).

    None for a set without another labelling.
    """
    other = OTHER_LABELS.get(eval_set)
    if other is None:
        return None
    theirs: Dict[str, set] = {}
    for sample in datasets.load_set(data_dir, other):
        theirs.setdefault(sample.path, set()).add(int(sample.label))
    return np.array([theirs.get(path) == {int(label)} for path, label in zip(cs.paths, cs.labels)], bool)


def score_model(model: SmileNet, crops: np.ndarray) -> np.ndarray:
    """P(smile) for uint8 crops cut with ``raw_spec(model.spec)``."""
    return datasets.smile_probabilities(model.predict_batch, crops, model.spec)


def calibrated_threshold(model: SmileNet, data_dir: str, train_set: str, cache: str) -> Tuple[float, int]:
    """The P(smile) threshold with the lowest log-loss on the dev part of ``train_set``, and that part's size.

    GENKI-4K test is scored at this threshold: GENKI's own idea of where a
    smile starts, learnt from its training images only (the dev part, which
    no model here trains on), never from the test set.
    """
    cs = datasets.build_crops(data_dir, train_set, model.spec, cache)
    dev = np.array([is_dev(p, TrainConfig.dev_percent) for p in cs.paths], bool)
    offset = choose_offset(score_model(model, cs.crops[dev]), cs.labels[dev], [int(dev.sum())])
    # logit(P) + offset = 0 at the threshold.
    return float(1.0 / (1.0 + np.exp(offset))), int(dev.sum())


class SmileCascade:
    """The classic baseline: OpenCV's smile cascade in the lower half of the face crop.

    The score is the number of raw (ungrouped) cascade hits, which is a
    continuous-enough confidence for ROC AUC; "smile" is ``score >= threshold``.
    """

    def __init__(self, scale_factor: float = 1.1, threshold: float = 1.0) -> None:
        self.scale_factor = scale_factor
        self.threshold = threshold
        self._cascade = cv2.CascadeClassifier(cascade_path("haarcascade_smile.xml"))

    def scores(self, greys: np.ndarray) -> np.ndarray:
        """Raw hit counts for ``N, S, S`` uint8 grey face crops."""
        out = np.zeros(len(greys), np.float64)
        for i, g in enumerate(greys):
            mouth = cv2.equalizeHist(np.ascontiguousarray(g[g.shape[0] // 2 :]))
            hits = self._cascade.detectMultiScale(mouth, self.scale_factor, 0, minSize=(24, 12))
            out[i] = len(hits)
        return out

    def tune(self, greys: np.ndarray, labels: np.ndarray) -> Dict[str, float]:
        """Pick scale factor and hit threshold with the best train accuracy."""
        best = (-1.0, self.scale_factor, self.threshold)
        for sf in (1.05, 1.1, 1.2):
            self.scale_factor = sf
            s = self.scores(greys)
            for t in np.unique(np.concatenate([s, s + 1])):
                acc = float(((s >= t) == (labels == 1)).mean())
                if acc > best[0]:
                    best = (acc, sf, float(t))
        _, self.scale_factor, self.threshold = best
        return {"train_accuracy": best[0], "scale_factor": self.scale_factor, "threshold": self.threshold}


def smile_crops(data_dir: str, name: str, spec: InputSpec, cache: str) -> datasets.CropSet:
    """Grey crops with the model's box geometry, at the size the smile cascade needs."""
    return datasets.build_crops(
        data_dir, name, replace(spec, width=SMILE_CROP, height=SMILE_CROP, channels="grey"), cache
    )


def evaluate(
    data_dir: str,
    model_dir: str,
    lfw_model_dir: str,
    cache: str,
    baselines: bool = True,
    failures: int = 5,
) -> List[Dict[str, Any]]:
    """All rows of the table, as dicts."""
    models = {"main": load_model(model_dir), "lfw": load_model(lfw_model_dir)}
    names = {"main": model_dir, "lfw": lfw_model_dir}
    rows: List[Dict[str, Any]] = []
    tuned: Dict[str, Tuple[SmileCascade, Dict[str, float]]] = {}
    done_baselines = set()
    agreements: Dict[str, Optional[np.ndarray]] = {}  # lfw-muxspace-val is scored by both models
    for eval_set, train_set, which in ROWS:
        model = models[which]
        spec = model.spec
        cs = datasets.build_crops(data_dir, eval_set, spec, cache)
        p = score_model(model, cs.crops)
        row = {
            "set": eval_set,
            "method": "smile-net " + names[which],
            "haar_found": float(cs.detected.mean()),
            **metrics(cs.labels, p),
        }
        wrong = np.flatnonzero((p >= 0.5) != (cs.labels == 1))
        worst = wrong[np.argsort(-np.abs(p[wrong] - 0.5))][:failures]
        row["failures"] = [
            (os.path.relpath(cs.paths[i], data_dir), int(cs.labels[i]), round(float(p[i]), 3)) for i in worst
        ]
        rows.append(row)
        if which == "main" and eval_set in CALIBRATE_ON:
            t, n_dev = calibrated_threshold(model, data_dir, CALIBRATE_ON[eval_set], cache)
            rows.append(
                {
                    "set": eval_set,
                    "method": "  same, at P >= {:.3f} ({} dev)".format(t, CALIBRATE_ON[eval_set]),
                    "threshold": t,
                    "calibration_images": n_dev,
                    **metrics(cs.labels, p, t),
                }
            )
        found = cs.detected.astype(bool)
        if 0 < found.sum() < len(found):
            # Video only ever scores faces the cascade found; the fallback
            # boxes exist so that no evaluation image is silently dropped.
            rows.append(
                {"set": eval_set, "method": "  same, Haar-found faces only", **metrics(cs.labels[found], p[found])}
            )
        if eval_set not in agreements:
            agreements[eval_set] = agreed_labels(data_dir, eval_set, cs)
        agreed = agreements[eval_set]
        if agreed is not None and agreed.any():
            rows.append(
                {
                    "set": eval_set,
                    "method": "  same, images both label sets agree on",
                    **metrics(cs.labels[agreed], p[agreed]),
                }
            )
        if not baselines or eval_set in done_baselines:
            continue
        done_baselines.add(eval_set)
        train = datasets.build_crops(data_dir, train_set, spec, cache)
        majority = int(train.labels.mean() >= 0.5)
        rows.append(
            {
                "set": eval_set,
                "method": "majority class ({})".format("smile" if majority else "neutral"),
                **metrics(cs.labels, np.full(len(cs), float(majority))),
            }
        )
        if train_set not in tuned:
            tr = smile_crops(data_dir, train_set, spec, cache)
            pick = np.random.RandomState(0).permutation(len(tr))[:TUNE_LIMIT]
            cascade = SmileCascade()
            tuned[train_set] = (cascade, cascade.tune(tr.crops[pick, 0], tr.labels[pick]))
        cascade, info = tuned[train_set]
        ev = smile_crops(data_dir, eval_set, spec, cache)
        s = cascade.scores(ev.crops[:, 0])
        m = metrics(ev.labels, s, cascade.threshold)
        rows.append(
            {
                "set": eval_set,
                "method": "haarcascade_smile (sf {}, hits>={:g})".format(cascade.scale_factor, cascade.threshold),
                **m,
            }
        )
    return rows


def format_table(rows: Sequence[Dict[str, Any]]) -> str:
    lines = ["{:<21} {:<42} {:>6} {:>8} {:>9} {:>7}".format("set", "method", "n", "accuracy", "bal. acc", "ROC AUC")]
    for r in rows:
        lines.append(
            "{:<21} {:<42} {:>6} {:>8.4f} {:>9.4f} {:>7.4f}".format(
                r["set"], str(r["method"])[:42], r["n"], r["accuracy"], r["balanced_accuracy"], r["roc_auc"]
            )
        )
    return "\n".join(lines)
