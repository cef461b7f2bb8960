"""The analysis numbers, saved, not only drawn: `analysis/summary.json` of a run.

Computed by the same pure functions the plots use (`viz.training.convergence_info`,
`overfitting_info`, `best_epoch`; `viz.evaluation.calibration_info`), so a number in the JSON
and its plot never disagree. Also: which plot families the `logging.*` switches leave out.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

#: `logging.<switch>: false` -> the files of that family that are not kept
SWITCHED_FILES: dict[str, tuple[str, ...]] = {
    "convergence_analysis": ("visualizations/convergence_analysis.png",),
    "overfitting_analysis": ("visualizations/overfitting_analysis.png",),
    "final_dashboard": ("visualizations/final_dashboard.png",),
    "classification_viz": tuple(
        f"visualizations/{n}.png"
        for n in (
            "class_balance",
            "confusion_matrix",
            "roc_pr_curves",
            "classification_report",
            "per_class_analysis",
            "error_analysis",
            "threshold_sweep",
        )
    ),
}


def drop_switched_off(run_dir: Path, switches: dict[str, bool]) -> list[str]:
    """Remove the files of every plot family switched off; the names removed."""
    gone = []
    for name, on in switches.items():
        for rel in SWITCHED_FILES.get(name, ()) if not on else ():
            path = Path(run_dir) / rel
            if path.exists():
                path.unlink()
                gone.append(rel)
    return gone


def _num(v: Any) -> float | int | None:
    if v is None:
        return None
    if isinstance(v, int | np.integer):
        return int(v)
    f = float(v)
    return f if math.isfinite(f) else None


def calibration_numbers(arrays: Any) -> dict[str, Any] | None:
    """ECE and MCE of the predictions in `arrays` (an `EvalArrays`); None for regression."""
    from raytrain.viz.evaluation import calibration_info

    task = arrays.task
    if task == "classification":
        probs = np.asarray(arrays.probs)
        conf, correct = probs.max(1), probs.argmax(1) == np.asarray(arrays.targets)
        what = "max-probability confidence vs accuracy"
    elif task == "anomaly":
        conf, correct = arrays.scores, arrays.targets
        what = "P(tampered) vs the tampered fraction"
    elif task == "edges":
        conf, correct = np.asarray(arrays.probs).ravel(), np.asarray(arrays.targets).ravel()
        what = "P(edge) per pixel vs the edge fraction"
    else:
        return None
    cal = calibration_info(conf, correct)
    return {"ece": _num(cal.ece), "mce": _num(cal.mce), "of": what, "rows": int(len(correct))}


def analysis_summary(
    log_csv: Path,
    arrays: Any = None,
    *,
    monitor: str,
    mode: str,
    patience: int | None = None,
) -> dict[str, Any]:
    """The numbers behind the convergence, overfitting and calibration plots."""
    from raytrain.viz.training import best_epoch, convergence_info, load_log, overfitting_info

    df = load_log(log_csv)
    out: dict[str, Any] = {"epochs": len(df), "monitor": monitor, "mode": mode}
    if len(df):
        try:
            best = best_epoch(df, monitor, mode)
        except ValueError:
            best = None
        out["best_epoch"] = best.epoch if best else None
        out["best_value"] = _num(best.value) if best else None
        conv = convergence_info(df)
        out["convergence"] = {
            "converged_epoch": conv.converged_epoch,
            "rate_per_epoch": _num(conv.rate),
            "final_val_loss": _num(conv.val_loss[-1]),
            "tolerance": conv.tol,
            "window": conv.window,
        }
        over = overfitting_info(
            df, patience, monitor=best.monitor if best else "val_loss", mode=mode
        )
        gap = over.gap
        at_best = None
        if best is not None:
            idx = np.flatnonzero(over.epochs == best.epoch)
            at_best = _num(gap[idx[0]]) if idx.size else None
        out["overfitting"] = {
            "gap_final": _num(gap[-1]),
            "gap_at_best": at_best,
            "gap_max": _num(np.nanmax(gap)) if np.isfinite(gap).any() else None,
            "onset_epoch": over.onset_epoch,
            "patience_epoch": over.patience_epoch,
            "gap_is": "val_loss - train_loss",
        }
    if arrays is not None:
        cal = calibration_numbers(arrays)
        if cal is not None:
            out["calibration"] = cal
    return out


def write_analysis_summary(
    run_dir: Path, arrays: Any = None, extra: dict[str, Any] | None = None, **kw: Any
) -> Path:
    """`analysis/summary.json` of the run in `run_dir` (its training_log.csv)."""
    summary = analysis_summary(Path(run_dir) / "training_log.csv", arrays, **kw)
    summary.update(extra or {})
    path = Path(run_dir) / "analysis" / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, default=str))
    return path
