"""How far FP16 moves smile-net's P(smile): ``python -m benchmarks.deeplens_fp16``.

The DeepLens optimiser converts to FP16 unless told ``--precision FP32``. No
device is at hand, so this emulates FP16 with MXNet on the CPU: the shipped
deploy graph with its weights, its input and every layer's output rounded to
float16 (products still accumulate in float32). It compares P(smile) with the float32 run on the same crops: the 200 GENKI-4K
test faces of ``tests/fixtures/genki``, each its whole image. The device's
FP16 kernels round differently, so read the figures as the expected size of
the change, not the device's exact numbers. Writes
``benchmarks/results/deeplens-fp16.json``.
"""
import json
import os

import mxnet as mx
import numpy as np

from reaction.preprocess import InputSpec, crop_faces, model_paths
from reaction.smile import DEFAULT_MODEL_DIR
from reaction.training import datasets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "benchmarks", "results", "deeplens-fp16.json")


def _half(x):
    """Rounded to float16 and back: what FP16 storage keeps of a float32 value."""
    if isinstance(x, dict):
        return {k: _half(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return x.astype(np.float16).astype(np.float32)
    return x.astype("float16").astype("float32")


def _half_activations(sym_path: str):
    """The graph with every layer's output rounded to float16 (MXNet has no FP16 GEMM on the CPU,
    so the products accumulate in float32, as FP16 kernels on GPUs commonly do)."""
    graph = json.loads(mx.sym.load(sym_path).tojson())
    built = {}
    for i, node in enumerate(graph["nodes"]):
        ins = [built[src[0]] for src in node.get("inputs", [])]
        if node["op"] == "null":
            built[i] = mx.sym.var(node["name"])
            continue
        out = getattr(mx.sym, node["op"])(*ins, name=node["name"], **node.get("attrs", {}))
        built[i] = mx.sym.Cast(mx.sym.Cast(out, dtype="float16"), dtype="float32")
    return built[graph["heads"][0][0]]


def _run(sym, saved, batch: np.ndarray) -> np.ndarray:
    args = {k.split(":", 1)[1]: v for k, v in saved.items() if k.startswith("arg:")}
    args["data"] = mx.nd.array(batch)
    exe = sym.bind(mx.cpu(), args=args, grad_req="null")
    return exe.forward(is_train=False)[0].asnumpy().astype(np.float64)


def main() -> None:
    sym_path, params_path, spec_path = model_paths(DEFAULT_MODEL_DIR)
    spec = InputSpec.load(spec_path)
    samples = datasets.class_folders(os.path.join(ROOT, "tests", "fixtures", "genki"))
    images = [datasets.read_image(s.path) for s in samples]
    batch = np.concatenate(
        [crop_faces(im, [(0.0, 0.0, float(im.shape[1]), float(im.shape[0]))], spec) for im in images]
    )
    p32 = _run(mx.sym.load(sym_path), mx.nd.load(params_path), batch)[:, spec.smile_index]
    p16 = _run(_half_activations(sym_path), _half(mx.nd.load(params_path)), _half(batch))[:, spec.smile_index]
    diff = np.abs(p16 - p32)
    labels = np.array([s.label for s in samples])
    result = {
        "crops": len(batch),
        "max_abs_diff": round(float(diff.max()), 6),
        "mean_abs_diff": round(float(diff.mean()), 6),
        "p99_abs_diff": round(float(np.percentile(diff, 99)), 6),
        "decisions_flipped_at_0.5": int(((p16 > 0.5) != (p32 > 0.5)).sum()),
        "accuracy_fp32": round(float(((p32 > 0.5) == labels).mean()), 4),
        "accuracy_fp16": round(float(((p16 > 0.5) == labels).mean()), 4),
        "mxnet": mx.__version__,
    }
    with open(OUT, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
