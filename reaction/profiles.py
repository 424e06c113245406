"""How a run is shaped: :class:`PipelineConfig`, and the named speed profiles.

A profile trades speed against the faces found; ``profile_config("balanced")``
is the default of ``reaction analyze``. The figures behind the profiles are in
benchmarks/results/throughput.md.
"""

from dataclasses import dataclass, replace
from typing import Any, Dict, Optional, Tuple

from .detector import DetectorConfig
from .laughs import SmootherConfig
from .tracker import TrackerConfig
from .types import ConfigError


@dataclass(frozen=True)
class PipelineConfig:
    """Everything that shapes a run.

    ``full_scan_every``: run the cascade over the whole frame every k-th
    frame (1 = every frame). ``min_face_frac``: smallest face a full scan
    looks for, as a fraction of the frame height (the cascade's cost is
    mostly in its smallest scales; 0 keeps the detector's ``min_size``).

    On the frames in between, when ``region_redetect`` is on, the cascade
    runs only in boxes around the known viewers, ``region_scale`` times their
    size, for faces ``region_band`` (min, max) times their size; each
    confirmed viewer about every ``region_every`` frames, and at most
    ``regions_per_frame`` of them per frame, in turns (0: no cap).
    ``scan_scale_factor`` and ``region_scale_factor`` override the cascade's
    scale step for full scans and for regions (``None``: the detector's).

    ``periodic_scan``: ``(scale step, min neighbours)`` for the every-k-th
    frame scans, which only look for viewers the regions do not follow yet
    (``None``: as the other scans). The first frame's scan and shot-change
    scans, which find everyone from nothing, keep the detector's settings.

    ``cut_threshold``: a frame whose small contrast-normalised grey thumbnail
    differs from the previous frame's by more than this (mean absolute
    difference, in standard deviations) is a cut to another view: the viewers
    tracked so far are forgotten, and the frame gets a full scan at once
    instead of waiting up to ``full_scan_every`` frames (0 turns this off).
    """

    detector: DetectorConfig = DetectorConfig()
    tracker: TrackerConfig = TrackerConfig()
    smoother: SmootherConfig = SmootherConfig()
    model_dir: Optional[str] = None
    full_scan_every: int = 1
    region_redetect: bool = True
    region_scale: float = 1.8
    # On the sample clip and the 1080p walkers clip, the band (0.8, 1.3)
    # tracked as many faces as (0.7, 1.45), at 17% less time per region.
    region_band: Tuple[float, float] = (0.8, 1.3)
    min_face_frac: float = 0.0
    scan_scale_factor: Optional[float] = None
    region_scale_factor: Optional[float] = None
    periodic_scan: Optional[Tuple[float, int]] = None
    regions_per_frame: int = 6
    region_every: int = 1
    # On the sample clip the three cuts differ by 0.77-0.85; no other frame
    # there or in the 1080p walkers clip by more than 0.35.
    cut_threshold: float = 0.55
    # Full scans on a worker thread. Off by default: OpenCV already spreads
    # one cascade run over both cores here, and over three runs of the levers
    # benchmark the worker changed balanced by -14% to +4% at 1080p and +1% to
    # +10% on the sample clip: no clear gain (benchmarks/results/throughput.md).
    threaded: bool = False
    # With the Haar detector, a confirmed track counts as a viewer only while
    # YuNet agrees it is a face (reaction/facecheck.py): checked when
    # confirmed, then about every face_check_every_s on a detected box;
    # face_check_misses failures in a row and it stops counting. Haar's false
    # positives on papers and whiteboards otherwise become viewers that laugh.
    # (With kind="yunet" the detections are YuNet's already: no check runs.)
    face_check: bool = True
    face_check_every_s: float = 1.0
    face_check_misses: int = 2
    # P(smile) per viewer about smile_hz times a second (0: every frame),
    # viewers in staggered phases so that every frame scores about the same
    # number of faces. Between scores a viewer keeps the last one. A laugh
    # lasts half a second or more and the smoother works in seconds, so a
    # score every 100 ms loses no laugh (benchmarks/results/full-house.md).
    smile_hz: float = 0.0
    # The smile stage and laughs of frame n on a second thread while detection
    # and tracking take frame n + 1; same output either way.
    smile_worker: bool = False
    # Between full scans, a confirmed viewer whose face (a 12x12 grey
    # thumbnail of its last detected box, at zero mean and unit contrast)
    # differs from the one at that detection by at most still_threshold on
    # average is taken to be where it was, without a region search; at most
    # still_max_s after a real detection (0 turns this off).
    still_threshold: float = 0.0
    still_max_s: float = 2.0

    def validate(self) -> None:
        if self.full_scan_every < 1:
            raise ConfigError("PipelineConfig", "full_scan_every must be >= 1, got {}".format(self.full_scan_every))
        if self.region_every < 1:
            raise ConfigError("PipelineConfig", "region_every must be >= 1, got {}".format(self.region_every))
        if self.still_threshold < 0 or self.still_max_s < 0:
            raise ConfigError("PipelineConfig", "still_threshold and still_max_s must be >= 0")
        if self.smile_hz < 0:
            raise ConfigError("PipelineConfig", "smile_hz must be >= 0, got {}".format(self.smile_hz))
        if self.cut_threshold < 0:
            raise ConfigError("PipelineConfig", "cut_threshold must be >= 0, got {}".format(self.cut_threshold))
        if self.region_scale < 1.0:
            raise ConfigError("PipelineConfig", "region_scale must be >= 1, got {}".format(self.region_scale))
        if not 0.0 < self.region_band[0] < self.region_band[1]:
            raise ConfigError(
                "PipelineConfig", "region_band must be (min, max) with 0 < min < max, got {}".format(self.region_band)
            )
        if self.periodic_scan is not None and not (self.periodic_scan[0] > 1.0 and self.periodic_scan[1] >= 0):
            raise ConfigError(
                "PipelineConfig",
                "periodic_scan must be (scale step > 1, min neighbours >= 0), got {}".format(self.periodic_scan),
            )
        if not 0.0 <= self.min_face_frac < 1.0:
            raise ConfigError("PipelineConfig", "min_face_frac must be in [0, 1), got {}".format(self.min_face_frac))
        for name in ("scan_scale_factor", "region_scale_factor"):
            value = getattr(self, name)
            if value is not None and not value > 1.0:
                raise ConfigError("PipelineConfig", "{} must be > 1.0, got {}".format(name, value))
        self.detector.validate()
        self.tracker.validate()
        self.smoother.validate()


