"""Network inspection and post-training analysis plots (seed 002's network_architecture.png and
analysis/: weight_distributions, training_dynamics, summary_dashboard).

As in `raytrain.viz.training`, each plot has a pure function that computes what it shows
(`architecture_info`, `weight_stats`, `weight_histograms`, `dynamics_info`, `summary_numbers`) and a
private one that draws it. Nothing here changes the model: the dummy forward pass for the
architecture runs in eval mode and every module's train/eval flag is restored afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Patch

from raytrain.viz._common import save_figure
from raytrain.viz.training import (
    BEST_COLOR,
    TRAIN_COLOR,
    VAL_COLOR,
    _column,
    _epochs_note,
    _marker,
    _style,
    best_epoch,
    load_log,
    metric_columns,
    overfitting_info,
    resolve_monitor,
    smooth,
)

NETWORK_ARCHITECTURE = "network_architecture.png"
WEIGHT_DISTRIBUTIONS = "weight_distributions.png"
TRAINING_DYNAMICS = "training_dynamics.png"
SUMMARY_DASHBOARD = "summary_dashboard.png"

MAX_ROWS = 40  # beyond this many layers the diagram groups them (see `group_layers`)
MAX_HIST_LAYERS = 12
NEAR_ZERO = 1e-3


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The user's model inside a DistributedDataParallel wrapper (names without `module.`)."""
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        return model.module
    return model


# ---------------------------------------------------------------------------------------------
# architecture
# ---------------------------------------------------------------------------------------------


@dataclass
class LayerRow:
    """One row of the diagram: a layer (or a group of layers) in the order the forward pass ran.

    `output_shape` is what its first call returned for a batch of 1 ("not called" for a module
    the forward pass never ran, "param (shape)" for a bare `nn.Parameter` such as a position
    embedding). `params` counts the parameters it owns, so the rows add up to the model's total.
    """

    name: str
    type: str
    output_shape: str
    params: int
    calls: int = 1
    layers: int = 1


@dataclass
class ArchitectureInfo:
    model_type: str
    input_shape: tuple[int, ...]
    output_shape: str
    rows: list[LayerRow]
    leaf_count: int
    total_params: int
    trainable_params: int
    grouped_by: int | None = None  # name depth the rows were grouped at; None when ungrouped
    forward_error: str | None = None


def _owns_parameters(m: torch.nn.Module) -> bool:
    return next(m.parameters(recurse=False), None) is not None


