"""Plots of a whole search: what was tried, what mattered, how trials trained and when they ran.

`write_search_plots(experiment_dir)` reads only what `raytrain tune` leaves on disk
(`summary.json`, `trials.csv`, `config.yaml`, `trials/<id>/training_log.csv` and Ray Tune's
`tune/trial_*/progress.csv`), so it works on a finished experiment copied off a cluster, without
Ray. As in Optuna's `visualization` package, each plot is split into a pure `*_info()` function
that computes the data (unit-tested) and a `_*_plot(info)` function that only draws.

Every plot degrades to a short note figure instead of failing: a search with one trial, errored
trials without logs, or no `tune/` folder still gets its five PNGs, so a report can always be built.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from raytrain.config.yaml_io import load_file
from raytrain.errors import RaytrainError
from raytrain.viz._common import save_figure

#: File names written by `write_search_plots`, in the order a report shows them.
SEARCH_PLOTS = (
    "optimization_history.png",
    "parallel_coordinates.png",
    "param_importances.png",
    "learning_curves.png",
    "trial_timeline.png",
)

#: Columns of trials.csv that are not searched parameters (besides `best_<metric>`).
_NON_PARAM_COLUMNS = ("trial", "status", "epochs")

#: Fewer completed trials than this cannot say which parameter matters.
MIN_TRIALS_FOR_IMPORTANCE = 3

#: Tune writes `timestamp` in whole seconds: intervals touching within this are sequential.
TIMESTAMP_TOLERANCE_S = 1.0

#: A numeric range wider than this ratio (two decades) is drawn on a log axis.
LOG_SPAN = 100.0


# --------------------------------------------------------------------------------------------
# Reading an experiment folder
# --------------------------------------------------------------------------------------------


@dataclass
class Experiment:
    """What the plots and the report need from an experiment folder, read once."""

    path: Path
    summary: dict[str, Any]
    config: dict[str, Any]
    trials: pd.DataFrame
    metric: str
    mode: str
    max_epochs: int

    @property
    def name(self) -> str:
        return str((self.config.get("training") or {}).get("name") or self.path.name)

    @property
    def best_trial(self) -> str | None:
        best = self.summary.get("best") or {}
        return str(best["trial"]) if best.get("trial") is not None else None


def read_experiment(experiment_dir: Path) -> Experiment:
    """Load an experiment folder; a folder without `summary.json` is not one (RaytrainError)."""
    exp = Path(experiment_dir)
    summary_path = exp / "summary.json"
    if not summary_path.is_file():
        raise RaytrainError(
            f"{exp}: not an experiment folder (no summary.json; "
            "expected the folder `raytrain tune` printed)"
        )
    try:
        summary = json.loads(summary_path.read_text())
    except json.JSONDecodeError as e:
        raise RaytrainError(f"{summary_path}: not valid JSON ({e})") from None
    if not isinstance(summary, dict):
        raise RaytrainError(f"{summary_path}: not a raytrain search summary (not an object)")
    config: dict[str, Any] = {}
    if (exp / "config.yaml").is_file():
        config, _ = load_file(exp / "config.yaml")
        if not isinstance(config, dict):
            raise RaytrainError(f"{exp / 'config.yaml'}: not a saved raytrain config")
    search = config.get("search") or {}
    metric = summary.get("metric") or search.get("metric")
    if not metric:
        raise RaytrainError(f"{summary_path}: no 'metric' (and no search.metric in config.yaml)")
    mode = summary.get("mode") or ("min" if search.get("direction") == "minimize" else "max")
    if (exp / "trials.csv").is_file() and (exp / "trials.csv").stat().st_size > 0:
        # Trial ids are hex: '12345678' or '1e000000' must stay strings, not numbers.
        trials = pd.read_csv(exp / "trials.csv", dtype={"trial": str, "status": str})
    else:
        trials = pd.DataFrame(summary.get("trials") or [])
    if "trial" not in trials:
        trials["trial"] = pd.Series(dtype=str)
    if "status" not in trials:
        trials["status"] = "OK"
    trials["trial"] = trials["trial"].astype(str)
    max_epochs = (config.get("training_params") or {}).get("num_epochs")
    if not max_epochs:
        epochs = pd.to_numeric(trials.get("epochs", pd.Series(dtype=float)), errors="coerce")
        max_epochs = int(epochs.max()) if epochs.notna().any() else 1
    return Experiment(exp, summary, config, trials, str(metric), str(mode), int(max_epochs))


def searched_params(trials_df: pd.DataFrame) -> list[str]:
    """The searched parameters: every trials.csv column but trial, status, epochs, best_*."""
    return [
        c for c in trials_df.columns if c not in _NON_PARAM_COLUMNS and not c.startswith("best_")
    ]


def declared_space(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """config.yaml's `search_space` keyed by dotted path (short names like `learning_rate`
    resolved), so axes can show the whole searched range and its declared type."""
    from raytrain.config.load import resolve_path

    space = config.get("search_space") or {}
    return {resolve_path(k): dict(v) for k, v in space.items() if isinstance(v, dict)}


def _objective(trials_df: pd.DataFrame, metric: str) -> pd.Series:
    col = f"best_{metric}"
    if col not in trials_df:
        return pd.Series(np.nan, index=trials_df.index, dtype=float)
    return pd.to_numeric(trials_df[col], errors="coerce")


def _completed(trials_df: pd.DataFrame, metric: str) -> pd.Series:
    """Rows that count for the objective: status OK and a finite best value."""
    ok = trials_df["status"].astype(str).str.upper().eq("OK")
    return ok & np.isfinite(_objective(trials_df, metric))


# --------------------------------------------------------------------------------------------
# Info functions (pure: data in, data out)
# --------------------------------------------------------------------------------------------


@dataclass
class HistoryInfo:
    """Objective per completed trial, in completion order, and the running best."""

    metric: str
    mode: str
    trials: list[str]
    values: list[float]
    best_so_far: list[float]
    best_trial: str | None
    best_value: float | None
    errored: list[str]


def history_info(
    trials_df: pd.DataFrame, metric: str, mode: str, order: Sequence[str] | None = None
) -> HistoryInfo:
    """`order` is trial ids by completion time (from `timeline_info`); trials it lacks keep
    their trials.csv order after the ones it has (Tune lists results in creation order)."""
    done = _completed(trials_df, metric)
    values = _objective(trials_df, metric)
    rank = {t: i for i, t in enumerate(order or [])}
    rows = [
        (rank.get(t, len(rank) + i), t, float(v))
        for i, (t, v, d) in enumerate(zip(trials_df["trial"], values, done, strict=True))
        if d
    ]
    rows.sort()
    ids = [t for _, t, _ in rows]
    vals = [v for _, _, v in rows]
    pick = max if mode == "max" else min
    best_so_far: list[float] = []
    for v in vals:
        best_so_far.append(v if not best_so_far else pick(best_so_far[-1], v))
    best_value = best_so_far[-1] if best_so_far else None
    best_trial = ids[vals.index(best_value)] if best_value is not None else None
    errored = [str(t) for t, d in zip(trials_df["trial"], done, strict=True) if not d]
    return HistoryInfo(metric, mode, ids, vals, best_so_far, best_trial, best_value, errored)


@dataclass
class AxisSpec:
    """How one searched parameter is laid out: a log, linear or categorical axis."""

    name: str
    kind: str  # "log" | "linear" | "categorical"
    is_int: bool = False
    low: float = 0.0
    high: float = 1.0
    choices: list[str] = field(default_factory=list)

    def position(self, value: Any) -> float:
        """`value` -> [0, 1] along the axis; NaN for a missing value (the line breaks there)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return math.nan
        if self.kind == "categorical":
            label = _label(value)
            if label not in self.choices:
                return math.nan
            n = len(self.choices)
            return 0.5 if n == 1 else self.choices.index(label) / (n - 1)
        v = float(value)
        lo, hi = self.low, self.high
        if self.kind == "log":
            v, lo, hi = math.log10(v), math.log10(lo), math.log10(hi)
        return 0.5 if hi == lo else (v - lo) / (hi - lo)

    def ticks(self) -> list[tuple[float, str]]:
        if self.kind == "categorical":
            return [(self.position(c), c) for c in self.choices]
        if self.kind == "log":
            k0, k1 = math.ceil(math.log10(self.low)), math.floor(math.log10(self.high))
            values = [10.0**k for k in range(k0, k1 + 1)]
            if len(values) < 2:
                values = [self.low, self.high]
            return [(self.position(v), f"{v:.0e}") for v in values]
        if self.high == self.low:
            return [(0.5, f"{self.low:.4g}")]
        values = np.linspace(self.low, self.high, 5)
        if self.is_int:
            values = np.unique(np.round(values))
        return [(self.position(v), f"{v:.3g}") for v in values]