# Named speed/accuracy settings; the figures behind them are in
# benchmarks/results/. Detector fields go to DetectorConfig, the rest to
# PipelineConfig.
#
# YuNet finds the faces: on the hand-labelled real clips Haar's recall was
# 0.41 even scanning every frame at full size (it misses turned, dim and
# blurred faces), YuNet's 0.82 at the balanced schedule, and YuNet's
# full-frame scan costs less than Haar's (benchmarks/results/real-clips.md).
# Because a scan is cheap, balanced scans every 12th frame, where a new face
# used to wait up to 50. ``--detector haar`` (kind="haar") keeps the cascade,
# and the DeepLens Lambda falls back to it where OpenCV has no YuNet. The
# Haar-only settings: periodic scans at step 1.2 with 2 neighbours take about
# 60% of the time of a first or cut scan (step 1.1, 5 neighbours).
#
# For a full house (benchmarks/results/full-house.md): smile scores at 10 Hz
# per viewer and the smile stage on a second thread; accurate scores every
# face on every frame. Still viewers without a region search
# (``still_threshold``) made the synthetic audience faster but cost the real
# walkers clip 0.05 IDF1 (boxes held while faces come closer): not kept.
PROFILES: Dict[str, Dict[str, Any]] = {
    "accurate": dict(
        kind="yunet", full_scan_every=1, detect_width=None, min_face_frac=0.0, region_redetect=False, smile_worker=True
    ),
    "balanced": dict(
        kind="yunet",
        full_scan_every=12,
        detect_width=1280,
        min_face_frac=0.04,
        region_redetect=True,
        region_every=2,
        periodic_scan=(1.2, 2),
        smile_hz=10.0,
        smile_worker=True,
    ),
    "fast": dict(
        kind="yunet",
        full_scan_every=25,
        detect_width=960,
        min_face_frac=0.04,
        region_redetect=True,
        region_every=3,
        regions_per_frame=4,
        periodic_scan=(1.2, 2),
        smile_hz=10.0,
        smile_worker=True,
    ),
}


# With the Haar cascade (kind="haar") a full scan costs more and the profiles
# keep the schedule they were measured with before YuNet: balanced 18.6 fps
# and fast 22.5 fps on the 720p synthetic audience of 24 viewers.
HAAR_SCHEDULE: Dict[str, Dict[str, Any]] = {
    "accurate": {},
    "balanced": dict(full_scan_every=50),
    "fast": dict(full_scan_every=100),
}


def profile_config(name: str, **overrides) -> PipelineConfig:
    """A :class:`PipelineConfig` for a named profile, with fields overridden.

    Detector fields (``min_size``, ``detect_width``, ``kind``...) may be
    overridden directly, as may any :class:`PipelineConfig` field. With
    ``kind="haar"`` the profile takes its Haar schedule (:data:`HAAR_SCHEDULE`).
    """
    if name not in PROFILES:
        raise ConfigError("profile_config", "profile must be one of {}, got {!r}".format(", ".join(PROFILES), name))
    settings = dict(PROFILES[name])
    if overrides.get("kind") == "haar":
        settings.update(HAAR_SCHEDULE[name])
    settings.update(overrides)
    det = {k: v for k, v in settings.items() if k in DetectorConfig.__dataclass_fields__}
    rest = {k: v for k, v in settings.items() if k not in det}
    return replace(PipelineConfig(detector=replace(DetectorConfig(), **det)), **rest)
