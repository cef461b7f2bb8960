"""Training-curve plots of one run, read from its `training_log.csv` (the run's visualizations/).

One module per figure, each split the Optuna way: a pure `*_info()` function turns the log into
the numbers a reader should see (best epoch, convergence epoch, overfitting onset, warmup
length...), and a `_get_*_plot(info)` function beside it only draws them. Tests check the
numbers; the drawings just have to exist. `log` reads and normalizes the log, `files` draws all
four figures (`write_training_plots`).

This package re-exports the public names of its modules.
"""

from raytrain.viz.training.convergence import (
    CONVERGENCE_ANALYSIS,
    ConvergenceInfo,
    convergence_info,
)
from raytrain.viz.training.curves import TRAINING_CURVES, TrainingCurvesInfo, training_curves_info
from raytrain.viz.training.files import write_training_plots
from raytrain.viz.training.log import (
    BOOKKEEPING,
    BestEpoch,
    best_epoch,
    load_log,
    metric_columns,
    resolve_monitor,
    smooth,
)
from raytrain.viz.training.lr_schedule import LR_SCHEDULE, LRInfo, lr_info
from raytrain.viz.training.overfitting import (
    OVERFITTING_ANALYSIS,
    OverfittingInfo,
    overfitting_info,
)

__all__ = [
    "BOOKKEEPING",
    "CONVERGENCE_ANALYSIS",
    "LR_SCHEDULE",
    "OVERFITTING_ANALYSIS",
    "TRAINING_CURVES",
    "BestEpoch",
    "ConvergenceInfo",
    "LRInfo",
    "OverfittingInfo",
    "TrainingCurvesInfo",
    "best_epoch",
    "convergence_info",
    "load_log",
    "lr_info",
    "metric_columns",
    "overfitting_info",
    "resolve_monitor",
    "smooth",
    "training_curves_info",
    "write_training_plots",
]
