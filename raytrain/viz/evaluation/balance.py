"""Class balance of the evaluated (and optionally the training) split (`class_balance.png`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from raytrain.viz.evaluation._draw import _draw_bars

#: Largest / smallest class count at or above which a split is flagged as imbalanced.
IMBALANCE_FLAG = 1.5


@dataclass
class BalanceInfo:
    names: list[str]
    counts: dict[str, np.ndarray]  # split name -> count per class

    def ratio(self, split: str) -> float:
        """Largest / smallest class count; inf when a class is missing from the split."""
        c = self.counts[split]
        return float(c.max() / c.min()) if c.min() > 0 else float("inf")

    def flagged(self, split: str) -> bool:
        return self.ratio(split) >= IMBALANCE_FLAG


def class_balance_info(
    names: list[str], eval_targets: Any, train_targets: Any | None = None, eval_split: str = "eval"
) -> BalanceInfo:
    """Count per class of the evaluated split (shown as `eval_split`: "eval" for a run's
    validation pass, "test" for the held-out split) and, first, of the training split."""
    k = len(names)
    counts: dict[str, np.ndarray] = {}
    if train_targets is not None:
        counts["train"] = np.bincount(np.asarray(train_targets).astype(np.int64).ravel(), None, k)
    counts[eval_split] = np.bincount(np.asarray(eval_targets).astype(np.int64).ravel(), None, k)
    return BalanceInfo(names=list(names), counts=counts)


def _get_class_balance_plot(info: BalanceInfo) -> Figure:
    splits = list(info.counts)
    k = len(info.names)
    fig = Figure(figsize=(12, 4.5 * len(splits)), layout="constrained")
    axes = fig.subplots(len(splits), 2, squeeze=False)
    for row, split in enumerate(splits):
        counts = info.counts[split]
        ratio, flagged = info.ratio(split), info.flagged(split)
        pie, bar = axes[row]
        nz = counts > 0
        pie.pie(
            counts[nz],
            labels=[n for n, z in zip(info.names, nz, strict=True) if z] if k <= 12 else None,
            autopct="%1.1f%%" if k <= 12 else None,
            startangle=90,
            colors=[f"C{i % 10}" for i in np.flatnonzero(nz)],
        )
        pie.set_title(f"{split}: {int(counts.sum())} rows")
        _draw_bars(bar, info.names, counts, f"{split}: count per class", "Rows")
        if counts.sum():
            bar.axhline(counts.sum() / k, color="grey", ls="--", lw=1, label="balanced")
            bar.legend(fontsize=8)
        verdict = "IMBALANCED" if flagged else "balanced"
        bar.set_title(
            f"{split}: imbalance ratio {ratio:.2f} (max/min) — {verdict}",
            color="tab:red" if flagged else "black",
        )
    fig.suptitle(f"Class balance (flagged at ratio >= {IMBALANCE_FLAG:g})")
    return fig