def _label(value: Any) -> str:
    """A categorical value as text: 8 and 8.0 are the same choice, lists are JSON."""
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        return _label(value.item())
    return str(value)


def axis_specs(
    trials_df: pd.DataFrame, space: dict[str, dict[str, Any]] | None = None
) -> dict[str, AxisSpec]:
    """One axis per searched parameter. The declared search space (if given) sets the type,
    the choices and the range; otherwise they are inferred from the values: text is
    categorical, numbers are a range, log-scaled when the range spans more than two decades."""
    specs: dict[str, AxisSpec] = {}
    space = space or {}
    for name in searched_params(trials_df):
        col = trials_df[name]
        decl = space.get(name, {})
        dtype = str(decl.get("type") or "").lower()
        observed = col.dropna()
        numeric = pd.to_numeric(observed, errors="coerce")
        is_text = col.dtype == bool or bool(numeric.isna().any())
        if dtype in ("categorical", "choice", "grid") or is_text:
            choices = [_label(c) for c in (decl.get("values") or decl.get("choices") or [])]
            for v in observed:
                if _label(v) not in choices:
                    choices.append(_label(v))
            specs[name] = AxisSpec(name, "categorical", choices=choices)
            continue
        lows = [float(numeric.min())] if len(numeric) else []
        highs = [float(numeric.max())] if len(numeric) else []
        if decl.get("low") is not None and decl.get("high") is not None:
            lows.append(float(decl["low"]))
            highs.append(float(decl["high"]))
        if not lows:
            specs[name] = AxisSpec(name, "categorical", choices=[])
            continue
        lo, hi = min(lows), max(highs)
        declared_log = bool(decl.get("log")) or dtype in ("loguniform", "qloguniform", "lograndint")
        log = lo > 0 and (declared_log or hi / lo > LOG_SPAN)
        is_int = dtype in ("int", "randint", "qrandint", "lograndint") or (
            not dtype and bool((numeric == numeric.round()).all())
        )
        specs[name] = AxisSpec(name, "log" if log else "linear", is_int, lo, hi)
    return specs


