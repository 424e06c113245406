"""Fixtures shared by the tests, and their markers.

Markers:

* ``data``: needs the shared data sets (``REACTION_DATA``, default
  ``../shared/data``); skipped, with the path named, where they are absent.
* ``broker``: needs the Mosquitto broker binary. Never skipped: ``make test``
  installs Mosquitto, and without it these tests fail with the package named.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # helpers, mosquitto

from helpers import DATA, MODELS, SAMPLE_CLIP  # noqa: E402
from mosquitto import MOSQUITTO, Broker, Certs, mosquitto_available  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "data: needs the shared data sets (REACTION_DATA, default ../shared/data)")
    config.addinivalue_line("markers", "broker: needs the Mosquitto broker (Debian package mosquitto)")


def pytest_collection_modifyitems(config, items):
    if os.path.isdir(DATA):
        return
    skip = pytest.mark.skip(reason="shared data not found at {} (set REACTION_DATA)".format(DATA))
    for item in items:
        if "data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def sample_clip() -> str:
    """The bundled real clip: 640x360, 275 frames, four viewers."""
    return SAMPLE_CLIP


@pytest.fixture(scope="session")
def sample_frames(sample_clip):
    """Every decoded frame of the sample clip (tests must not change them)."""
    from reaction.sources import VideoSource

    return list(VideoSource(sample_clip))


@pytest.fixture(scope="session")
def models_dir() -> str:
    """The smile-net shipped in the package."""
    return MODELS


@pytest.fixture(scope="session")
def shared_data() -> str:
    """The shared data folder (tests that take it are marked ``data``)."""
    return DATA


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """A real Mosquitto on 127.0.0.1 that requires client certificates."""
    if not mosquitto_available():
        pytest.fail("{} not found: install the Debian package mosquitto (make test does)".format(MOSQUITTO),
                    pytrace=False)
    d = str(tmp_path_factory.mktemp("broker"))
    b = Broker(d, Certs(os.path.join(d, "certs")))
    b.start()
    yield b
    b.stop()
