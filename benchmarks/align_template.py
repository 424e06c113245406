"""Where YuNet's five landmarks sit in today's box crops: the alignment template of aligned smile-nets.

``python -m benchmarks.align_template [--data ../shared/data] [--cache DIR]``
finds each training set's Haar boxes and YuNet landmarks (the training
caches, :mod:`reaction.training.landmarks`), takes the median landmark
position inside the Haar box over the images where both found the face, maps
it into the box crop (margin 0.1), averages the three sets and makes the
result left-right symmetric. It prints the per-set medians and the template
that ``reaction.training.config.ALIGN_TEMPLATE`` holds.
"""

import argparse
import sys
from typing import List, Optional

import numpy as np

from reaction import align
from reaction.training import datasets
from reaction.training.config import DEFAULT_SETS, TrainConfig, parse_set
from reaction.training.landmarks import landmarks_for_set


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.align_template", description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--cache", default="reaction/models/cache", help="the training crop cache")
    args = ap.parse_args(argv)
    medians = []
    for item in DEFAULT_SETS:
        name = parse_set(item)[0]
        samples = datasets.load_set(args.data, name)
        found = datasets.detect_set(name, samples, args.cache, root=args.data)
        paths = [samples[i].path for i in found["index"]]
        marks = landmarks_for_set(name, paths, found["boxes"], datasets.is_tight(name), args.cache, args.data)
        both = found["detected"] & np.isfinite(marks[:, 0, 0])
        rel = np.array([align.relative(marks[i], tuple(found["boxes"][i])) for i in np.flatnonzero(both)])
        medians.append(np.median(rel, axis=0))
        print("{}: {} faces with a Haar box and landmarks; median in box fractions {}".format(
            name, int(both.sum()), np.round(medians[-1], 3).tolist()))
    margin = TrainConfig.margin
    template = align.symmetric_template([align.template_in_crop(m, margin) for m in medians])
    print("template (crop fractions):", tuple(tuple(round(v, 4) for v in p) for p in template))
    return 0


if __name__ == "__main__":
    sys.exit(main())
