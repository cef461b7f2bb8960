"""Where a search lives, and the rules that keep one name one search.

An experiment folder is `<tune.storage_path or training.output_dir>/<training.name>/`: a stable
path per name, so `raytrain tune SPACE --resume` finds what a killed driver left, and a second
search under the same name cannot silently mix its trials into the first one's. Inside:

    config.yaml      the resolved config the search started with (resume checks it)
    optuna.db        the Optuna study (TPE / CMA-ES), opened by `optuna-dashboard`
    tune/            Ray Tune's experiment state (what Tuner.restore reads)
    trials/<id>/     each trial's logs, plots and (TorchTrainer) checkpoints
    trials.csv, summary.json, report.html   written when the search ends
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from raytrain.config.schema import ExperimentConfig
from raytrain.errors import RaytrainError

TUNE_DIR = "tune"


def experiment_dir_for(cfg: ExperimentConfig) -> Path:
    root = Path(cfg.tune.storage_path or cfg.training.output_dir)
    return (root / cfg.training.name).absolute()


def claim(exp: Path, cfg: ExperimentConfig, resume: bool) -> None:
    """Check that `exp` may be started (or resumed); raise a RaytrainError saying why not."""
    name = cfg.training.name
    if not resume:
        if exp.exists() and any(exp.iterdir()):
            raise RaytrainError(
                f"experiment '{name}' already exists in {exp}; pass --resume to finish it, "
                f"or pick another name (--name NAME or training.name)"
            )
        return
    if not (exp / TUNE_DIR).is_dir():
        raise RaytrainError(
            f"--resume: no search named '{name}' to resume in {exp} (no {TUNE_DIR}/ folder); "
            f"run without --resume to start it"
        )
    if (exp / "summary.json").exists():
        raise RaytrainError(
            f"--resume: the search '{name}' in {exp} already finished (summary.json); its "
            f"results are in {exp / 'trials.csv'}"
        )
    saved_path = exp / "config.yaml"
    if saved_path.exists():
        saved = yaml.safe_load(saved_path.read_text())
        diff = _differences(saved, cfg.model_dump(mode="json"))
        if diff:
            raise RaytrainError(
                f"--resume: the config differs from the one the search started with "
                f"({saved_path}) at {', '.join(diff[:5])}; a resumed search runs its "
                f"original config: undo the change or start a new name"
            )


def saved_trial_ids(exp: Path) -> set[str]:
    """Trial ids in Tune's newest saved experiment state (what a resume will know about)."""
    import json

    states = sorted((exp / TUNE_DIR).glob("experiment_state-*.json"))
    if not states:
        return set()
    data = json.loads(states[-1].read_text())
    return {json.loads(t)["trial_id"] for t, _ in data.get("trial_data", [])}


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON-like trees differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in dict.fromkeys([*a, *b]):
            out += _differences(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]
