"""Drawing viewers on frames, for ``--annotate`` and the DeepLens live view."""

from typing import Optional

import cv2
import numpy as np

from .types import FrameResult, ReactionError

# BGR. The original DeepLens project drew smiling faces blue-ish and neutral ones orange.
SMILING = (255, 160, 40)
NEUTRAL = (0, 140, 255)


def draw_viewers(image: np.ndarray, result: FrameResult, copy: bool = True) -> np.ndarray:
    """Boxes and ``id p`` labels for the confirmed viewers of ``result``."""
    out = image.copy() if copy else image
    thick = max(1, int(round(out.shape[1] / 640.0)))
    for tr in result.tracks:
        if not tr.confirmed:
            continue
        p: Optional[float] = result.p_smile.get(tr.viewer_id)
        colour = SMILING if result.smiling.get(tr.viewer_id) else NEUTRAL
        x, y, w, h = (int(round(v)) for v in tr.box)
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, 2 * thick)
        label = "#{}".format(tr.viewer_id) if p is None else "#{} {:.2f}".format(tr.viewer_id, p)
        cv2.putText(out, label, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thick, colour, thick, cv2.LINE_AA)
    return out


class AnnotatedVideo:
    """Writes annotated frames to an MP4 file."""

    def __init__(self, path: str, fps: float, size: tuple) -> None:
        self.path = path
        # The stubs know only cv2.VideoWriter.fourcc, which older OpenCV builds (as on devices) lack.
        fourcc = cv2.VideoWriter_fourcc(*"mp4v")  # type: ignore[attr-defined]
        self._writer = cv2.VideoWriter(path, fourcc, fps or 25.0, size)
        if not self._writer.isOpened():
            raise ReactionError("{}: cannot write the annotated video".format(path))

    def write(self, image: np.ndarray, result: FrameResult) -> None:
        self._writer.write(draw_viewers(image, result, copy=False))

    def close(self) -> None:
        self._writer.release()
