"""Planning a search without running it: method and scheduler registries, YAML settings,
grids, PBT mutations, objectives and the Pareto front, the dry run, experiment folders.
No Ray is started here."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from click.testing import CliRunner

from raytrain.cli.app import main
from raytrain.config import load_config_text
from raytrain.config.schema import SearchSection, TuneSection
from raytrain.errors import RaytrainError
from raytrain.tune.experiment import claim
from raytrain.tune.objectives import pareto_front
from raytrain.tune.plan import SearchPlan, plan_search
from raytrain.tune.schedulers import SCHEDULERS
from raytrain.tune.searchers import SEARCH_METHODS

BASE = """
training: {{name: plan, output_dir: {out}}}
model: {{architecture: coefficient_optimizer, hidden_dims: [8, 4]}}
training_params: {{num_epochs: 6}}
"""

SPACE = """
search_space:
  learning_rate: {type: loguniform, low: 1e-4, high: 1e-1}
  model.dropout: {type: uniform, low: 0.0, high: 0.4}
"""


def _plan(tmp_path: Path, extra: str, cpus: float = 4) -> SearchPlan:
    cfg = load_config_text(BASE.format(out=tmp_path) + extra)
    return plan_search(cfg, cluster_cpus=cpus, cluster_gpus=0)


def _error(tmp_path: Path, extra: str) -> str:
    with pytest.raises(RaytrainError) as info:
        _plan(tmp_path, extra)
    return str(info.value)


# -- registries match the schema --------------------------------------------------------------


def test_every_yaml_method_and_scheduler_is_registered() -> None:
    methods = typing.get_args(SearchSection.model_fields["method"].annotation)
    assert set(methods) == set(SEARCH_METHODS)
    schedulers = typing.get_args(TuneSection.model_fields["scheduler"].annotation)
    assert set(schedulers) | {"pbt"} == set(SCHEDULERS)


@pytest.mark.parametrize(
    ("method", "cls", "sampler"),
    [
        ("bayesian", "DurableOptunaSearch", "TPESampler"),
        ("tpe", "DurableOptunaSearch", "TPESampler"),
        ("cmaes", "DurableOptunaSearch", "CmaEsSampler"),
        ("random", "ResumableVariantGenerator", None),
        ("grid", "ResumableVariantGenerator", None),
    ],
)
def test_methods_build_their_searchers(
    tmp_path: Path, method: str, cls: str, sampler: str | None
) -> None:
    extra = f"search: {{method: {method}, num_trials: 5, seed: 11, startup_trials: 3}}\n"
    if method == "grid":
        extra += "search_space:\n  learning_rate: {type: grid, values: [0.001, 0.01]}\n"
    else:
        extra += SPACE
    plan = _plan(tmp_path, extra)
    plan.experiment_dir.mkdir(parents=True)  # run_search makes it before building
    searcher = plan.method.build(plan.context)
    assert type(searcher).__name__ == cls
    if sampler:
        assert type(searcher._sampler).__name__ == sampler
        assert plan.context.seed == 11
        assert searcher._study_name == "plan"
        assert plan.optuna_storage == f"sqlite:///{tmp_path.absolute() / 'plan' / 'optuna.db'}"
    else:
        assert plan.optuna_storage is None
        # Tune ignores max_concurrent_trials for a generator it did not build
        assert searcher.max_concurrent == plan.resources.max_concurrent_trials > 1


def test_scheduler_settings_come_from_yaml(tmp_path: Path) -> None:
    from ray.tune.schedulers import (
        ASHAScheduler,
        FIFOScheduler,
        HyperBandScheduler,
        MedianStoppingRule,
        PopulationBasedTraining,
    )

    from raytrain.tune.asha import CheckedASHA, RevisitingASHA
    from raytrain.tune.promotion import PromotionASHA

    def build(tune: str, method: str = "tpe") -> object:
        plan = _plan(tmp_path, f"search: {{method: {method}}}\n{SPACE}tune: {tune}\n")
        return plan.scheduler.build(plan.context)

    # the default for in-process trials: ASHA of the promotion kind, first rung at epoch 2
    promo = build("{scheduler: asha}")
    assert isinstance(promo, PromotionASHA)
    assert promo._milestones == [2, 6] and promo._rf == 3 and promo.rung_score == "best"
    assert build("{rung_score: last}").rung_score == "last"
    assert build("{reduction_factor: 2, grace_period: 1}")._milestones == [1, 2, 4, 6]
    S = "asha_mode: stop, "
    asha = build(f"{{{S}scheduler: asha, grace_period: 2, reduction_factor: 4, brackets: 2}}")
    assert isinstance(asha, ASHAScheduler)
    assert asha._max_t == 6 and len(asha._brackets) == 2
    assert asha._reduction_factor == 4 and asha._brackets[0]._rungs[-1][0] == 2
    assert build(f"{{{S}scheduler: asha, max_t: 3}}")._max_t == 3
    # stop mode: Ray's ASHA rule, raytrain's rung check (tune.rung_check: 4 pairs, 0.7) and
    # early promotions judged again (tune.revisit_early_promotions)
    assert isinstance(asha, CheckedASHA)
    bracket = asha._brackets[0]
    assert (bracket.min_pairs, bracket.min_correlation) == (4, 0.7)
    assert hasattr(bracket, "_unjudged")  # revisits
    checked = build(f"{{{S}rung_check: {{pairs: 6, min_correlation: 0.5}}, max_t: 5}}")
    assert (checked._brackets[0].min_pairs, checked._brackets[0].min_correlation) == (6, 0.5)
    unrevisited = build(f"{{{S}revisit_early_promotions: false}}")
    assert isinstance(unrevisited, CheckedASHA) and not hasattr(
        unrevisited._brackets[0], "_unjudged"
    )
    plain = build(f"{{{S}scheduler: asha, rung_check: null, revisit_early_promotions: false}}")
    assert type(plain) is ASHAScheduler  # Ray's own ASHA, nothing added
    revisiting = build(f"{{{S}scheduler: asha, grace_period: 2, rung_check: null}}")
    assert type(revisiting) is RevisitingASHA and revisiting._brackets[0]._rungs[-1][0] == 2
    hb = build("{scheduler: hyperband, reduction_factor: 2}")
    assert isinstance(hb, HyperBandScheduler) and hb._eta == 2 and hb._max_t_attr == 6
    median = build("{scheduler: median, grace_period: 3, min_samples_required: 5}")
    assert isinstance(median, MedianStoppingRule)
    assert (median._grace_period, median._min_samples_required) == (3, 5)
    assert isinstance(build("{scheduler: fifo}"), FIFOScheduler)
    pbt = build("{perturbation_interval: 3, quantile_fraction: 0.5}", method="pbt")
    assert isinstance(pbt, PopulationBasedTraining)
    assert pbt._perturbation_interval == 3 and pbt._quantile_fraction == 0.5
    # PBT mutates the optimizer, never the architecture (a checkpoint cannot change shape)
    assert set(pbt._hyperparam_mutations) == {"optimizer.learning_rate"}


def test_pbt_explore_stays_inside_the_space(tmp_path: Path) -> None:
    plan = _plan(tmp_path, f"search: {{method: pbt}}\n{SPACE}")
    clipped = plan.space.clip({"optimizer.learning_rate": 0.5, "model.dropout": -1.0})
    assert clipped == {"optimizer.learning_rate": 0.1, "model.dropout": 0.0}


# -- combinations refused before anything runs ------------------------------------------------


def test_grid_entries_need_random_or_grid(tmp_path: Path) -> None:
    grid = "search_space:\n  learning_rate: {type: grid, values: [0.001, 0.01]}\n"
    assert "grid entries in search_space need" in _error(tmp_path, "search: {method: tpe}\n" + grid)
    assert "grid entries" in _error(tmp_path, "search: {method: cmaes}\n" + grid)


def test_grid_method_needs_finite_ranges(tmp_path: Path) -> None:
    msg = _error(tmp_path, f"search: {{method: grid}}\n{SPACE}")
    assert "search_space.optimizer.learning_rate" in msg and "'step'" in msg


def test_grid_method_enumerates_every_entry(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        """
search: {method: grid, num_trials: 100}
search_space:
  learning_rate: {type: grid, values: [0.001, 0.01]}
  model.dropout: {type: float, low: 0.0, high: 0.2, step: 0.1}
  model.hidden_dims: {type: categorical, choices: [[8], [8, 4], [16, 8]]}
  batch_size: {type: int, low: 16, high: 32, step: 8}
