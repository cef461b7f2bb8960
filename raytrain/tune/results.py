"""What a finished search found: one row per trial, the best trial, the table and CSV."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raytrain.artifacts.storage import is_dir
from raytrain.config.search_space import SearchSpace
from raytrain.data.manifest import atomic_write_text


@dataclass
class SearchResult:
    experiment_dir: Path
    metric: str
    mode: str
    trials: list[dict[str, Any]]
    best: dict[str, Any] | None
    registered: dict[str, Any] | None = None
    #: the best checkpoint scored on the test split (`test_` metrics); None without one
    test_metrics: dict[str, float] | None = None
    errors: list[str] = field(default_factory=list)
    #: multi-objective searches: the trials no other trial beats in every objective
    pareto_front: list[dict[str, Any]] = field(default_factory=list)


def _best_epoch(df: Any, metric: str, sign: int) -> Any:
    """The row of `df` with the best `metric`, or None when no row has it."""
    scored = df[df[metric].notna()] if metric in df else df.iloc[0:0]
    return None if scored.empty else scored.loc[(scored[metric] * sign).idxmax()]


def _status(r: Any) -> str:
    """ERROR (the trial raised), OK (it ran to its last epoch or stopped early by its own rule)
    or STOPPED (the scheduler ended it: its last report is not the run's last)."""
    if r.error:
        return "ERROR"
    return "OK" if (r.metrics or {}).get("finished") else "STOPPED"


def collect_trials(
    results: Any,
    space: SearchSpace,
    metric: str,
    mode: str,
    also: tuple[str, ...] = (),
    scheme: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, list[str]]:
    """One row per trial, the best (trial, epoch) whose checkpoint is on disk, and the errors.

    Checkpoints are kept by score (`num_to_keep`), so the best epoch's usually is; the check
    for the folder makes a missing one fall back to the trial's next best epoch, not crash.
    `scheme` ("s3", "gs"): the search ran on object storage, where Ray's checkpoint paths are
    bucket paths without the scheme.
    """
    sign = 1 if mode == "max" else -1
    trials, errors = [], []
    best: dict[str, Any] | None = None
    for r in results:
        trial_id = (r.metrics or {}).get("trial_id") or (Path(r.path).name if r.path else "?")
        params = {k: v for k, v in (r.config or {}).items() if k in space.param_space}
        overrides = space.decode(params)
        row: dict[str, Any] = {"trial": trial_id, "status": _status(r), **overrides}
        if r.error:
            errors.append(f"trial {trial_id}: {str(r.error).strip().splitlines()[-1]}")
        df = r.metrics_dataframe
        if df is not None and "epoch" not in df:  # a trial that never reported an epoch
            df = None
        if df is not None and "checkpoint_path" not in df and r.best_checkpoints:
            # in-trial runs report checkpoints to Tune itself: find them by epoch
            paths = {m.get("epoch"): _uri(c.path, scheme) for c, m in r.best_checkpoints}
            df = df.assign(checkpoint_path=df["epoch"].map(paths))
        top = None if df is None else _best_epoch(df, metric, sign)
        if top is not None:
            row["epochs"] = int(df["epoch"].max())
            row[f"best_{metric}"] = float(top[metric])
            for m in also:  # the other objectives, at the same (best) epoch
                if m in top and top[m] == top[m]:
                    row[m] = float(top[m])
            if "checkpoint_path" in df:
                df = df.assign(checkpoint_path=df["checkpoint_path"].map(lambda p: _uri(p, scheme)))
                saved = df[df["checkpoint_path"].map(lambda p: isinstance(p, str) and is_dir(p))]
                pick = _best_epoch(saved, metric, sign)
                if pick is not None and (
                    best is None or sign * pick[metric] > sign * best["value"]
                ):
                    best = {
                        "trial": trial_id,
                        "value": float(pick[metric]),
                        "epoch": int(pick["epoch"]),
                        "checkpoint_path": pick["checkpoint_path"],
                        "params": overrides,
                    }
        trials.append(row)
    return trials, best, errors


def _uri(path: Any, scheme: str | None) -> Any:
    if scheme and isinstance(path, str) and path and "://" not in path:
        return f"{scheme}://{path.lstrip('/')}"
    return path


def format_table(trials: list[dict[str, Any]]) -> str:
    if not trials:
        return "(no trials)"
    cols = list(dict.fromkeys(k for t in trials for k in t))

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return "" if v is None else str(v)

    widths = {c: max(len(c), *(len(fmt(t.get(c))) for t in trials)) for c in cols}
    head = "  ".join(c.ljust(widths[c]) for c in cols)
    body = ["  ".join(fmt(t.get(c)).ljust(widths[c]) for c in cols) for t in trials]
    return "\n".join([head, "-" * len(head), *body])


def write_trials_csv(path: Path, trials: list[dict[str, Any]]) -> None:
    import csv
    import io

    cols = list(dict.fromkeys(k for t in trials for k in t))
    buf = io.StringIO()
    w = csv.DictWriter(buf, cols)
    w.writeheader()
    for t in trials:
        w.writerow({k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in t.items()})
    atomic_write_text(path, buf.getvalue())