@dataclass
class ParallelInfo:
    """Each completed trial as a polyline across one [0, 1] axis per parameter."""

    metric: str
    mode: str
    axes: list[AxisSpec]
    trials: list[str]
    objective: list[float]
    #: positions[i][j]: trial i on axis j (NaN where the trial lacks the parameter)
    positions: list[list[float]]
    best_trial: str | None


def parallel_info(
    trials_df: pd.DataFrame,
    metric: str,
    mode: str,
    space: dict[str, dict[str, Any]] | None = None,
) -> ParallelInfo:
    specs = axis_specs(trials_df, space)
    done = trials_df[_completed(trials_df, metric)]
    objective = [float(v) for v in _objective(done, metric)]
    positions = [
        [spec.position(row[name]) for name, spec in specs.items()] for _, row in done.iterrows()
    ]
    best = None
    if objective:
        best = str(
            done["trial"].iloc[int(np.argmax(objective) if mode == "max" else np.argmin(objective))]
        )
    return ParallelInfo(
        metric, mode, list(specs.values()), list(done["trial"]), objective, positions, best
    )


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


@dataclass
class Curve:
    """One trial's monitored metric per epoch."""

    trial: str
    epochs: list[int]
    values: list[float]
    status: str
    #: finished before max_epochs without an error: ASHA or early stopping cut it
    stopped: bool


