"""Plain data passed between pipeline stages.

Stages never hold references to each other; they exchange these values.
Boxes are always ``(x, y, w, h)`` in full-frame pixel coordinates, floats.
"""
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

Box = Tuple[float, float, float, float]


class ReactionError(Exception):
    """An input problem the user can fix: bad file, bad option, bad config.

    The command line prints ``str(error)`` on one line and exits with status 2.
    """


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    ``time_s`` is the media timestamp read from the container (or the camera
    clock), never ``index / fps`` assumed.
    """

    index: int
    time_s: float
    image: np.ndarray  # HxWx3 BGR uint8 after normalisation


@dataclass(frozen=True)
class Detection:
    """A face found by the detector."""

    box: Box
    score: float = 1.0


@dataclass(frozen=True)
class Track:
    """A viewer as the tracker sees it on one frame.

    ``detection`` is the index into that frame's detection list which fed the
    track, or ``None`` when the box is the Kalman prediction only.
    """

    viewer_id: int
    box: Box
    state: str  # "tentative" | "confirmed" | "lost"
    hits: int
    detection: Optional[int] = None

    @property
    def confirmed(self) -> bool:
        return self.state == "confirmed"


@dataclass(frozen=True)
class LaughEvent:
    """One laugh of one viewer, in media seconds."""

    viewer_id: int
    start_s: float
    end_s: float
    peak: float
    mean: float
    n_frames: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FrameResult:
    """What the pipeline knows after one frame."""

    index: int
    time_s: float
    tracks: List[Track]
    p_smile: Dict[int, float] = field(default_factory=dict)  # viewer_id -> P(smile)
    smiling: Dict[int, bool] = field(default_factory=dict)  # viewer_id -> in a laugh now
    events: List[LaughEvent] = field(default_factory=list)  # events closed on this frame
    shape: Tuple[int, int] = (0, 0)  # frame (height, width)
    image: Optional[np.ndarray] = None  # the BGR frame, for drawing; not copied

