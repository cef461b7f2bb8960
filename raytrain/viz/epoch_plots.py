"""What the loop draws besides `viz.run.write_run_plots`: every per-epoch plot at
`logging.visualization_frequency`, and the end-of-run extras (the switches, the numbers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raytrain.viz.analysis_numbers import drop_switched_off, write_analysis_summary
from raytrain.viz.run import PredictionBuffer, run_safely, train_targets_of, write_curves


def plot_switches(logging_cfg: Any) -> dict[str, bool]:
    """The `logging.*` plot-family switches of a config."""
    return {
        k: bool(getattr(logging_cfg, k, True))
        for k in (
            "convergence_analysis",
            "overfitting_analysis",
            "classification_viz",
            "final_dashboard",
        )
    }


def write_epoch_plots(
    log_dir: Path,
    buffer: PredictionBuffer | None,
    *,
    class_names: list[str] | None,
    threshold: float,
    switches: dict[str, bool],
    train_class_counts: list[int] | None = None,
    **plot_args: Any,
) -> None:
    """Every per-epoch plot, redrawn mid-run: the training curves and the evaluation plots of
    this epoch's validation predictions."""
    from raytrain.viz.evaluation import write_evaluation_plots

    write_curves(log_dir, **plot_args)
    if buffer is not None and buffer.rows:
        arrays = buffer.arrays(class_names, threshold)
        run_safely(
            write_evaluation_plots,
            arrays,
            log_dir / "visualizations",
            log_dir / "analysis",
            train_targets=train_targets_of(train_class_counts),
        )
    drop_switched_off(log_dir, switches)


def finish_run_plots(
    log_dir: Path,
    buffer: PredictionBuffer | None,
    *,
    class_names: list[str] | None,
    threshold: float,
    switches: dict[str, bool],
    extra: dict[str, Any] | None,
    monitor: str,
    mode: str,
    patience: int | None,
) -> None:
    """After `write_run_plots`: drop the families switched off; save `analysis/summary.json`."""
    drop_switched_off(log_dir, switches)
    arrays = buffer.arrays(class_names, threshold) if buffer is not None and buffer.rows else None
    run_safely(
        write_analysis_summary,
        log_dir,
        arrays,
        extra,
        monitor=monitor,
        mode=mode,
        patience=patience,
    )
