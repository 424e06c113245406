"""Frame normalisation, face crops and the model's input spec."""

import numpy as np
import pytest

from reaction.preprocess import InputSpec, as_bgr, crop_faces
from reaction.types import ReactionError


def test_as_bgr_normalises_grey_bgra_and_rejects_the_rest():
    grey = np.full((4, 5), 7, np.uint8)
    assert as_bgr(grey).shape == (4, 5, 3)
    bgra = np.zeros((4, 5, 4), np.uint8)
    assert as_bgr(bgra).shape == (4, 5, 3)
    bgr = np.zeros((4, 5, 3), np.uint8)
    assert as_bgr(bgr) is bgr  # no copy on the hot path
    with pytest.raises(ReactionError, match="shape"):
        as_bgr(np.zeros((4, 5, 2), np.uint8))
    with pytest.raises(ReactionError, match="dtype"):
        as_bgr(np.zeros((4, 5, 3), np.float32))


def test_crop_faces_geometry_and_normalisation():
    spec = InputSpec(width=32, height=32, channels="grey", mean=0.0, scale=1.0, margin=0.0)
    image = np.zeros((100, 100, 3), np.uint8)
    image[20:60, 30:70] = 255  # a white 40x40 square
    batch = crop_faces(image, [(30, 20, 40, 40), (90, 90, 40, 40)], spec)
    assert batch.shape == (2, 1, 32, 32) and batch.dtype == np.float32
    assert batch[0].min() > 250  # the box is exactly the square
    assert batch[1].mean() < 60  # mostly outside the frame: edge pixels replicated, no crash
    rgb = InputSpec(width=8, height=8, channels="rgb", mean=0.0, scale=1.0, margin=0.0)
    red = np.zeros((10, 10, 3), np.uint8)
    red[..., 2] = 200  # red in BGR
    out = crop_faces(red, [(0, 0, 10, 10)], rgb)
    assert out[0, 0].mean() == pytest.approx(200) and out[0, 2].max() == 0


def test_input_spec_round_trip_and_malformed(tmp_path):
    spec = InputSpec(width=40, height=40, channels="bgr", mean=100.0, scale=0.01, margin=0.2)
    path = str(tmp_path / "spec.json")
    spec.save(path)
    assert InputSpec.load(path) == spec
    (tmp_path / "bad.json").write_text("{\"input_size\": 3}")
    with pytest.raises(ReactionError, match="bad.json"):
        InputSpec.load(str(tmp_path / "bad.json"))
