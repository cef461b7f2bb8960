"""`raytrain train` under a real 2-worker TorchTrainer (DDP over gloo): the training flags reach
the loop, the LR each step used is logged, and a fine-tuned model keeps its frozen layers."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from raytrain.artifacts.checkpoint import load_state_dict
from raytrain.cli.app import main
from raytrain.config import load_config_text
from raytrain.config.schema import SchedulerSection
from raytrain.data.resolve import data_info_for, resolve_dataset
from raytrain.models import create_model
from raytrain.tasks.resolve import task_name_of
from raytrain.train.schedules import LRSchedule

pytestmark = pytest.mark.slow

CONFIG = """
training: {{name: engine, output_dir: {out}}}
dataset: {{batch_size: 4, sample: {{num_train: 48, num_val: 16, num_test: 8, image_size: 64}}}}
model: {{architecture: coefficient_optimizer, hidden_dims: [16, 8]}}
training_params: {{num_epochs: 2, early_stopping_patience: 1}}
resources: {{num_workers: 2, cpus_per_worker: 0.25}}
logging: {{visualizations: false, analysis: false}}
{extra}
"""


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def _train(tmp_path: Path, args: list[str], extra: str = "") -> Path:
    out = tmp_path / "results"
    cfg = tmp_path / f"cfg{len(list(tmp_path.glob('cfg*')))}.yaml"
    cfg.write_text(CONFIG.format(out=out, extra=extra))
    before = set(out.glob("engine_*")) if out.exists() else set()
    res = CliRunner().invoke(main, ["train", str(cfg), *args])
    assert res.exit_code == 0, res.output + repr(res.exception)
    (run,) = set(out.glob("engine_*")) - before
    return run


def test_train_flags_reach_the_ddp_loop_step_lr_is_logged_and_resume_continues(
    ray_start_2_cpus: None, tmp_path: Path
) -> None:
    run = _train(
        tmp_path,
        [
            "--epochs", "3",
            "--batch-size", "8",
            "--learning-rate", "0.02",
            "--optimizer", "adamw",
            "--lr-schedule", "cosine_decay",
            "--warmup-steps", "2",
            "--alpha", "0.25",
            "--weight-decay", "0.001",
            "--gradient-clip", "1.0",
            "--no-early-stopping",
            "--no-tensorboard",
            "--set", "training_params.num_to_keep=1",
        ],
    )  # fmt: skip
    saved = json.loads((run / "config.json").read_text())
    assert saved["optimizer"]["type"] == "AdamW"
    assert saved["optimizer"]["weight_decay"] == pytest.approx(0.001)
    sched = saved["scheduler"]
    assert (sched["type"], sched["warmup_steps"], sched["alpha"]) == ("cosine_decay", 2, 0.25)
    assert saved["training_params"]["gradient_clip"] == 1.0
    assert saved["training_params"]["early_stopping_patience"] is None

    epochs = _rows(run / "training_log.csv")
    assert [float(r["epoch"]) for r in epochs] == [1, 2, 3]  # no early stop at patience 1
    assert {float(r["world_size"]) for r in epochs} == {2}
    # 48 rows / 2 workers / batch 8 = 3 steps per epoch, 9 in all
    steps = _rows(run / "steps_log.csv")
    assert [int(r["step"]) for r in steps] == list(range(1, 10))
    expected = LRSchedule(SchedulerSection(**sched), 0.02, 3, 3)
    assert [float(r["lr"]) for r in steps] == pytest.approx([expected.lr(i) for i in range(9)])
    assert float(steps[0]["lr"]) == pytest.approx(1e-8)  # warmup from warmup_start_lr
    # last step: 6 of the 7 steps after warmup into the cosine, above the 0.25 floor
    cos = 0.5 * (1 + math.cos(math.pi * 6 / 7))
    assert float(steps[-1]["lr"]) == pytest.approx(0.02 * (0.25 + 0.75 * cos))
    assert float(epochs[-1]["lr"]) == pytest.approx(float(steps[-1]["lr"]))
    assert not (run / "tensorboard_logs").exists()
    assert (run / "best_model" / "model.pt").exists() and (run / "final_model").exists()
    kept = [d for d in (run / "train").glob("checkpoint_*") if d.is_dir()]
    assert 1 <= len(kept) <= 2  # num_to_keep 1 (+ the latest, which Ray keeps for resume)

    # --resume continues the run from its last checkpoint (here: one epoch more)
    res = CliRunner().invoke(main, ["train", "--resume", str(run), "--epochs", "4"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    epochs = _rows(run / "training_log.csv")
    assert [float(r["epoch"]) for r in epochs] == [1, 2, 3, 4]
    steps = _rows(run / "steps_log.csv")
    assert [int(r["step"]) for r in steps] == list(range(1, 13))  # step count continues
    assert json.loads((run / "config.json").read_text())["training_params"]["num_epochs"] == 4
    assert load_state_dict(run / "final_model" / "train_state.pt")["epoch"] == 3  # 0-based


def _pretrained_weights(tmp_path: Path) -> Path:
    """Weights of the test's architecture, as another run would have left them (seed 7)."""
    cfg = load_config_text(CONFIG.format(out=tmp_path, extra=""))
    data = data_info_for(cfg, resolve_dataset(cfg, task_name_of(cfg)))
    torch.manual_seed(7)
    model = create_model(cfg.model.architecture, cfg.model.params(), data)
    path = tmp_path / "pretrained.pth"
    torch.save(model.state_dict(), path)
    return path


def test_fine_tuning_under_ddp_keeps_frozen_layers_and_accumulates(
    ray_start_2_cpus: None, tmp_path: Path
) -> None:
    path = _pretrained_weights(tmp_path)
    pretrained = load_state_dict(path)
    run = _train(
        tmp_path,
        [
            "--epochs", "2",
            "--accumulate", "2",
            "--optimizer", "adamw",
            "--weight-decay", "0.1",
            "--set", "model.fine_tune_layers=[output]",
        ],
        extra=f"pretrained: {{model_path: {path}}}",
    )  # fmt: skip
    tuned = load_state_dict(run / "final_model" / "model.pt")
    last = list(tuned)[-1].rsplit(".", 1)[0]  # the output layer: the only one that trains
    for name, value in tuned.items():
        if name.startswith(last + "."):
            assert not torch.equal(value, pretrained[name]), name
        else:
            assert torch.equal(value, pretrained[name]), name
    # 48 / 2 workers / batch 4 = 6 micro-batches per epoch, 2 per step: 3 steps per epoch
    steps = _rows(run / "steps_log.csv")
    assert [int(r["step"]) for r in steps] == list(range(1, 7))
    assert [int(r["epoch"]) for r in steps] == [1, 1, 1, 2, 2, 2]
