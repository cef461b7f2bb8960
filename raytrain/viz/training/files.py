"""The driver that draws a run's four training plots (`write_training_plots`)."""

from __future__ import annotations

from pathlib import Path

from raytrain.viz._common import save_figure
from raytrain.viz.training._draw import _epochs_note, _placeholder
from raytrain.viz.training.convergence import (
    CONVERGENCE_ANALYSIS,
    _get_convergence_plot,
    convergence_info,
)
from raytrain.viz.training.curves import (
    TRAINING_CURVES,
    _get_training_curves_plot,
    training_curves_info,
)
from raytrain.viz.training.log import _column, best_epoch, load_log
from raytrain.viz.training.lr_schedule import LR_SCHEDULE, _get_lr_plot, lr_info
from raytrain.viz.training.overfitting import (
    OVERFITTING_ANALYSIS,
    _get_overfitting_plot,
    overfitting_info,
)


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
    """Draw the four training plots of one run into `out_dir` and return their paths:
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
    save_figure(
        _get_training_curves_plot(training_curves_info(df, best, smoothing), note), paths[0]
    )
    save_figure(
        _get_lr_plot(lr_info(df, warmup_epochs), schedule, _column(df, "val_loss"), note), paths[1]
    )
    if n < 2:
        msg = f"only {note} logged: convergence needs at least 2 epochs"
        _placeholder(paths[2], f"Convergence analysis ({note})", msg)
        msg = f"only {note} logged: overfitting needs at least 2 epochs"
        _placeholder(paths[3], f"Overfitting analysis ({note})", msg)
        return paths
    save_figure(_get_convergence_plot(convergence_info(df), note), paths[2])
    monitor_col, monitor_mode = (best.monitor, best.mode) if best else ("val_loss", "min")
    info = overfitting_info(df, patience, monitor=monitor_col, mode=monitor_mode)
    save_figure(_get_overfitting_plot(info, note), paths[3])
    return paths
