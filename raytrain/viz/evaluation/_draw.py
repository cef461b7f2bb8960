"""Drawing helpers shared by the evaluation figures: number format, tables, bars, images."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes

MAX_ANNOTATED_CLASSES = 20  # beyond this, confusion cells are unreadable: colour only


def _fmt(v: float) -> str:
    if np.isnan(v):
        return "n/a"
    if np.isinf(v):
        return "inf"
    if float(v).is_integer() and abs(v) >= 1:
        return f"{int(v)}"
    return f"{v:.4f}" if abs(v) < 1000 else f"{v:.4g}"


def _draw_table(
    ax: Axes,
    rows: list[list[str]],
    columns: list[str],
    title: str,
    colours: list[list[str]] | None = None,
) -> None:
    ax.axis("off")
    table = ax.table(
        cellText=rows, colLabels=columns, cellColours=colours, loc="center", cellLoc="center"
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.3)
    for (r, _), cell in table.get_celld().items():
        if r == 0:
            cell.set_text_props(weight="bold")
            cell.set_facecolor("#dddddd")
    ax.set_title(title)


def _draw_bars(
    ax: Axes,
    names: list[str],
    values: np.ndarray,
    title: str,
    ylabel: str,
    color: str = "tab:blue",
    percent: bool = False,
) -> None:
    x = np.arange(len(names))
    vals = np.nan_to_num(np.asarray(values, np.float64))
    bars = ax.bar(x, vals, color=color, edgecolor="black")
    if len(names) <= MAX_ANNOTATED_CLASSES:
        labels = [f"{v:.0%}" if percent else _fmt(v) for v in vals]
        ax.bar_label(bars, labels, fontsize=7)
    if len(names) <= 30:
        ax.set_xticks(x, names, rotation=45 if len(names) > 4 else 0, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if percent:
        ax.set_ylim(0, 1.1)


def _display(img: np.ndarray) -> np.ndarray:
    """Any image layout and range -> (H,W) or (H,W,3) in [0,1] for imshow."""
    a = np.asarray(img, np.float64).squeeze()
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 3 and a.shape[-1] not in (3, 4):
        a = a[..., 0]
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if lo < 0 or hi > 1:
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a


def _draw_image(ax: Axes, img: np.ndarray, title: str, cmap: str = "gray", **kw: Any) -> None:
    a = _display(img) if cmap == "gray" else img
    ax.imshow(a, cmap=cmap if a.ndim == 2 else None, **kw)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
