"""The package as a user installs it: a wheel in a fresh venv outside the repository.

The fresh venv gets only the wheel; the heavy dependencies (MXNet, OpenCV,
SciPy) come from the test venv through a ``.pth`` line, which adds their
folder to ``sys.path`` without running the editable install's finder there.
So the ``reaction`` that runs is the wheel's, with the wheel's model.
"""
import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest
from helpers import ROOT

SOURCES = ("reaction", "pyproject.toml", "README.md", "LICENSE")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = os.path.join(ROOT, name)
        if os.path.isdir(path):
            shutil.copytree(path, str(src / name), ignore=shutil.ignore_patterns("__pycache__", "cache"))
        else:
            shutil.copy(path, str(src / name))
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(src)], check=True, capture_output=True, text=True)
    (built,) = glob.glob(str(dist / "reaction-*.whl"))
    return built


def test_the_wheel_ships_the_model_and_not_the_training_members(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    for name in ("smile-net-symbol.json", "smile-net-0000.params", "smile-net.json"):
        assert "reaction/models/" + name in names
    assert "reaction/py.typed" in names and "reaction/cli/__init__.py" in names
    assert not any("/members/" in n or "/lfw-only/" in n for n in names)
    assert any(n.endswith(".dist-info/LICENSE") or "/licenses/" in n for n in names)


def test_the_installed_wheel_analyses_the_sample_clip_from_outside_the_repo(wheel, tmp_path, sample_clip):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], check=True,
                   capture_output=True)
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    with open(os.path.join(site, "test-dependencies.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run([py, "-c", "import reaction; print(reaction.__file__)"], cwd=str(work),
                           check=True, capture_output=True, text=True).stdout.strip()
    assert where.startswith(site)
    run = subprocess.run([str(venv / "bin" / "reaction"), "analyze", sample_clip, "--out", "out", "--no-progress"],
                         cwd=str(work), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    # The same laughs as the package in the repository finds: the wheel carries the same model.
    here = subprocess.run([sys.executable, "-m", "reaction", "analyze", sample_clip, "--out", str(tmp_path / "repo"),
                           "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert here.returncode == 0, here.stderr
    events = (work / "out" / "events.jsonl").read_bytes()
    assert events and events == (tmp_path / "repo" / "events.jsonl").read_bytes()
