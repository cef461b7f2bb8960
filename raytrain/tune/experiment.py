"""Where a search lives, and the rules that keep one name one search.

An experiment folder is `<tune.storage_path or training.output_dir>/<training.name>/`: a stable
path per name, so `raytrain tune SPACE --resume` finds what a killed driver left, and a second
search under the same name cannot silently mix its trials into the first one's. Inside:

    config.yaml      the resolved config the search started with (resume checks it)
    optuna.db        the Optuna study (TPE / CMA-ES), opened by `optuna-dashboard`
    tune/            Ray Tune's experiment state (what Tuner.restore reads)
    trials/<id>/     each trial's logs, plots and (TorchTrainer) checkpoints
    trials.csv, summary.json, report.html   written when the search ends

With `tune.storage_path: s3://bucket/prefix` (or gs://) the experiment is
`s3://bucket/prefix/<name>/`: Ray Tune and Train write `tune/` and checkpoints straight to the
bucket, trials copy their logs there when they end, and raytrain writes its own files
(config.yaml, trials.csv, summary.json, report) into a local working copy,
`<training.output_dir>/<name>/`, and puts each in the bucket. The default Optuna study file
stays in that working copy (a database the driver alone uses); set `tune.optuna_storage` to a
shared database to resume from another machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from raytrain.artifacts.storage import (
    exists,
    is_dir,
    is_remote,
    join,
    listdir,
    read_text,
    upload_dir,
    write_bytes,
)
from raytrain.config.schema import ExperimentConfig
from raytrain.errors import RaytrainError

TUNE_DIR = "tune"


def experiment_dir_for(cfg: ExperimentConfig) -> Path:
    """The experiment folder (with a bucket as `tune.storage_path`: its local working copy)."""
    root = cfg.tune.storage_path or cfg.training.output_dir
    if is_remote(root):
        root = cfg.training.output_dir
    return (Path(root) / cfg.training.name).absolute()


def experiment_uri_for(cfg: ExperimentConfig) -> str | None:
    """`s3://bucket/prefix/<name>` when `tune.storage_path` is a bucket, else None."""
    root = cfg.tune.storage_path
    return str(join(root, cfg.training.name)) if root and is_remote(root) else None


def publish(exp: Path, uri: str | None, *names: str) -> None:
    """Put the working copy's files (or folders) `names` in the bucket experiment `uri`."""
    if uri is None:
        return
    for name in names:
        src = exp / name
        if src.is_dir():
            upload_dir(src, f"{uri}/{name}")
        elif src.exists():
            write_bytes(f"{uri}/{name}", src.read_bytes())


def claim(exp: Path | str, cfg: ExperimentConfig, resume: bool) -> None:
    """Check that `exp` (a folder, or the experiment's URI) may be started (or resumed);
    raise a RaytrainError saying why not."""
    name = cfg.training.name
    if not resume:
        if listdir(exp):
            raise RaytrainError(
                f"experiment '{name}' already exists in {exp}; pass --resume to finish it, "
                f"or pick another name (--name NAME or training.name)"
            )
        return
    if not is_dir(join(exp, TUNE_DIR)):
        raise RaytrainError(
            f"--resume: no search named '{name}' to resume in {exp} (no {TUNE_DIR}/ folder); "
            f"run without --resume to start it"
        )
    if exists(join(exp, "summary.json")):
        raise RaytrainError(
            f"--resume: the search '{name}' in {exp} already finished (summary.json); its "
            f"results are in {join(exp, 'trials.csv')}"
        )
    saved_path = join(exp, "config.yaml")
    if exists(saved_path):
        saved = yaml.safe_load(read_text(saved_path))
        diff = _differences(saved, cfg.model_dump(mode="json"))
        if diff:
            raise RaytrainError(
                f"--resume: the config differs from the one the search started with "
                f"({saved_path}) at {', '.join(diff[:5])}; a resumed search runs its "
                f"original config: undo the change or start a new name"
            )


def saved_trial_ids(exp: Path | str) -> set[str]:
    """Trial ids in Tune's newest saved experiment state (what a resume will know about)."""
    import json

    tune_dir = join(exp, TUNE_DIR)
    states = [n for n in listdir(tune_dir) if n.startswith("experiment_state-")]
    states = sorted(n for n in states if n.endswith(".json"))
    if not states:
        return set()
    data = json.loads(read_text(join(tune_dir, states[-1])))
    return {json.loads(t)["trial_id"] for t, _ in data.get("trial_data", [])}


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON-like trees differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in dict.fromkeys([*a, *b]):
            out += _differences(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]
