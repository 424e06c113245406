"""Seated viewers who have not moved: found again without a detector run.

Between full scans the pipeline searches a small region around each viewer
(about 1.5 ms per viewer with YuNet). Most of a seated audience hardly moves,
so :class:`StillViewers` first asks, per viewer, whether the face at its last
detected box still looks as it did then (a 12 x 12 grey thumbnail, compared
in mean absolute grey levels, about 0.02 ms). If so, that box stands in for a
detection and the region search goes to the viewers who moved.
"""

from typing import Dict, Iterable, Optional, Sequence, Tuple

import cv2
import numpy as np

from .types import Box, Detection, Track

#: ``Detection.score`` of a still viewer's last box standing in for a detection.
STILL = -1.0
THUMB = 12  # thumbnail side, pixels


def thumbnail(image: np.ndarray, box: Box) -> Optional[np.ndarray]:
    """The box's content as a ``(THUMB, THUMB)`` float32 grey image, or ``None`` when too little is in frame."""
    x, y, w, h = (int(round(v)) for v in box)
    patch = image[max(y, 0) : y + h, max(x, 0) : x + w]
    if patch.shape[0] < 4 or patch.shape[1] < 4:
        return None
    small = cv2.resize(patch, (THUMB, THUMB), interpolation=cv2.INTER_AREA)
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGRA2GRAY if small.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    return small.astype(np.float32)


class StillViewers:
    """One call each way: :meth:`box` (is this viewer still?) and :meth:`remember` (after tracking).

    ``threshold``: largest mean grey-level difference that still counts as
    unchanged. ``max_age_s``: a viewer must be really detected at least this
    often, so that slow drift or a picture taking a face's place is caught.
    """

    def __init__(self, threshold: float, max_age_s: float) -> None:
        self.threshold = threshold
        self.max_age_s = max_age_s
        # viewer_id -> (thumbnail at its last real detection, that box, its time)
        self._faces: Dict[int, Tuple[np.ndarray, Box, float]] = {}

    def box(self, image: np.ndarray, track: Track, now: float) -> Optional[Box]:
        """The viewer's last detected box if its face there looks as it did then, else ``None``."""
        kept = self._faces.get(track.viewer_id)
        if kept is None or now - kept[2] > self.max_age_s:
            return None
        thumb = thumbnail(image, kept[1])
        if thumb is None or float(np.mean(np.abs(thumb - kept[0]))) > self.threshold:
            return None
        return kept[1]

    def remember(
        self,
        image: np.ndarray,
        detections: Sequence[Detection],
        tracks: Iterable[Track],
        alive: Iterable[int],
        t: float,
    ) -> None:
        """Keep the faces of the confirmed viewers really detected on this frame; forget the dead ones."""
        for tr in tracks:
            if tr.detection is None or not tr.confirmed:
                continue
            det = detections[tr.detection]
            if det.score == STILL:
                continue
            thumb = thumbnail(image, det.box)
            if thumb is not None:
                self._faces[tr.viewer_id] = (thumb, det.box, t)
        keep = set(alive)
        if len(self._faces) > len(keep):
            self._faces = {vid: v for vid, v in self._faces.items() if vid in keep}

    def reset(self) -> None:
        self._faces = {}
