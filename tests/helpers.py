"""Paths and small helpers shared by the tests."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
SAMPLE_CLIP = os.path.join(FIXTURES, "hamilton-audience-640x360.mp4")
MODELS = os.path.join(ROOT, "reaction", "models")
DATA = os.environ.get("REACTION_DATA", os.path.join(ROOT, "..", "shared", "data"))