def _units(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """The modules a row stands for: leaves, plus modules with parameters of their own.

    Why not just leaves: `nn.MultiheadAttention` holds `in_proj_weight` itself and applies its
    `out_proj` child functionally, so a hook on the child never fires; the module that owns the
    weights is the layer a reader thinks of. Such a unit's children are not listed separately.
    """
    units: list[tuple[str, torch.nn.Module]] = []

    def walk(prefix: str, m: torch.nn.Module) -> None:
        children = list(m.named_children())
        if not children or (prefix and _owns_parameters(m)):
            units.append((prefix or type(m).__name__, m))
            return
        for name, child in children:
            walk(f"{prefix}.{name}" if prefix else name, child)

    walk("", model)
    return units


def _shape_str(out: Any) -> str:
    if isinstance(out, torch.Tensor):
        return str(tuple(out.shape))
    if isinstance(out, list | tuple):
        parts = [_shape_str(o) for o in out if o is not None]
        return parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    if isinstance(out, dict):
        return "{" + ", ".join(f"{k}: {_shape_str(v)}" for k, v in out.items()) + "}"
    return type(out).__name__


def _count(params: list[torch.nn.Parameter]) -> int:
    return sum(p.numel() for p in params)


def architecture_info(
    model: torch.nn.Module, input_shape: tuple[int, ...], max_rows: int = MAX_ROWS
) -> ArchitectureInfo:
    """Layers in execution order with output shapes and parameter counts.

    `input_shape` is one example's shape without the batch axis
    (`raytrain.artifacts.export.input_shape`);
    the model runs once on zeros of shape `(1, *input_shape)`. The pass runs in eval mode (batch
    norm keeps its statistics) but with autograd on, because PyTorch's fused Transformer fast path
    — taken only without autograd — skips the submodules whose hooks record the shapes.
    If the forward pass fails, the rows are listed in definition order with "?" shapes and the
    error is kept in `forward_error`, so a diagram is still drawn.
    """
    model = _unwrap(model)
    units = _units(model)
    records: dict[int, dict[str, Any]] = {}
    order: list[int] = []

    def hook(idx: int) -> Any:
        def fn(_m: torch.nn.Module, _inp: Any, out: Any) -> None:
            if idx not in records:
                records[idx] = {"shape": _shape_str(out), "calls": 0}
                order.append(idx)
            records[idx]["calls"] += 1

        return fn

    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    modes = {m: m.training for m in model.modules()}
    handles = [m.register_forward_hook(hook(i)) for i, (_, m) in enumerate(units)]
    error, out_shape = None, "?"
    try:
        model.eval()
        with torch.enable_grad():
            out = model(torch.zeros((1, *input_shape), device=device, dtype=dtype))
        out_shape = _shape_str(out)
        del out
    except Exception as e:  # a diagram without shapes beats no diagram
        error = f"{type(e).__name__}: {e}"
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training

    rows: list[LayerRow] = []
    seen: set[int] = set()
    for idx in order + [i for i in range(len(units)) if i not in records]:
        name, m = units[idx]
        params = [p for p in m.parameters() if id(p) not in seen]
        seen.update(id(p) for p in params)
        if idx in records:
            shape, calls = records[idx]["shape"], records[idx]["calls"]
        elif params or error:
            shape, calls = ("?" if error else "not called"), 0
        else:
            continue  # a parameter-free layer the forward pass never ran: nothing to show
        rows.append(LayerRow(name, type(m).__name__, shape, _count(params), calls))
    for pname, p in model.named_parameters():  # parameters no layer owns (position embeddings)
        if id(p) not in seen:
            seen.add(id(p))
            rows.append(LayerRow(pname, "Parameter", f"param {tuple(p.shape)}", p.numel(), 0))

    unique = {id(p): p for p in model.parameters()}.values()
    info = ArchitectureInfo(
        model_type=type(model).__name__,
        input_shape=tuple(input_shape),
        output_shape=out_shape,
        rows=rows,
        leaf_count=len(rows),
        total_params=sum(p.numel() for p in unique),
        trainable_params=sum(p.numel() for p in unique if p.requires_grad),
        forward_error=error,
    )
    if len(rows) > max_rows:
        info.rows, info.grouped_by = group_layers(model, rows, max_rows)
    return info


def group_layers(
    model: torch.nn.Module, rows: list[LayerRow], max_rows: int
) -> tuple[list[LayerRow], int]:
    """Merge rows that share a name prefix, at the deepest prefix depth that fits `max_rows`.

    Depth 1 groups by top-level child (`encoder`, `decoder`...); deeper levels keep more detail
    (`encoder.0`, `encoder.1`...) when that still fits. A group's shape is the output of its
    last-run layer, its parameters the sum. If even depth 1 does not fit, the surplus groups are
    folded into one final "... more" row so that the parameter total still adds up.
    """
    depth_max = max(len(r.name.split(".")) for r in rows)
    chosen = 1
    for depth in range(depth_max, 0, -1):
        if len({".".join(r.name.split(".")[:depth]) for r in rows}) <= max_rows:
            chosen = depth
            break
    groups: dict[str, list[LayerRow]] = {}
    for r in rows:
        groups.setdefault(".".join(r.name.split(".")[:chosen]), []).append(r)

    out: list[LayerRow] = []
    for key, members in groups.items():
        if len(members) == 1:
            out.append(members[0])
            continue
        try:
            kind = type(model.get_submodule(key)).__name__
        except AttributeError:
            kind = "group"
        ran = [m for m in members if m.calls]
        out.append(
            LayerRow(
                key,
                kind,
                ran[-1].output_shape if ran else members[-1].output_shape,
                sum(m.params for m in members),
                max((m.calls for m in members), default=0),
                len(members),
            )
        )
    if len(out) > max_rows:
        rest = out[max_rows - 1 :]
        out = out[: max_rows - 1] + [
            LayerRow(
                f"... {len(rest)} more",
                "group",
                rest[-1].output_shape,
                sum(r.params for r in rest),
                0,
                sum(r.layers for r in rest),
            )
        ]
    return out, chosen


_CATEGORIES = {
    "convolution": ("#8ecae6", ("Conv",)),
    "linear / attention": ("#ffb703", ("Linear", "Attention", "Bilinear", "Embedding")),
    "normalization": ("#b7e4c7", ("Norm",)),
    "pooling / resampling": ("#cdb4db", ("Pool", "Upsample", "Shuffle", "Flatten")),
    "dropout": ("#f1f3f5", ("Dropout",)),
    "activation": (
        "#e9ecef",
        ("ReLU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softmax", "ELU", "Mish", "Hardswish"),
    ),
}
_GROUP_COLOR, _OTHER_COLOR = "#dee2e6", "#ffd6a5"


def _category(row: LayerRow) -> tuple[str, str]:
    if row.layers > 1:
        return "group of layers", _GROUP_COLOR
    for label, (color, keys) in _CATEGORIES.items():
        if any(k in row.type for k in keys):
            return label, color
    return "other", _OTHER_COLOR


def _draw_architecture(info: ArchitectureInfo) -> Figure:
    n = len(info.rows)
    height = 1.8 + 0.42 * (n + 1)  # inches: title on top, legend below, one band per row
    fig = Figure(figsize=(10, height))
    ax = fig.add_axes((0.02, 0.5 / height, 0.96, 1 - 1.6 / height))
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.6, n + 0.8)
    ax.axis("off")
    ax.text(0.03, n + 0.3, "layer", fontweight="bold", fontsize=9)
    ax.text(0.56, n + 0.3, "output shape (batch 1)", fontweight="bold", fontsize=9)
    ax.text(0.97, n + 0.3, "parameters", fontweight="bold", fontsize=9, ha="right")
    # corners round in inches, not in data units (x spans 1, y spans n rows)
    w_in, h_in = 10 * 0.96, height * (1 - 1.6 / height)
    aspect = (n + 1.4) * w_in / h_in
    used: dict[str, str] = {}
    for i, row in enumerate(info.rows):
        y = n - 1 - i
        label, color = _category(row)
        used[label] = color
        ax.add_patch(
            FancyBboxPatch(
                (0.01, y - 0.34),
                0.98,
                0.68,
                boxstyle="round,pad=0.0,rounding_size=0.008",
                mutation_aspect=aspect,
                fc=color,
                ec="#495057",
                lw=0.8,
            )
        )
        kind = f"{row.type} ({row.layers} layers)" if row.layers > 1 else row.type
        calls = f"  ×{row.calls}" if row.calls > 1 else ""
        ax.text(0.03, y, f"{row.name}  [{kind}]{calls}", va="center", fontsize=8.5)
        ax.text(0.56, y, row.output_shape, va="center", fontsize=8.5, family="monospace")
        ax.text(0.97, y, f"{row.params:,}", va="center", ha="right", fontsize=8.5)
        if i < n - 1 and info.rows[i + 1].type != "Parameter":  # loose parameters: no flow
            ax.annotate(
                "",
                xy=(0.5, y - 0.62),
                xytext=(0.5, y - 0.36),
                arrowprops={"arrowstyle": "->", "color": "#495057", "lw": 0.8},
            )
    ax.legend(
        handles=[Patch(fc=c, ec="#495057", label=lab) for lab, c in used.items()],
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(4, len(used)) or 1,
        fontsize=8,
        frameon=False,
    )
    title = (
        f"{info.model_type}: {info.total_params:,} parameters "
        f"({info.trainable_params:,} trainable)\n"
        f"input {(1, *info.input_shape)} → output {info.output_shape}"
    )
    if info.grouped_by is not None:
        title += f"\n{info.leaf_count} layers grouped by name depth {info.grouped_by}"
    if info.forward_error:
        title += f"\nforward pass failed, shapes unknown: {info.forward_error[:90]}"
    fig.suptitle(title, fontsize=11)
    return fig


