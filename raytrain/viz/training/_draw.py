"""Drawing helpers shared by the training and model-analysis figures: colours, axis style,
markers and the placeholder image for a log without epochs.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from raytrain.viz._common import save_figure

TRAIN_COLOR, VAL_COLOR, BEST_COLOR, WARN_COLOR = "tab:blue", "tab:orange", "tab:green", "tab:red"


def _epochs_note(n: int) -> str:
    return "no epochs logged yet" if n == 0 else ("1 epoch" if n == 1 else f"{n} epochs")


def _style(ax: Axes, xlabel: str = "epoch", ylabel: str = "") -> None:
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    lo, hi = ax.get_xlim()
    if hi - lo < 1.5:  # a single epoch: one integer tick, not 0.96, 0.98, ...
        center = round((lo + hi) / 2)
        ax.set_xlim(center - 1, center + 1)
        ax.set_xticks([center])
    else:
        ax.xaxis.get_major_locator().set_params(integer=True)


def _marker(n: int) -> str | None:
    """Markers make a short run readable (a single epoch has no line to draw)."""
    return "o" if n <= 30 else None


def _placeholder(path: Path, title: str, message: str) -> Path:
    """A valid image that says why there is nothing to plot, so every expected file exists."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=13, wrap=True)
    fig.suptitle(title, fontsize=14)
    return save_figure(fig, path)


def _pretty(name: str) -> str:
    return name.removeprefix("val_").replace("_", " ")
