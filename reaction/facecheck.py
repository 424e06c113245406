"""Is this box a face? A second opinion from a CNN, so that papers and posters never become viewers.

Haar fires on face-like texture: a stack of papers, a whiteboard, a patterned
shirt. A track left on such a spot looks like a viewer to the tracker, and the
smile net, which has only ever seen faces, scores it as it pleases (above 0.8
on a real clip). YuNet (``models/yunet``, MIT) looks at a crop around the box
instead, at a small fixed size, which costs about a millisecond.

``face_check.score(image, box)`` gives YuNet's best score for a face in the
crop that overlaps the box, 0.0 when there is none; :class:`FaceGate` keeps a
verdict per viewer, so that a track counts as a viewer only while it is a face.
"""

import os
import threading
from dataclasses import dataclass
from typing import Any, Dict, Sequence, Set

import cv2
import numpy as np

from .boxes import box_iou
from .types import Box, ConfigError, ReactionError, Track

DEFAULT_YUNET = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "models", "yunet", "face_detection_yunet_2026may.onnx"
)


def face_check_available() -> bool:
    """Whether this OpenCV can run YuNet (``cv2.FaceDetectorYN``, OpenCV 4.5.4 and newer)."""
    return hasattr(cv2, "FaceDetectorYN")


@dataclass(frozen=True)
class FaceCheckConfig:
    """Attributes:
    threshold: YuNet score at which a box counts as a face.
    context: side of the crop, in box sides: YuNet needs to see the head and some background.
    side: pixels the crop is resized to; a box fills ``side / context`` of them.
    """

    threshold: float = 0.5
    context: float = 2.0
    side: int = 96
    model: str = DEFAULT_YUNET

    def validate(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError("FaceCheckConfig", "threshold must be in (0, 1), got {}".format(self.threshold))
        if self.context < 1.0:
            raise ConfigError("FaceCheckConfig", "context must be >= 1, got {}".format(self.context))
        if self.side < 32:
            raise ConfigError("FaceCheckConfig", "side must be >= 32 pixels, got {}".format(self.side))


class FaceCheck:
    """YuNet on a crop around one box at a time. Thread-safe: one network per thread."""

    def __init__(self, config: FaceCheckConfig = FaceCheckConfig()) -> None:
        config.validate()
        if not os.path.isfile(config.model):
            raise ReactionError("{}: face check model not found".format(config.model))
        if not face_check_available():
            raise ReactionError("OpenCV {} has no FaceDetectorYN (4.5.4 or newer needed)".format(cv2.__version__))
        self.config = config
        self._local = threading.local()

    def _net(self) -> Any:
        net = getattr(self._local, "net", None)
        if net is None:
            side = self.config.side
            # Score threshold low: the caller compares with its own; NMS as YuNet's default.
            net = cv2.FaceDetectorYN.create(self.config.model, "", (side, side), 0.1, 0.3, 20)
            self._local.net = net
        return net

    def crop(self, image: np.ndarray, box: Box) -> np.ndarray:
        """The ``side x side`` BGR crop YuNet sees: ``context`` box sides around the box centre."""
        x, y, w, h = box
        span = max(w, h) * self.config.context
        x0, y0 = int(round(x + w / 2.0 - span / 2.0)), int(round(y + h / 2.0 - span / 2.0))
        n = max(1, int(round(span)))
        out = np.zeros((n, n, 3), np.uint8)  # black where the crop leaves the frame
        ih, iw = image.shape[:2]
        sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(iw, x0 + n), min(ih, y0 + n)
        if sx1 > sx0 and sy1 > sy0:
            patch = image[sy0:sy1, sx0:sx1]
            if patch.ndim == 2:
                patch = cv2.cvtColor(patch, cv2.COLOR_GRAY2BGR)
            out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = patch[:, :, :3]
        side = self.config.side
        return cv2.resize(out, (side, side), interpolation=cv2.INTER_AREA if n > side else cv2.INTER_LINEAR)

    def score(self, image: np.ndarray, box: Box) -> float:
        """YuNet's score for the face that overlaps ``box``, or 0.0."""
        crop = self.crop(image, box)
        _, faces = self._net().detect(crop)
        if faces is None or not len(faces):
            return 0.0
        # The box in crop pixels: centred, ``side / context`` wide.
        side = float(self.config.side)
        bw, bh = (
            box[2] / (max(box[2], box[3]) * self.config.context) * side,
            box[3] / (max(box[2], box[3]) * self.config.context) * side,
        )
        inner = ((side - bw) / 2.0, (side - bh) / 2.0, bw, bh)
        best = 0.0
        for row in faces:
            if box_iou(inner, (float(row[0]), float(row[1]), float(row[2]), float(row[3]))) >= 0.2:
                best = max(best, float(row[-1]))
        return best

    def is_face(self, image: np.ndarray, box: Box) -> bool:
        return self.score(image, box) >= self.config.threshold


class _Verdict:
    __slots__ = ("face", "misses", "next_s")

    def __init__(self, face: bool, misses: int, next_s: float) -> None:
        self.face = face
        self.misses = misses
        self.next_s = next_s


class FaceGate:
    """Which confirmed tracks are faces, kept per viewer. One call: ``gate.update(image, tracks, t)``.

    A track is looked at when the tracker confirms it, and again about every
    ``every_s`` seconds on a frame where a detection fed it (a predicted box
    may have drifted off the face). It stops counting as a face after
    ``misses`` checks in a row fail, and counts again when one passes: a
    viewer who looked down for a check is not lost, a whiteboard never counts.
    """

    def __init__(self, check: FaceCheck, every_s: float = 1.0, misses: int = 2) -> None:
        if every_s <= 0 or misses < 1:
            raise ConfigError("FaceGate", "every_s must be > 0 and misses >= 1, got {} and {}".format(every_s, misses))
        self.check = check
        self.every_s = every_s
        self.misses = misses
        self.checks = 0
        self._verdicts: Dict[int, _Verdict] = {}

    def update(self, image: np.ndarray, tracks: Sequence[Track], time_s: float) -> Set[int]:
        """The viewer ids among ``tracks`` (confirmed ones) that count as faces now."""
        faces = set()
        for tr in tracks:
            verdict = self._verdicts.get(tr.viewer_id)
            if verdict is None:
                # A new viewer is a face from its first check on, or not until one passes.
                face = self._look(image, tr)
                verdict = self._verdicts[tr.viewer_id] = _Verdict(
                    face, 0 if face else self.misses, time_s + self.every_s
                )
            elif time_s >= verdict.next_s and tr.detection is not None:
                if self._look(image, tr):
                    verdict.face, verdict.misses = True, 0
                else:
                    verdict.misses += 1
                    verdict.face = verdict.face and verdict.misses < self.misses
                verdict.next_s = time_s + self.every_s
            if verdict.face:
                faces.add(tr.viewer_id)
        return faces

    def forget(self, live_ids: Set[int]) -> None:
        """Drop the verdicts of viewers the tracker no longer has."""
        for vid in [v for v in self._verdicts if v not in live_ids]:
            del self._verdicts[vid]

    def _look(self, image: np.ndarray, track: Track) -> bool:
        self.checks += 1
        return self.check.is_face(image, track.box)