""",
    )
    assert plan.expected_trials == 2 * 3 * 3 * 3 and plan.num_samples == 1
    grid = plan.param_space
    assert grid["model.dropout"] == {"grid_search": [0.0, 0.1, 0.2]}
    assert grid["model.hidden_dims"] == {"grid_search": [0, 1, 2]}  # by index, decoded later
    assert grid["dataset.batch_size"] == {"grid_search": [16, 24, 32]}


def test_random_crosses_grid_entries_with_samples(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        "search: {method: random, num_trials: 5}\nsearch_space:\n"
        "  learning_rate: {type: grid, values: [0.001, 0.01]}\n"
        "  model.dropout: {type: uniform, low: 0.0, high: 0.4}\n",
    )
    assert (plan.num_samples, plan.expected_trials) == (3, 6)


def test_multi_objective_needs_a_capable_method_and_the_primary_metric(tmp_path: Path) -> None:
    objectives = "objectives: {val_rmse: minimize, latency_ms: minimize}"
    msg = _error(tmp_path, f"search: {{method: cmaes, {objectives}}}\n{SPACE}")
    assert "cannot optimize several search.objectives" in msg
    msg = _error(tmp_path, f"search: {{method: pbt, {objectives}}}\n{SPACE}")
    assert "search.objectives" in msg
    msg = _error(
        tmp_path,
        f"search: {{method: tpe, objectives: {{val_mae: min, latency_ms: min}}}}\n{SPACE}",
    )
    assert "primary metric 'val_rmse'" in msg
    plan = _plan(tmp_path, f"search: {{method: tpe, {objectives}}}\n{SPACE}")
    assert plan.objectives == [("val_rmse", "min"), ("latency_ms", "min")]
    plan.experiment_dir.mkdir(parents=True)
    searcher = plan.method.build(plan.context)
    assert searcher.metric == ["val_rmse", "latency_ms"] and searcher.mode == ["min", "min"]


def test_pausing_schedulers_need_in_process_trials(tmp_path: Path) -> None:
    two = "resources: {num_workers: 2, cpus_per_worker: 0.5}\n"
    msg = _error(tmp_path, f"search: {{method: pbt}}\n{SPACE}{two}")
    assert "resources.num_workers: 1" in msg
    msg = _error(tmp_path, f"{SPACE}{two}tune: {{scheduler: hyperband}}\n")
    assert "hyperband pauses trials" in msg and "resources.num_workers: 1" in msg
    msg = _error(tmp_path, f"{SPACE}{two}tune: {{asha_mode: promote}}\n")
    assert "tune.asha_mode: promote" in msg and "resources.num_workers: 1" in msg
    # auto: DDP trials cannot pause, so ASHA is the stopping kind there
    from raytrain.tune.asha import CheckedASHA

    plan = _plan(tmp_path, f"{SPACE}{two}")
    assert isinstance(plan.scheduler.build(plan.context), CheckedASHA)
    assert "nothing to mutate" in _error(
        tmp_path,
        "search: {method: pbt}\nsearch_space:\n"
        "  model.dropout: {type: uniform, low: 0.0, high: 0.4}\n",
    )


def test_pareto_front() -> None:
    rows = [
        {"f1": 0.9, "ms": 5.0},  # best f1
        {"f1": 0.8, "ms": 1.0},  # fastest
        {"f1": 0.8, "ms": 2.0},  # dominated by row 1
        {"f1": 0.85, "ms": 3.0},  # a trade-off
        {"f1": 0.7, "ms": 6.0},  # dominated by everyone
        {"f1": None, "ms": 0.1},  # missing an objective: not ranked
    ]
    assert pareto_front(rows, [("f1", "max"), ("ms", "min")]) == [0, 1, 3]
    assert pareto_front(rows, [("f1", "max")]) == [0]


# -- dry run ----------------------------------------------------------------------------------


def test_dry_run_prints_the_whole_plan_and_runs_nothing(tmp_path: Path) -> None:
    cfg = tmp_path / "space.yaml"
    cfg.write_text(
        BASE.format(out=tmp_path / "results")
        + "search: {method: tpe, num_trials: 7}\n"
        + SPACE
        + "resources: {num_workers: 2, cpus_per_worker: 0.5}\n"
        + "tune: {scheduler: asha, grace_period: 2, reduction_factor: 3}\n"
    )
    res = CliRunner().invoke(main, ["tune", str(cfg), "--dry-run"])
    assert res.exit_code == 0, res.output
    out = res.output
    exp = (tmp_path / "results" / "plan").absolute()
    for expected in (
        f"experiment   plan -> {exp}",
        "objective    val_rmse min",
        "searcher     tpe: Optuna TPE",
        "7 trial(s) expected, 6 epoch(s) each at most",
        "ASHA (grace 2 epoch(s), reduction 3, 1 bracket(s), max 6; revisits early promotions; a "
        "rung stops trials while its rank correlation with the next level is >= 0.7 over 4+ "
        "trials)",
        "per trial    2 worker(s) x 0.5 CPU + 0.01 CPU trial driver = 1.01 CPU",
        "optuna       sqlite:///",
        "storage      " + str(exp),
        "optimizer.learning_rate",
        "model.dropout",
        "resolved config",
        "    num_trials: 7",
    ):
        assert expected in out, expected
    # the arithmetic: (cpus - data) // per trial, capped by the trial count
    line = next(x for x in out.splitlines() if x.startswith("concurrency"))
    assert "trials: 7" in line
    assert not (tmp_path / "results").exists()


# -- experiment folders -----------------------------------------------------------------------


def test_a_used_name_needs_resume_and_resume_needs_a_search(tmp_path: Path) -> None:
    cfg = load_config_text(BASE.format(out=tmp_path))
    exp = tmp_path / "plan"
    claim(exp, cfg, resume=False)  # new: fine (the claim creates the folder and locks it)
    assert [p.name for p in exp.iterdir()] == [".claim"]
    claim(exp, cfg, resume=False)  # empty but for the claim: fine
    (exp / "config.yaml").write_text("x: 1\n")
    with pytest.raises(RaytrainError, match="already exists.*--resume"):
        claim(exp, cfg, resume=False)
    with pytest.raises(RaytrainError, match="no search named 'plan' to resume"):
        claim(exp, cfg, resume=True)
    (exp / "tune").mkdir()
    with pytest.raises(RaytrainError, match="config differs .* at x, training"):
        claim(exp, cfg, resume=True)
    import yaml

    (exp / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    claim(exp, cfg, resume=True)
    (exp / "summary.json").write_text("{}")
    with pytest.raises(RaytrainError, match="already finished"):
        claim(exp, cfg, resume=True)
