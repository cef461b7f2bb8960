"""The search plot files (`SEARCH_PLOTS`) and the driver that draws them all
(`write_search_plots`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure

from raytrain.viz._common import save_figure
from raytrain.viz.search._draw import _note_figure
from raytrain.viz.search.experiment import declared_space, read_experiment
from raytrain.viz.search.history import _get_history_plot, history_info
from raytrain.viz.search.importance import _get_importance_plot, importance_info
from raytrain.viz.search.learning_curves import _get_curves_plot, curves_info
from raytrain.viz.search.parallel import _get_parallel_plot, parallel_info
from raytrain.viz.search.pareto import _get_pareto_plot, objectives_of, pareto_info
from raytrain.viz.search.timeline import _get_timeline_plot, timeline_info

#: File names written by `write_search_plots`, in the order a report shows them.
SEARCH_PLOTS = (
    "optimization_history.png",
    "parallel_coordinates.png",
    "param_importances.png",
    "learning_curves.png",
    "trial_timeline.png",
)
#: Drawn besides `SEARCH_PLOTS` for a search with several objectives.
PARETO_PLOT = "pareto_front.png"


def write_search_plots(experiment_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """Draw the five search plots of `experiment_dir` into `out_dir` (default
    `experiment_dir/search_plots`) and return their paths, in `SEARCH_PLOTS` order; a search
    with several objectives also gets `PARETO_PLOT`, last."""
    exp = read_experiment(Path(experiment_dir))
    out = Path(out_dir) if out_dir is not None else exp.path / "search_plots"
    space = declared_space(exp.config)
    timeline = timeline_info(exp.path)
    done_order = [b.trial for b in sorted(timeline.bars, key=lambda b: b.end)]
    jobs: list[tuple[str, Callable[[], Figure]]] = [
        (
            "optimization_history.png",
            lambda: _get_history_plot(history_info(exp.trials, exp.metric, exp.mode, done_order)),
        ),
        (
            "parallel_coordinates.png",
            lambda: _get_parallel_plot(parallel_info(exp.trials, exp.metric, exp.mode, space)),
        ),
        (
            "param_importances.png",
            lambda: _get_importance_plot(importance_info(exp.trials, exp.metric, exp.mode, space)),
        ),
        (
            "learning_curves.png",
            lambda: _get_curves_plot(curves_info(exp.path, exp.metric, exp.max_epochs, exp.mode)),
        ),
        ("trial_timeline.png", lambda: _get_timeline_plot(timeline)),
    ]
    objectives = objectives_of(exp.summary)
    if len(objectives) > 1:
        front = [str(t) for t in exp.summary.get("pareto_front") or []]
        jobs.append(
            (PARETO_PLOT, lambda: _get_pareto_plot(pareto_info(exp.trials, objectives, front)))
        )
    paths = []
    for name, draw in jobs:
        try:
            fig = draw()
        except Exception as e:  # one broken plot must not cost the others or the report
            warnings.warn(f"{exp.path}: could not draw {name}: {e!r}", RuntimeWarning, stacklevel=2)
            fig = _note_figure(name, f"could not draw this plot:\n{type(e).__name__}: {e}")
        paths.append(save_figure(fig, out / name))
    return paths