@dataclass
class CurvesInfo:
    metric: str
    max_epochs: int
    curves: list[Curve]
    best_trial: str | None
    #: trials with no per-epoch log at all (typically errored before epoch 1)
    missing: list[str]


def _progress_files(experiment_dir: Path) -> dict[str, Path]:
    """trial id -> Ray Tune's progress.csv under tune/. The id comes from the file's
    `trial_id` column: folder names (`<trainable>_<id>_<n>_<params>_<date>`) are ambiguous
    once ids contain underscores, as random search's `<uuid>_<index>` ids do."""
    tune = Path(experiment_dir) / "tune"
    out: dict[str, Path] = {}
    if not tune.is_dir():
        return out
    for csv in sorted(tune.glob("*/progress.csv")):
        df = _read_csv(csv)
        if df is None or df.empty:
            continue
        ids = df["trial_id"].dropna() if "trial_id" in df else pd.Series(dtype=str)
        out[str(ids.iloc[0]) if len(ids) else csv.parent.name] = csv
    return out


def _read_csv(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path, dtype={"trial_id": str})
    except (pd.errors.EmptyDataError, pd.errors.ParserError, OSError):
        return None


def curves_info(
    experiment_dir: Path, metric: str, max_epochs: int, mode: str | None = None
) -> CurvesInfo:
    """Per-epoch `metric` of every trial, from `trials/<id>/training_log.csv` (or Tune's
    progress.csv when the log is missing). A trial is *stopped* when it ended OK before
    `max_epochs`: ASHA cut it or early stopping ended it (the files cannot tell which)."""
    exp = Path(experiment_dir)
    statuses: dict[str, str] = {}
    best_trial = None
    try:
        e = read_experiment(exp)
        statuses = dict(zip(e.trials["trial"], e.trials["status"].astype(str), strict=True))
        best_trial = e.best_trial
        mode = mode or e.mode
    except RaytrainError:
        pass
    ids = list(statuses)
    if (exp / "trials").is_dir():
        ids += sorted(
            p.name for p in (exp / "trials").iterdir() if p.is_dir() and p.name not in statuses
        )
    progress = _progress_files(exp)
    curves, missing = [], []
    for trial in ids:
        df = None
        log = exp / "trials" / trial / "training_log.csv"
        if log.is_file():
            df = _read_csv(log)
        if (df is None or metric not in df) and trial in progress:
            df = _read_csv(progress[trial])
        epoch_col = "epoch" if df is not None and "epoch" in df else "training_iteration"
        if df is None or metric not in df or epoch_col not in df:
            missing.append(trial)
            continue
        rows = df[[epoch_col, metric]].apply(pd.to_numeric, errors="coerce").dropna()
        if rows.empty:
            missing.append(trial)
            continue
        status = statuses.get(trial, "OK").upper()
        epochs = [int(x) for x in rows[epoch_col]]
        stopped = status == "OK" and max(epochs) < max_epochs
        curves.append(Curve(trial, epochs, [float(v) for v in rows[metric]], status, stopped))
    if best_trial not in {c.trial for c in curves} and curves:
        pick = max if (mode or "max") == "max" else min
        best_trial = pick(curves, key=lambda c: pick(c.values)).trial
    elif not curves:
        best_trial = None
    return CurvesInfo(metric, max_epochs, curves, best_trial, missing)


@dataclass
class Bar:
    """One trial's run time: from its first start to its last report, in seconds from t0."""

    trial: str
    start: float
    end: float
    node: str
    pid: str
    slot: int


@dataclass
class TimelineInfo:
    bars: list[Bar]
    #: unix time of the earliest start; bars are relative to it
    t0: float
    n_slots: int
    max_concurrency: int
    #: (time, running trials) steps, for the concurrency strip
    concurrency: list[tuple[float, int]]
    note: str | None = None


def _last(df: pd.DataFrame, col: str) -> str:
    """The column's last non-empty value as text ('?' when none), e.g. the node a trial ran on."""
    values = df[col].dropna() if col in df else pd.Series(dtype=object)
    return "?" if values.empty else _label(values.iloc[-1])


