"""What a training run depends on: :class:`TrainConfig`, importable without MXNet.

The command line builds its options from these defaults, so ``reaction train
--help`` needs neither MXNet nor the data.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..preprocess import InputSpec
from ..smile import DEFAULT_MODEL_DIR
from ..types import ReactionError

#: Network architectures :func:`reaction.training.architectures.build` knows.
ARCHS = ("smilenet", "alexnet")

DEFAULT_SETS = ("smilesmiled-train", "genki-train:2", "lfw-rekognition-train")

#: Where aligned crops put the five landmarks (right eye, left eye, nose, right and
#: left mouth corner), in crop fractions: the median YuNet landmarks of the training
#: faces inside their Haar boxes (the mean of the three training sets' medians), as
#: today's box crop frames them (margin 0.1), made left-right symmetric. So an aligned
#: crop frames the average face as the box crop did; it only stops the face drifting
#: about in the crop. Measured by benchmarks/align_template.py.
ALIGN_TEMPLATE = ((0.3127, 0.3829), (0.6873, 0.3829), (0.5, 0.5871), (0.3472, 0.769), (0.6528, 0.769))


@dataclass
class TrainConfig:
    """Everything a training run depends on (also written beside the model)."""

    data: str = "../shared/data"
    out: str = DEFAULT_MODEL_DIR  # the shipped model: the default recipe rebuilds it
    cache: Optional[str] = None
    sets: Sequence[str] = DEFAULT_SETS
    arch: str = "smilenet"
    # The defaults are the shipped recipe (reaction/models/README.md), so that the
    # one-command run reproduces the shipped model.
    widths: Tuple[int, ...] = (16, 32, 64, 128)
    size: int = 48
    channels: str = "grey"
    margin: float = 0.1
    # Crops aligned on YuNet's five landmarks (reaction.align) instead of centred on the box.
    align: bool = False
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    wd: float = 1e-4
    # Share of each target spread evenly over both classes (0.1: 0.95/0.05).
    # LFW's Rekognition labels disagree with muxspace's on many images; a
    # smoothed target stops the net chasing the ones that are simply wrong.
    label_smoothing: float = 0.0
    # Beta(mixup, mixup) blending of sample pairs; 0 is off.
    mixup: float = 0.0
    # Export a moving average of the weights with this horizon in epochs; 0 exports the last weights.
    ema_epochs: float = 0.0
    # A learned smile-logit shift per training set (training only, not exported): the
    # sets disagree on where a smile starts, and the net need not bend to reconcile them.
    # Off: with calibrate="genki-train" it lifted GENKI-4K test to 92.3% but cut laugh
    # recall on video to 0.57 (docs/experiments.md, "Where a smile starts").
    set_bias: bool = False
    # The training set whose dev part sets the exported smile offset (its idea of a
    # smile is the one shipped), or "all" for the mean per-set log-loss.
    calibrate: str = "all"
    # A model folder whose P(smile) on the (un-augmented) train crops is blended
    # into the targets with this weight: knowledge distillation, None is off.
    # Off: lfw-only students taught by the shipped pair were worse on dev.
    teacher: Optional[str] = None
    teacher_weight: float = 0.5
    seed: int = 7
    # Nets trained side by side (seeds seed, seed+1, ...) and fused into one
    # exported model that averages their logits (export.fuse).
    members: int = 2
    dev_percent: int = 10
    limit: Optional[int] = None  # per-set sample cap, for quick tests
    prefix: str = "smile-net"
    history: List[Dict[str, Any]] = field(default_factory=list)
    dev_sizes: List[int] = field(default_factory=list)
    train_sizes: List[int] = field(default_factory=list)  # per set, repeats included
    smile_offset: float = 0.0  # logit added to "smile", chosen on dev at the end

    def set_names(self) -> List[str]:
        """The training sets' names, without their repeat counts."""
        return [parse_set(item)[0] for item in self.sets]

    def spec(self) -> InputSpec:
        if self.arch == "alexnet":
            # The original's 224 RGB input. It used raw 0..255 pixels; this
            # comparison centres them like ours, which can only help it train.
            return InputSpec(224, 224, "rgb", 127.5, 1.0 / 127.5, self.margin)
        template = ALIGN_TEMPLATE if self.align else None
        return InputSpec(self.size, self.size, self.channels, 127.5, 1.0 / 127.5, self.margin, template=template)


def parse_set(item: str) -> Tuple[str, int]:
    name, _, repeat = item.partition(":")
    try:
        return name, int(repeat) if repeat else 1
    except ValueError:
        raise ReactionError("--sets: repeat count in {!r} is not an integer".format(item)) from None
