"""`raytrain train` argument handling that needs no cluster: --config, --resume, bad input."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from raytrain.cli.app import main
from raytrain.config import load_config_text
from raytrain.runtime.run import train_command_config

YAML = "model: {architecture: unet, base_filters: 4}\nscheduler: {type: cosine_decay}\n"


def test_a_runs_config_json_loads_back_with_overrides(tmp_path: Path) -> None:
    cfg = load_config_text(YAML)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg.model_dump(mode="json"), indent=2))
    again, run_dir = train_command_config(
        None, path, None, {"scheduler.warmup_steps": 7}, quick=False
    )
    assert run_dir is None
    assert again.model_copy(update={"scheduler": cfg.scheduler}) == cfg
    assert again.scheduler.warmup_steps == 7 and again.scheduler.type == "cosine_decay"
    resumed, run_dir = train_command_config(None, None, tmp_path, {}, quick=False)
    assert run_dir == tmp_path.absolute() and resumed == cfg


def test_train_input_errors_are_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(YAML)
    cases = {
        (): "give a config",
        (str(cfg), "--config", str(cfg)): "give the config once",
        ("--resume", str(tmp_path)): "no config.json",
        (str(cfg), "--lr-schedule", "cosine_decy"): "scheduler.type",
        (str(cfg), "--set", "training_params.gradient_clip_value=-1"): "gradient_clip_value",
    }
    for args, message in cases.items():
        res = CliRunner().invoke(main, ["train", *args])
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output and "Traceback" not in res.output, (args, res.output)


def test_monitor_metric_and_mode_pick_the_best_epoch_and_early_stopping() -> None:
    from raytrain.models import DataInfo
    from raytrain.tasks.resolve import monitor_of, task_for

    data = DataInfo(in_channels=1, image_size=32)

    def monitor(extra: str) -> tuple[str, str]:
        cfg = load_config_text(YAML + extra)
        return monitor_of(cfg, task_for(cfg, data))

    assert monitor("") == ("val_f1_score", "max")  # the edge task's default
    assert monitor("training_params: {monitor_metric: val_loss}\n") == ("val_loss", "min")
    assert monitor("training_params: {monitor_mode: min}\n") == ("val_f1_score", "min")
    both = "training_params: {monitor_metric: val_iou}\nsearch: {metric: val_loss}\n"
    assert monitor(both) == ("val_loss", "min")  # a search's metric wins
