"""Training-curve plots of one run, read from its `training_log.csv` (seed 002's visualizations/).

Each figure is split the Optuna way: a pure `*_info()` function turns the log into the numbers a
reader should see (best epoch, convergence epoch, overfitting onset, warmup length...), and a
`_draw_*()` function only draws them. Tests check the numbers; the drawings just have to exist.

The log has one row per epoch, written by `raytrain.train.loop` through `tracking.RunLogger`:
`epoch, train_loss, val_loss, lr, val_<metric>..., epoch_time_s, world_size, num_nodes`. Epochs
are written as floats (`1.0`), and a run that Ray Train restarted from a checkpoint appends the
re-run epochs again, so `load_log` normalizes both before anything else looks at the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from raytrain.viz._common import save_figure

TRAINING_CURVES = "training_curves.png"
LR_SCHEDULE = "lr_schedule.png"
CONVERGENCE_ANALYSIS = "convergence_analysis.png"
OVERFITTING_ANALYSIS = "overfitting_analysis.png"

#: Columns that describe the run rather than the model's quality; never drawn as metrics.
BOOKKEEPING = ("epoch", "lr", "epoch_time_s", "world_size", "num_nodes")

TRAIN_COLOR, VAL_COLOR, BEST_COLOR, WARN_COLOR = "tab:blue", "tab:orange", "tab:green", "tab:red"


# ---------------------------------------------------------------------------------------------
# reading the log
# ---------------------------------------------------------------------------------------------


def load_log(log_csv: Path | str) -> pd.DataFrame:
    """The log as a numeric table with one row per epoch, sorted, `epoch` as int.

    Why the clean-up: a restarted trial re-runs the epochs after its last checkpoint and appends
    them, so the same epoch can appear twice; the later row is the one the final model descends
    from, so it wins. A missing or header-only file gives an empty table (a trial that died in
    its first epoch), which every plot below turns into a "no epochs logged" image.
    """
    path = Path(log_csv)
    try:
        df = pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame({"epoch": pd.Series(dtype=int)})
    if "epoch" not in df.columns:
        raise ValueError(f"{path}: no 'epoch' column (columns: {', '.join(map(str, df.columns))})")
    df = df.apply(pd.to_numeric, errors="coerce")
    df = df.dropna(subset=["epoch"])
    df["epoch"] = df["epoch"].astype(int)
    df = df.drop_duplicates("epoch", keep="last").sort_values("epoch")
    return df.reset_index(drop=True)


def metric_columns(df: pd.DataFrame) -> list[str]:
    """Validation metrics besides the loss, in logged order (all-NaN ones skipped)."""
    return [
        c
        for c in df.columns
        if str(c).startswith("val_") and c != "val_loss" and df[c].notna().any()
    ]


def _column(df: pd.DataFrame, name: str) -> np.ndarray:
    """A column as floats, or all-NaN when the log lacks it (old logs miss e.g. num_nodes)."""
    if name in df.columns:
        return df[name].to_numpy(dtype=float)
    return np.full(len(df), np.nan)


def resolve_monitor(df: pd.DataFrame, monitor: str) -> str:
    """The log column of `monitor`; `f1_score` finds `val_f1_score` (configs name both ways)."""
    for name in (monitor, f"val_{monitor}"):
        if name in df.columns:
            return name
    raise ValueError(
        f"monitor '{monitor}' is not in the log; columns: {', '.join(map(str, df.columns))}"
    )


# ---------------------------------------------------------------------------------------------
# pure numbers
# ---------------------------------------------------------------------------------------------


def smooth(values: np.ndarray | list[float] | pd.Series, alpha: float = 0.6) -> np.ndarray:
    """Exponential moving average, TensorBoard's smoothing slider without its bias correction.

    `s[0] = x[0]`, `s[t] = alpha * s[t-1] + (1 - alpha) * x[t]`: `alpha` is the weight of the
    past, so 0 returns the data unchanged and values near 1 smooth hard. Starting from the first
    value (not 0) is why no bias correction is needed. NaNs (an epoch whose metric could not be
    computed) stay NaN in the output and do not reset the average.
    """
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"smoothing alpha must be in [0, 1), got {alpha}")
    x = np.asarray(values, dtype=float)
    out = np.full_like(x, np.nan)
    state = np.nan
    for i, v in enumerate(x):
        if not np.isfinite(v):
            continue
        state = v if np.isnan(state) else alpha * state + (1.0 - alpha) * v
        out[i] = state
    return out


@dataclass(frozen=True)
class BestEpoch:
    """The epoch the training loop keeps as `best_model`: first epoch with the best value."""

    epoch: int
    value: float
    monitor: str
    mode: str


def best_epoch(df: pd.DataFrame, monitor: str, mode: str) -> BestEpoch | None:
    """The first epoch with the best `monitor` value (ties go to the earlier epoch, exactly like
    the loop's strict `>` improvement test); None when the column holds no finite value."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got '{mode}'")
    col = resolve_monitor(df, monitor)
    values = _column(df, col)
    finite = np.isfinite(values)
    if not finite.any():
        return None
    masked = np.where(finite, values, -np.inf if mode == "max" else np.inf)
    i = int(np.argmax(masked) if mode == "max" else np.argmin(masked))
    return BestEpoch(int(df["epoch"].iloc[i]), float(values[i]), col, mode)


@dataclass
class ConvergenceInfo:
    """How the validation loss settles.

    `rel_improvement[t] = (val[t-1] - val[t]) / |val[t-1]|` (NaN for the first epoch).
    `stability`: rolling standard deviation of val loss over `std_window` epochs.
    `gap`: `val_loss - train_loss`.
    `rate`: slope of a least-squares line through `log(val_loss)` over the last `fit_epochs`
    epochs, i.e. the loss changes by a factor `exp(rate)` per epoch (negative = still falling);
    NaN with fewer than 2 epochs or a non-positive loss.
    `converged_epoch`: the first epoch `e` after which each of the next `window` epochs lowers the
    best-so-far val loss by less than `tol` (relative); None if that has not happened yet.
    """

    epochs: np.ndarray
    train_loss: np.ndarray
    val_loss: np.ndarray
    rel_improvement: np.ndarray
    stability: np.ndarray
    gap: np.ndarray
    rate: float
    fit_epochs: tuple[int, int] | None
    fit_intercept: float
    converged_epoch: int | None
    tol: float
    window: int
    std_window: int

    @property
    def rate_percent(self) -> float:
        """`rate` as percent change of the loss per epoch (-3.0 means 3 % lower each epoch)."""
        return float(np.expm1(self.rate) * 100.0)


def convergence_info(
    df: pd.DataFrame,
    *,
    tol: float = 0.01,
    window: int = 3,
    fit_epochs: int = 5,
    std_window: int = 3,
) -> ConvergenceInfo:
    """Convergence numbers of a log (see `ConvergenceInfo` for each definition).

    Convergence is judged on the best-so-far validation loss rather than the raw one so that a
    noisy epoch neither declares convergence early nor undoes it; the raw per-epoch improvement
    is kept for the plot, where noise is worth seeing.
    """
    epochs = df["epoch"].to_numpy(dtype=int)
    train, val = _column(df, "train_loss"), _column(df, "val_loss")
    n = len(epochs)
    prev = np.r_[np.nan, val[:-1]] if n else val
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = (prev - val) / np.abs(prev)
    stability = pd.Series(val).rolling(std_window, min_periods=2).std(ddof=0).to_numpy(dtype=float)

    # rate: log-linear fit over the last `fit_epochs` finite, positive losses
    rate, intercept, fit_span = np.nan, np.nan, None
    ok = np.isfinite(val) & (val > 0)
    idx = np.flatnonzero(ok)[-fit_epochs:]
    if len(idx) >= 2:
        rate, intercept = (float(v) for v in np.polyfit(epochs[idx], np.log(val[idx]), 1))
        fit_span = (int(epochs[idx[0]]), int(epochs[idx[-1]]))

    # converged: every one of the next `window` epochs improves the best-so-far by < tol
    converged = None
    best = np.fmin.accumulate(np.where(np.isfinite(val), val, np.inf)) if n else val
    with np.errstate(divide="ignore", invalid="ignore"):
        best_gain = np.r_[np.nan, (best[:-1] - best[1:]) / np.abs(best[:-1])] if n else best
    small = np.nan_to_num(best_gain, nan=np.inf) < tol
    for i in range(n - window):
        if np.isfinite(best[i]) and small[i + 1 : i + 1 + window].all():
            converged = int(epochs[i])
            break

    return ConvergenceInfo(
        epochs=epochs,
        train_loss=train,
        val_loss=val,
        rel_improvement=rel,
        stability=stability,
        gap=val - train,
        rate=rate,
        fit_epochs=fit_span,
        fit_intercept=intercept,
        converged_epoch=converged,
        tol=tol,
        window=window,
        std_window=std_window,
    )


@dataclass
class OverfittingInfo:
    """Where the model stops generalizing.

    `gap = val_loss - train_loss` per epoch. `run_length` is `patience` when given, else 3.
    `onset_epoch`: the first epoch `e` such that in each of the `run_length` epochs after it both
    the gap and the validation loss rise strictly over the previous epoch — i.e. the last good
    epoch before a sustained widening; None if no such run exists (yet).
    `diverging[t]`: train loss fell and val loss rose at epoch t compared with epoch t-1.
    `since_best[t]`: epochs since `monitor` last improved (what early stopping counts);
    `patience_epoch`: the first epoch where that count reaches `patience` (when early stopping
    fires); None without patience or if it never did.
    """

    epochs: np.ndarray
    train_loss: np.ndarray
    val_loss: np.ndarray
    gap: np.ndarray
    diverging: np.ndarray
    run_length: int
    onset_epoch: int | None
    best_val_epoch: int | None
    monitor: str
    since_best: np.ndarray
    patience: int | None
    patience_epoch: int | None

    @property
    def gap_growth_since_best(self) -> float:
        """How much the gap widened from the best-val-loss epoch to the last epoch."""
        if self.best_val_epoch is None or not len(self.gap):
            return float("nan")
        i = int(np.flatnonzero(self.epochs == self.best_val_epoch)[0])
        return float(self.gap[-1] - self.gap[i])


def overfitting_info(
    df: pd.DataFrame,
    patience: int | None = None,
    *,
    monitor: str = "val_loss",
    mode: str = "min",
) -> OverfittingInfo:
    """Overfitting numbers of a log (see `OverfittingInfo` for each definition).

    The onset uses raw values on purpose: the definition is exact and checkable, and a smoothed
    curve would move the onset by the smoothing lag. Using the early-stopping patience as the run
    length makes "onset" mean "what early stopping would have reacted to, on val loss".
    """
    if patience is not None and patience < 1:
        patience = None
    epochs = df["epoch"].to_numpy(dtype=int)
    train, val = _column(df, "train_loss"), _column(df, "val_loss")
    gap = val - train
    n = len(epochs)
    run = patience or 3

    d_gap = np.diff(gap) if n else gap
    d_val = np.diff(val) if n else val
    d_train = np.diff(train) if n else train
    widening = (d_gap > 0) & (d_val > 0)  # widening[j-1] compares epoch j with epoch j-1
    onset = None
    for i in range(n - run):
        if widening[i : i + run].all():
            onset = int(epochs[i])
            break
    diverging = np.r_[False, (d_train < 0) & (d_val > 0)] if n else np.zeros(0, bool)

    best_val = best_epoch(df, "val_loss", "min") if n and "val_loss" in df.columns else None

    # epochs since the monitor last improved, counted exactly like the training loop
    since = np.zeros(n, dtype=int)
    patience_epoch = None
    if n:
        try:
            values = _column(df, resolve_monitor(df, monitor))
        except ValueError:
            values = val
        sign = 1.0 if mode == "max" else -1.0
        best, count = -np.inf, 0
        for t, v in enumerate(values):
            if np.isfinite(v) and sign * v > best:
                best, count = sign * v, 0
            else:
                count += 1
            since[t] = count
            if patience and patience_epoch is None and count >= patience:
                patience_epoch = int(epochs[t])

    return OverfittingInfo(
        epochs=epochs,
        train_loss=train,
        val_loss=val,
        gap=gap,
        diverging=diverging,
        run_length=run,
        onset_epoch=onset,
        best_val_epoch=best_val.epoch if best_val else None,
        monitor=monitor,
        since_best=since,
        patience=patience,
        patience_epoch=patience_epoch,
    )


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


# ---------------------------------------------------------------------------------------------
# drawing
# ---------------------------------------------------------------------------------------------


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


def _draw_training_curves(
    df: pd.DataFrame, best: BestEpoch | None, smoothing: float, note: str
) -> Figure:
    metrics = metric_columns(df)
    panels = ["loss", *metrics]
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(5.2 * ncols, 3.8 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    epochs = df["epoch"].to_numpy()
    mk = _marker(len(df))

    for ax, panel in zip(axes, panels, strict=False):
        series = (
            [("train_loss", "train", TRAIN_COLOR), ("val_loss", "val", VAL_COLOR)]
            if panel == "loss"
            else [(f"train_{panel[4:]}", "train", TRAIN_COLOR), (panel, "val", VAL_COLOR)]
        )
        for col, label, color in series:
            if col not in df.columns:
                continue
            y = _column(df, col)
            if smoothing > 0 and len(df) > 2:
                ax.plot(epochs, y, color=color, alpha=0.3, lw=1, marker=mk, ms=3)
                ax.plot(epochs, smooth(y, smoothing), color=color, lw=2, label=f"{label} (EMA)")
            else:
                ax.plot(epochs, y, color=color, lw=2, marker=mk, ms=4, label=label)
        if best is not None:
            ax.axvline(best.epoch, color=BEST_COLOR, ls="--", lw=1.2, label=f"best ep {best.epoch}")
            if best.monitor == panel or (panel == "loss" and best.monitor == "val_loss"):
                ax.plot([best.epoch], [best.value], marker="*", ms=15, color=BEST_COLOR, zorder=5)
        ax.set_title("loss" if panel == "loss" else _pretty(panel))
        _style(ax)
        ax.legend(fontsize=8)
    for ax in axes[len(panels) :]:
        ax.axis("off")

    title = f"Training curves ({note})"
    if best is not None:
        title += f" — best {best.monitor} = {best.value:.4g} at epoch {best.epoch} ({best.mode})"
    if smoothing > 0 and len(df) > 2:
        title += f"\nfaint: raw, solid: EMA smoothing {smoothing:g}"
    fig.suptitle(title)
    return fig


def _draw_lr(info: LRInfo, schedule: str, val_loss: np.ndarray, note: str) -> Figure:
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


def _draw_convergence(info: ConvergenceInfo, note: str) -> Figure:
    fig = Figure(figsize=(12, 8.5), layout="constrained")
    (a, b), (c, d) = fig.subplots(2, 2)
    e, mk = info.epochs, _marker(len(info.epochs))

    # (a) loss on a log axis, with the fitted convergence rate
    a.plot(e, info.train_loss, color=TRAIN_COLOR, marker=mk, ms=3, label="train loss")
    a.plot(e, info.val_loss, color=VAL_COLOR, marker=mk, ms=3, label="val loss")
    if info.fit_epochs is not None:
        fx = np.arange(info.fit_epochs[0], info.fit_epochs[1] + 1)
        a.plot(
            fx,
            np.exp(info.fit_intercept + info.rate * fx),
            color="black",
            ls="--",
            lw=1.5,
            label=f"fit: {info.rate_percent:+.2f} %/epoch",
        )
    if info.converged_epoch is not None:
        a.axvline(info.converged_epoch, color=BEST_COLOR, ls="--", label="converged")
    if np.nanmin(np.r_[info.train_loss, info.val_loss, 1.0]) > 0:
        a.set_yscale("log")
    a.set_title("loss convergence")
    _style(a, ylabel="loss")
    a.legend(fontsize=8)

    # (b) relative improvement per epoch, against the tolerance
    rel = info.rel_improvement * 100
    colors = [BEST_COLOR if r >= 0 else WARN_COLOR for r in np.nan_to_num(rel)]
    b.bar(e, np.nan_to_num(rel), color=colors, alpha=0.8)
    b.axhline(info.tol * 100, color="black", ls=":", lw=1, label=f"tol {info.tol * 100:g} %")
    b.axhline(0, color="grey", lw=0.8)
    b.set_title("relative val-loss improvement per epoch")
    _style(b, ylabel="% improvement")
    b.legend(fontsize=8)

    # (c) stability: rolling std of the val loss
    c.plot(e, info.stability, color="tab:brown", marker=mk, ms=3)
    c.set_title(f"stability: rolling std of val loss ({info.std_window} epochs)")
    _style(c, ylabel="std")

    # (d) validation gap
    d.plot(e, info.gap, color="tab:purple", marker=mk, ms=3, label="val - train loss")
    d.axhline(0, color="grey", lw=0.8)
    d.set_title("validation gap")
    _style(d, ylabel="gap")
    d.legend(fontsize=8)

    verdict = (
        f"converged at epoch {info.converged_epoch}"
        if info.converged_epoch is not None
        else "not converged yet"
    )
    fig.suptitle(
        f"Convergence analysis ({note}) — {verdict} (best val loss improves < "
        f"{info.tol * 100:g} % for {info.window} epochs)"
    )
    return fig


def _draw_overfitting(info: OverfittingInfo, note: str) -> Figure:
    fig = Figure(figsize=(12, 8.5), layout="constrained")
    (a, b), (c, d) = fig.subplots(2, 2)
    e, mk = info.epochs, _marker(len(info.epochs))

    # (a) generalization gap
    a.plot(e, info.gap, color="tab:purple", marker=mk, ms=3, label="val - train loss")
    a.fill_between(e, 0, info.gap, where=info.gap > 0, color=WARN_COLOR, alpha=0.15)
    a.fill_between(e, 0, info.gap, where=info.gap <= 0, color=BEST_COLOR, alpha=0.15)
    a.axhline(0, color="grey", lw=0.8)
    if info.onset_epoch is not None:
        a.axvline(info.onset_epoch, color=WARN_COLOR, ls="--", label=f"onset ep {info.onset_epoch}")
    if info.best_val_epoch is not None:
        a.axvline(info.best_val_epoch, color=BEST_COLOR, ls=":", label="best val loss")
    a.set_title("generalization gap")
    _style(a, ylabel="gap")
    a.legend(fontsize=8)

    # (b) train/val divergence: both losses relative to their first epoch
    t0 = info.train_loss[0] if len(e) else np.nan
    v0 = info.val_loss[0] if len(e) else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        b.plot(e, info.train_loss / t0, color=TRAIN_COLOR, marker=mk, ms=3, label="train / epoch 1")
        b.plot(e, info.val_loss / v0, color=VAL_COLOR, marker=mk, ms=3, label="val / epoch 1")
    for ep in e[info.diverging]:
        b.axvspan(ep - 0.5, ep + 0.5, color=WARN_COLOR, alpha=0.12, lw=0)
    b.set_title("train/val divergence (shaded: train ↓ while val ↑)")
    _style(b, ylabel="loss relative to epoch 1")
    b.legend(fontsize=8)

    # (c) what early stopping counts, against the patience threshold
    c.step(e, info.since_best, where="mid", color="tab:gray", label="epochs since best")
    if info.patience:
        c.axhline(info.patience, color=WARN_COLOR, ls="--", label=f"patience {info.patience}")
    if info.patience_epoch is not None:
        c.axvline(info.patience_epoch, color=WARN_COLOR, ls=":", label="early stop")
    c.set_title(f"epochs without improvement of {info.monitor}")
    _style(c, ylabel="epochs")
    c.legend(fontsize=8)

    # (d) the verdict in words
    d.axis("off")
    growth = info.gap_growth_since_best
    lines = [
        f"onset rule: gap and val loss both rise for {info.run_length} epochs in a row",
        "",
        "overfitting onset: "
        + (f"epoch {info.onset_epoch}" if info.onset_epoch is not None else "not detected"),
        f"best val loss at epoch: {info.best_val_epoch}",
        f"gap at last epoch: {info.gap[-1]:.4g}" if len(e) else "",
        f"gap growth since best: {growth:+.4g}" if np.isfinite(growth) else "",
        f"diverging epochs: {int(info.diverging.sum())} of {len(e)}",
        f"early stopping would fire at epoch: {info.patience_epoch}" if info.patience else "",
    ]
    d.text(0.02, 0.95, "\n".join(lines), va="top", family="monospace", fontsize=10)
    fig.suptitle(f"Overfitting analysis ({note})")
    return fig


def write_training_plots(
    log_csv: Path,
    out_dir: Path,
    *,
    monitor: str,
    mode: str,
    patience: int | None = None,
    schedule: str = "",
    warmup_epochs: int = 0,
    smoothing: float = 0.6,
) -> list[Path]:
    """Draw the four seed 002 training plots of one run into `out_dir` and return their paths:
    `training_curves.png`, `lr_schedule.png`, `convergence_analysis.png`,
    `overfitting_analysis.png` (always all four, in that order).

    Cheap enough to call every few epochs while the run is still writing the log: a log with
    0 or 1 epochs gives images that say so instead of an error.
    """
    out_dir = Path(out_dir)
    df = load_log(log_csv)
    n = len(df)
    note = _epochs_note(n)
    paths = [
        out_dir / TRAINING_CURVES,
        out_dir / LR_SCHEDULE,
        out_dir / CONVERGENCE_ANALYSIS,
        out_dir / OVERFITTING_ANALYSIS,
    ]
    if n == 0:
        for path, title in zip(
            paths, ("Training curves", "LR schedule", "Convergence", "Overfitting"), strict=True
        ):
            _placeholder(path, title, f"{log_csv}: {note}")
        return paths

    try:
        best = best_epoch(df, monitor, mode)
    except ValueError:  # an unlogged monitor must not cost the other plots
        best = best_epoch(df, "val_loss", "min") if "val_loss" in df.columns else None
    save_figure(_draw_training_curves(df, best, smoothing, note), paths[0])
    save_figure(
        _draw_lr(lr_info(df, warmup_epochs), schedule, _column(df, "val_loss"), note), paths[1]
    )
    if n < 2:
        msg = f"only {note} logged: convergence needs at least 2 epochs"
        _placeholder(paths[2], f"Convergence analysis ({note})", msg)
        msg = f"only {note} logged: overfitting needs at least 2 epochs"
        _placeholder(paths[3], f"Overfitting analysis ({note})", msg)
        return paths
    save_figure(_draw_convergence(convergence_info(df), note), paths[2])
    monitor_col, monitor_mode = (best.monitor, best.mode) if best else ("val_loss", "min")
    info = overfitting_info(df, patience, monitor=monitor_col, mode=monitor_mode)
    save_figure(_draw_overfitting(info, note), paths[3])
    return paths
