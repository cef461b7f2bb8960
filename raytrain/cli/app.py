"""The `raytrain` command: a thin shell over the Python API.

Every command parses its arguments, calls one function, and prints. A `RaytrainError` (bad
input) prints one line and exits with code 2, without a traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from raytrain.cli import options
from raytrain.errors import RaytrainError


def _planning_resources(cfg: Any) -> tuple[float, float]:
    """(CPUs, GPUs) to plan a dry run with: this machine's, assuming the GPUs a GPU config
    asks for (it is checked again against the real cluster at launch)."""
    need = (
        cfg.resources.num_workers * cfg.resources.gpus_per_worker if cfg.resources.use_gpu else 0.0
    )
    return float(os.cpu_count() or 1), float(need)


@contextlib.contextmanager
def _about(path: Path) -> Iterator[None]:
    """Make every error raised while planning name the config file it is about."""
    try:
        yield
    except RaytrainError as e:
        if str(e).startswith(str(path)):
            raise
        raise type(e)(f"{path}: {e}") from None


#: Commands that live in their own modules (each a thin shell over its Python API), imported
#: only when used: `raytrain tune` does not pay for matplotlib or the evaluation code, and a
#: command starts in a fraction of the time (the test suite starts hundreds of them).
LAZY_COMMANDS: dict[str, str] = {
    "predict": "raytrain.cli.predict:predict_command",
    "evaluate": "raytrain.cli.evaluate:evaluate_command",
    "report": "raytrain.cli.report:report_command",
    "lr-find": "raytrain.cli.lr_find:lr_find_command",
    "data": "raytrain.cli.data:data_command",
    "registry": "raytrain.cli.registry:registry_group",
    "export": "raytrain.cli.registry:export_command",
    "serve": "raytrain.cli.serve:serve_command",
    "cluster": "raytrain.cli.cluster:cluster_group",
}


class _Group(click.Group):
    """Loads `LAZY_COMMANDS` on demand; turns RaytrainError into one line on stderr and exit
    code 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RaytrainError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(e.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="raytrain")
def main() -> None:
    """raytrain: one YAML file becomes a distributed hyperparameter search and training run."""
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")


@main.command()
@click.argument("space", type=click.Path(dir_okay=False, path_type=Path))
@options.quick
@options.set_values
@options.address
@click.option("--name", default=None, help="Experiment name (default: training.name).")
@click.option("--dry-run", is_flag=True, help="Print the plan and exit without running.")
@click.option(
    "--resume",
    is_flag=True,
    help="Finish the search of this name whose driver stopped (same config).",
)
@options.verbose
@options.plot_switches
def tune(
    space: Path,
    quick: bool,
    sets: tuple[str, ...],
    address: str | None,
    name: str | None,
    dry_run: bool,
    resume: bool,
    verbose: bool,
    no_visualization: bool,
    no_analysis: bool,
    visualization_frequency: int | None,
) -> None:
    """Run a hyperparameter search over SPACE (a search_spaces/*.yaml file).

    Results go to <tune.storage_path or training.output_dir>/<name>/; a name already used
    needs --resume (finish it) or another --name."""
    from raytrain.config import load_config

    overrides = {
        **options.plot_overrides(no_visualization, no_analysis, visualization_frequency),
        **options.parse_set(sets),
    }
    if name:
        overrides["training.name"] = name
    cfg = load_config(space, overrides=overrides, quick=quick)
    if dry_run:
        from raytrain.tune.plan import plan_search

        cpus, gpus = _planning_resources(cfg)
        if address:
            from raytrain.runtime.session import cluster_resources

            cpus, gpus = cluster_resources(address)
        with _about(space):
            click.echo(plan_search(cfg, cluster_cpus=cpus, cluster_gpus=gpus).describe(full=True))
        return
    from raytrain.tune.runner import run_search

    with _about(space):
        run_search(cfg, address=address, echo=click.echo, verbose=verbose, resume=resume)


