"""Reading an experiment folder once (`read_experiment`): summary, config, trials and the
per-trial logs every search plot is computed from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from raytrain.config.yaml_io import load_file
from raytrain.errors import RaytrainError

#: Columns of trials.csv that are not searched parameters (besides `best_<metric>`).
_NON_PARAM_COLUMNS = ("trial", "status", "epochs")


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


def _label(value: Any) -> str:
    """A categorical value as text: 8 and 8.0 are the same choice, lists are JSON."""
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        return _label(value.item())
    return str(value)


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
