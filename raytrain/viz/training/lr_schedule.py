"""Learning-rate schedule (`lr_schedule.png`): the logged rate per epoch, its warmup and
drops, against the validation loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from raytrain.viz.training._draw import VAL_COLOR, _marker, _style
from raytrain.viz.training.log import _column

LR_SCHEDULE = "lr_schedule.png"


@dataclass
class LRInfo:
    """The learning rate as the run used it (the log's `lr` is the rate of that epoch).

    `detected_warmup`: how many leading epochs the LR rose strictly — `EpochSchedule`'s linear
    warmup of `w` epochs logs `w` rising epochs before reaching the base rate.
    `warmup_epochs`: the configured warmup if given, else the detected one (what gets shaded).
    `drops`: epochs whose LR is at least 20 % below the previous epoch's (plateau reductions,
    step decays); smooth decays such as cosine mostly fall below that threshold.
    """

    epochs: np.ndarray
    lr: np.ndarray
    warmup_epochs: int
    detected_warmup: int
    peak_lr: float
    peak_epoch: int | None
    final_lr: float
    min_lr: float
    drops: list[int] = field(default_factory=list)

    @property
    def log_scale(self) -> bool:
        """A log axis needs every LR positive (a schedule may end at exactly 0)."""
        finite = self.lr[np.isfinite(self.lr)]
        return bool(len(finite)) and bool((finite > 0).all())


def lr_info(df: pd.DataFrame, warmup_epochs: int = 0) -> LRInfo:
    """LR numbers of a log (see `LRInfo`)."""
    epochs = df["epoch"].to_numpy(dtype=int)
    lr = _column(df, "lr")
    detected = 0
    for a, b in zip(lr[:-1], lr[1:], strict=False):
        if not (np.isfinite(a) and np.isfinite(b) and b > a):
            break
        detected += 1
    finite = np.isfinite(lr)
    if finite.any():
        peak_i = int(np.nanargmax(lr))
        peak, peak_epoch = float(lr[peak_i]), int(epochs[peak_i])
        final, low = float(lr[finite][-1]), float(np.nanmin(lr))
    else:
        peak, peak_epoch, final, low = np.nan, None, np.nan, np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = lr[1:] / lr[:-1]
    drops = [int(e) for e, r in zip(epochs[1:], ratio, strict=True) if np.isfinite(r) and r <= 0.8]
    return LRInfo(
        epochs=epochs,
        lr=lr,
        warmup_epochs=int(warmup_epochs) if warmup_epochs and warmup_epochs > 0 else detected,
        detected_warmup=detected,
        peak_lr=peak,
        peak_epoch=peak_epoch,
        final_lr=final,
        min_lr=low,
        drops=drops,
    )


def _get_lr_plot(info: LRInfo, schedule: str, val_loss: np.ndarray, note: str) -> Figure:
    fig = Figure(figsize=(9, 4.8), layout="constrained")
    ax = fig.add_subplot()
    n = len(info.epochs)
    if info.warmup_epochs > 0:
        ax.axvspan(
            0.5,
            info.warmup_epochs + 0.5,
            color="gold",
            alpha=0.25,
            label=f"warmup ({info.warmup_epochs} epoch{'s' if info.warmup_epochs != 1 else ''})",
        )
    ax.plot(info.epochs, info.lr, color="tab:purple", lw=2, marker=_marker(n), ms=4, label="lr")
    for e in info.drops:
        ax.axvline(e, color="grey", ls=":", lw=1)
    if info.log_scale:
        ax.set_yscale("log")
    _style(ax, ylabel="learning rate" + (" (log)" if info.log_scale else ""))
    if np.isfinite(val_loss).any():
        twin = ax.twinx()
        twin.plot(
            info.epochs,
            val_loss,
            color=VAL_COLOR,
            alpha=0.5,
            lw=1,
            marker=_marker(n),
            ms=3,
            label="val loss",
        )
        twin.set_ylabel("val loss", color=VAL_COLOR)
        lines, labels = ax.get_legend_handles_labels()
        l2, lb2 = twin.get_legend_handles_labels()
        ax.legend(lines + l2, labels + lb2, fontsize=8, loc="best")
    else:
        ax.legend(fontsize=8)
    name = schedule or "schedule not recorded"
    sub = f"peak {info.peak_lr:.3g} (epoch {info.peak_epoch}), final {info.final_lr:.3g}"
    if info.drops:
        sub += f"; drops ≥20 % at epoch {', '.join(map(str, info.drops[:8]))}"
    fig.suptitle(f"Learning rate schedule: {name} ({note})\n{sub}")
    return fig
