"""Build the DeepLens Lambda package: ``python lambda_package/build.py --out dist/reaction-deeplens.zip``.

The zip holds, at its root:

* the Lambda (``reaction_lambda.py`` and its helpers in ``lambda_package/``);
* the modules of the ``reaction`` package that the Lambda imports, found by
  following its imports (:func:`lambda_modules`), so none of
  ``reaction/training/`` or ``reaction/cli/``;
* the Haar cascade in ``reaction/cascades/`` (older device OpenCV builds lack
  ``cv2.data``; the detector looks there);
* the shipped smile-net in ``reaction/models/`` (symbol, weights, input spec),
  and YuNet with its licence in ``reaction/models/yunet/``;
* the dependencies the device lacks, unpacked from wheels for CPython 3.7 on
  manylinux x86_64 (``pip download --only-binary=:all:``).

The device already has numpy, OpenCV and MXNet (with ``awscam``), so those
are not bundled. Wheels are cached in ``--wheel-dir``; ``--offline`` builds
from that folder alone.
"""
import argparse
import ast
import email.parser
import os
import re
import subprocess
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from reaction.detector import DEFAULT_CASCADE, cascade_path  # noqa: E402
from reaction.facecheck import DEFAULT_YUNET  # noqa: E402
from reaction.preprocess import model_paths  # noqa: E402
from reaction.smile import DEFAULT_MODEL_DIR  # noqa: E402
from reaction.types import ReactionError  # noqa: E402

PACKAGE = "reaction"

#: What the Lambda imports that the device does not provide, pinned to the
#: last releases with CPython 3.7 wheels. filterpy and scipy: the tracker;
#: greengrasssdk: Python 3.7 Lambdas must bring the Greengrass Core SDK.
DEPENDENCIES = ("filterpy==2.0.0", "scipy==1.7.3", "greengrasssdk==1.6.1")

#: Requirements of those wheels that are deliberately not bundled, and why.
NOT_BUNDLED = {
    "numpy": "on the device (awscam)",
    "matplotlib": "filterpy imports it only in plotting helpers the tracker never calls",
    "cbor2": "greengrasssdk needs it only for stream_manager; the Lambda uses the iot-data client",
}

PLATFORM_ARGS = ("--platform", "manylinux2014_x86_64", "--python-version", "37", "--implementation", "cp",
                 "--abi", "cp37m", "--only-binary=:all:")

# Never imported at run time; dropping them keeps the package under Lambda's upload limit.
_SKIP_PARTS = ("__pycache__", "tests")
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same inputs give the same zip


def lambda_files(here: str = HERE) -> list:
    """The Lambda's own modules: every ``.py`` of ``lambda_package/`` but this script."""
    return sorted(os.path.join(here, n) for n in os.listdir(here) if n.endswith(".py") and n != "build.py")


def _module_file(root: str, module: str):
    """``reaction/a/b.py`` or ``reaction/a/b/__init__.py`` for ``reaction.a.b``, or None."""
    base = os.path.join(root, *module.split("."))
    for path in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(path):
            return path
    return None


