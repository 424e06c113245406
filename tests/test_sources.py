"""Frame sources on the real sample clip: timestamps, prefetch, bad files."""
import os
import threading

import cv2
import numpy as np
import pytest
from helpers import SAMPLE_CLIP

from reaction.sources import ImageFolderSource, VideoSource, open_source, prefetch
from reaction.types import ReactionError


@pytest.fixture
def frames(sample_frames):
    return sample_frames


def test_video_source_reads_every_frame_with_container_timestamps(frames):
    assert len(frames) == 275
    assert [f.index for f in frames] == list(range(275))
    times = np.array([f.time_s for f in frames])
    assert times[0] == 0.0
    # 29.97 fps NTSC timing from the container, not an assumed 30 fps.
    assert np.diff(times).mean() == pytest.approx(1001 / 30000, rel=1e-3)
    assert frames[0].image.shape == (360, 640, 3) and frames[0].image.dtype == np.uint8


def test_prefetch_keeps_order_and_frames_of_the_real_decoder(frames):
    got = list(prefetch(VideoSource(SAMPLE_CLIP), depth=3))
    assert [f.index for f in got] == list(range(275))
    assert all(np.array_equal(a.image, b.image) and a.time_s == b.time_s for a, b in zip(got, frames))


def test_prefetch_raises_a_source_error_after_the_frames_before_it(frames):
    def broken():
        yield frames[0]
        yield frames[1]
        raise ReactionError("clip.mp4: decoder gave up")

    got = []
    with pytest.raises(ReactionError, match="decoder gave up"):
        for f in prefetch(broken(), depth=1):
            got.append(f.index)
    assert got == [0, 1]


def test_prefetch_stopped_early_releases_its_worker_and_the_source():
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    before = threading.active_count()
    it = prefetch(endless(), depth=2)
    assert [next(it) for _ in range(5)] == [0, 1, 2, 3, 4]
    it.close()
    # close() returns only after the worker has ended the source.
    assert closed.is_set()
    assert threading.active_count() == before
    with pytest.raises(ReactionError, match="depth"):
        next(prefetch(iter(()), depth=0))


def test_image_folder_source_uses_the_given_rate(tmp_path, frames):
    for i in (0, 1, 2):
        cv2.imwrite(str(tmp_path / "f{:03d}.png".format(i)), frames[i * 10].image)
    (tmp_path / "notes.txt").write_text("not an image")
    src = open_source(str(tmp_path), fps=10.0)
    assert isinstance(src, ImageFolderSource)
    got = list(src)
    assert [f.time_s for f in got] == [0.0, 0.1, 0.2]
    assert np.array_equal(got[1].image, cv2.imread(str(tmp_path / "f001.png")))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "not a video"),
        (lambda p: p.write_bytes(os.urandom(20000)), "not a video"),
    ],
)
def test_bad_videos_are_clear_errors(tmp_path, make, message):
    path = tmp_path / "bad.mp4"
    make(path)
    with pytest.raises(ReactionError, match=message) as err:
        list(VideoSource(str(path)))
    assert str(path) in str(err.value)


def test_truncated_video_is_read_up_to_the_damage(tmp_path):
    data = open(SAMPLE_CLIP, "rb").read()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    try:
        got = list(VideoSource(str(path)))
    except ReactionError as e:  # moov atom at the end: nothing decodable
        assert "cut.mp4" in str(e)
    else:
        assert 0 < len(got) < 275
