"""`raytrain train` as a user of the training framework runs it: the test split scored and
registered with the data's fingerprint, the analysis numbers saved, gradient tracking, plot
switches, and progress lines (no terminal here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raytrain.artifacts.registry import ModelRegistry
from raytrain.config import load_config_text
from raytrain.data.provenance import data_fingerprint
from raytrain.runtime.run import run_training

pytestmark = pytest.mark.slow


def test_train_scores_test_split_registers_and_saves_analysis(
    ray_start_2_cpus: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = load_config_text(f"""
training: {{name: wf, output_dir: {tmp_path}}}
dataset:
  batch_size: 8
  sample: {{num_train: 48, num_val: 16, num_test: 16, image_size: 32, num_classes: 3}}
model: {{architecture: cnn_classifier, base_filters: 4, num_blocks: 2}}
optimizer: {{optimizer_type: adam, beta_1: 0.85}}
training_params: {{num_epochs: 2, loss: cross_entropy, label_smoothing: 0.1}}
logging:
  tensorboard: false
  gradient_tracking: true
  final_dashboard: false
  convergence_analysis: false
export: {{registry_dir: {tmp_path / "models"}, onnx: false}}
""")
    lines: list[str] = []
    result = run_training(cfg, run_dir=tmp_path / "run", register=True, echo=lines.append)
    run = result.run_dir
    test = result.test_metrics
    assert test is not None and test["test_num_examples"] == 16
    assert any(line.startswith("test split (16 examples") for line in lines), lines
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_metrics"]["test_accuracy"] == test["test_accuracy"]
    entry = ModelRegistry(tmp_path / "models").get("wf")
    assert entry["metrics"]["test_accuracy"] == test["test_accuracy"]
    data_dir = Path(entry["data"]["path"])
    assert entry["data"]["fingerprint"] == data_fingerprint(data_dir)
    assert summary["data"]["fingerprint"] == entry["data"]["fingerprint"]

    analysis = json.loads((run / "analysis" / "summary.json").read_text())
    assert analysis["epochs"] == 2 and analysis["best_epoch"] in (1, 2)
    assert 0 <= analysis["calibration"]["ece"] <= 1
    assert "gap_final" in analysis["overfitting"] and "converged_epoch" in analysis["convergence"]
    assert analysis["gradients"]["parameters"] > 2
    assert (run / "analysis" / "gradient_flow.csv").exists()
    assert (run / "analysis" / "activation_stats.csv").exists()
    vis = run / "visualizations"
    assert (vis / "confusion_matrix.png").exists() and (vis / "overfitting_analysis.png").exists()
    assert not (vis / "final_dashboard.png").exists()
    assert not (vis / "convergence_analysis.png").exists()
    err = capsys.readouterr().err
    assert "epoch 2/2 batch 6/6" in err  # 48 rows / batch 8, plain lines without a terminal
