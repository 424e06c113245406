"""Where "smile" starts: the logit offset of smile-net, chosen on dev data.

The training sets disagree on where a smile starts: on the shipped model's
dev parts, the offset with the lowest log-loss is +0.74 for SMILEsmileD,
+0.22 for LFW (Rekognition labels) and -0.76 for GENKI-4K (docs/experiments.md).
"""

import logging
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), with p kept 1e-7 away from 0 and 1."""
    return np.log(np.clip(p, 1e-7, 1 - 1e-7)) - np.log(np.clip(1 - p, 1e-7, 1))


def shift(p: np.ndarray, offset) -> np.ndarray:
    """P(smile) ``p`` with ``offset`` (scalar or per sample) added to its logit."""
    return 1.0 / (1.0 + np.exp(-(logit(p) + offset)))


def choose_offset(p: np.ndarray, y: np.ndarray, sizes: Sequence[int]) -> float:
    """Logit offset for "smile" that minimises the mean of the per-set dev log-losses.

    Sets disagree on where a smile starts (Rekognition calls slight smiles
    smiles, GENKI does not); weighting each set equally stops the largest
    one from setting the threshold alone. The log-loss, not the accuracy, is
    what is minimised: accuracy on ~300-1,100 dev faces per set is a step
    function whose best step moved from -0.75 to +0.75 between two seeds of
    one recipe, while this optimum moved by 0.13 (docs/experiments.md). Only dev
    (training) data is used; the offset is found on a 0.01 grid in [-3, 3].
    """
    if not len(p):
        return 0.0
    z = logit(p)
    bounds = np.cumsum([0] + list(sizes))
    grid = np.round(np.arange(-300, 301) / 100.0, 2)
    losses = []
    for a, e in zip(bounds, bounds[1:]):
        if e > a:
            shifted = z[a:e, None] + grid[None, :]
            is_smile = (y[a:e] == 1)[:, None]
            loss = np.where(is_smile, np.logaddexp(0, -shifted), np.logaddexp(0, shifted))
            losses.append(loss.mean(axis=0))
    return float(grid[np.argmin(np.mean(losses, axis=0))])


def calibrated_offset(
    p: np.ndarray, y: np.ndarray, sizes: Sequence[int], names: Sequence[str], calibrate: str
) -> float:
    """The exported smile offset: lowest dev log-loss on the dev part of set ``calibrate``.

    ``p``, ``y`` hold the dev parts of the sets ``names`` one after another
    (``sizes`` each). "all", or a set that is not among them, weights every
    set's dev log-loss equally instead (:func:`choose_offset`).
    """
    if calibrate in names:
        k = list(names).index(calibrate)
        a, e = sum(sizes[:k]), sum(sizes[: k + 1])
        offset = choose_offset(p[a:e], y[a:e], [e - a])
        log.info("smile logit offset %+.2f (lowest dev log-loss on %s)", offset, calibrate)
    else:
        offset = choose_offset(p, y, sizes)
        log.info(
            "smile logit offset %+.2f (lowest mean dev log-loss over the training sets%s)",
            offset,
            "" if calibrate == "all" else "; {} is not trained on".format(calibrate),
        )
    return offset
