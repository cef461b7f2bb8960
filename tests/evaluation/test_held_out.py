"""The test split scored in-process from a checkpoint folder; its metrics and the data's
fingerprint in the registry entry, its card and `registry show`; scheduler-stopped trials."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from unit_helpers import make_checkpoint

from raytrain.artifacts.registry import ModelRegistry
from raytrain.cli.app import main
from raytrain.config.schema import SampleDataSection
from raytrain.data.provenance import data_fingerprint, data_provenance
from raytrain.data.sample import ensure_sample_dataset
from raytrain.errors import RaytrainError
from raytrain.evaluation.held_out import score_test_split
from raytrain.evaluation.scoring import has_split, score_checkpoint
from raytrain.tune.results import _status


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    s = SampleDataSection(num_train=16, num_val=8, num_test=12, image_size=32, num_classes=3)
    return ensure_sample_dataset("classification", s, out=tmp_path_factory.mktemp("d") / "cls")


def test_a_checkpoint_folder_is_scored_on_the_test_split(data: Path, tmp_path: Path) -> None:
    _, folder = make_checkpoint(tmp_path / "ckpt", "cnn_classifier")
    m = score_checkpoint(folder, data, "test")
    assert m["num_examples"] == 12
    assert 0.0 <= m["accuracy"] <= 1.0 and m["loss"] > 0 and m["inference_time_ms"] > 0
    lines: list[str] = []
    test = score_test_split(folder, data, lines.append)
    assert test is not None and test["test_accuracy"] == pytest.approx(m["accuracy"])
    assert "test split (12 examples" in lines[0]
    with pytest.raises(RaytrainError, match="no 'holdout' split"):
        score_checkpoint(folder, data, "holdout")
    assert has_split(data, "test") and not has_split(data, "holdout")


def test_no_test_split_or_a_failure_leaves_the_run_standing(data: Path, tmp_path: Path) -> None:
    _, folder = make_checkpoint(tmp_path / "ckpt", "unet")  # an edge model on class data
    lines: list[str] = []
    assert score_test_split(folder, data, lines.append) is None
    assert "not scored" in lines[0] and "classification" in lines[0]


def test_registered_version_keeps_test_metrics_and_data_fingerprint(
    data: Path, tmp_path: Path
) -> None:
    _, folder = make_checkpoint(tmp_path / "ckpt", "cnn_classifier")
    test = score_test_split(folder, data, lambda s: None)
    reg = ModelRegistry(tmp_path / "models")
    entry = reg.register("cls", folder, onnx=False, extra_metrics=test, data=data_provenance(data))
    assert entry["metrics"]["test_accuracy"] == test["test_accuracy"]
    assert entry["metrics"]["val_loss"] == 0.25  # the checkpoint's own metrics stay
    fp = data_fingerprint(data)
    assert len(fp) == 64 and entry["data"]["fingerprint"] == fp
    assert entry["data"]["counts"] == {"train": 16, "val": 8, "test": 12}
    card = (reg.path_of(entry) / "card.md").read_text()
    assert "test_accuracy" in card and fp in card
    out = CliRunner().invoke(main, ["registry", "show", "cls", "--root", str(reg.root)])
    assert out.exit_code == 0, out.output
    assert f"data           {fp}" in out.output
    assert "test_accuracy" in out.output


def test_fingerprint_follows_the_bytes(data: Path, tmp_path: Path) -> None:
    s = SampleDataSection(num_train=16, num_val=8, num_test=12, image_size=32, num_classes=3)
    same = ensure_sample_dataset("classification", s, out=tmp_path / "again")
    other = ensure_sample_dataset(
        "classification", s.model_copy(update={"seed": 1}), out=tmp_path / "other"
    )
    assert data_fingerprint(same) == data_fingerprint(data) != data_fingerprint(other)


def test_trials_the_scheduler_stopped_are_not_ok() -> None:
    def r(metrics: dict | None, error: object = None) -> SimpleNamespace:
        return SimpleNamespace(metrics=metrics, error=error)

    assert _status(r({"epoch": 4, "finished": True})) == "OK"
    assert _status(r({"epoch": 2, "finished": False})) == "STOPPED"
    assert _status(r({"epoch": 2})) == "STOPPED"
    assert _status(r(None, error=RuntimeError("x"))) == "ERROR"
