"""smile-net inference time per face at a fixed batch size.

    python -m benchmarks.smile_speed [--model reaction/models] [--batch 16] [--repeat 300]

Runs the shipped model through :class:`reaction.smile.SmileNet` (the same
loader and MXNet backend as the pipeline) on real face crops from the GENKI
fixture, after a warm-up, and prints the median and 90th percentile time per
face. Set ``OMP_NUM_THREADS`` to the cores to use (2 on the reference machine);
on a loaded machine the figures are upper bounds.
"""
import argparse
import glob
import json
import os
import platform
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "genki")


def crops_from_fixture(spec, n: int) -> np.ndarray:
    """``n`` preprocessed real crops (fixture images, whole image as the face box)."""
    import cv2

    from reaction.preprocess import crop_faces

    files = sorted(glob.glob(os.path.join(FIXTURE, "*", "*.jpg")))[:n]
    if not files:
        raise SystemExit("no fixture images in {}".format(FIXTURE))
    out = []
    for f in files:
        image = cv2.imread(f)
        out.append(crop_faces(image, [(0.0, 0.0, image.shape[1], image.shape[0])], spec)[0])
    while len(out) < n:
        out += out[: n - len(out)]
    return np.stack(out)


def measure(model_dir: str, batch: int, repeat: int) -> dict:
    from reaction.training.architectures import cost
    from reaction.smile import SmileNet

    net = SmileNet.load(model_dir)
    crops = crops_from_fixture(net.spec, batch)
    for _ in range(20):
        net.predict_batch(crops)
    times, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        net.predict_batch(crops)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    per_face = np.asarray(times) / batch * 1000.0
    # CPU time of this process: what the work costs when the cores are not
    # shared; wall time is what a loaded machine gives (both are reported).
    cpu_per_face = np.asarray(cpu) / batch * 1000.0
    params = os.path.join(model_dir, "smile-net-0000.params")
    shape = (1, net.spec.n_channels, net.spec.height, net.spec.width)
    sym = net.backend._net if hasattr(net.backend, "_net") else None
    return {
        "model": model_dir,
        "batch": batch,
        "repeat": repeat,
        "ms_per_face_median": round(float(np.median(per_face)), 4),
        "ms_per_face_p90": round(float(np.percentile(per_face, 90)), 4),
        "cpu_ms_per_face_median": round(float(np.median(cpu_per_face)), 4),
        "params_bytes": os.path.getsize(params),
        "cost": cost(sym, shape) if sym is not None else None,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average": os.getloadavg()[0],
        "machine": platform.processor() or platform.machine(),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=os.path.join(ROOT, "reaction", "models"))
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeat", type=int, default=300)
    p.add_argument("--json", default=None, help="also write the result here")
    args = p.parse_args()
    result = measure(args.model, args.batch, args.repeat)
    print("smile-net {}: batch {}, wall {:.3f} ms/face median, {:.3f} p90; CPU {:.3f} ms/face; "
          "params file {:.0f} kB, {} (OMP_NUM_THREADS={}, load {:.1f})".format(
              args.model, args.batch, result["ms_per_face_median"], result["ms_per_face_p90"],
              result["cpu_ms_per_face_median"],
              result["params_bytes"] / 1024.0, result["cost"], result["omp_num_threads"],
              result["load_average"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