def write_network_architecture(
    model: torch.nn.Module, input_shape: tuple[int, ...], path: Path
) -> Path:
    """Draw the layer sequence of `model` (shapes for a batch of 1, parameters per layer) to
    `path` (conventionally `visualizations/network_architecture.png`)."""
    return save_figure(_draw_architecture(architecture_info(model, input_shape)), Path(path))


# ---------------------------------------------------------------------------------------------
# weights
# ---------------------------------------------------------------------------------------------


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


def _draw_weight_histograms(hists: list[WeightHistogram], n_total: int, params: int) -> Figure:
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
    fig = _draw_weight_histograms(hists, len(_weight_tensors(model)), params)
    return save_figure(fig, Path(path))


# ---------------------------------------------------------------------------------------------
# training dynamics
# ---------------------------------------------------------------------------------------------


@dataclass
class DynamicsInfo:
    """Per-epoch changes. `d_*[t] = x[t] - x[t-1]` (NaN at the first epoch); `lr[t]` is the rate
    epoch t trained with, so the pair (lr[t], d_val_loss[t]) says what that rate achieved.
    `velocity[m]` is the per-epoch change of each validation metric."""

    epochs: np.ndarray
    epoch_time: np.ndarray
    d_train_loss: np.ndarray
    d_val_loss: np.ndarray
    lr: np.ndarray
    velocity: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def total_time(self) -> float:
        return float(np.nansum(self.epoch_time)) if np.isfinite(self.epoch_time).any() else np.nan


