"""The vision framework's switches and spellings: CLI flags to config keys, `optimizer_type` /
`beta_1` / `enable_visualization`, gradient tracking, the saved analysis numbers, progress."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from unit_helpers import tiny_model

from raytrain.cli.app import main
from raytrain.cli.options import framework_overrides
from raytrain.config import load_config_text
from raytrain.errors import RaytrainError
from raytrain.train.grad_stats import GradientTracker
from raytrain.train.progress import progress
from raytrain.viz.analysis_numbers import analysis_summary, drop_switched_off


def test_framework_flags_are_config_keys(tmp_path: Path) -> None:
    (tmp_path / "raw" / "train").mkdir(parents=True)
    (tmp_path / "raw" / "val").mkdir()
    out = framework_overrides(
        tmp_path / "raw",
        no_convergence_analysis=True,
        no_overfitting_analysis=False,
        no_classification_viz=True,
        no_final_dashboard=True,
        enable_gradient_tracking=True,
    )
    assert out == {
        "logging.convergence_analysis": False,
        "logging.classification_viz": False,
        "logging.final_dashboard": False,
        "logging.gradient_tracking": True,
        "dataset.train_path": str(tmp_path / "raw" / "train"),
        "dataset.val_path": str(tmp_path / "raw" / "val"),
    }
    (tmp_path / "prep").mkdir()
    (tmp_path / "prep" / "manifest.json").write_text("{}")
    assert framework_overrides(tmp_path / "prep") == {"dataset.path": str(tmp_path / "prep")}
    with pytest.raises(RaytrainError, match="--dataset"):
        framework_overrides(tmp_path)


def test_other_spellings_load_as_raytrains_keys(tmp_path: Path) -> None:
    text = (
        "model: {architecture: cnn_classifier}\n"
        "optimizer: {optimizer_type: adamw, beta_1: 0.8, beta_2: 0.99}\n"
        "logging: {enable_visualization: false, enable_gradient_tracking: true}\n"
    )
    cfg = load_config_text(text)
    assert cfg.optimizer.type == "AdamW" and cfg.optimizer.betas == (0.8, 0.99)
    assert cfg.logging.visualizations is False and cfg.logging.gradient_tracking is True
    (tmp_path / "c.yaml").write_text(text)
    out = CliRunner().invoke(main, ["validate", str(tmp_path / "c.yaml")])
    assert out.exit_code == 0, out.output
    assert "optimizer.optimizer_type: read as optimizer.type" in out.output
    assert "read as optimizer.betas [0.8, 0.99]" in out.output
    assert "logging.enable_visualization: read as logging.visualizations" in out.output
    with pytest.raises(RaytrainError, match="same setting"):
        load_config_text(
            "model: {architecture: unet}\noptimizer: {type: Adam, optimizer_type: SGD}"
        )
    with pytest.raises(RaytrainError, match="give one of them"):
        load_config_text("model: {architecture: unet}\noptimizer: {betas: [0.9, 0.9], beta_1: 0.5}")
    one = load_config_text("model: {architecture: unet}\noptimizer: {beta_2: 0.95}")
    assert one.optimizer.betas == (0.9, 0.95)


def test_gradient_tracker_records_every_layer(tmp_path: Path) -> None:
    model, data = tiny_model("cnn_classifier")
    tracker = GradientTracker(model, tmp_path)
    for epoch in (1, 2):
        tracker.start_epoch(epoch)
        model.train()
        for _ in range(3):
            x = torch.rand(4, 1, data.image_size, data.image_size)
            loss = model(x).logsumexp(1).mean()
            model.zero_grad()
            loss.backward()
        summary = tracker.end_epoch()
    tracker.close()
    assert summary["parameters"] > 2 and summary["largest_mean_grad_norm"] > 0
    with open(tmp_path / "gradient_flow.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["epoch"] for r in rows} == {"1", "2"}
    assert all(r["steps"] == "3" for r in rows)
    with open(tmp_path / "activation_stats.csv") as f:
        acts = list(csv.DictReader(f))
    assert acts and {"mean", "std", "zero_fraction"} <= set(acts[0])
    assert len(acts) == 2 * len({a["module"] for a in acts})  # one sample per module and epoch


def test_analysis_numbers_are_saved(tmp_path: Path) -> None:
    log = tmp_path / "training_log.csv"
    rows = ["epoch,train_loss,val_loss,val_accuracy"]
    for e, (tl, vl, acc) in enumerate(
        [(1.0, 1.0, 0.5), (0.6, 0.7, 0.7), (0.4, 0.65, 0.75), (0.2, 0.7, 0.74), (0.1, 0.8, 0.73)],
        1,
    ):
        rows.append(f"{e},{tl},{vl},{acc}")
    log.write_text("\n".join(rows) + "\n")
    s = analysis_summary(log, monitor="val_accuracy", mode="max", patience=2)
    assert s["best_epoch"] == 3 and s["best_value"] == 0.75
    assert s["overfitting"]["gap_final"] == pytest.approx(0.7)
    assert s["overfitting"]["gap_at_best"] == pytest.approx(0.25)
    assert s["overfitting"]["patience_epoch"] == 5
    assert "converged_epoch" in s["convergence"]


def test_switched_off_families_are_not_kept(tmp_path: Path) -> None:
    vis = tmp_path / "visualizations"
    vis.mkdir()
    for n in ("final_dashboard", "confusion_matrix", "training_curves"):
        (vis / f"{n}.png").write_bytes(b"png")
    gone = drop_switched_off(tmp_path, {"final_dashboard": False, "classification_viz": True})
    assert gone == ["visualizations/final_dashboard.png"]
    assert (vis / "confusion_matrix.png").exists() and (vis / "training_curves.png").exists()


def test_progress_plain_lines_without_a_terminal_and_a_bar_in_one() -> None:
    plain = io.StringIO()
    assert list(progress(range(8), total=8, epoch=0, num_epochs=3, stream=plain)) == list(range(8))
    lines = plain.getvalue().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("epoch 1/3 batch 8/8")
    bar = io.StringIO()
    out = list(progress(range(5), total=5, epoch=1, num_epochs=3, stream=bar, terminal=True))
    assert out == list(range(5)) and "epoch 2/3" in bar.getvalue() and "\r" in bar.getvalue()


@pytest.mark.slow  # matplotlib: every classification plot, ~10 s on a quiet machine
def test_visualization_frequency_redraws_the_evaluation_plots_too(tmp_path: Path) -> None:
    from raytrain.viz.epoch_plots import write_epoch_plots
    from raytrain.viz.run import PredictionBuffer

    (tmp_path / "training_log.csv").write_text(
        "epoch,train_loss,val_loss,val_accuracy,lr\n1,1.0,1.1,0.4,0.001\n2,0.8,0.9,0.6,0.001\n"
    )
    buffer = PredictionBuffer("classification")
    g = torch.Generator().manual_seed(0)
    buffer.add(
        torch.rand(12, 1, 16, 16, generator=g),
        torch.softmax(torch.randn(12, 3, generator=g), 1),
        torch.arange(12) % 3,
    )
    write_epoch_plots(
        tmp_path,
        buffer,
        class_names=None,
        threshold=0.5,
        switches={"final_dashboard": False},
        monitor="val_accuracy",
        mode="max",
        patience=None,
        schedule="constant",
        warmup_epochs=0,
    )
    vis = tmp_path / "visualizations"
    assert (vis / "training_curves.png").exists() and (vis / "confusion_matrix.png").exists()
    assert not (vis / "final_dashboard.png").exists()


def test_class_balance_gets_the_training_split_from_its_counts() -> None:
    import numpy as np

    from raytrain.viz.evaluation import class_balance_info
    from raytrain.viz.run import train_targets_of

    train = train_targets_of([5, 0, 3])
    info = class_balance_info(["a", "b", "c"], np.array([0, 1, 2, 2]), train)
    assert info.counts["train"].tolist() == [5, 0, 3]
    assert info.counts["eval"].tolist() == [1, 1, 2]
    assert train_targets_of(None) is None