def _imported_modules(path: str, module: str) -> set:
    """Modules of the package that a file imports anywhere (function-level imports too)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            # ``from . import datasets`` names a module, ``from .types import Box`` a name in one.
            found.update(base + "." + a.name for a in node.names)
    return {m for m in found if m == PACKAGE or m.startswith(PACKAGE + ".")}


def lambda_modules(root: str = ROOT) -> list:
    """Every file of the ``reaction`` package that the Lambda imports, directly or not.

    Follows the imports from the Lambda's modules; importing ``reaction.a.b``
    also runs ``reaction/__init__.py`` and ``reaction/a/__init__.py``.
    """
    todo = [(path, "") for path in lambda_files(os.path.join(root, "lambda_package"))]
    seen = {}  # module -> file
    while todo:
        path, module = todo.pop()
        for name in _imported_modules(path, module):
            parts = name.split(".")
            for k in range(1, len(parts) + 1):
                sub = ".".join(parts[:k])
                if sub in seen:
                    continue
                file = _module_file(root, sub)
                if file is None:
                    continue  # a name inside a module, not a module
                seen[sub] = file
                todo.append((file, sub))
    return sorted(seen.values())


def download_wheels(requirements, wheel_dir: str, offline: bool = False) -> list:
    """Fetch (or, offline, find) one CPython 3.7 manylinux wheel per requirement."""
    os.makedirs(wheel_dir, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", wheel_dir] + list(PLATFORM_ARGS)
    if offline:
        cmd += ["--no-index", "--find-links", wheel_dir]
    result = subprocess.run(cmd + list(requirements), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)
    if result.returncode != 0:
        tail = result.stdout.strip().splitlines()[-3:]
        raise ReactionError("pip download {} failed: {}".format(" ".join(requirements), " | ".join(tail)))
    wheels = []
    for req in requirements:
        name = _norm(req.split("==")[0])
        version = req.split("==")[1] if "==" in req else None
        found = [w for w in sorted(os.listdir(wheel_dir)) if w.endswith(".whl") and _wheel_matches(w, name, version)]
        if not found:
            raise ReactionError("{}: no wheel for {} after pip download".format(wheel_dir, req))
        wheels.append(os.path.join(wheel_dir, found[-1]))
    return wheels


def _norm(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(".", "_")


def _wheel_matches(filename: str, name: str, version) -> bool:
    parts = filename.split("-")
    return _norm(parts[0]) == name and (version is None or parts[1] == version)


def wheel_requirements(wheel: str) -> list:
    """``Requires-Dist`` lines of a wheel, without extras-only ones."""
    with zipfile.ZipFile(wheel) as z:
        meta = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        if not meta:
            return []
        msg = email.parser.Parser().parsestr(z.read(meta[0]).decode("utf-8"))
    return [r for r in (msg.get_all("Requires-Dist") or []) if "extra ==" not in r]


def _skip(name: str) -> bool:
    return any(part in _SKIP_PARTS for part in name.split("/")[:-1]) or name.endswith((".pyc", ".pyo"))


def _add(z: zipfile.ZipFile, arcname: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(arcname, _EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o755 if executable else 0o644) << 16
    z.writestr(info, data)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def check_models(models_dir: str) -> tuple:
    """The three smile-net files, or an error naming the missing one."""
    model_files = model_paths(models_dir)
    for path in model_files:
        if not os.path.isfile(path):
            raise ReactionError("{}: missing; train smile-net (reaction train) before make lambda".format(path))
    # The device optimiser takes only the layers it lists; a model it refuses would run on the CPU.
    from reaction.training.export import unsupported_layers

    unsupported = unsupported_layers(model_files[0])
    if unsupported:
        raise ReactionError("{}: layers the DeepLens optimiser does not list: {}; rewrite it with "
                            "reaction.training.export.deploy_graph".format(
                                model_files[0], ", ".join("{} x{}".format(op, n) for op, n in sorted(unsupported.items()))))
    return model_files


def build_zip(out: str, wheels, models_dir: str = DEFAULT_MODEL_DIR) -> dict:
    """Write the package; returns ``{top-level entry: [files, bytes]}``."""
    model_files = check_models(models_dir)
    entries = {}  # arcname -> (data, executable)
    for path in lambda_files():
        entries[os.path.basename(path)] = (_read(path), False)
    for path in lambda_modules():
        entries[os.path.relpath(path, ROOT).replace(os.sep, "/")] = (_read(path), False)
    entries["reaction/py.typed"] = (b"", False)
    entries["reaction/cascades/" + DEFAULT_CASCADE] = (_read(cascade_path(DEFAULT_CASCADE)), False)
    # Where the smile stage looks by default (reaction.smile.DEFAULT_MODEL_DIR).
    models = os.path.relpath(DEFAULT_MODEL_DIR, ROOT).replace(os.sep, "/")
    for path in model_files:
        entries[models + "/" + os.path.basename(path)] = (_read(path), False)
    # YuNet, which checks that a new viewer is a face (reaction.facecheck), with its licence.
    yunet = os.path.dirname(DEFAULT_YUNET)
    for name in sorted(os.listdir(yunet)):
        entries["{}/yunet/{}".format(models, name)] = (_read(os.path.join(yunet, name)), False)
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as w:
            for info in w.infolist():
                if info.is_dir() or _skip(info.filename):
                    continue
                if info.filename in entries:
                    raise ReactionError("{}: {} clashes with another file of the package".format(wheel, info.filename))
                entries[info.filename] = (w.read(info), bool((info.external_attr >> 16) & 0o111))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    summary = {}
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for arcname in sorted(entries):
            data, executable = entries[arcname]
            _add(z, arcname, data, executable)
            top = arcname.split("/")[0]
            if top.endswith(".dist-info"):
                top = "*.dist-info"
            files, size = summary.get(top, (0, 0))
            summary[top] = (files + 1, size + len(data))
    os.replace(tmp, out)
    return summary


def print_summary(out: str, summary: dict) -> None:
    size = os.path.getsize(out)
    files = sum(f for f, _ in summary.values())
    raw = sum(s for _, s in summary.values())
    print("{}: {:.1f} MB zipped, {:.1f} MB unpacked, {} files".format(out, size / 1e6, raw / 1e6, files))
    for top in sorted(summary, key=lambda t: -summary[t][1]):
        n, s = summary[top]
        print("  {:<28} {:>6} files {:>10.1f} kB".format(top, n, s / 1e3))
    print("Lambda handler: reaction_lambda.function_handler (runtime Python 3.7)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Build the AWS DeepLens Lambda zip.")
    p.add_argument("--out", default=os.path.join(ROOT, "dist", "reaction-deeplens.zip"))
    p.add_argument("--wheel-dir", default=os.path.join(ROOT, "build", "wheels-cp37"),
                   help="where the CPython 3.7 wheels are downloaded and cached")
    p.add_argument("--offline", action="store_true", help="use only wheels already in --wheel-dir")
    p.add_argument("--models", default=DEFAULT_MODEL_DIR, help="smile-net folder to ship")
    p.add_argument("--list-modules", action="store_true",
                   help="print the files the Lambda runs (its own and the package's) and exit")
    p.add_argument("--skip", action="append", default=[], metavar="NAME",
                   help="do not bundle this dependency (e.g. scipy, if the device image has it)")
    args = p.parse_args(argv)
    if args.list_modules:
        print("\n".join(os.path.relpath(f, ROOT) for f in lambda_files() + lambda_modules()))
        return 0
    try:
        skip = {_norm(s) for s in args.skip}
        unknown = skip - {_norm(r.split("==")[0]) for r in DEPENDENCIES}
        if unknown:
            raise ReactionError("--skip: {} is not one of {}".format(", ".join(sorted(unknown)), ", ".join(DEPENDENCIES)))
        check_models(args.models)
        reqs = [r for r in DEPENDENCIES if _norm(r.split("==")[0]) not in skip]
        wheels = download_wheels(reqs, args.wheel_dir, args.offline) if reqs else []
        bundled = {_norm(r.split("==")[0]) for r in reqs}
        for wheel in wheels:
            for req in wheel_requirements(wheel):
                name = _norm(re.match(r"[A-Za-z0-9._-]+", req).group(0))
                if name not in bundled:
                    why = NOT_BUNDLED.get(name, "NOT BUNDLED: check the device has it")
                    print("{} needs {}: {}".format(os.path.basename(wheel), req, why))
        summary = build_zip(args.out, wheels, args.models)
    except ReactionError as e:
        print("build.py: error: {}".format(e), file=sys.stderr)
        return 2
    print_summary(args.out, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
