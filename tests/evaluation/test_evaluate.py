"""`raytrain evaluate` and the classical baselines, without Ray.

One tiny U-Net is trained in-process with plain torch on tiny sample edge data (a few dozen
steps), registered, and evaluated once per backend by a module fixture; the tests then check the
report's shape and consistency, never who wins (that depends on a few seconds of training).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from unit_helpers import make_checkpoint

from raytrain.artifacts.checkpoint import save_checkpoint
from raytrain.artifacts.registry import ModelRegistry
from raytrain.cli.app import _Group
from raytrain.cli.evaluate import evaluate_command
from raytrain.config import load_config_text
from raytrain.config.schema import SampleDataSection
from raytrain.data.local import iter_split, preprocess_for, read_split
from raytrain.data.resolve import data_info_for, resolve_dataset
from raytrain.data.sample import ensure_sample_dataset
from raytrain.errors import RaytrainError
from raytrain.evaluation.baselines import (
    LinearFit,
    MeanPredictor,
    baselines_for,
    best_f1_threshold,
    score_baseline,
)
from raytrain.evaluation.evaluate import EvalReport, compare, evaluate, higher_is_better
from raytrain.tasks import create_task
from raytrain.tasks.resolve import task_for

EDGE_YAML = """
training:
  name: tiny_edges
  seed: 0
model:
  architecture: unet
  base_filters: 4
  depth: 2
dataset:
  batch_size: 8
  sample:
    num_train: 32
    num_val: 8
    num_test: 12
    image_size: 32
