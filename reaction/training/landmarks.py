"""YuNet's five face landmarks for the training images, cached beside their Haar boxes.

Aligned crops (:mod:`reaction.align`) need the landmarks that YuNet gives the
pipeline on video. Here YuNet runs on each training image, prepared as the
Haar pass prepares it (tight crops padded and upscaled), and the face whose
centre is nearest the image's Haar box is kept. Where YuNet finds no face,
the row is NaN and the crop falls back to the box crop, as a Haar-only face
does on video.
"""

import logging
import os
from typing import Optional, Sequence

import cv2
import numpy as np

from ..facecheck import DEFAULT_YUNET
from ..preprocess import as_bgr
from ..types import ReactionError
from .cache import TIGHT_PAD, TIGHT_UPSCALE, atomic_save, digest, image_ids, prepare_tight, read_image

log = logging.getLogger(__name__)

# Lower than the pipeline's 0.6: each training image holds one face, so a
# low-scored YuNet box is a hard face (a turned or dark one), not a hand.
SCORE = 0.4


class _YuNet:
    def __init__(self, model: str = DEFAULT_YUNET) -> None:
        if not os.path.isfile(model):
            raise ReactionError("{}: YuNet model not found".format(model))
        self.net = cv2.FaceDetectorYN.create(model, "", (64, 64), SCORE, 0.3, 50)

    def landmarks(self, image: np.ndarray, tight: bool, box: Sequence[float]) -> Optional[np.ndarray]:
        """(5, 2) landmarks in image pixels of the face nearest ``box``'s centre, or None."""
        bgr, pad, up = prepare_tight(as_bgr(image)) if tight else (as_bgr(image), 0, 1.0)
        self.net.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, faces = self.net.detect(bgr)
        if faces is None or not len(faces):
            return None
        centre = np.array([box[0] + box[2] / 2.0, box[1] + box[3] / 2.0])
        found = [row[4:14].reshape(5, 2).astype(np.float64) / up - pad for row in faces]
        return min(found, key=lambda marks: float(((marks.mean(axis=0) - centre) ** 2).sum()))


def landmarks_for_set(
    name: str, paths: Sequence[str], boxes: np.ndarray, tight: bool, cache_dir: str, root: Optional[str]
) -> np.ndarray:
    """``(N, 5, 2)`` landmarks for the images ``paths`` (cached), NaN where YuNet found none."""
    key = digest(name, image_ids(paths, root), np.round(boxes, 3).tolist(), SCORE, TIGHT_PAD, TIGHT_UPSCALE)
    path = os.path.join(cache_dir, "landmarks-{}-{}.npy".format(name, key))
    if os.path.isfile(path):
        return np.load(path)
    yunet = _YuNet()
    out = np.full((len(paths), 5, 2), np.nan)
    for i, p in enumerate(paths):
        image = read_image(p)
        if image is None:
            raise ReactionError("{}: no longer readable (its face box is cached in {})".format(p, cache_dir))
        marks = yunet.landmarks(image, tight, boxes[i])
        if marks is not None:
            out[i] = marks
    found = int(np.isfinite(out[:, 0, 0]).sum())
    log.info("%s: YuNet landmarks on %d of %d images", name, found, len(paths))
    os.makedirs(cache_dir, exist_ok=True)
    atomic_save(path, lambda f: np.save(f, out))
    return out
