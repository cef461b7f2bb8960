"""The Python API of raytrain's two workflows, for notebooks and pipelines: what `raytrain
tune` and `raytrain train` do, as functions that return a result instead of printing one.

    import raytrain
    out = raytrain.search("search_spaces/classifier.yaml", overrides={"search.num_trials": 4})
    out.best_trial["params"], out.metrics["test_accuracy"], out.registered["version"]

Why `raytrain.search` / `raytrain.fit` and not `raytrain.tune` / `raytrain.train`: those two
names are subpackages. Python binds a subpackage to its parent's attribute as soon as anything
imports it (`import raytrain.tune.runner`, which every search does), so a function of that name
would be replaced by the module — `raytrain.tune(...)` would work or fail depending on what was
imported before. The functions keep the issue's names here: `raytrain.api.tune` and
`raytrain.api.train` are the same functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raytrain.config import ExperimentConfig, load_config, validate
from raytrain.config.load import apply_overrides
from raytrain.errors import RaytrainError

ConfigLike = str | Path | ExperimentConfig | Mapping[str, Any]


def _config(
    config: ConfigLike, overrides: Mapping[str, Any] | None, quick: bool
) -> ExperimentConfig:
    """A YAML path, a raw mapping or a built config, with `overrides` (dotted keys or short
    names, as `--set` takes them) and, for a path, its `quick:` section when `quick`."""
    over = dict(overrides or {})
    if isinstance(config, ExperimentConfig):
        if quick:
            raise RaytrainError("quick=True needs the YAML (its quick: section); pass the path")
        return validate(apply_overrides(config.model_dump(mode="json"), over), "config")
    if isinstance(config, Mapping):
        data = dict(config)
        if quick:
            data = apply_overrides(data, dict(data.get("quick") or {}))
        return validate(apply_overrides(data, over), "config")
    return load_config(Path(config), overrides=over, quick=quick)


def _silent(_: str) -> None:
    pass


@dataclass
class SearchOutcome:
    """What a search found: the best trial, its metrics (validation and test), the registered
    version and where everything is."""

    best_trial: dict[str, Any] | None  # trial, epoch, value, params, checkpoint_path
    metric: str
    mode: str
    metrics: dict[str, float]  # the monitored metric of the best trial + its test_ metrics
    test_metrics: dict[str, float] | None
    registered: dict[str, Any] | None  # name, version, path (in the registry folder)
    experiment_dir: Path
    paths: dict[str, Path]  # summary, trials_csv, report, model (the registered folder)
    trials: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class TrainOutcome:
    """What a training run left: its metrics (last epoch and test), the registered version
    (with `register=True`) and where everything is."""

    metrics: dict[str, Any]
    test_metrics: dict[str, float] | None
    registered: dict[str, Any] | None
    run_dir: Path
    paths: dict[str, Path]  # summary, best_model, final_model, training_log, analysis


def _registered(entry: dict[str, Any] | None, cfg: ExperimentConfig) -> dict[str, Any] | None:
    if not entry:
        return None
    return {
        "name": entry["name"],
        "version": entry["version"],
        "path": Path(cfg.export.registry_dir) / entry["path"],
    }


def tune(
    config: ConfigLike,
    overrides: Mapping[str, Any] | None = None,
    address: str | None = None,
    *,
    quick: bool = False,
    experiment_dir: str | Path | None = None,
    resume: bool = False,
    echo: Callable[[str], None] | None = None,
) -> SearchOutcome:
    """Run the search `raytrain tune` runs (a local Ray unless `address`, e.g. "auto"), register
    and export the best trial as the config says; `echo` gets the lines the command would print
    (default: none)."""
    from raytrain.tune.runner import run_search

    cfg = _config(config, overrides, quick)
    r = run_search(
        cfg,
        address=address,
        experiment_dir=Path(experiment_dir) if experiment_dir is not None else None,
        echo=echo or _silent,
        resume=resume,
    )
    reg = _registered(r.registered, cfg)
    metrics = {r.metric: r.best["value"]} if r.best else {}
    metrics.update(r.test_metrics or {})
    exp = Path(r.experiment_dir)
    paths = {
        "summary": exp / "summary.json",
        "trials_csv": exp / "trials.csv",
        "report": exp / "report.html",
    }
    if reg:
        paths["model"] = reg["path"]
    return SearchOutcome(
        best_trial=r.best,
        metric=r.metric,
        mode=r.mode,
        metrics=metrics,
        test_metrics=r.test_metrics,
        registered=reg,
        experiment_dir=exp,
        paths=paths,
        trials=r.trials,
        errors=r.errors,
    )


def train(
    config: ConfigLike,
    overrides: Mapping[str, Any] | None = None,
    address: str | None = None,
    *,
    quick: bool = False,
    run_dir: str | Path | None = None,
    register: bool = False,
    echo: Callable[[str], None] | None = None,
) -> TrainOutcome:
    """Train one model as `raytrain train` does; the best checkpoint is scored on the test
    split (when there is one) and, with `register`, registered."""
    from raytrain.runtime.run import run_training

    cfg = _config(config, overrides, quick)
    r = run_training(
        cfg,
        address=address,
        run_dir=Path(run_dir).absolute() if run_dir is not None else None,
        register=register,
        echo=echo or _silent,
    )
    paths = {
        "summary": r.run_dir / "summary.json",
        "best_model": r.best_dir,
        "final_model": r.final_dir,
        "training_log": r.run_dir / "training_log.csv",
        "analysis": r.run_dir / "analysis",
    }
    return TrainOutcome(
        metrics=dict(r.metrics),
        test_metrics=r.test_metrics,
        registered=_registered(r.registered, cfg),
        run_dir=r.run_dir,
        paths=paths,
    )


#: the names the package root exports (`raytrain.search`, `raytrain.fit`)
search = tune
fit = train
