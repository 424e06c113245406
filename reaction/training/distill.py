"""Knowledge distillation for smile-net training: ``reaction train --teacher DIR``.

A trained model (the teacher, e.g. the shipped fused pair) gives its P(smile)
for every train crop once, and each target is moved part of the way towards
it. On LFW's Rekognition labels, which muxspace's labels contradict on many
faces, a wrong label then no longer asks for full confidence in the wrong
class (Hinton et al. 2015; Li et al. 2017 use it against label noise).
Tried on the ``lfw-only`` recipe with the shipped pair as teacher: the
students were worse on dev than their plain twins, so it is off by default
(docs/experiments.md).
"""

import numpy as np

from ..preprocess import InputSpec
from ..types import ReactionError
from . import datasets


def teacher_predictions(teacher_dir: str, x: np.ndarray, spec: InputSpec) -> np.ndarray:
    """P(smile) of the model in ``teacher_dir`` for uint8 crops ``x``, cut as it cuts them."""
    from ..smile import SmileNet

    teacher = SmileNet.load(teacher_dir)
    cut = ("width", "height", "channels", "margin")
    if any(getattr(teacher.spec, k) != getattr(spec, k) for k in cut):
        raise ReactionError(
            "--teacher {}: its input ({}) differs from this run's ({})".format(
                teacher_dir, *[", ".join(str(getattr(s, k)) for k in cut) for s in (teacher.spec, spec)]
            )
        )
    return datasets.smile_probabilities(teacher.predict_batch, x, teacher.spec)


def distilled_targets(target: np.ndarray, teacher_smile: np.ndarray, weight: float, smile_index: int = 1) -> np.ndarray:
    """``target`` rows (N, 2) moved by ``weight`` towards a teacher's P(smile) ``teacher_smile``."""
    soft = np.empty_like(target)
    soft[:, smile_index] = teacher_smile
    soft[:, 1 - smile_index] = 1.0 - teacher_smile
    return ((1.0 - weight) * target + weight * soft).astype(np.float32)
