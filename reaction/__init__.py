"""reaction: measure how an audience reacts to funny media, from a camera.

frames -> Haar face detection -> Kalman/Hungarian tracking -> smile-net per
viewer -> temporal smoothing -> laugh events -> sinks.

The run-time stages are the modules at the top of the package, one per stage;
IoT delivery is :mod:`reaction.iot`, model training :mod:`reaction.training`
and the command line :mod:`reaction.cli`. The names below are the public API.
"""

import os

# Before numpy and mxnet load. The tracker does many tiny matrix products and
# a 4x4 inverse per viewer, and multi-threaded OpenBLAS made a 30-face update
# ~10x slower here (26 ms vs 2.6 ms); MXNet's OpenMP threads spin the same
# way (smile-net 30 ms vs 0.37 ms per face). A user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Binding the smile net prints "Subgraph backend MKLDNN is activated" to
# stderr for every batch size; a user's terminal does not need it.
os.environ.setdefault("MXNET_SUBGRAPH_VERBOSE", "0")

from .analysis import Analysis, analyze
from .boxes import box_iou, iou_matrix, merge_boxes
from .detector import DetectorConfig, FaceDetector
from .laughs import LaughSmoother, SmootherConfig
from .pipeline import ReactionPipeline
from .preprocess import InputSpec, crop_faces
from .profiles import PROFILES, PipelineConfig, profile_config
from .sinks import JsonlSink, ListSink, Sink
from .smile import MXNetBackend, SmileNet
from .sources import CameraSource, ImageFolderSource, VideoSource, open_source
from .tracker import TrackerConfig, ViewerTracker
from .types import ConfigError, Detection, Frame, FrameResult, LaughEvent, ReactionError, Track, TrackState

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "CameraSource",
    "ConfigError",
    "Detection",
    "DetectorConfig",
    "FaceDetector",
    "Frame",
    "FrameResult",
    "ImageFolderSource",
    "InputSpec",
    "JsonlSink",
    "LaughEvent",
    "LaughSmoother",
    "ListSink",
    "MXNetBackend",
    "PROFILES",
    "PipelineConfig",
    "ReactionError",
    "ReactionPipeline",
    "Sink",
    "SmileNet",
    "SmootherConfig",
    "Track",
    "TrackState",
    "TrackerConfig",
    "VideoSource",
    "ViewerTracker",
    "analyze",
    "box_iou",
    "crop_faces",
    "iou_matrix",
    "merge_boxes",
    "open_source",
    "profile_config",
]