def timeline_info(experiment_dir: Path) -> TimelineInfo:
    """Trial intervals from Ray Tune's progress.csv: start = first row's `timestamp` minus its
    `time_this_iter_s` (the first iteration includes the trial's setup), end = last `timestamp`.

    Trials are packed into worker slots greedily by start time, which for intervals uses the
    fewest slots possible, so `n_slots` is the peak number of trials running at once.
    Timestamps are whole seconds: a trial starting within `TIMESTAMP_TOLERANCE_S` of another's
    end reuses its slot rather than counting as concurrent.
    """
    exp = Path(experiment_dir)
    if not (exp / "tune").is_dir():
        return TimelineInfo([], 0.0, 0, 0, [], f"no tune/ folder in {exp}: no timing to show")
    raw = []
    for trial, csv in _progress_files(exp).items():
        df = _read_csv(csv)
        if df is None or "timestamp" not in df or df.empty:
            continue
        ts = pd.to_numeric(df["timestamp"], errors="coerce")
        if ts.isna().all():
            continue
        first = df.index[ts.notna()][0]
        took = pd.to_numeric(
            df.get("time_this_iter_s", pd.Series(0.0, index=df.index)), errors="coerce"
        )
        first_took = float(took[first]) if np.isfinite(took[first]) else 0.0

        raw.append(
            (
                float(ts[first]) - first_took,
                float(ts.max()),
                trial,
                _last(df, "node_ip"),
                _last(df, "pid"),
            )
        )
    if not raw:
        return TimelineInfo([], 0.0, 0, 0, [], "no progress.csv with timestamps under tune/")
    raw.sort()
    t0 = raw[0][0]
    slot_free_at: list[float] = []
    bars = []
    for start, end, trial, node, pid in raw:
        s, e = start - t0, max(end, start) - t0
        slot = next(
            (i for i, free in enumerate(slot_free_at) if free - TIMESTAMP_TOLERANCE_S <= s),
            len(slot_free_at),
        )
        if slot == len(slot_free_at):
            slot_free_at.append(e)
        else:
            slot_free_at[slot] = e
        bars.append(Bar(trial, s, e, node, pid, slot))
    # Running trials over time, with the same tolerance: an interval counts until end - tol.
    events = sorted(
        [(b.start, 1) for b in bars]
        + [
            (
                max(b.start, b.end - TIMESTAMP_TOLERANCE_S)
                if b.end - b.start > TIMESTAMP_TOLERANCE_S
                else b.end,
                -1,
            )
            for b in bars
        ],
        key=lambda ev: (ev[0], ev[1]),
    )
    running, steps = 0, []
    for t, d in events:
        running += d
        steps.append((t, running))
    peak = max((r for _, r in steps), default=0)
    return TimelineInfo(bars, t0, len(slot_free_at), peak, steps)


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------


def _note_figure(title: str, note: str) -> Figure:
    """A small figure that says why a plot is empty, so the report keeps every slot."""
    fig = Figure(figsize=(7, 3.5))
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, note, ha="center", va="center", wrap=True, fontsize=12, color="0.3")
    return fig


def _better(mode: str) -> str:
    return "higher is better" if mode == "max" else "lower is better"


def _history_plot(info: HistoryInfo) -> Figure:
    title = f"Optimization history ({info.metric}, {_better(info.mode)})"
    if not info.values:
        return _note_figure(title, "no completed trial reported the metric")
    fig = Figure(figsize=(9, 4.8))
    ax = fig.add_subplot()
    x = np.arange(1, len(info.values) + 1)
    ax.scatter(x, info.values, color="tab:blue", zorder=3, label="trial's best value")
    ax.step(x, info.best_so_far, where="post", color="tab:red", label="best so far")
    ib = info.trials.index(info.best_trial) if info.best_trial in info.trials else None
    if ib is not None:
        ax.scatter(
            [x[ib]],
            [info.values[ib]],
            marker="*",
            s=250,
            color="gold",
            edgecolor="black",
            zorder=4,
            label=f"best: {info.best_trial}",
        )
    ax.set_xlabel("trial (in completion order)")
    ax.set_ylabel(info.metric)
    if len(x) <= 30:
        ax.set_xticks(x, info.trials, rotation=45, ha="right", fontsize=8)
    if info.errored:
        title += f" - {len(info.errored)} trial(s) without a result not shown"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    return fig


