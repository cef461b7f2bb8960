"""`raytrain train` for a tiny model of every task: the results layout, every plot a
valid image, TensorBoard events, and a wandb offline run holding the logged metrics."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib.image
import pytest

from raytrain.config import load_config_text
from raytrain.runtime.run import run_training
from raytrain.train.tracking import read_offline_history

pytestmark = pytest.mark.slow

COMMON = [
    "training_curves",
    "lr_schedule",
    "convergence_analysis",
    "overfitting_analysis",
    "network_architecture",
    "final_dashboard",
]
CLASSIFY = [
    "class_balance",
    "confusion_matrix",
    "roc_pr_curves",
    "classification_report",
    "per_class_analysis",
    "error_analysis",
]
CASES = {
    "edges": (
        "model: {architecture: unet, base_filters: 4, depth: 2}",
        "image_size: 32",
        ["edge_predictions", "edge_pr_thresholds"],
    ),
    "vit": (
        "model: {architecture: vit_edge, embed_dim: 16, num_layers: 1, num_heads: 2}",
        "image_size: 32",
        ["edge_predictions", "edge_pr_thresholds"],
    ),
    "regression": (
        "model: {architecture: coefficient_optimizer, hidden_dims: [16, 8]}",
        "image_size: 64",
        ["parity_plot", "residuals"],
    ),
    "anomaly": (
        "model: {architecture: anomaly_detector, hidden_dims: [32, 16]}",
        "num_coefficients: 8",
        [*CLASSIFY, "threshold_sweep"],
    ),
    "classification": (
        "model: {architecture: cnn_classifier, base_filters: 4, num_blocks: 2}",
        "image_size: 32",
        CLASSIFY,
    ),
}
ANALYSIS = ["weight_distributions", "training_dynamics", "summary_dashboard"]


def _assert_png(path: Path) -> None:
    assert path.exists(), f"missing {path.name}"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    h, w = matplotlib.image.imread(path).shape[:2]
    assert h > 100 and w > 100, (path.name, h, w)


@pytest.mark.parametrize("case", list(CASES))
def test_train_writes_results_layout_plots_and_tracking(
    case: str, ray_start_2_cpus: None, tmp_path: Path
) -> None:
    model, sample, plots = CASES[case]
    cfg = load_config_text(f"""
training: {{name: run_{case}, output_dir: {tmp_path}}}
dataset:
  batch_size: 8
  sample: {{num_train: 48, num_val: 24, num_test: 8, {sample}}}
{model}
training_params: {{num_epochs: 2}}
logging: {{use_wandb: true, wandb_mode: offline}}
""")
    result = run_training(cfg, run_dir=tmp_path / "run", echo=lambda s: None)
    run = result.run_dir
    for name in ("config.json", "training_log.csv", "best_model/model.pt", "final_model/meta.json"):
        assert (run / name).exists(), name
    _assert_tensorboard_scalars(run / "tensorboard_logs", epochs=2)
    for name in [*COMMON, *plots]:
        _assert_png(run / "visualizations" / f"{name}.png")
    for name in ANALYSIS:
        _assert_png(run / "analysis" / f"{name}.png")
    if case != "regression":
        _assert_png(run / "analysis" / "calibration_analysis.png")

    with open(run / "training_log.csv") as f:
        logged = list(csv.DictReader(f))
    (offline,) = run.glob("wandb/offline-run-*/run-*.wandb")
    history = [row for row in read_offline_history(offline) if "val_loss" in row]
    assert [row["epoch"] for row in history] == [1, 2]
    assert [row["val_loss"] for row in history] == pytest.approx(
        [float(r["val_loss"]) for r in logged]
    )


def test_test_split_plots_come_from_the_best_checkpoint(
    ray_start_2_cpus: None, tmp_path: Path
) -> None:
    """The best epoch is the first (monitor: epoch, min) of two; validation has 16 rows, test
    24: test_visualizations/ holds epoch 1's predictions on the 24 test rows, and the run's
    visualizations/ still show the last epoch's validation pass."""
    cfg = load_config_text(f"""
training: {{name: held_out, output_dir: {tmp_path}}}
dataset: {{batch_size: 8, sample: {{num_train: 48, num_val: 16, num_test: 24, image_size: 32}}}}
model: {{architecture: cnn_classifier, base_filters: 4, num_blocks: 2}}
training_params:
  {{num_epochs: 2, monitor_metric: epoch, monitor_mode: min, early_stopping_patience: null}}
logging: {{analysis: false}}
""")
    lines: list[str] = []
    result = run_training(cfg, run_dir=tmp_path / "run", echo=lines.append)
    run = result.run_dir
    assert json.loads((run / "best_model" / "meta.json").read_text())["epoch"] == 1
    assert json.loads((run / "final_model" / "meta.json").read_text())["epoch"] == 2
    held_out = run / "test_visualizations"
    source = json.loads((held_out / "source.json").read_text())
    assert source["split"] == "test" and source["checkpoint_epoch"] == 1
    assert source["checkpoint"] == str(run / "best_model")
    assert source["num_examples"] == source["rows_plotted"] == 24
    assert result.test_metrics is not None and result.test_metrics["test_num_examples"] == 24
    counts = source["class_counts"]
    assert list(counts) == ["train", "test"] and sum(counts["train"]) == 48
    assert sum(counts["test"]) == 24
    for name in CLASSIFY:
        _assert_png(held_out / f"{name}.png")
        _assert_png(run / "visualizations" / f"{name}.png")  # validation, last epoch: as before
    _assert_png(held_out / "calibration_analysis.png")
    assert f"test-split plots (best checkpoint): {held_out}" in lines


def test_no_visualization_switch_writes_no_plots(ray_start_2_cpus: None, tmp_path: Path) -> None:
    cfg = load_config_text(f"""
training: {{name: quiet, output_dir: {tmp_path}}}
dataset: {{batch_size: 8, sample: {{num_train: 32, num_val: 16, num_test: 8, image_size: 32}}}}
model: {{architecture: unet, base_filters: 4, depth: 2}}
training_params: {{num_epochs: 1}}
logging: {{visualizations: false}}
""")
    run = run_training(cfg, run_dir=tmp_path / "run", echo=lambda s: None).run_dir
    assert (run / "training_log.csv").exists()
    assert not list(run.rglob("*.png"))


def _assert_tensorboard_scalars(log_dir: Path, epochs: int) -> None:
    """TensorBoard itself reads every epoch's metrics and the per-step LR back."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert list(log_dir.glob("events.out.tfevents.*")), log_dir
    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"train_loss", "val_loss", "step/lr", "step/loss"} <= set(tags), tags
    assert [e.step for e in acc.Scalars("val_loss")] == list(range(1, epochs + 1))
    assert all(e.value > 0 for e in acc.Scalars("step/lr"))
