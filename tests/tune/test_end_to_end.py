"""End to end on a real local Ray: a Tune search whose trials are 2-worker TorchTrainer DDP
jobs, then the registered model's ONNX export checked in onnxruntime."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ray_helpers import actors_started

from raytrain.artifacts.registry import ModelRegistry
from raytrain.config import load_config_text
from raytrain.tune.runner import run_search

pytestmark = pytest.mark.slow

TINY_UNET = """
training: {{name: e2e_unet, seed: 1, output_dir: {out}}}
dataset:
  batch_size: 8
  augmentation: basic
  sample: {{num_train: 64, num_val: 32, num_test: 16, image_size: 32}}
model: {{architecture: unet, base_filters: 4, depth: 2}}
optimizer: {{type: Adam, learning_rate: 1e-2}}
training_params: {{num_epochs: 2}}
search: {{method: bayesian, num_trials: 2}}
search_space:
  learning_rate: {{type: loguniform, low: 1e-3, high: 3e-2}}
  model.dropout: {{type: uniform, low: 0.0, high: 0.2}}
resources: {{num_workers: 2}}
tune: {{scheduler: fifo}}
export: {{registry_dir: {registry}, registry_name: e2e_unet}}
"""


@pytest.fixture(scope="module")
def search(ray_start_2_cpus: None, tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("e2e")
    cfg = load_config_text(TINY_UNET.format(out=tmp / "results", registry=tmp / "models"))
    result = run_search(cfg, echo=lambda s: None)
    return {"result": result, "registry": ModelRegistry(tmp / "models")}


def test_every_trial_trained_with_two_ddp_workers(search: dict) -> None:
    result = search["result"]
    assert len(result.trials) == 2
    assert all(t["status"] == "OK" for t in result.trials), result.errors
    assert all(t["epochs"] == 2 for t in result.trials)
    for log in (result.experiment_dir / "trials").glob("*/training_log.csv"):
        rows = log.read_text().splitlines()
        header = rows[0].split(",")
        assert len(rows) == 3  # header + one row per epoch, written by rank 0 only
        world = [float(r.split(",")[header.index("world_size")]) for r in rows[1:]]
        assert world == [2.0, 2.0]
    summary = json.loads((result.experiment_dir / "summary.json").read_text())
    assert summary["registered"]["name"] == "e2e_unet"


def test_best_trial_registered_with_files(search: dict) -> None:
    entry = search["registry"].get("e2e_unet")
    assert entry["version"] == "1.0.0"
    folder = search["registry"].path_of(entry)
    for name in ("model.pt", "meta.json", "card.md", "e2e_unet_v1.0.0.pth", "e2e_unet_v1.0.0.onnx"):
        assert (folder / name).stat().st_size > 0, name
    best = search["result"].best
    assert entry["metrics"]["val_f1_score"] == pytest.approx(best["value"])


def test_exported_onnx_matches_pytorch_in_onnxruntime(search: dict) -> None:
    import onnxruntime as ort

    model, entry = search["registry"].load("e2e_unet")
    folder = search["registry"].path_of(entry)
    session = ort.InferenceSession(
        str(folder / "e2e_unet_v1.0.0.onnx"), providers=["CPUExecutionProvider"]
    )
    for batch in (1, 5):
        x = torch.rand(batch, 1, 32, 32, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            expected = torch.sigmoid(model(x)).numpy()
        got = session.run(None, {"input": x.numpy()})[0]
        assert got.shape == (batch, 1, 32, 32)
        assert np.abs(got - expected).max() <= 1e-4


def test_registry_list_cli_shows_the_model(search: dict) -> None:
    from click.testing import CliRunner

    from raytrain.cli.app import main

    root = Path(search["registry"].root)
    out = CliRunner().invoke(main, ["registry", "list", "--root", str(root), "--json"])
    assert out.exit_code == 0, out.output
    listed = json.loads(out.output)
    assert [e["version"] for e in listed["e2e_unet"]] == ["1.0.0"]


def test_the_search_wrote_a_report_embedding_every_plot(search: dict) -> None:
    """report.html after a real search: every PNG of the experiment (search plots and each
    trial's plots) is inside it, and the search plots are valid images."""
    exp = search["result"].experiment_dir
    pngs = sorted(exp.rglob("*.png"))
    search_plots = list((exp / "search_plots").glob("*.png"))
    assert search_plots and len(pngs) > len(search_plots)
    for p in search_plots:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", p
    page = (exp / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(pngs)
    # the best checkpoint's plots on the 16 test rows (validation has 32), shown first
    source = json.loads((exp / "test_visualizations" / "source.json").read_text())
    assert source["num_examples"] == source["rows_plotted"] == 16
    assert source["checkpoint"] == str(search["result"].best["checkpoint_path"])
    assert (exp / "test_visualizations" / "edge_predictions.png").exists()
    assert page.index("Test split, best checkpoint: test_visualizations/") < page.index(
        "(validation split, last epoch)"
    )


STOPPED = """
training: {{name: e2e_asha, seed: 1, output_dir: {out}}}
dataset:
  batch_size: 8
  augmentation: none
  sample: {{num_train: 128, num_val: 32, num_test: 16, image_size: 32}}
model: {{architecture: coefficient_optimizer, hidden_dims: [16]}}
optimizer: {{type: Adam}}
training_params: {{num_epochs: 2}}
logging: {{visualizations: false, analysis: false}}
search: {{method: grid, metric: lr, direction: maximize}}
search_space:
  learning_rate: {{type: grid, values: [1e-2, 1e-8, 1e-2]}}
resources: {{num_workers: 2, max_concurrent_trials: 1}}
tune: {{scheduler: asha, grace_period: 1, reduction_factor: 2, max_t: 2}}
export: {{register_best: false}}
"""


def test_a_ddp_trial_stopped_by_asha_does_not_block_the_next(
    ray_start_2_cpus: None, tmp_path: Path
) -> None:
    """Trial 2 is stopped at ASHA's first rung while its worker group is inside fit(); trial 3
    must still get an actor and the CPUs (before the stopped run was aborted, Tune's actor
    reuse failed it with "Could not re-use actor" and the search hung). The search ranks by
    the reported learning rate, so which trial ASHA stops does not depend on what one epoch
    happens to learn (by val_loss, 1e-8 and 1e-2 tie after one epoch here, either way)."""
    cfg = load_config_text(STOPPED.format(out=tmp_path / "results"))
    controllers_before, pgs_before = actors_started("TrainController"), _live_placement_groups()
    result = run_search(cfg, echo=lambda s: None)
    assert len(result.trials) == 3, result.trials
    assert all(t["status"] in ("OK", "STOPPED") for t in result.trials), result.errors
    epochs = sorted(t["epochs"] for t in result.trials)
    assert epochs[0] == 1 and epochs[-1] == 2, result.trials  # one stopped, one ran to max_t
    stopped = next(t for t in result.trials if t["epochs"] == 1)
    assert stopped["trial"].endswith("00001"), result.trials
    assert stopped["status"] == "STOPPED"  # by the scheduler: not OK in the table
    # The stopped trial's Train run was aborted in time for Tune to reuse its actor: every
    # trial ran in the same trial process (Tune's progress.csv records each result's pid).
    pids = set()
    for progress in (result.experiment_dir / "tune").glob("*/progress.csv"):
        with progress.open() as f:
            pids |= {row["pid"] for row in csv.DictReader(f)}
    assert len(pids) == 1, pids
    # Each run's Train controller ran in its trial's thread (`controller_here`), not in an
    # actor of its own, and no worker group's placement group outlived its run.
    assert actors_started("TrainController") == controllers_before
    assert _live_placement_groups() <= pgs_before


def _live_placement_groups() -> set[str]:
    from ray.util.placement_group import placement_group_table

    return {pg_id for pg_id, pg in placement_group_table().items() if pg["state"] != "REMOVED"}
