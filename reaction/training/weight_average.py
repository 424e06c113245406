"""A moving average of a net's weights over the end of training (``reaction train --ema-epochs``)."""

from typing import List


class WeightAverage:
    """Exponential moving average of every parameter of a net, batch-norm statistics included.

    Every ``every``-th training step, ``shadow[i] <- d * shadow[i] + (1 - d) * param[i]``
    with ``d = (1 - 1 / horizon) ** every`` (``horizon`` in steps), ramped up as
    ``(1 + t) / (10 + t)`` over the first samples ``t`` so that the random
    initial weights are forgotten. The average of the weights a net passes
    through at the end of training generalises better than the last of them
    (Polyak averaging; Izmailov et al. 2018), which matters on noisy labels.
    Sampled every 8th step, not every step: one update of smilenet's 102
    arrays costs 11 ms, and one per step would add 2 minutes to the main run.
    """

    def __init__(self, params, horizon: float, every: int = 8) -> None:
        self.params = list(params.values())
        self.every = every
        self.decay = (1.0 - 1.0 / max(1.0, horizon)) ** every
        self.shadow: List = []  # from the first sample on: Gluon initialises shapes on the first batch
        self.steps = self.samples = 0

    def update(self) -> None:
        """Count one training step; every ``every``-th one is averaged in."""
        self.steps += 1
        if self.steps % self.every == 0:
            self._sample()

    def _sample(self) -> None:
        if not self.shadow:
            self.shadow = [p.data().copy() for p in self.params]
        self.samples += 1
        d = min(self.decay, (1.0 + self.samples) / (10.0 + self.samples))
        for shadow, p in zip(self.shadow, self.params):
            shadow *= d
            shadow += (1.0 - d) * p.data()

    def apply(self) -> None:
        """Replace the net's parameters by their averages, the last weights included."""
        if self.steps % self.every:
            self._sample()
        for shadow, p in zip(self.shadow, self.params):
            p.set_data(shadow)
