"""Reading a run's `training_log.csv` (`load_log`) and the pure numbers every training plot
shares: metric columns, the monitored column, smoothing and the best epoch.

The log has one row per epoch, written by `raytrain.train.loop` through `tracking.RunLogger`:
`epoch, train_loss, val_loss, lr, val_<metric>..., epoch_time_s, world_size, num_nodes`. Epochs
are written as floats (`1.0`), and a run that Ray Train restarted from a checkpoint appends the
re-run epochs again, so `load_log` normalizes both before anything else looks at the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: Columns that describe the run rather than the model's quality; never drawn as metrics.
BOOKKEEPING = ("epoch", "lr", "epoch_time_s", "world_size", "num_nodes")


def load_log(log_csv: Path | str) -> pd.DataFrame:
    """The log as a numeric table with one row per epoch, sorted, `epoch` as int.

    Why the clean-up: a restarted trial re-runs the epochs after its last checkpoint and appends
    them, so the same epoch can appear twice; the later row is the one the final model descends
    from, so it wins. A missing or header-only file gives an empty table (a trial that died in
    its first epoch), which every training plot turns into a "no epochs logged" image.
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
