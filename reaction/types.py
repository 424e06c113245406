"""Plain data passed between pipeline stages.

Stages never hold references to each other; they exchange these values.
Boxes are always ``(x, y, w, h)`` in full-frame pixel coordinates, floats.
"""

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Dict, List, Optional, Tuple

import numpy as np

Box = Tuple[float, float, float, float]


class ReactionError(Exception):
    """An input problem the user can fix: bad file, bad option, bad config.

    The command line prints ``str(error)`` on one line and exits with status 2.
    """


class ConfigError(ReactionError):
    """A bad value in one of the library's configs, named by its field.

    ``str(error)`` reads ``TrackerConfig: max_lost_s must be >= coast_s ...``;
    a front end with its own names for the fields (the command line's
    options) rewrites :attr:`problem` with them.
    """

    def __init__(self, owner: str, problem: str) -> None:
        super().__init__("{}: {}".format(owner, problem))
        self.owner = owner
        self.problem = problem


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    ``time_s`` is the media timestamp read from the container (or the camera
    clock), never ``index / fps`` assumed.
    """

    index: int
    time_s: float
    image: np.ndarray  # HxWx3 BGR uint8 after normalisation
    #: Seconds a live stream was away just before this frame (0: it was not).
    gap_s: float = 0.0


@dataclass(frozen=True)
class Detection:
    """A face found by the detector.

    ``landmarks``: YuNet's five points (right eye, left eye, nose, right and
    left mouth corner) as ``(x, y)`` pixel pairs, or None (Haar finds none).
    """

    box: Box
    score: float = 1.0
    landmarks: Optional[Tuple[Tuple[float, float], ...]] = None


class TrackState(Enum):
    """Where a viewer is in the tracker's lifecycle."""

    TENTATIVE = "tentative"  # matched fewer than ``min_hits`` times: maybe not a face
    CONFIRMED = "confirmed"  # a viewer; a predicted box is reported only near its last detection
    LOST = "lost"  # unseen for longer than ``coast_s``, remembered for ``max_lost_s``


@dataclass(frozen=True)
class Track:
    """A viewer as the tracker sees it on one frame.

    ``detection`` is the index into that frame's detection list which fed the
    track, or ``None`` when the box is the Kalman prediction only.
    """

    viewer_id: int
    box: Box
    state: TrackState
    hits: int
    detection: Optional[int] = None

    @property
    def confirmed(self) -> bool:
        return self.state is TrackState.CONFIRMED


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
        """The event as written to files, its times rounded to the millisecond."""
        d = asdict(self)
        d["start_s"], d["end_s"] = round(self.start_s, 3), round(self.end_s, 3)
        return d


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
