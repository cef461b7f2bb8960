"""Shared plotting setup: a headless backend and one way to save a figure.

Plots are drawn on training workers and CI machines that have no display, so the Agg backend is
selected before anything imports pyplot; figures are built as `matplotlib.figure.Figure` objects
(no pyplot global state), which keeps drawing thread-safe and leaves no figures open.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

if "matplotlib.pyplot" not in sys.modules:
    # Only when nobody chose a backend yet: a notebook that already uses pyplot keeps its own.
    matplotlib.use("Agg")

DPI = 110


def save_figure(fig: Figure, path: Path) -> Path:
    """Write `fig` as a PNG at `path` (creating its folder) and return the path.

    The figure is cleared afterwards so its memory is released at once, even when the caller
    keeps a reference (a long training run draws many figures).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", facecolor="white")
    fig.clear()
    return path
