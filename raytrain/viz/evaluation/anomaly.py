"""Anomaly detection (`threshold_sweep.png`): metrics against the threshold, the score
distribution per class and the detection rate per tamper kind.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from raytrain.viz.evaluation.thresholds import SweepInfo, _draw_sweep

TAMPER_KINDS = (
    "normal",
    "amplitude_tamper",
    "phase_tamper",
    "frequency_gap",
    "distribution_violation",
)


def detection_by_kind(scores: Any, kinds: Any, threshold: float) -> list[tuple[str, int, float]]:
    """(kind, rows, fraction flagged as tampered) per kind; for 'normal' that is the FPR.

    Known kinds come in `TAMPER_KINDS`' order ('normal', then the tamperings in the order
    `raytrain.data.synth.TAMPERINGS` lists them), unknown ones after them alphabetically.
    """
    s = np.asarray(scores, np.float64).ravel()
    kd = np.asarray(kinds).astype(str).ravel()
    present = set(kd.tolist())
    order = [k for k in TAMPER_KINDS if k in present] + sorted(present - set(TAMPER_KINDS))
    return [(k, int((kd == k).sum()), float((s[kd == k] > threshold).mean())) for k in order]


def _draw_score_hist(ax: Axes, scores: np.ndarray, targets: np.ndarray, threshold: float) -> None:
    bins = np.linspace(0, 1, 41)
    ax.hist(scores[targets == 0], bins=bins, alpha=0.6, label="normal", color="tab:green")
    ax.hist(scores[targets == 1], bins=bins, alpha=0.6, label="tampered", color="tab:red")
    ax.axvline(threshold, color="black", ls="--", lw=1, label=f"threshold {threshold:.2f}")
    ax.set_xlabel("P(tampered)")
    ax.set_ylabel("Rows")
    ax.set_title("Score distribution by class")
    ax.legend(fontsize=7)


def _draw_kinds(ax: Axes, kinds: list[tuple[str, int, float]]) -> None:
    names = [f"{k}\n(n={n})" for k, n, _ in kinds]
    rates = np.array([r for _, _, r in kinds])
    colours = ["tab:green" if k == "normal" else "tab:red" for k, _, _ in kinds]
    bars = ax.bar(np.arange(len(kinds)), rates, color=colours, edgecolor="black")
    ax.bar_label(bars, [f"{r:.1%}" for r in rates], fontsize=8)
    ax.set_xticks(np.arange(len(kinds)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("Flagged as tampered")
    ax.set_title("Detection rate per kind ('normal' = false positives)")


def _get_threshold_sweep_plot(
    sweep: SweepInfo,
    chosen: float,
    scores: np.ndarray,
    targets: np.ndarray,
    kinds: list[tuple[str, int, float]] | None,
) -> Figure:
    n = 3 if kinds else 2
    fig = Figure(figsize=(6.5 * n, 5), layout="constrained")
    axes = fig.subplots(1, n)
    _draw_sweep(axes[0], sweep, chosen)
    _draw_score_hist(axes[1], scores, targets, chosen)
    if kinds:
        _draw_kinds(axes[2], kinds)
    return fig