def _parallel_plot(info: ParallelInfo) -> Figure:
    title = f"Parallel coordinates (colour: {info.metric}, {_better(info.mode)})"
    if not info.axes:
        return _note_figure(title, "no searched parameters: every trial trained the same config")
    if not info.trials:
        return _note_figure(title, "no completed trial reported the metric")
    fig = Figure(figsize=(max(7.0, 2.0 * len(info.axes) + 2), 5.5))
    ax = fig.add_subplot()
    lo, hi = min(info.objective), max(info.objective)
    norm = Normalize(lo, hi if hi > lo else lo + 1e-12)
    cmap = colormaps["viridis" if info.mode == "max" else "viridis_r"]
    x = np.arange(len(info.axes))
    # Best trial last so it is drawn on top.
    order = sorted(range(len(info.trials)), key=lambda i: info.trials[i] == info.best_trial)
    for i in order:
        best = info.trials[i] == info.best_trial
        ax.plot(
            x,
            info.positions[i],
            color=cmap(norm(info.objective[i])),
            lw=3.0 if best else 1.4,
            alpha=1.0 if best else 0.8,
            zorder=3 if best else 2,
            marker="o",
            ms=3,
        )
    for j, spec in enumerate(info.axes):
        ax.axvline(j, color="0.2", lw=1, zorder=1)
        for pos, label in spec.ticks():
            ax.text(j - 0.03, pos, label, ha="right", va="center", fontsize=7, color="0.25")
    names = [f"{s.name}\n({s.kind})" for s in info.axes]
    ax.set_xticks(x, names, fontsize=8)
    ax.set_xlim(-0.5, len(info.axes) - 0.5)
    ax.set_ylim(-0.05, 1.05)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=info.metric)
    ax.set_title(title + (f"; thick: best trial {info.best_trial}" if info.best_trial else ""))
    return fig


def _importance_plot(info: ImportanceInfo) -> Figure:
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


def _curves_plot(info: CurvesInfo) -> Figure:
    title = f"Learning curves ({info.metric})"
    if not info.curves:
        return _note_figure(title, "no trial has a per-epoch log of the metric")
    fig = Figure(figsize=(9, 5.2))
    ax = fig.add_subplot()
    cmap = colormaps["tab10"]
    labelled_stop = labelled_err = False
    for i, c in enumerate(info.curves):
        best = c.trial == info.best_trial
        ax.plot(
            c.epochs,
            c.values,
            marker="o",
            ms=3 if not best else 5,
            lw=3.0 if best else 1.2,
            alpha=1.0 if best else 0.7,
            color="black" if best else cmap(i % 10),
            zorder=3 if best else 2,
            label=f"{c.trial} (best)" if best else c.trial,
        )
        if c.stopped:
            ax.scatter(
                [c.epochs[-1]],
                [c.values[-1]],
                marker="X",
                s=110,
                color="tab:red",
                zorder=4,
                label=None if labelled_stop else "stopped by ASHA/early stop",
            )
            labelled_stop = True
        elif c.status != "OK":
            ax.scatter(
                [c.epochs[-1]],
                [c.values[-1]],
                marker="s",
                s=70,
                color="tab:orange",
                zorder=4,
                label=None if labelled_err else "errored",
            )
            labelled_err = True
    ax.axvline(info.max_epochs, color="0.5", ls="--", lw=1)
    ax.set_xlabel(f"epoch (max {info.max_epochs})")
    ax.set_ylabel(info.metric)
    if info.max_epochs <= 30:
        ax.set_xticks(range(1, info.max_epochs + 1))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best", ncol=2 if len(info.curves) > 8 else 1)
    if info.missing:
        title += f" - no log: {', '.join(info.missing[:5])}" + (
            "..." if len(info.missing) > 5 else ""
        )
    ax.set_title(title)
    return fig


