"""reaction: measure how an audience reacts to funny media, from a camera.

frames -> Haar face detection -> Kalman/Hungarian tracking -> smile-net per
viewer -> temporal smoothing -> laugh events -> sinks.
"""
from .detector import DetectorConfig, FaceDetector
from .laughs import LaughSmoother, SmootherConfig
from .pipeline import PROFILES, PipelineConfig, ReactionPipeline, profile_config
from .preprocess import InputSpec, crop_faces
from .sinks import JsonlSink, ListSink, Sink
from .smile import MXNetBackend, SmileNet
from .sources import CameraSource, ImageFolderSource, VideoSource, open_source
from .tracker import TrackerConfig, ViewerTracker
from .types import Detection, Frame, FrameResult, LaughEvent, ReactionError, Track

__version__ = "0.1.0"

__all__ = [
    "CameraSource", "Detection", "DetectorConfig", "FaceDetector", "Frame", "FrameResult",
    "ImageFolderSource", "InputSpec", "JsonlSink", "LaughEvent", "LaughSmoother", "ListSink",
    "MXNetBackend", "PROFILES", "PipelineConfig", "ReactionError", "ReactionPipeline", "Sink",
    "SmileNet", "SmootherConfig", "Track", "TrackerConfig", "VideoSource", "ViewerTracker",
    "crop_faces", "open_source", "profile_config",
]
