"""`raytrain tune`: plan a search, run it with Ray Tune, pick, register and export the best.

Each Tune trial is a small *function trainable*. A one-worker trial runs the train loop right
in the trial; a multi-worker trial builds a `TorchTrainer` for its sampled config and calls
`fit()`, the run's controller in the trial's thread, and `trial_link.ReportToTune` forwards
every epoch's metrics (and the checkpoint path) from rank 0 to Tune, so ASHA can stop poor
trials early and Optuna sees every intermediate result (Ray Train V2: a Tuner takes no
Trainer directly).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from raytrain.artifacts.storage import check_writable, is_remote, join
from raytrain.config.load import apply_overrides, validate
from raytrain.config.schema import ExperimentConfig
from raytrain.data.checks import data_report
from raytrain.data.manifest import atomic_write_text
from raytrain.data.problems import format_report
from raytrain.data.resolve import resolve_dataset
from raytrain.errors import RaytrainError
from raytrain.evaluation.held_out import score_test_split
from raytrain.runtime.resources import (
    check_places,
    check_storage,
)
from raytrain.runtime.session import alive_nodes, cluster_resources, dashboard_url
from raytrain.tune.experiment import (
    TUNE_DIR,
    claim,
    experiment_dir_for,
    experiment_uri_for,
    publish,
    release_claim,
    saved_trial_ids,
)
from raytrain.tune.objectives import derived_callback, derived_needed, pareto_front
from raytrain.tune.plan import Printer, SearchPlan, plan_search
from raytrain.tune.results import SearchResult, collect_trials, format_table, write_trials_csv
from raytrain.tune.searchers import search_method
from raytrain.tune.study_url import shown
from raytrain.tune.trainable import make_trainable, shared_datasets
from raytrain.viz.held_out import TEST_PLOTS_DIR


def run_search(
    cfg: ExperimentConfig,
    *,
    address: str | None = None,
    experiment_dir: Path | None = None,
    echo: Printer = print,
    verbose: bool = False,
    resume: bool = False,
) -> SearchResult:
    """Run the whole search (or, with `resume`, finish one whose driver died); register and
    export the best trial when configured."""

    exp = (experiment_dir or experiment_dir_for(cfg)).absolute()
    check_places(cfg)  # paths read and written, before anything is created
    uri = None if experiment_dir else experiment_uri_for(cfg)  # a bucket: s3://, gs://
    if uri:  # endpoint, credentials, bucket and permission, before anything runs
        check_writable(uri, "tune.storage_path")
    if cfg.export.register_best and is_remote(cfg.export.registry_dir):
        check_writable(cfg.export.registry_dir, "export.registry_dir")
    if cfg.tune.optuna_storage and search_method(cfg).optuna:  # a shared database: up, free
        from raytrain.tune.optuna_store import check_study_storage

        check_study_storage(cfg.tune.optuna_storage, cfg.training.name, resume)
    elif uri and resume and search_method(cfg).optuna and not (exp / "optuna.db").exists():
        raise RaytrainError(
            f"--resume: the Optuna study of '{cfg.training.name}' is in {exp / 'optuna.db'} "
            f"on the machine that started the search, not here; resume there, or set "
            f"tune.optuna_storage to a shared database for the searches to come"
        )
    claim(uri or exp, cfg, resume)  # a name clash fails before Ray starts
    try:
        cpus, gpus = cluster_resources(address, verbose)
        if uri is None:
            check_storage(
                cfg.tune.storage_path or cfg.training.output_dir,
                cfg.tune.shared_storage,
                alive_nodes(),
            )
        plan = plan_search(cfg, cluster_cpus=cpus, cluster_gpus=gpus, experiment_dir=exp)
        exp.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        data = None
        if not cfg.objective:
            plan.data_dir = resolve_dataset(cfg, plan.task)
            # error mode: a bad file stops here; skip mode: every row checked, skips counted
            data = data_report(
                plan.data_dir, cfg.dataset.on_bad_data, image_size=cfg.dataset.image_size
            )
        echo(plan.describe())
        if data is not None:
            echo(f"data: {format_report(data)}")
        if plan.optuna_storage:
            echo(
                f"optuna study '{cfg.training.name}': optuna-dashboard {shown(plan.optuna_storage)}"
            )
            if uri and not cfg.tune.optuna_storage:
                echo(
                    "note: the study file stays on this machine (the results go to "
                    f"{uri}); --resume from another machine needs tune.optuna_storage"
                )
        url = dashboard_url()
        echo(f"ray dashboard: {url}" if url else "ray dashboard: not running (needs ray[default])")
        if not resume:
            atomic_write_text(
                exp / "config.yaml", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
            )
            publish(exp, uri, "config.yaml")
    except BaseException:
        release_claim(exp)  # nothing written yet: the name is free again
        raise
    # Save Tune's experiment state every second (default: adaptive, >= 10 s), so a killed driver
    # loses at most a second of bookkeeping: finished trials are not rerun on --resume.
    tune_env = {"TUNE_GLOBAL_CHECKPOINT_S": os.environ.get("TUNE_GLOBAL_CHECKPOINT_S", "1")}
    # multi-worker trials: one placement-group cleaner for the whole search, not one per trial
    janitor = None
    if plan.resources.num_workers > 1:
        try:
            from raytrain.runtime.placement_janitor import start_janitor
        except ImportError:  # a Ray that moved Train's callbacks: its per-run cleaner it is
            start_janitor = None
        janitor = start_janitor() if start_janitor is not None else None
    with _settled(janitor):
        results = _fit(cfg, plan, exp, uri, echo, resume, tune_env, janitor)
    from raytrain.tune.stopper import stop_reason

    stopped_by, why = stop_reason(str(exp)) or (None, f"it ran all its {len(results)} trial(s)")
    echo(f"search ended: {why}" + (f" ({stopped_by})" if stopped_by else ""))
    others = tuple(m for m, _ in plan.objectives[1:])
    scheme = uri.partition("://")[0] if uri else None
    trials, best, errors = collect_trials(
        results, plan.space, plan.metric, plan.mode, others, scheme=scheme
    )
    if cfg.objective:  # nothing to register: the best trial by its reports
        from raytrain.tune.function_trainable import best_of

        best = best_of(results, plan.space, plan.metric, plan.mode)
    result = SearchResult(exp, plan.metric, plan.mode, trials, best, errors=errors)
    if plan.optuna_storage:
        from raytrain.tune.optuna_store import fail_orphans

        fail_orphans(plan.optuna_storage, cfg.training.name, {str(t["trial"]) for t in trials})
    if len(plan.objectives) > 1:
        scored = [{**t, plan.metric: t.get(f"best_{plan.metric}")} for t in trials]
        front = set(pareto_front(scored, plan.objectives))
        for i, t in enumerate(trials):
            t["pareto"] = i in front
        result.pareto_front = [trials[i] for i in sorted(front)]
    write_trials_csv(exp / "trials.csv", trials)
    publish(exp, uri, "trials.csv")
    echo("\n" + format_table(trials))
    if result.pareto_front:
        names = ", ".join(f"{m} ({md})" for m, md in plan.objectives)
        echo(f"\npareto front over {names}: {len(result.pareto_front)} trial(s)")
        echo(format_table(result.pareto_front))
    for err in errors:
        echo(f"error: {err}")
    if best is None:
        raise RaytrainError(
            f"{exp}: no trial reported '{plan.metric}' with a checkpoint; nothing to register"
            + (f" (the search ended early: {why}; {stopped_by})" if stopped_by else "")
        )
    echo(
        f"\nbest: trial {best['trial']} epoch {best['epoch']} {plan.metric}={best['value']:.4g}"
        f" params={json.dumps(best['params'], default=str)}"
    )
    if not cfg.objective:  # a user's function has no checkpoint or test split of ours
        # the test split's plots come from this same pass, into the experiment folder
        plots = exp / TEST_PLOTS_DIR if cfg.logging.visualizations else None
        result.test_metrics = score_test_split(best["checkpoint_path"], plan.data_dir, echo, plots)
        if plots is not None and plots.is_dir():
            publish(exp, uri, TEST_PLOTS_DIR)
    if cfg.export.register_best and not cfg.objective:
        from raytrain.artifacts.registry import register_run
        from raytrain.data.provenance import data_provenance

        source = {"experiment": uri or str(exp), "trial": best["trial"], "epoch": best["epoch"]}
        entry = register_run(
            cfg,
            best["checkpoint_path"],
            source,
            extra_metrics=result.test_metrics,
            data=data_provenance(plan.data_dir),
        )
        result.registered = entry
        folder = join(cfg.export.registry_dir, entry["path"])
        echo(f"registered {entry['name']} v{entry['version']} -> {folder}")
        for f in sorted(entry["files"]):
            echo(f"  {join(folder, f)}")
    summary = {
        "experiment_dir": uri or str(exp),
        "working_copy": str(exp) if uri else None,
        "metric": plan.metric,
        "mode": plan.mode,
        "best": best,
        "test_metrics": result.test_metrics,
        "trials": trials,
        "errors": errors,
        "registered": {k: result.registered[k] for k in ("name", "version", "path")}
        if result.registered
        else None,
        "resources": plan.resources.as_dict(),
        "search_method": plan.method.name,
        "scheduler": plan.scheduler.name,
        "objectives": [{"metric": m, "mode": md} for m, md in plan.objectives],
        "pareto_front": [t["trial"] for t in result.pareto_front],
        "optuna_storage": shown(plan.optuna_storage) if plan.optuna_storage else None,
        "resumed": resume,
        "stopped_by": stopped_by,
        "stop_reason": why,
        "warm_start": plan.warm.as_dict() if plan.warm else None,
        "data": data,
        "wall_time_s": time.time() - t0,
    }
    atomic_write_text(exp / "summary.json", json.dumps(summary, indent=2, default=str))
    publish(exp, uri, "summary.json")
    if cfg.logging.visualizations:
        from raytrain.viz.report import write_report
        from raytrain.viz.run import run_safely

        run_safely(write_report, exp)
        if (exp / "report.html").exists():
            publish(exp, uri, "report.html", "search_plots")
            echo(f"report: {exp / 'report.html'}")
    return result


@contextlib.contextmanager
def _settled(janitor: Any) -> Iterator[None]:
    """Settle the search's placement-group janitor however the search ends: the PGs of
    trials Tune killed at the end go now, and the janitor with them."""
    try:
        yield
    finally:
        if janitor is not None:
            from raytrain.runtime.placement_janitor import settle

            settle(janitor)


def _fit(
    cfg: ExperimentConfig,
    plan: SearchPlan,
    exp: Path,
    uri: str | None,
    echo: Printer,
    resume: bool,
    tune_env: dict[str, str],
    janitor: Any,
) -> Any:
    """Build the trainable and the Tuner (new, or restored with `resume`) and run it."""
    from ray import tune

    base = cfg.model_dump(mode="json")
    if cfg.objective:
        from raytrain.tune.function_trainable import make_function_trainable

        trainable = make_function_trainable(base, plan.space, plan.resources)
    else:
        trainable = make_trainable(
            base,
            plan.space,
            str(plan.data_dir),
            plan.resources,
            uri or str(exp),
            shared_datasets(cfg, plan.space, plan.data_dir),
            janitor,
        )
    from raytrain.runtime.metrics import search_callback

    def epochs_of(params: dict[str, Any]) -> int:
        """The epochs a trial of these sampled values trains (a trial that ends at its last
        epoch counts as finished, not stopped)."""
        if cfg.objective:
            return cfg.training_params.num_epochs
        overrides = plan.space.decode(
            {k: v for k, v in params.items() if k in plan.space.param_space}
        )
        return validate(apply_overrides(base, overrides)).training_params.num_epochs

    callbacks = [search_callback(cfg.training.name, epochs_of)]
    derived = [] if cfg.objective else derived_needed(cfg)
    if derived:
        space = plan.space

        def config_of(params: dict[str, Any]) -> ExperimentConfig:
            overrides = space.decode({k: v for k, v in params.items() if k in space.param_space})
            return validate(apply_overrides(base, overrides), source="trial config")

        callbacks.append(derived_callback(derived, config_of))
        # derived metrics join each result in a callback, after Tune's check that a result has
        # every searched metric; the train loop itself checks the metrics it must report
        tune_env["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    from raytrain.tune.stopper import search_stopper, trial_ends_callback

    stop = search_stopper(plan.context, str(exp))  # tune.time_budget_s, stop, ...: one Stopper
    if stop is not None:
        callbacks.append(trial_ends_callback(stop))
    run_config = tune.RunConfig(
        name=TUNE_DIR,
        storage_path=uri or str(exp),  # a bucket: Tune and Train write there directly
        # on a bucket, Tune uploads its experiment state every sync_period (default 300 s):
        # every 2 s instead, so a killed driver's --resume does not rerun finished trials
        **({"sync_config": tune.SyncConfig(sync_period=2)} if uri else {}),
        verbose=1,
        callbacks=callbacks,
        stop=stop,
        # a worker group retries itself (Ray Train's FailureConfig); an in-trial run is
        # retried by Tune, from its last checkpoint
        failure_config=tune.FailureConfig(
            max_failures=cfg.training_params.max_failures if plan.resources.num_workers == 1 else 0
        ),
        # in-trial runs checkpoint through Tune: keep each trial's best three (PBT: four, so
        # that a checkpoint another trial is about to copy is not deleted under it). Three,
        # not two: Tune deletes a checkpoint as soon as it leaves the best k, while the
        # experiment state naming a trial's latest checkpoint is saved once a second; with
        # epochs of 0.1 s a driver killed in between left a state whose checkpoint was gone
        # (the resumed trial failed: seen in CI). A trial now needs three better epochs
        # within one save for that; deleting only after the state is saved is the real fix.
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=4 if plan.method.population else 3,
            checkpoint_score_attribute=plan.metric,
            checkpoint_score_order=plan.mode,
        ),
    )
    if resume:
        echo(f"resuming {join(uri or exp, TUNE_DIR)}")
        if plan.optuna_storage:
            from raytrain.tune.optuna_store import fail_orphans, study_exists

            if (exp / "optuna.db").exists() or (
                cfg.tune.optuna_storage and study_exists(plan.optuna_storage, cfg.training.name)
            ):
                fail_orphans(plan.optuna_storage, cfg.training.name, saved_trial_ids(uri or exp))
        tuner = tune.Tuner.restore(
            str(join(uri or exp, TUNE_DIR)),
            trainable,
            resume_unfinished=True,
            resume_errored=True,
            param_space=plan.param_space,
        )
    else:
        ctx = plan.context
        tuner = tune.Tuner(
            trainable,
            param_space=plan.param_space,
            tune_config=tune.TuneConfig(
                metric=plan.metric,
                mode=plan.mode,
                num_samples=plan.num_samples,
                search_alg=plan.method.build(ctx),
                scheduler=plan.scheduler.build(ctx),
                max_concurrent_trials=plan.resources.max_concurrent_trials,
                # The next trial runs in the finished trial's actor: no new process, no torch
                # import (one-worker trials: 4.0 s -> 0.1 s a trial). A multi-worker trial
                # the scheduler stops aborts its Train run when Tune resets the actor
                # (`trial_link.stop_signal`); before, it stayed inside fit(), Tune failed the next
                # trial ("Could not re-use actor") and the search hung. Until Tune hands the
                # kept actor its next trial, the stopped run trains on at most about one more
                # epoch, then waits in its next report. Not for PBT, which
                # restores trials from each other's checkpoints: with reuse, a PBT trial now
                # and then came back with no results at all (seen in tests).
                reuse_actors=plan.scheduler.name != "pbt",
            ),
            run_config=run_config,
        )
    with _environ(tune_env):
        return tuner.fit()


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the search only (Tune reads these in the driver)."""

    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