def _diff(x: np.ndarray) -> np.ndarray:
    return np.r_[np.nan, np.diff(x)] if len(x) else x


def dynamics_info(df: pd.DataFrame) -> DynamicsInfo:
    """Training-dynamics numbers of a log (see `DynamicsInfo`)."""
    return DynamicsInfo(
        epochs=df["epoch"].to_numpy(dtype=int),
        epoch_time=_column(df, "epoch_time_s"),
        d_train_loss=_diff(_column(df, "train_loss")),
        d_val_loss=_diff(_column(df, "val_loss")),
        lr=_column(df, "lr"),
        velocity={m: _diff(_column(df, m)) for m in metric_columns(df)},
    )


def _no_data(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)


def _draw_dynamics(info: DynamicsInfo, note: str) -> Figure:
    fig = Figure(figsize=(12, 8.5), layout="constrained")
    (a, b), (c, d) = fig.subplots(2, 2)
    e = info.epochs

    if np.isfinite(info.epoch_time).any():
        a.bar(e, info.epoch_time, color="tab:gray", alpha=0.8)
        a.axhline(np.nanmean(info.epoch_time), color="black", ls="--", lw=1, label="mean")
        a.legend(fontsize=8)
        a.set_title(f"epoch time (total {_duration(info.total_time)})")
    else:
        _no_data(a, "epoch_time_s not logged")
        a.set_title("epoch time")
    _style(a, ylabel="seconds")

    has_deltas = len(e) > 1
    if has_deltas:
        w = 0.4
        b.bar(e - w / 2, info.d_train_loss, w, color=TRAIN_COLOR, label="Δ train loss")
        b.bar(e + w / 2, info.d_val_loss, w, color=VAL_COLOR, label="Δ val loss")
        b.axhline(0, color="grey", lw=0.8)
        b.legend(fontsize=8)
    else:
        _no_data(b, f"{note}: no change to show")
    b.set_title("loss change per epoch (negative = better)")
    _style(b, ylabel="Δ loss")

    ok = np.isfinite(info.lr) & np.isfinite(info.d_val_loss)
    if ok.any():
        sc = c.scatter(info.lr[ok], info.d_val_loss[ok], c=e[ok], cmap="viridis", s=30)
        fig.colorbar(sc, ax=c, label="epoch")
        c.axhline(0, color="grey", lw=0.8)
        if (info.lr[ok] > 0).all() and info.lr[ok].max() > info.lr[ok].min():
            c.set_xscale("log")
    else:
        _no_data(c, f"{note}: no change to show")
    c.set_title("learning rate vs val-loss change")
    c.set_xlabel("learning rate")
    c.set_ylabel("Δ val loss")
    c.grid(True, alpha=0.3)

    if has_deltas and info.velocity:
        for m, v in info.velocity.items():
            d.plot(e, v, marker=_marker(len(e)), ms=3, label=m.removeprefix("val_"))
        d.axhline(0, color="grey", lw=0.8)
        d.legend(fontsize=7, ncol=2)
    else:
        _no_data(d, "no validation metrics to differentiate" if has_deltas else note)
    d.set_title("metric velocity (change per epoch)")
    _style(d, ylabel="Δ metric")
    fig.suptitle(f"Training dynamics ({note})")
    return fig


