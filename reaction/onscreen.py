"""Per-viewer on-screen intervals from per-frame sightings.

The denominators of the audience report: ``presence.csv`` (reaction/report.py)
and the IoT presence messages (reaction/iot/presence.py) both build them here.
A viewer unseen for more than ``GAP_FRAMES`` frame periods has left the
screen; an interval ends one frame period after its last frame.
"""

from typing import Dict, Generic, Hashable, List, Tuple, TypeVar

Viewer = TypeVar("Viewer", bound=Hashable)

GAP_FRAMES = 1.5


class OnScreen(Generic[Viewer]):
    """One call per sighting: ``onscreen.see(viewer, time_s, frame_s)``.

    ``open`` maps each viewer to the ``[start_s, last_seen_s]`` of its interval
    now open; ``closed`` lists the finished ``(viewer, start_s, end_s)``.
    """

    def __init__(self) -> None:
        self.open: Dict[Viewer, List[float]] = {}
        self.closed: List[Tuple[Viewer, float, float]] = []

    def see(self, viewer: Viewer, time_s: float, frame_s: float) -> None:
        span = self.open.get(viewer)
        if span is not None and time_s - span[1] <= GAP_FRAMES * frame_s:
            span[1] = time_s
            return
        if span is not None:
            self.closed.append((viewer, span[0], span[1] + frame_s))
        self.open[viewer] = [time_s, time_s]

    def still_open(self, viewer: Viewer, now_s: float, frame_s: float) -> bool:
        """Whether the viewer's open interval reaches ``now_s`` (seen within the gap)."""
        return now_s - self.open[viewer][1] <= GAP_FRAMES * frame_s
