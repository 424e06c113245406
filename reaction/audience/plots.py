"""The report's pictures, as inline PNG data (matplotlib, Agg: no display, no files).

Colours are the Okabe-Ito palette, which stays apart in greyscale print and
for colour-blind readers; the band is a lighter fill of the line's colour.
"""

import base64
import io
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .inputs import Scene, timecode

BLUE, ORANGE, GREEN, GREY = "#0072B2", "#E69F00", "#009E73", "#555555"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    _plt().close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _film_axis(ax, n: int) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.set_xlim(0, max(n, 1))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, steps=[1, 2, 3, 5, 6, 10]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: timecode(x)))
    ax.set_xlabel("film time (HH:MM:SS)")


def _scene_marks(ax, scenes: Sequence[Scene]) -> None:
    for sc in scenes:
        ax.axvline(sc.start_s, color=GREY, linewidth=0.6, linestyle=":")
    if scenes:
        ax.axvline(scenes[-1].end_s, color=GREY, linewidth=0.6, linestyle=":")


def curve_png(curve: Dict[str, np.ndarray], scenes: Sequence[Scene], moments: List[Dict]) -> str:
    plt = _plt()
    n = len(curve["smoothed"])
    x = np.arange(n) + 0.5
    fig, ax = plt.subplots(figsize=(10, 3.2))
    ax.fill_between(x, curve["low"], curve["high"], color=BLUE, alpha=0.25, linewidth=0, label="95% band")
    ax.plot(x, curve["smoothed"], color=BLUE, linewidth=1.2, label="share laughing (smoothed)")
    for m in moments:
        ax.annotate(
            str(m["rank"]),
            (m["second"] + 0.5, m["peak_share"]),
            textcoords="offset points",
            xytext=(0, 4),
            ha="center",
            fontsize=8,
        )
    _scene_marks(ax, scenes)
    _film_axis(ax, n)
    ax.set_ylim(0, max(0.05, float(np.nan_to_num(curve["high"]).max()) * 1.1))
    ax.set_ylabel("share of present viewers")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    return _png(fig)


def difference_png(
    diff: np.ndarray, low: np.ndarray, high: np.ndarray, names: Tuple[str, str], scenes: Sequence[Scene]
) -> str:
    plt = _plt()
    x = np.arange(len(diff)) + 0.5
    fig, ax = plt.subplots(figsize=(10, 2.8))
    ax.fill_between(x, low, high, color=ORANGE, alpha=0.3, linewidth=0, label="95% band")
    ax.plot(x, diff, color=ORANGE, linewidth=1.2, label="{} minus {}".format(*names))
    ax.axhline(0, color=GREY, linewidth=0.8)
    _scene_marks(ax, scenes)
    _film_axis(ax, len(diff))
    ax.set_ylabel("difference in share")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    return _png(fig)


def raster_png(
    laughs: Dict[str, List[Tuple[float, float]]],
    viewers: List[str],
    offset: float,
    n: int,
    scenes: Sequence[Scene],
    presence: Optional[Dict[str, List[Tuple[float, float]]]] = None,
) -> str:
    """One row per viewer (numbered, not named): on-screen spans light, laughs dark."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 0.4 + 0.09 * max(len(viewers), 4)))
    # One collection per kind of mark, not per viewer: a screening of 100 viewers draws in a blink.
    for spans, colour, width in ((presence or {}, "#DDDDDD", 5.0), (laughs, GREEN, 5.0)):
        ys, x0, x1 = [], [], []
        for row, vid in enumerate(viewers):
            for a, b in spans.get(vid, ()):
                ys.append(row)
                x0.append(a - offset)
                x1.append(max(b, a + 0.3) - offset)
        if ys:
            ax.hlines(ys, x0, x1, colors=colour, linewidth=width)
    _scene_marks(ax, scenes)
    _film_axis(ax, n)
    ax.set_ylim(-0.6, max(len(viewers), 1) - 0.4)
    ax.invert_yaxis()
    ax.set_ylabel("viewer")
    ax.set_yticks([])
    return _png(fig)