"""
STEPS = 40
TEST_ROWS = 12
BATCH = 5  # 12 rows -> batches of 5, 5, 2: exercises a partial batch


@dataclass
class Trained:
    root: Path  # registry
    data_env: Path  # RAYTRAIN_DATA_DIR the model's sample data lives under
    data_dir: Path  # the prepared dataset itself
    report: EvalReport
    out: Path


def train_tiny_unet(data_env: Path, ckpt: Path) -> Path:
    """A few dozen Adam steps of a tiny U-Net, saved as the training loop saves checkpoints."""
    cfg = load_config_text(EDGE_YAML)
    data_dir = resolve_dataset(cfg, "edges")  # sample data under RAYTRAIN_DATA_DIR
    assert data_dir.parent == data_env
    info = data_info_for(cfg, data_dir)
    task = task_for(cfg, info)
    torch.manual_seed(0)
    from raytrain.models import create_model

    model = create_model("unet", cfg.model.params(), info)
    task.prepare_model(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    batches = list(iter_split(data_dir, "train", preprocess_for(task, info), batch_size=8))
    for step in range(STEPS):
        b = batches[step % len(batches)]
        x = torch.from_numpy(b["x"]).float() / 255
        y = torch.from_numpy(b["y"]).float() / 255
        loss = task.loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    meta = {
        "architecture": "unet",
        "model_params": cfg.model.params(),
        "task": "edges",
        "data_info": info.__dict__,
        "epoch": 1,
        "metrics": {"val_loss": loss.item()},
        "monitor": "val_f1_score",
        "mode": "max",
        "config": cfg.model_dump(mode="json"),
    }
    save_checkpoint(ckpt, model, meta)
    return data_dir


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    tmp = tmp_path_factory.mktemp("evaluate")
    data_env = tmp / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAYTRAIN_DATA_DIR", str(data_env))
        data_dir = train_tiny_unet(data_env, tmp / "ckpt")
        ModelRegistry(tmp / "models").register("edge", tmp / "ckpt")
        out = tmp / "out"
        report = evaluate("edge", root=tmp / "models", batch_size=BATCH, out=out)
    return Trained(tmp / "models", data_env, data_dir, report, out)


# -- the report ----------------------------------------------------------------------------------


def test_model_and_baseline_metrics_on_the_same_split(trained: Trained) -> None:
    r = trained.report
    assert (r.name, r.version, r.task, r.split) == ("edge", "1.0.0", "edges", "test")
    assert r.num_examples == TEST_ROWS
    assert r.data_dir == str(trained.data_dir)
    assert [b.name for b in r.baselines] == ["canny_sobel"]
    base = r.reference
    keys = {"f1_score", "precision", "recall", "iou", "accuracy"}
    assert keys <= set(r.metrics) and set(base.metrics) == keys
    for m in (r.metrics, base.metrics):
        assert all(0.0 <= m[k] <= 1.0 for k in keys)
    # Both confusion matrices count every pixel of the same split.
    pixels = TEST_ROWS * 32 * 32
    assert sum(map(sum, r.confusion)) == pixels
    assert sum(map(sum, base.confusion)) == pixels
    assert [row[0] + row[1] for row in r.confusion] == [row[0] + row[1] for row in base.confusion]
    assert r.headline == "f1_score"


def test_margin_is_model_minus_baseline_with_direction(trained: Trained) -> None:
    comparison = trained.report.reference.comparison
    assert {c.metric for c in comparison} == {"f1_score", "precision", "recall", "iou", "accuracy"}
    for c in comparison:
        assert c.model == trained.report.metrics[c.metric]
        assert c.baseline == trained.report.reference.metrics[c.metric]
        assert math.isclose(c.margin, c.model - c.baseline, abs_tol=1e-15)
        assert c.higher_is_better
        expected = "tie" if c.margin == 0 else ("model" if c.margin > 0 else "baseline")
        assert c.better == expected
    verdict = trained.report.verdict()
    if trained.report.winners():
        assert "THE BASELINE WINS" in verdict
    else:
        assert "THE BASELINE WINS" not in verdict and "canny_sobel" in verdict


def test_timing_is_positive(trained: Trained) -> None:
    t = trained.report.timing
    assert t["batched"].n == 3  # 5 + 5 + 2 rows
    assert t["batched"].mean_ms > 0
    assert t["batch1"].n == TEST_ROWS
    assert t["batch1"].mean_ms > 0 and t["batch1"].std_ms > 0
    assert 0 < t["batch1"].p50_ms <= t["batch1"].p99_ms


def test_files_written(trained: Trained) -> None:
    data = json.loads((trained.out / "evaluation.json").read_text())
    assert data["metrics"] == pytest.approx(trained.report.metrics)
    assert data["baselines"][0]["name"] == "canny_sobel"
    assert data["timing"]["batch1"]["mean_ms"] > 0
    assert isinstance(data["baseline_wins"], list) and data["verdict"]
    md = (trained.out / "evaluation.md").read_text()
    assert "| metric | model | baseline | margin | better? |" in md
    assert "| f1_score ↑ |" in md and "Verdict" in md
    png = (trained.out / "confusion_matrix.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_onnx_backend_and_data_override_agree(trained: Trained, tmp_path: Path) -> None:
    """The ONNX export scores like the eager model; --data on the same folder changes nothing."""
    r = evaluate(
        "edge", "1.0.0", root=trained.root, batch_size=BATCH, backend="onnx", data=trained.data_dir
    )
    assert r.backend == "onnx" and r.num_examples == TEST_ROWS
    for k in ("f1_score", "precision", "recall", "iou"):
        assert r.metrics[k] == pytest.approx(trained.report.metrics[k], abs=2e-3)
    assert r.metrics["loss"] == pytest.approx(trained.report.metrics["loss"], rel=1e-3)
    assert r.reference.metrics == trained.report.reference.metrics


def test_bad_input_is_a_raytrain_error(trained: Trained, tmp_path: Path) -> None:
    with pytest.raises(RaytrainError, match="no 'nope' split"):
        evaluate("edge", root=trained.root, split="nope", data=trained.data_dir)
    with pytest.raises(RaytrainError, match="not a prepared dataset"):
        evaluate("edge", root=trained.root, data=tmp_path)
    with pytest.raises(RaytrainError, match="backend"):
        evaluate("edge", root=trained.root, backend="tensorrt")


def test_vector_model_against_two_baselines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A (random-weight) coefficient optimizer on its default sample data: the vector path,
    two baselines, lower-is-better metrics, and no confusion matrix for a regression."""
    monkeypatch.setenv("RAYTRAIN_DATA_DIR", str(tmp_path / "data"))
    make_checkpoint(tmp_path / "ckpt", "coefficient_optimizer")
    ModelRegistry(tmp_path / "models").register("coef", tmp_path / "ckpt", onnx=False)
    r = evaluate("coef", root=tmp_path / "models", out=tmp_path / "out")
    assert r.task == "regression" and r.headline == "rmse" and r.num_examples == 128
    assert [b.name for b in r.baselines] == ["linear", "mean"]
    for b in r.baselines:
        by = {c.metric: c for c in b.comparison}
        assert set(by) == {"rmse", "mae", "r2"}
        assert not by["rmse"].higher_is_better and by["r2"].higher_is_better
        for c in by.values():
            assert c.better == (
                "tie"
                if c.margin == 0
                else "model"
                if (c.margin > 0) == c.higher_is_better
                else "baseline"
            )
    assert r.confusion is None
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "evaluation.json",
        "evaluation.md",
    ]
    with pytest.raises(RaytrainError, match="registered without ONNX"):
        evaluate("coef", root=tmp_path / "models", backend="onnx")


