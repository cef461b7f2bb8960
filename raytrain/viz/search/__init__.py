"""Plots of a whole search: what was tried, what mattered, how trials trained and when they ran.

`write_search_plots(experiment_dir)` reads only what `raytrain tune` leaves on disk
(`summary.json`, `trials.csv`, `config.yaml`, `trials/<id>/training_log.csv` and Ray Tune's
`tune/trial_*/progress.csv`), so it works on a finished experiment copied off a cluster, without
Ray. As in Optuna's `visualization` package, each plot has its own module with a pure `*_info()`
function that computes the data (unit-tested) and a `_*_plot(info)` function that only draws:
`history`, `parallel`, `importance`, `learning_curves`, `timeline`, and for a search with
several objectives `pareto`.

Every plot degrades to a short note figure instead of failing: a search with one trial, errored
trials without logs, or no `tune/` folder still gets its five PNGs, so a report can always be built.
"""

from raytrain.viz.search.experiment import (
    Experiment,
    declared_space,
    read_experiment,
    searched_params,
)
from raytrain.viz.search.files import PARETO_PLOT, SEARCH_PLOTS, write_search_plots
from raytrain.viz.search.history import HistoryInfo, history_info
from raytrain.viz.search.importance import (
    MIN_TRIALS_FOR_IMPORTANCE,
    ImportanceInfo,
    importance_info,
)
from raytrain.viz.search.learning_curves import Curve, CurvesInfo, curves_info
from raytrain.viz.search.parallel import LOG_SPAN, AxisSpec, ParallelInfo, axis_specs, parallel_info
from raytrain.viz.search.pareto import ParetoInfo, objectives_of, pareto_info
from raytrain.viz.search.timeline import TIMESTAMP_TOLERANCE_S, Bar, TimelineInfo, timeline_info

__all__ = [
    "LOG_SPAN",
    "MIN_TRIALS_FOR_IMPORTANCE",
    "PARETO_PLOT",
    "SEARCH_PLOTS",
    "TIMESTAMP_TOLERANCE_S",
    "AxisSpec",
    "Bar",
    "Curve",
    "CurvesInfo",
    "Experiment",
    "HistoryInfo",
    "ImportanceInfo",
    "ParallelInfo",
    "ParetoInfo",
    "TimelineInfo",
    "axis_specs",
    "curves_info",
    "declared_space",
    "history_info",
    "importance_info",
    "objectives_of",
    "parallel_info",
    "pareto_info",
    "read_experiment",
    "searched_params",
    "timeline_info",
    "write_search_plots",
]