def _timeline_plot(info: TimelineInfo) -> Figure:
    title = "Trial timeline"
    if not info.bars:
        return _note_figure(title, info.note or "no timing information")
    n = len(info.bars)
    fig = Figure(figsize=(10, 2.2 + 0.4 * n))
    grid = fig.add_gridspec(2, 1, height_ratios=[max(2.0, 0.4 * n), 1.0], hspace=0.08)
    ax = fig.add_subplot(grid[0])
    strip = fig.add_subplot(grid[1], sharex=ax)
    cmap = colormaps["tab10"]
    nodes = sorted({b.node for b in info.bars})
    for y, b in enumerate(info.bars):
        ax.barh(
            y,
            max(b.end - b.start, 0.5),
            left=b.start,
            color=cmap(b.slot % 10),
            edgecolor="black",
            lw=0.5,
        )
        where = f"{b.node} pid {b.pid}" if len(nodes) > 1 else f"pid {b.pid}"
        ax.text(b.start + 0.5, y, f" {where}", va="center", fontsize=7)
    ax.set_yticks(range(n), [b.trial for b in info.bars], fontsize=8)
    ax.invert_yaxis()
    ax.set_ylabel("trial")
    ax.tick_params(labelbottom=False)
    handles = [Patch(color=cmap(s % 10), label=f"worker slot {s}") for s in range(info.n_slots)]
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(
        f"{title}: {n} trial(s), peak {info.max_concurrency} running at once"
        + (f" on {len(nodes)} nodes" if len(nodes) > 1 else "")
    )
    t = [s[0] for s in info.concurrency]
    r = [s[1] for s in info.concurrency]
    strip.step([0.0, *t], [0, *r], where="post", color="tab:blue")
    strip.fill_between([0.0, *t], [0, *r], step="post", alpha=0.3)
    strip.set_ylim(0, info.max_concurrency + 0.5)
    strip.set_yticks(range(info.max_concurrency + 1))
    strip.set_ylabel("running")
    strip.set_xlabel("seconds since the first trial started")
    strip.grid(alpha=0.3)
    return fig


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def write_search_plots(experiment_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """Draw the five search plots of `experiment_dir` into `out_dir` (default
    `experiment_dir/search_plots`) and return their paths, in `SEARCH_PLOTS` order."""
    exp = read_experiment(Path(experiment_dir))
    out = Path(out_dir) if out_dir is not None else exp.path / "search_plots"
    space = declared_space(exp.config)
    timeline = timeline_info(exp.path)
    done_order = [b.trial for b in sorted(timeline.bars, key=lambda b: b.end)]
    jobs: list[tuple[str, Callable[[], Figure]]] = [
        (
            "optimization_history.png",
            lambda: _history_plot(history_info(exp.trials, exp.metric, exp.mode, done_order)),
        ),
        (
            "parallel_coordinates.png",
            lambda: _parallel_plot(parallel_info(exp.trials, exp.metric, exp.mode, space)),
        ),
        (
            "param_importances.png",
            lambda: _importance_plot(importance_info(exp.trials, exp.metric, exp.mode, space)),
        ),
        (
            "learning_curves.png",
            lambda: _curves_plot(curves_info(exp.path, exp.metric, exp.max_epochs, exp.mode)),
        ),
        ("trial_timeline.png", lambda: _timeline_plot(timeline)),
    ]
    paths = []
    for name, draw in jobs:
        try:
            fig = draw()
        except Exception as e:  # one broken plot must not cost the other four or the report
            warnings.warn(f"{exp.path}: could not draw {name}: {e!r}", RuntimeWarning, stacklevel=2)
            fig = _note_figure(name, f"could not draw this plot:\n{type(e).__name__}: {e}")
        paths.append(save_figure(fig, out / name))
    return paths


__all__ = [
    "SEARCH_PLOTS",
    "Experiment",
    "read_experiment",
    "searched_params",
    "declared_space",
    "axis_specs",
    "history_info",
    "parallel_info",
    "importance_info",
    "curves_info",
    "timeline_info",
    "write_search_plots",
]
