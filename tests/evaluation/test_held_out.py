"""The test split scored in-process from a checkpoint folder, and the evaluation plots drawn
from that same pass; its metrics and the data's fingerprint in the registry entry, its card and
`registry show`; scheduler-stopped trials."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from unit_helpers import TINY_PARAMS, checkpoint_meta, make_checkpoint

from raytrain.artifacts.checkpoint import save_checkpoint
from raytrain.artifacts.registry import ModelRegistry
from raytrain.cli.app import main
from raytrain.config.schema import SampleDataSection
from raytrain.data.local import preprocess_for, read_split
from raytrain.data.manifest import read_manifest
from raytrain.data.provenance import data_fingerprint, data_provenance
from raytrain.data.sample import ensure_sample_dataset
from raytrain.errors import RaytrainError
from raytrain.evaluation.held_out import score_test_split
from raytrain.evaluation.scoring import has_split, score_checkpoint, score_split
from raytrain.models import create_model
from raytrain.tasks import create_task
from raytrain.tune.results import _status
from raytrain.viz.evaluation import expected_plot_files
from raytrain.viz.held_out import SOURCE_FILE


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


def _dataset_checkpoint(data: Path, folder: Path, epoch: int) -> torch.nn.Module:
    """A tiny classifier built for `data` (its manifest's class names and training counts in
    the checkpoint, as training records them), saved as if from `epoch`."""
    info = read_manifest(data).data_info()
    torch.manual_seed(epoch)
    model = create_model("cnn_classifier", TINY_PARAMS["cnn_classifier"], info).eval()
    save_checkpoint(folder, model, {**checkpoint_meta("cnn_classifier", info), "epoch": epoch})
    return model


def test_test_split_plots_are_the_checkpoints_predictions_on_the_test_split(
    data: Path, tmp_path: Path
) -> None:
    """12 test rows, 8 validation rows: the plots record 12 rows, the test split's labels and
    this checkpoint's epoch; the predictions kept are this model's on the test images."""
    model = _dataset_checkpoint(data, tmp_path / "best", epoch=5)
    out = tmp_path / "test_visualizations"
    lines: list[str] = []
    test = score_test_split(tmp_path / "best", data, lines.append, out)
    assert test is not None and test["test_num_examples"] == 12
    assert lines[-1] == f"test-split plots (best checkpoint): {out}"
    for path in expected_plot_files("classification", out, out):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    source = json.loads((out / SOURCE_FILE).read_text())
    assert source["split"] == "test" and source["label"] == "test split, best checkpoint"
    assert source["num_examples"] == source["rows_plotted"] == 12
    assert source["checkpoint"] == str(tmp_path / "best") and source["checkpoint_epoch"] == 5
    manifest = read_manifest(data)
    info = manifest.data_info()
    x_test, y_test = read_split(
        data, "test", preprocess_for(create_task("classification", info), info)
    )
    assert source["class_counts"] == {
        "train": manifest.info["class_counts"],  # the training split beside the evaluated one
        "test": np.bincount(y_test.astype(int), minlength=3).tolist(),
    }
    assert sum(source["class_counts"]["train"]) == 16

    kept = score_split(tmp_path / "best", data, "test", keep_predictions=True)
    arrays = kept.predictions.arrays(manifest.info["class_names"], kept.threshold)
    with torch.no_grad():
        probs = torch.softmax(model(torch.from_numpy(x_test).float() / 255.0), 1).numpy()
    np.testing.assert_allclose(arrays.probs, probs, atol=1e-5)
    np.testing.assert_array_equal(arrays.targets, y_test.astype(int))
    acc = float((arrays.probs.argmax(1) == arrays.targets).mean())
    assert test["test_accuracy"] == pytest.approx(acc)  # metrics and plots: one pass


def test_a_failing_plot_is_one_warning_line_and_no_test_split_draws_nothing(
    data: Path, tmp_path: Path
) -> None:
    _dataset_checkpoint(data, tmp_path / "best", epoch=2)
    blocked = tmp_path / "a_file"
    blocked.write_text("not a folder")
    lines: list[str] = []
    test = score_test_split(tmp_path / "best", data, lines.append, blocked / "plots")
    assert test is not None and test["test_num_examples"] == 12  # the metrics stand
    assert len(lines) == 2 and lines[1].startswith("warning: the test-split plots were not drawn")

    no_test = tmp_path / "no_test"  # the same data with its test split taken out
    shutil.copytree(data, no_test)
    manifest = json.loads((no_test / "manifest.json").read_text())
    del manifest["splits"]["test"]
    (no_test / "manifest.json").write_text(json.dumps(manifest))
    lines.clear()
    assert score_test_split(tmp_path / "best", no_test, lines.append, tmp_path / "tv") is None
    assert "none in the dataset" in lines[0] and not (tmp_path / "tv").exists()


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