def write_training_dynamics(log_csv: Path, path: Path) -> Path:
    """Epoch time, loss deltas, LR against loss change and metric velocity from the run's
    `training_log.csv`, to `path` (conventionally `analysis/training_dynamics.png`)."""
    df = load_log(log_csv)
    return save_figure(_draw_dynamics(dynamics_info(df), _epochs_note(len(df))), Path(path))


# ---------------------------------------------------------------------------------------------
# summary dashboard
# ---------------------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "n/a"
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.4g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def summary_numbers(
    df: pd.DataFrame,
    model: torch.nn.Module | None,
    monitor: str,
    mode: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The dashboard's key numbers, formatted, in display order; `extra` entries are appended
    (e.g. test metrics or the trial id, which the log does not know)."""
    out: dict[str, str] = {"epochs logged": str(len(df))}
    try:
        best = best_epoch(df, monitor, mode) if len(df) else None
        col = resolve_monitor(df, monitor)
    except ValueError:
        best, col = None, monitor
    out["monitor"] = f"{col} ({mode})"
    out["best epoch"] = str(best.epoch) if best else "n/a"
    out[f"best {col}"] = _fmt(best.value) if best else "n/a"
    if len(df) and col in df.columns:
        out[f"final {col}"] = _fmt(float(df[col].iloc[-1]))
    for c in ("train_loss", "val_loss"):
        if len(df) and c in df.columns:
            out[f"final {c}"] = _fmt(float(df[c].iloc[-1]))
    if model is not None:
        params = {id(p): p for p in _unwrap(model).parameters()}.values()
        out["parameters"] = f"{sum(p.numel() for p in params):,}"
        out["trainable"] = f"{sum(p.numel() for p in params if p.requires_grad):,}"
    times = _column(df, "epoch_time_s")
    if np.isfinite(times).any():
        out["total time"] = _duration(float(np.nansum(times)))
        out["mean epoch time"] = _duration(float(np.nanmean(times)))
    for c, label in (("world_size", "workers"), ("num_nodes", "nodes")):
        v = _column(df, c)
        if np.isfinite(v).any():
            out[label] = str(int(np.nanmax(v)))
    for k, v in (extra or {}).items():
        out[str(k)] = _fmt(v)
    return out


def _draw_dashboard(
    df: pd.DataFrame,
    numbers: dict[str, str],
    stats: list[dict[str, Any]] | None,
    monitor: str,
    mode: str,
    note: str,
) -> Figure:
    fig = Figure(figsize=(16, 11.5), layout="constrained")
    grid = fig.add_gridspec(3, 3, height_ratios=(1.1, 1, 0.9))
    curves = fig.add_subplot(grid[0, :2])
    text = fig.add_subplot(grid[0, 2])
    mon, lr_ax, gap_ax = (fig.add_subplot(grid[1, i]) for i in range(3))
    table_ax = fig.add_subplot(grid[2, :])
    e, mk = df["epoch"].to_numpy(), _marker(len(df))
    try:
        best = best_epoch(df, monitor, mode) if len(df) else None
    except ValueError:
        best = None

    for col, color in (("train_loss", TRAIN_COLOR), ("val_loss", VAL_COLOR)):
        if col in df.columns:
            y = _column(df, col)
            curves.plot(e, y, color=color, alpha=0.35, marker=mk, ms=3)
            curves.plot(e, smooth(y, 0.6), color=color, lw=2, label=col.replace("_", " "))
    if best:
        curves.axvline(best.epoch, color=BEST_COLOR, ls="--", label=f"best epoch {best.epoch}")
    curves.set_title("loss (faint: raw, solid: EMA 0.6)")
    _style(curves, ylabel="loss")
    if len(df):
        curves.legend(fontsize=8)

    text.axis("off")
    width = max((len(k) for k in numbers), default=0)
    text.text(
        0.0,
        1.0,
        "\n".join(f"{k:<{width}}  {v}" for k, v in numbers.items()),
        va="top",
        family="monospace",
        fontsize=10,
    )
    text.set_title("key numbers", loc="left")

    if best:
        mon.plot(e, _column(df, best.monitor), color=VAL_COLOR, marker=mk, ms=3)
        mon.plot([best.epoch], [best.value], marker="*", ms=15, color=BEST_COLOR)
        mon.set_title(f"{best.monitor} (best {best.value:.4g}, {mode})")
    else:
        _no_data(mon, f"{monitor} not logged")
    _style(mon)

    if "lr" in df.columns and np.isfinite(_column(df, "lr")).any():
        lr = _column(df, "lr")
        lr_ax.plot(e, lr, color="tab:purple", marker=mk, ms=3)
        if (lr[np.isfinite(lr)] > 0).all():
            lr_ax.set_yscale("log")
    else:
        _no_data(lr_ax, "lr not logged")
    lr_ax.set_title("learning rate")
    _style(lr_ax)

    ov = overfitting_info(df)
    gap_ax.plot(e, ov.gap, color="tab:purple", marker=mk, ms=3)
    gap_ax.axhline(0, color="grey", lw=0.8)
    if ov.onset_epoch is not None:
        gap_ax.axvline(ov.onset_epoch, color="tab:red", ls="--", label="overfitting onset")
        gap_ax.legend(fontsize=8)
    gap_ax.set_title("generalization gap (val - train loss)")
    _style(gap_ax)

    table_ax.axis("off")
    if stats:
        top = sorted(stats, key=lambda s: -s["numel"])[:8]
        cells = [
            [
                s["name"],
                str(s["shape"]),
                f"{s['numel']:,}",
                f"{s['mean']:.3g}",
                f"{s['std']:.3g}",
                f"{s['near_zero_frac'] * 100:.1f} %",
            ]
            for s in top
        ]
        table = table_ax.table(
            cellText=cells,
            colLabels=["weight", "shape", "values", "mean", "std", f"|w|<{NEAR_ZERO:g}"],
            loc="upper center",
            cellLoc="left",
        )
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        table.scale(1, 1.3)
        table_ax.set_title(f"largest weight tensors ({len(top)} of {len(stats)})")
    else:
        _no_data(table_ax, "no model given: weight statistics unavailable")
    fig.suptitle(f"Run summary ({note})", fontsize=15)
    return fig


def write_summary_dashboard(
    log_csv: Path,
    model: torch.nn.Module | None,
    path: Path,
    monitor: str,
    mode: str,
    extra: dict[str, Any] | None = None,
) -> Path:
    """One-page summary of a run — loss curves, monitored metric, LR, generalization gap, the
    largest weight tensors' statistics and the key numbers (best epoch and value, parameters,
    total time, plus `extra`) — to `path` (conventionally `analysis/summary_dashboard.png`)."""
    df = load_log(log_csv)
    numbers = summary_numbers(df, model, monitor, mode, extra)
    stats = weight_stats(model) if model is not None else None
    fig = _draw_dashboard(df, numbers, stats, monitor, mode, _epochs_note(len(df)))
    return save_figure(fig, Path(path))
