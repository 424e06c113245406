"""Seated viewers who have not moved: found again without a detector run.

Between full scans the pipeline searches a small region around each viewer
(about 1.5 ms per viewer with YuNet). Most of a seated audience hardly moves,
so :class:`StillViewers` first asks, per viewer, whether the face at its last
detected box still looks as it did then (a 12 x 12 grey thumbnail normalised
to zero mean and unit contrast, compared in mean absolute difference, about
0.02 ms). Normalised, because in a dark room a face that moved a fifth of its
width changes a raw thumbnail by only 3 grey levels (the sample clip), and the
light of the film changes a still face by more. If so, that box stands in for a
detection and the region search goes to the viewers who moved.
"""

from typing import Dict, Iterable, Optional, Sequence, Tuple

import cv2
import numpy as np

from .boxes import box_iou
from .types import Box, Detection, Track

#: ``Detection.score`` of a still viewer's last box standing in for a detection.
STILL = -1.0
THUMB = 12  # thumbnail side, pixels


def thumbnail(image: np.ndarray, box: Box) -> Optional[np.ndarray]:
    """The box's content as ``(THUMB, THUMB)`` float32 grey at zero mean and unit contrast.

    ``None`` when too little of the box is in the frame.
    """
    x, y, w, h = (int(round(v)) for v in box)
    patch = image[max(y, 0) : y + h, max(x, 0) : x + w]
    if patch.shape[0] < 4 or patch.shape[1] < 4:
        return None
    small = cv2.resize(patch, (THUMB, THUMB), interpolation=cv2.INTER_AREA)
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGRA2GRAY if small.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    small = small.astype(np.float32)
    return (small - small.mean()) / max(float(small.std()), 1.0)


class StillViewers:
    """One call each way: :meth:`box` (is this viewer still?) and :meth:`remember` (after tracking).

    ``threshold``: largest mean difference of the normalised thumbnails that
    still counts as unchanged. Measured between consecutive frames at a fixed
    box: a seated synthetic viewer 0.01 (median) to 0.10 (90th percentile); the
    same box shifted by a fifth of a face 0.67 (1st percentile; 0.43 on the
    sample clip). ``max_age_s``: a viewer must be really detected at least this
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
        # A viewer the filter sees moving (a walker coming closer keeps the same
        # look in the old box while the face grows) is no still viewer.
        if box_iou(track.box, kept[1]) < 0.85:
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
