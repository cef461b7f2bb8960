"""One-worker `raytrain train` trains in its own process (no Train controller, no worker
group) and keeps its checkpoints by Ray Train's rules; runs resume across the two ways of
training (`raytrain.runtime.checkpoint_keeper`, `raytrain.runtime.run.trains_here`)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from ray_helpers import actors_started

from raytrain.cli.app import main
from raytrain.runtime.checkpoint_keeper import CheckpointKeeper, latest_checkpoint

# -- the keeper, on plain folders ----------------------------------------------------------


def _checkpoint(tmp: Path, epoch: int, score: float | None) -> Path:
    folder = tmp / f"src{epoch}"
    folder.mkdir()
    metrics = {} if score is None else {"val_f1": score}
    (folder / "meta.json").write_text(json.dumps({"epoch": epoch, "metrics": metrics}))
    (folder / "model.pt").write_bytes(b"weights %d" % epoch)
    return folder


def _epochs(folders: list[Path]) -> list[int]:
    return [json.loads((f / "meta.json").read_text())["epoch"] for f in folders]


@pytest.mark.parametrize(
    ("mode", "scores", "kept", "best"),
    [
        # max: the two best (epochs 2 and 3) plus the latest (5), which a resume needs
        ("max", [0.1, 0.9, 0.8, 0.2, 0.3], [2, 3, 5], 2),
        # min: the two lowest (1 and 4) plus the latest
        ("min", [0.1, 0.9, 0.8, 0.05, 0.3], [1, 4, 5], 4),
        # no score at all ranks worst: the scored one and the latest stay
        ("max", [None, 0.5, None, None], [2, 4], 2),
    ],
)
def test_keeper_keeps_the_best_k_and_the_latest(
    tmp_path: Path, mode: str, scores: list[float | None], kept: list[int], best: int
) -> None:
    keeper = CheckpointKeeper(tmp_path / "train", "val_f1", mode, num_to_keep=2)
    for epoch, score in enumerate(scores, start=1):
        placed = keeper.add(_checkpoint(tmp_path, epoch, score), epoch)
        assert (placed / "model.pt").read_bytes() == b"weights %d" % epoch
    assert _epochs(keeper.checkpoints()) == kept
    assert _epochs([keeper.best()]) == [best]  # type: ignore[list-item]
    assert not list((tmp_path / "train").glob(".tmp_*"))


def test_keeper_keeps_everything_without_a_limit_and_prefers_the_latest_on_a_tie(
    tmp_path: Path,
) -> None:
    keeper = CheckpointKeeper(tmp_path / "train", "val_f1", "max", num_to_keep=None)
    for epoch in (1, 2, 3):
        keeper.add(_checkpoint(tmp_path, epoch, 0.5), epoch)
    assert _epochs(keeper.checkpoints()) == [1, 2, 3]
    assert _epochs([keeper.best()]) == [3]  # type: ignore[list-item]


def test_latest_checkpoint_reads_either_layout_and_skips_half_written_ones(
    tmp_path: Path,
) -> None:
    train = tmp_path / "train"
    assert latest_checkpoint(train) is None
    keeper = CheckpointKeeper(train, "val_f1", "max", num_to_keep=None)
    keeper.add(_checkpoint(tmp_path, 2, 0.1), 2)
    # a folder as Ray Train names them, holding a later epoch
    ray_style = train / "checkpoint_2026-12-03_15-46-39.117878"
    ray_style.mkdir()
    (ray_style / "meta.json").write_text(json.dumps({"epoch": 3, "metrics": {}}))
    # a copy that a kill interrupted: no meta.json yet, and under a temporary name
    (train / ".tmp_checkpoint_epoch00004").mkdir()
    (train / "checkpoint_epoch00005").mkdir()
    assert latest_checkpoint(train) == ray_style


# -- real runs on a local Ray ---------------------------------------------------------------

CONFIG = """
training: {{name: here, output_dir: {out}}}
dataset: {{batch_size: 8, sample: {{num_train: 48, num_val: 16, num_test: 8, image_size: 64}}}}
model: {{architecture: coefficient_optimizer, hidden_dims: [16, 8]}}
training_params: {{num_epochs: 1, num_to_keep: 1, early_stopping_patience: null}}
resources: {{num_workers: 1}}
logging: {{visualizations: false, analysis: false}}
"""


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def _invoke(args: list[str]) -> str:
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res.output


@pytest.mark.slow
def test_one_worker_trains_here_resumes_here_then_in_a_worker_group(
    ray_start_2_cpus: None, tmp_path: Path
) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG.format(out=tmp_path / "results"))
    workers_before = actors_started("RayTrainWorker")
    out = _invoke(["train", str(cfg)])
    assert "1 worker(s) x (1 CPU) in this process" in out and "trial" not in out
    (run,) = (tmp_path / "results").glob("here_*")
    # no worker group was started: the loop ran in this (the driver's) process
    assert actors_started("RayTrainWorker") == workers_before
    assert [float(r["epoch"]) for r in _rows(run / "training_log.csv")] == [1]
    assert (run / "best_model" / "model.pt").exists() and (run / "final_model").exists()

    # --resume continues in this process from the latest checkpoint: epoch 2
    _invoke(["train", "--resume", str(run), "--epochs", "2"])
    assert actors_started("RayTrainWorker") == workers_before
    log = _rows(run / "training_log.csv")
    assert [float(r["epoch"]) for r in log] == [1, 2]
    # 48 rows / batch 8 = 6 steps an epoch; the step count goes on
    assert [int(r["step"]) for r in _rows(run / "steps_log.csv")] == list(range(1, 13))
    kept = sorted(p.name for p in (run / "train").glob("checkpoint_*"))
    assert 1 <= len(kept) <= 2, kept  # num_to_keep 1, plus the latest
    assert json.loads((run / "final_model" / "meta.json").read_text())["epoch"] == 2

    # ... and with two workers, a Ray Train run that starts from this run's checkpoint
    out = _invoke(
        ["train", "--resume", str(run), "--epochs", "3", "--set", "resources.num_workers=2"]
    )
    assert "2 worker(s) x (" in out and "in a Ray Train worker group" in out
    assert actors_started("RayTrainWorker") == workers_before + 2
    log = _rows(run / "training_log.csv")
    assert [(float(r["epoch"]), float(r["world_size"])) for r in log] == [(1, 1), (2, 1), (3, 2)]
    assert json.loads((run / "final_model" / "meta.json").read_text())["epoch"] == 3
