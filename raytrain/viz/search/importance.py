"""Parameter importances (`param_importances.png`): which searched parameter mattered."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from raytrain.viz.search._draw import _note_figure
from raytrain.viz.search.experiment import _completed, _label, _objective
from raytrain.viz.search.parallel import axis_specs

#: Fewer completed trials than this cannot say which parameter matters.
MIN_TRIALS_FOR_IMPORTANCE = 3


@dataclass
class ImportanceInfo:
    """Normalized importance per parameter (largest first), or why there is none."""

    importances: dict[str, float]
    evaluator: str
    n_completed: int
    note: str | None = None


def importance_info(
    trials_df: pd.DataFrame,
    metric: str,
    mode: str,
    space: dict[str, dict[str, Any]] | None = None,
) -> ImportanceInfo:
    """Rebuild the search as an in-memory Optuna study (`create_trial` with distributions from
    `axis_specs`) and ask `optuna.importance.get_param_importances`.

    fANOVA (Optuna's default before 4.x) needs scikit-learn, which raytrain does not depend on;
    without it Optuna's own default, PED-ANOVA, is used, with its target quantile widened to
    keep at least two trials in the "good" set of a small search. Below
    `MIN_TRIALS_FOR_IMPORTANCE` completed trials no estimate is made at all: a note says so.
    """
    import optuna
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    done = trials_df[_completed(trials_df, metric)]
    n = len(done)
    specs = axis_specs(trials_df, space)
    if not specs:
        return ImportanceInfo({}, "", n, "no searched parameters")
    if n < MIN_TRIALS_FOR_IMPORTANCE:
        return ImportanceInfo(
            {},
            "",
            n,
            f"not enough trials: {n} completed, at least {MIN_TRIALS_FOR_IMPORTANCE} needed",
        )
    dists: dict[str, BaseDistribution] = {}
    for name, s in specs.items():
        if s.kind == "categorical":
            dists[name] = CategoricalDistribution(s.choices or ["?"])
        elif s.is_int:
            dists[name] = IntDistribution(int(s.low), int(s.high), log=s.kind == "log")
        else:
            dists[name] = FloatDistribution(s.low, s.high, log=s.kind == "log")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = "maximize" if mode == "max" else "minimize"
    study = optuna.create_study(direction=direction)
    for value, (_, row) in zip(_objective(done, metric), done.iterrows(), strict=True):
        params: dict[str, Any] = {}
        for name, s in specs.items():
            v = row[name]
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            if s.kind == "categorical":
                params[name] = _label(v)
            else:
                params[name] = int(round(float(v))) if s.is_int else float(v)
        used = {k: dists[k] for k in params}
        study.add_trial(
            optuna.trial.create_trial(params=params, distributions=used, value=float(value))
        )
    try:
        import sklearn  # noqa: F401

        evaluator: Any = optuna.importance.FanovaImportanceEvaluator(seed=0)
        method = "fANOVA"
    except ImportError:
        q = min(0.5, max(0.1, 2.0 / n))
        evaluator = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=q)
        method = f"PED-ANOVA (top {q:.0%} of trials)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imp = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except Exception as e:  # an estimate failing must not cost the report
        return ImportanceInfo({}, method, n, f"importance could not be computed: {e}")
    imp = {k: float(v) for k, v in imp.items() if np.isfinite(v)}
    note = None if any(v > 0 for v in imp.values()) else "every parameter scored 0"
    return ImportanceInfo(dict(sorted(imp.items(), key=lambda kv: -kv[1])), method, n, note)


def _get_importance_plot(info: ImportanceInfo) -> Figure:
    title = "Hyperparameter importance"
    if not info.importances:
        return _note_figure(title, info.note or "no importances")
    names = list(info.importances)[::-1]
    values = [info.importances[n] for n in names]
    fig = Figure(figsize=(8, 1.2 + 0.5 * len(names)))
    ax = fig.add_subplot()
    ax.barh(names, values, color="tab:blue")
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.2f}", va="center", fontsize=9)
    ax.set_xlim(0, max(max(values), 1e-9) * 1.2)
    ax.set_xlabel("importance (normalized)")
    sub = f"{info.evaluator}, {info.n_completed} completed trials"
    ax.set_title(f"{title} ({sub})" + (f"\n{info.note}" if info.note else ""))
    return fig