def test_feature_count_mismatch_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiny anomaly model takes 8 features; the default sample data has 64."""
    monkeypatch.setenv("RAYTRAIN_DATA_DIR", str(tmp_path / "data"))
    make_checkpoint(tmp_path / "ckpt", "anomaly_detector")
    ModelRegistry(tmp_path / "models").register("anom", tmp_path / "ckpt", onnx=False)
    with pytest.raises(RaytrainError, match="has 64 features per row, the model takes 8"):
        evaluate("anom", root=tmp_path / "models")


# -- the command ---------------------------------------------------------------------------------


def _cli() -> click.Group:
    group = _Group("raytrain")
    group.add_command(evaluate_command)
    return group


def test_cli_prints_the_table(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAYTRAIN_DATA_DIR", str(trained.data_env))
    out = tmp_path / "res"
    result = CliRunner().invoke(
        _cli(),
        [
            "evaluate",
            "edge:1.0.0",
            "--root",
            str(trained.root),
            "--out",
            str(out),
            "--batch-size",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "| f1_score ↑ |" in result.output and "Verdict" in result.output
    assert (out / "evaluation.json").exists() and (out / "evaluation.md").exists()


def test_cli_unknown_model_exits_2_and_lists_registered(trained: Trained) -> None:
    result = CliRunner().invoke(_cli(), ["evaluate", "edg", "--root", str(trained.root)])
    assert result.exit_code == 2
    assert "no registered model 'edg'" in result.output
    assert "registered: edge" in result.output and "Traceback" not in result.output


# -- comparing -----------------------------------------------------------------------------------


def test_compare_knows_which_way_is_better() -> None:
    assert not higher_is_better("rmse") and not higher_is_better("false_positive_rate")
    assert not higher_is_better("loss") and higher_is_better("r2")
    cmp = {
        c.metric: c
        for c in compare({"rmse": 1.0, "r2": 0.5, "loss": 3.0}, {"rmse": 2.0, "r2": 0.7})
    }
    assert set(cmp) == {"rmse", "r2"}  # only metrics both report
    assert cmp["rmse"].margin == -1.0 and cmp["rmse"].better == "model"
    assert cmp["r2"].margin == pytest.approx(-0.2) and cmp["r2"].better == "baseline"


# -- baselines on the other tasks' sample data -----------------------------------------------------


def _task_and_splits(
    task_name: str, root: Path, **sizes: int
) -> tuple[object, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, ...]]:
    s = SampleDataSection(**sizes)
    data_dir = ensure_sample_dataset(task_name, s, root)
    from raytrain.data.manifest import read_manifest

    info = read_manifest(data_dir).data_info()
    task = create_task(task_name, info)
    p = preprocess_for(task, info)
    return task, read_split(data_dir, "train", p), read_split(data_dir, "test", p)


def test_regression_baselines(tmp_path: Path) -> None:
    task, train, test = _task_and_splits(
        "regression", tmp_path, num_train=128, num_val=4, num_test=64
    )
    mean = MeanPredictor().fit(*train)
    assert score_baseline(task, mean, [train])["r2"] == pytest.approx(0.0, abs=1e-9)
    linear = LinearFit().fit(*train)
    on_test = {b.name: score_baseline(task, b, [test]) for b in (mean, linear)}
    assert on_test["linear"]["rmse"] < on_test["mean"]["rmse"]
    assert on_test["linear"]["r2"] > on_test["mean"]["r2"]
    assert [b.name for b in baselines_for("regression")] == ["linear", "mean"]


@pytest.mark.parametrize(
    ("task_name", "sizes"),
    [
        ("anomaly", {"num_train": 200, "num_val": 4, "num_test": 100}),
        ("classification", {"num_train": 64, "num_val": 4, "num_test": 32, "image_size": 32}),
    ],
)
def test_anomaly_and_classification_baselines(
    task_name: str, sizes: dict[str, int], tmp_path: Path
) -> None:
    task, train, test = _task_and_splits(task_name, tmp_path, **sizes)
    (baseline,) = baselines_for(task_name)
    metrics = score_baseline(task, baseline.fit(*train), [test])
    assert metrics and all(0.0 <= v <= 1.0 for v in metrics.values()), metrics


def test_best_f1_threshold() -> None:
    scores = np.array([0.1, 0.2, 0.9, 0.8, 0.3])
    labels = np.array([0, 0, 1, 1, 0])
    t = best_f1_threshold(scores, labels)
    assert 0.3 < t < 0.8
    assert best_f1_threshold(np.array([1.0, 2.0]), np.array([1, 1])) < 1.0  # flag all