@main.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--config",
    "config_option",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The config (instead of CONFIG), e.g. a run's config.json.",
)
@options.quick
@options.set_values
@options.address
@click.option("--model", default=None, help="model.architecture")
@click.option("--epochs", type=int, default=None, help="training_params.num_epochs")
@click.option("--batch-size", type=int, default=None, help="dataset.batch_size")
@click.option("--learning-rate", type=float, default=None, help="optimizer.learning_rate")
@click.option("--optimizer", default=None, help="optimizer.type (adam, adamw, sgd, ...)")
@click.option(
    "--lr-schedule",
    default=None,
    help="scheduler.type: cosine_decay, cosine_decay_restarts, exponential_decay, constant, "
    "ReduceLROnPlateau, CosineAnnealingLR",
)
@click.option("--warmup-steps", type=int, default=None, help="scheduler.warmup_steps")
@click.option("--alpha", type=float, default=None, help="scheduler.alpha (LR floor fraction)")
@click.option("--weight-decay", type=float, default=None, help="optimizer.weight_decay")
@click.option("--gradient-clip", type=float, default=None, help="training_params.gradient_clip")
@click.option(
    "--accumulate", type=int, default=None, help="training_params.gradient_accumulation_steps"
)
@click.option(
    "--mixed-precision",
    type=click.Choice(["auto", "bf16", "fp16"]),
    default=None,
    help="training_params.mixed_precision (auto: bf16/fp16 + channels_last on CUDA only)",
)
@click.option("--no-mixed-precision", is_flag=True, help="Train in float32.")
@click.option("--no-early-stopping", is_flag=True, help="Run every epoch (no patience stop).")
@click.option("--no-tensorboard", is_flag=True, help="Write no tensorboard_logs/.")
@click.option("--no-wandb", is_flag=True, help="Do not log to wandb.")
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Continue the interrupted run in this folder from its last checkpoint.",
)
@click.option("--register", is_flag=True, help="Register the best checkpoint in the registry.")
@options.plot_switches
@options.framework_switches
def train(
    config: Path | None,
    config_option: Path | None,
    quick: bool,
    sets: tuple[str, ...],
    address: str | None,
    model: str | None,
    epochs: int | None,
    batch_size: int | None,
    learning_rate: float | None,
    optimizer: str | None,
    lr_schedule: str | None,
    warmup_steps: int | None,
    alpha: float | None,
    weight_decay: float | None,
    gradient_clip: float | None,
    accumulate: int | None,
    mixed_precision: str | None,
    no_mixed_precision: bool,
    no_early_stopping: bool,
    no_tensorboard: bool,
    no_wandb: bool,
    resume_dir: Path | None,
    register: bool,
    no_visualization: bool,
    no_analysis: bool,
    visualization_frequency: int | None,
    dataset: Path | None,
    **framework: bool,
) -> None:
    """Train one model from CONFIG (no search); flags override the file."""
    from raytrain.runtime.run import train_command_config

    flags: dict[str, Any] = {
        "model.architecture": model,
        "training_params.num_epochs": epochs,
        "dataset.batch_size": batch_size,
        "optimizer.learning_rate": learning_rate,
        "optimizer.type": optimizer,
        "scheduler.type": lr_schedule,
        "scheduler.warmup_steps": warmup_steps,
        "scheduler.alpha": alpha,
        "optimizer.weight_decay": weight_decay,
        "training_params.gradient_clip": gradient_clip,
        "training_params.gradient_accumulation_steps": accumulate,
        "training_params.mixed_precision": mixed_precision,
    }
    switches = {
        "training_params.mixed_precision": (no_mixed_precision, False),
        "training_params.early_stopping_patience": (no_early_stopping, None),
        "logging.tensorboard": (no_tensorboard, False),
        "logging.use_wandb": (no_wandb, False),
    }
    overrides = {
        **options.plot_overrides(no_visualization, no_analysis, visualization_frequency),
        **options.framework_overrides(dataset, **framework),
        **options.parse_set(sets),
        **{k: v for k, v in flags.items() if v is not None},
        **{k: v for k, (on, v) in switches.items() if on},
    }
    cfg, run_dir = train_command_config(config, config_option, resume_dir, overrides, quick)
    from raytrain.runtime.run import run_training

    # The workers' output is this command's progress display (one line per epoch).
    run_training(
        cfg,
        address=address,
        run_dir=run_dir,
        resume=resume_dir is not None,
        register=register,
        echo=click.echo,
        verbose=True,
    )


@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@options.quick
@options.set_values
def validate(config: Path, quick: bool, sets: tuple[str, ...]) -> None:
    """Check CONFIG (keys, types, model parameters, search space) without running anything."""
    from raytrain.config import load_config

    cfg = load_config(config, overrides=options.parse_set(sets), quick=quick)
    from raytrain.config.spellings import canonical_spellings
    from raytrain.config.yaml_io import load_file
    from raytrain.tune.plan import plan_search

    raw, _ = load_file(config)
    for note in canonical_spellings(raw)[1] if isinstance(raw, dict) else []:
        click.echo(f"note: {config}: {note}")

    with _about(config):
        cpus, gpus = _planning_resources(cfg)
        plan = plan_search(cfg, cluster_cpus=cpus, cluster_gpus=gpus)
    click.echo(
        f"{config}: ok ({cfg.model.architecture if cfg.model else cfg.objective}, "
        f"{len(cfg.search_space)} searched parameter(s))"
    )
    for place in plan.places:
        click.echo(f"  {place}")


@main.command("models")
def models_cmd() -> None:
    """List the registered model architectures."""
    from raytrain.models import get_model_spec, list_models

    for name in list_models():
        spec = get_model_spec(name)
        click.echo(f"{name:<24} {spec.task:<15} {spec.description}")


if __name__ == "__main__":
    main()
