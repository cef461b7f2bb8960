"""Trial schedulers (`tune.scheduler`, or PBT from `search.method: pbt`): a registry of builders.

All of them count time in epochs (`training_iteration`: one report per epoch) and watch the
search's primary metric. A multi-objective search schedules on that metric too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raytrain.errors import RaytrainError
from raytrain.tune.searchers import SearchContext, search_method

TIME_ATTR = "training_iteration"


@dataclass(frozen=True)
class SchedulerSpec:
    name: str
    build: Callable[[SearchContext], Any]
    describe: Callable[[SearchContext], str]
    #: pauses and restarts trials, which needs Tune checkpoints (in-process trials)
    pauses: bool = False


SCHEDULERS: dict[str, SchedulerSpec] = {}


def register_scheduler(
    name: str, describe: Callable[[SearchContext], str], *, pauses: bool = False
) -> Callable[[Callable[[SearchContext], Any]], Callable[[SearchContext], Any]]:
    def deco(build: Callable[[SearchContext], Any]) -> Callable[[SearchContext], Any]:
        SCHEDULERS[name] = SchedulerSpec(name, build, describe, pauses)
        return build

    return deco


def scheduler_spec(ctx: SearchContext) -> SchedulerSpec:
    """The scheduler a config asks for (PBT when the search method is population-based)."""
    name = "pbt" if search_method(ctx.cfg).population else ctx.cfg.tune.scheduler
    spec = SCHEDULERS[name]
    if spec.pauses and ctx.cfg.resources.num_workers != 1:
        raise RaytrainError(
            f"tune.scheduler: {name} pauses trials and resumes them from Tune checkpoints, "
            f"which needs resources.num_workers: 1 (trials run in-process); use asha, median "
            f"or fifo with several workers"
        )
    if name == "asha":
        asha_promotes(ctx)  # tune.asha_mode: promote with several workers is refused here
    return spec


def _max_t(ctx: SearchContext) -> int:
    return ctx.cfg.tune.max_t or ctx.cfg.training_params.num_epochs


#: ASHA's grace period when the YAML gives none: the first rung at epoch 3 (not 1). On the
#: LCBench surrogate, epoch-1 accuracy misranks configurations on several tasks and grace 1
#: never reached random search's target there (BENCHMARKS.md, bench/hpo_sim.py)
ASHA_GRACE = 3
#: the same for ASHA of the promotion kind (`tune.asha_mode`): epoch 2. A paused trial costs
#: nothing while it waits, so the first rung can be cheaper: on LCBench grace 2 reached random
#: search's target 5.0x sooner than random search, grace 3 4.4x; on Hartmann-6 "terrible" its
#: regret was 0.83x random search's (BENCHMARKS.md, bench/hpo_sim.py `rtx-g2-p`)
PROMOTION_GRACE = 2


def _grace(ctx: SearchContext, default: int = ASHA_GRACE) -> int:
    g = ctx.cfg.tune.grace_period
    return g if g is not None else max(1, min(default, _max_t(ctx)))


def asha_promotes(ctx: SearchContext) -> bool:
    """Whether ASHA is the promotion kind here (`tune.asha_mode`; auto: trials that can pause,
    i.e. run in-process). Promote with several workers per trial is a config error."""
    mode = ctx.cfg.tune.asha_mode
    in_process = ctx.cfg.resources.num_workers == 1
    if mode == "promote" and not in_process:
        raise RaytrainError(
            "tune.asha_mode: promote pauses trials and resumes them from Tune checkpoints, "
            "which needs resources.num_workers: 1 (trials run in-process); use asha_mode: stop "
            "(or auto) with several workers"
        )
    return mode == "promote" or (mode == "auto" and in_process)


def _asha_describe(ctx: SearchContext) -> str:
    t = ctx.cfg.tune
    if asha_promotes(ctx):
        return (
            f"ASHA, promotion kind (grace {_grace(ctx, PROMOTION_GRACE)} epoch(s), reduction "
            f"{t.reduction_factor:g}, max {_max_t(ctx)}; trials pause at each rung and go on "
            f"once among its best 1/{t.reduction_factor:g}, ranked by their "
            f"{'best epoch so far' if t.rung_score == 'best' else 'value at the rung'})"
        )
    check = (
        f"; a rung stops trials while its rank correlation with the next level is >= "
        f"{t.rung_check.min_correlation:g} over {t.rung_check.pairs}+ trials"
        if t.rung_check
        else ""
    )
    return (
        f"ASHA (grace {_grace(ctx)} epoch(s), reduction {t.reduction_factor:g}, "
        f"{t.brackets} bracket(s), max {_max_t(ctx)}"
        f"{'; revisits early promotions' if t.revisit_early_promotions else ''}{check})"
    )


@register_scheduler("asha", _asha_describe)
def _asha(ctx: SearchContext) -> Any:
    """ASHA of the promotion kind where trials can pause (`tune.asha_mode`,
    raytrain.tune.promotion); else Ray's ASHA, with raytrain's rung check (`tune.rung_check`,
    on unless null) and/or revisited early promotions (`tune.revisit_early_promotions`):
    raytrain.tune.asha."""
    from ray.tune.schedulers import ASHAScheduler

    from raytrain.tune.asha import CheckedASHA, RevisitingASHA
    from raytrain.tune.promotion import PromotionASHA

    t = ctx.cfg.tune
    if asha_promotes(ctx):
        return PromotionASHA(
            time_attr=TIME_ATTR,
            max_t=_max_t(ctx),
            grace_period=_grace(ctx, PROMOTION_GRACE),
            reduction_factor=t.reduction_factor,
            epoch_budget=t.epoch_budget,
            rung_score=t.rung_score,
        )
    common = dict(
        time_attr=TIME_ATTR,
        max_t=_max_t(ctx),
        grace_period=_grace(ctx),
        reduction_factor=t.reduction_factor,
        brackets=t.brackets,
    )
    if t.rung_check:
        return CheckedASHA(
            **common,
            min_pairs=t.rung_check.pairs,
            min_correlation=t.rung_check.min_correlation,
            revisit_early_promotions=t.revisit_early_promotions,
        )
    return (RevisitingASHA if t.revisit_early_promotions else ASHAScheduler)(**common)


@register_scheduler(
    "hyperband",
    lambda c: (
        f"HyperBand (synchronous brackets, reduction {c.cfg.tune.reduction_factor:g}, "
        f"max {_max_t(c)}; pauses trials between rungs)"
    ),
    pauses=True,
)
def _hyperband(ctx: SearchContext) -> Any:
    from ray.tune.schedulers import HyperBandScheduler

    return HyperBandScheduler(
        time_attr=TIME_ATTR, max_t=_max_t(ctx), reduction_factor=ctx.cfg.tune.reduction_factor
    )


@register_scheduler(
    "median",
    lambda c: (
        f"median stopping (stop a trial below the median of {c.cfg.tune.min_samples_required}+ "
        f"others' running averages, after {_grace(c, 1)} epoch(s))"
    ),
)
def _median(ctx: SearchContext) -> Any:
    from ray.tune.schedulers import MedianStoppingRule

    return MedianStoppingRule(
        time_attr=TIME_ATTR,
        grace_period=_grace(ctx, 1),
        min_samples_required=ctx.cfg.tune.min_samples_required,
    )


@register_scheduler("fifo", lambda c: "FIFO (every trial runs all epochs)")
def _fifo(ctx: SearchContext) -> Any:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


def _pbt_describe(ctx: SearchContext) -> str:
    t = ctx.cfg.tune
    mutable = ", ".join(ctx.space.mutations()) or "nothing"
    return (
        f"PBT (every {t.perturbation_interval} epoch(s) the bottom {t.quantile_fraction:g} "
        f"copies the top {t.quantile_fraction:g}; resample p={t.resample_probability:g}; "
        f"mutates {mutable}; {'synchronous' if t.synch else 'asynchronous'}; replaces "
        f"tune.scheduler)"
    )


@register_scheduler("pbt", _pbt_describe, pauses=True)
def _pbt(ctx: SearchContext) -> Any:
    from ray.tune.schedulers import PopulationBasedTraining

    t = ctx.cfg.tune
    space = ctx.space
    return PopulationBasedTraining(
        time_attr=TIME_ATTR,
        perturbation_interval=t.perturbation_interval,
        hyperparam_mutations=space.mutations(),
        quantile_fraction=t.quantile_fraction,
        resample_probability=t.resample_probability,
        custom_explore_fn=space.clip,
        synch=t.synch,
    )
