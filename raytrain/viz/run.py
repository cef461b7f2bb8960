"""Plots for one training run (one trial), drawn by rank 0 outside the step loop.

During validation the loop hands model outputs to a `PredictionBuffer` (a bounded sample: a few
edge maps, a few thousand rows), so the evaluation plots need no second pass over the data.
At the end of the run `write_run_plots` draws the run's `visualizations/` and `analysis/` plots into
the run folder. A plotting error is reported and never fails the training run.
"""

from __future__ import annotations

import copy
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

MAX_IMAGES = 16
MAX_ROWS = 5000


class PredictionBuffer:
    """A bounded sample of (inputs, probabilities, targets) from one validation pass."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.parts: dict[str, list[np.ndarray]] = {"x": [], "p": [], "y": []}
        self.rows = 0

    def reset(self) -> None:
        self.__init__(self.task)  # type: ignore[misc]

    def add(self, x: torch.Tensor, probs: torch.Tensor, y: torch.Tensor) -> None:
        cap = MAX_IMAGES if self.task == "edges" else MAX_ROWS
        take = min(len(x), cap - self.rows)
        if take <= 0:
            return
        keep_x = self.task in ("edges", "classification") and self.rows < MAX_IMAGES
        if keep_x:
            self.parts["x"].append(x[: min(take, MAX_IMAGES - self.rows)].float().cpu().numpy())
        self.parts["p"].append(probs[:take].float().cpu().numpy())
        self.parts["y"].append(y[:take].float().cpu().numpy())
        self.rows += take

    def arrays(self, class_names: list[str] | None, threshold: float) -> Any:
        from raytrain.viz.evaluation import EvalArrays

        def cat(key: str) -> np.ndarray | None:
            return np.concatenate(self.parts[key]) if self.parts[key] else None

        x, p, y = cat("x"), cat("p"), cat("y")
        if self.task == "edges":
            return EvalArrays(
                task="edges",
                probs=p[:, 0],
                targets=(y[:, 0] > 0.5).astype(int),
                images=x[:, 0],
                threshold=threshold,
            )
        if self.task == "regression":
            return EvalArrays(task="regression", preds=p.reshape(-1), targets=y.reshape(-1))
        if self.task == "anomaly":
            return EvalArrays(
                task="anomaly",
                scores=p.reshape(-1),
                targets=y.reshape(-1).astype(int),
                class_names=class_names,
                threshold=threshold,
            )
        images = x[:, 0] if x is not None else None
        return EvalArrays(
            task="classification",
            probs=p,
            targets=y.reshape(-1).astype(int),
            images=images,
            class_names=class_names,
        )


def write_curves(
    run_dir: Path,
    *,
    monitor: str,
    mode: str,
    patience: int | None,
    schedule: str,
    warmup_epochs: int,
) -> None:
    """Training curves, LR schedule, convergence and overfitting plots from training_log.csv."""
    from raytrain.viz.training import write_training_plots

    log = run_dir / "training_log.csv"
    if log.exists():
        run_safely(
            write_training_plots,
            log,
            run_dir / "visualizations",
            monitor=monitor,
            mode=mode,
            patience=patience,
            schedule=schedule,
            warmup_epochs=warmup_epochs,
        )


def write_run_plots(
    run_dir: Path,
    model: torch.nn.Module,
    input_shape: tuple[int, ...],
    buffer: PredictionBuffer | None,
    *,
    monitor: str,
    mode: str,
    patience: int | None,
    schedule: str,
    warmup_epochs: int,
    class_names: list[str] | None,
    threshold: float,
    analysis: bool,
    train_class_counts: list[int] | None = None,
) -> None:
    """Everything for the end of a run; each plot family fails alone, with a warning.
    `train_class_counts` (the training split's, from its manifest) puts the training split's
    class balance beside the evaluated one's."""
    from raytrain.viz import model as model_viz
    from raytrain.viz.evaluation import write_evaluation_plots

    vis, ana = run_dir / "visualizations", run_dir / "analysis"
    log = run_dir / "training_log.csv"
    write_curves(
        run_dir,
        monitor=monitor,
        mode=mode,
        patience=patience,
        schedule=schedule,
        warmup_epochs=warmup_epochs,
    )
    model = copy.deepcopy(model).cpu().eval()  # the caller's model stays where it is
    run_safely(
        model_viz.write_network_architecture, model, input_shape, vis / "network_architecture.png"
    )
    if buffer is not None and buffer.rows:
        train = train_targets_of(train_class_counts)
        run_safely(
            lambda: write_evaluation_plots(
                buffer.arrays(class_names, threshold), vis, ana, train_targets=train
            )
        )
    if analysis and log.exists():
        run_safely(model_viz.write_weight_distributions, model, ana / "weight_distributions.png")
        run_safely(model_viz.write_training_dynamics, log, ana / "training_dynamics.png")
        run_safely(
            model_viz.write_summary_dashboard,
            log,
            model,
            ana / "summary_dashboard.png",
            monitor,
            mode,
            None,
        )


def train_targets_of(counts: list[int] | None) -> np.ndarray | None:
    """Labels with the training split's class counts (what `class_balance_info` bins)."""
    if not counts:
        return None
    return np.repeat(np.arange(len(counts)), np.asarray(counts, np.int64))


def run_safely(fn: Any, *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:  # a plot must never cost a trained model
        name = getattr(fn, "__name__", "plot")
        warnings.warn(f"raytrain: {name} failed:\n{traceback.format_exc()}", stacklevel=2)
