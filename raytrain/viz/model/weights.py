"""Weight distributions (`analysis/weight_distributions.png`): per-layer statistics and
histograms of the trained weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from raytrain.viz._common import save_figure
from raytrain.viz.model.architecture import _unwrap

WEIGHT_DISTRIBUTIONS = "weight_distributions.png"

MAX_HIST_LAYERS = 12


NEAR_ZERO = 1e-3


def _weight_tensors(model: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    """Kernels and embeddings (parameters with 2+ dimensions): biases and norm scales are tiny,
    start at constants and would swamp the figure; a model with no such tensors shows all."""
    named = list(_unwrap(model).named_parameters())
    weights = [(n, p) for n, p in named if p.dim() >= 2]
    return weights or named


def weight_stats(model: torch.nn.Module, near_zero: float = NEAR_ZERO) -> list[dict[str, Any]]:
    """Per weight tensor, in model order: name, shape, numel, mean, std, min, max, abs_mean and
    `near_zero_frac` — the share of weights with |w| < `near_zero`, which flags dead or pruned
    units (healthy initializations put few weights that close to 0)."""
    out = []
    for name, p in _weight_tensors(model):
        w = p.detach().to(torch.float64).flatten()
        out.append(
            {
                "name": name,
                "shape": tuple(p.shape),
                "numel": int(w.numel()),
                "mean": float(w.mean()),
                "std": float(w.std(unbiased=False)),
                "min": float(w.min()),
                "max": float(w.max()),
                "abs_mean": float(w.abs().mean()),
                "near_zero_frac": float((w.abs() < near_zero).double().mean()),
            }
        )
    return out


@dataclass
class WeightHistogram:
    stats: dict[str, Any]
    counts: np.ndarray
    edges: np.ndarray


def weight_histograms(
    model: torch.nn.Module, max_layers: int = MAX_HIST_LAYERS, bins: int = 40
) -> list[WeightHistogram]:
    """Histograms of the `max_layers` largest weight tensors, kept in model order (input to
    output reads naturally). Tensors over a million values are subsampled with a fixed stride:
    the shape of a distribution does not need every value, and the plot stays fast."""
    stats = weight_stats(model)
    tensors = dict(_weight_tensors(model))
    keep = sorted(sorted(range(len(stats)), key=lambda i: -stats[i]["numel"])[:max_layers])
    out = []
    for i in keep:
        values = tensors[stats[i]["name"]].detach().float().flatten().cpu().numpy()
        if values.size > 1_000_000:
            values = values[:: values.size // 1_000_000 + 1]
        counts, edges = np.histogram(values, bins=bins)
        out.append(WeightHistogram(stats[i], counts, edges))
    return out


def _get_weight_histograms_plot(hists: list[WeightHistogram], n_total: int, params: int) -> Figure:
    ncols = min(4, max(1, len(hists)))
    nrows = max(1, -(-len(hists) // ncols))
    fig = Figure(figsize=(4 * ncols, 3.1 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, h in zip(axes, hists, strict=False):
        s = h.stats
        ax.stairs(h.counts, h.edges, fill=True, color="tab:blue", alpha=0.7)
        ax.axvline(s["mean"], color="black", lw=1, ls="--")
        ax.set_title(f"{s['name']}\n{s['shape']}", fontsize=8)
        ax.text(
            0.02,
            0.97,
            f"mean {s['mean']:.3g}\nstd {s['std']:.3g}\n|w|<{NEAR_ZERO:g}: "
            f"{s['near_zero_frac'] * 100:.1f} %",
            transform=ax.transAxes,
            va="top",
            fontsize=7.5,
            bbox={"fc": "white", "alpha": 0.7, "lw": 0},
        )
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    for ax in axes[len(hists) :]:
        ax.axis("off")
    if not hists:
        axes[0].text(0.5, 0.5, "model has no parameters", ha="center", va="center")
    fig.suptitle(
        f"Weight distributions: {len(hists)} largest of {n_total} weight tensors "
        f"({params:,} parameters in the model)"
    )
    return fig


def write_weight_distributions(model: torch.nn.Module, path: Path) -> Path:
    """Histograms of the largest weight tensors with mean, std and near-zero share, to `path`
    (conventionally `analysis/weight_distributions.png`)."""
    model = _unwrap(model)
    hists = weight_histograms(model)
    params = sum(p.numel() for p in model.parameters())
    fig = _get_weight_histograms_plot(hists, len(_weight_tensors(model)), params)
    return save_figure(fig, Path(path))
