"""The `tune:` section of the experiment config: scheduler settings, the search's stop rules
and where results live (raytrain.tune.schedulers, raytrain.tune.stopping read it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from raytrain.config.section import Section


class _StopRule(Section):
    metric: str | None = Field(None, description="Default: search.metric")
    mode: Literal["min", "max"] | None = Field(
        None,
        description="max: higher is better, min: lower; default the metric's direction in the "
        "search (required for a metric that is not one of its objectives)",
    )

    @field_validator("mode", mode="before")
    @classmethod
    def _mode_aliases(cls, v: Any) -> Any:
        return {"maximize": "max", "minimize": "min"}.get(v, v) if isinstance(v, str) else v


class StopThreshold(_StopRule):
    """`tune.stop`: the search ends when any trial reports `metric` at `threshold` or better
    (>= for max, <= for min)."""

    threshold: float = Field(description="The value that ends the search")


class StopPlateau(_StopRule):
    """`tune.stop_plateau`: the search ends when its best value stops improving."""

    patience: int = Field(ge=1, description="Finished trials in a row without improvement")
    min_delta: float = Field(0.0, ge=0, description="Smaller gains do not count as improvement")


class RungCheck(Section):
    """`tune.rung_check`: ASHA stops trials at a rung only while the trials that reached it and
    the next level rank the same way there (raytrain.tune.asha.CheckedASHA). Where the first
    epochs mislead, a rung that disagrees stops nothing; where they rank well, this is ASHA."""

    pairs: int = Field(
        4, ge=3, description="Trials a rung and the next level must share before it is judged"
    )
    min_correlation: float = Field(
        0.7,
        ge=-1,
        le=1,
        description="Spearman rank correlation below which a rung stops no trial (measured: "
        "BENCHMARKS.md, LCBench and Hartmann-6)",
    )


class TuneSection(Section):
    """Scheduler settings (see raytrain.tune.schedulers) and where results live."""

    scheduler: Literal["asha", "hyperband", "median", "fifo"] = Field(
        "asha", description="Early stopping; search.method: pbt brings its own scheduler"
    )
    grace_period: int | None = Field(
        None,
        ge=1,
        description="ASHA/median: epochs before any stop; default: ASHA 3, ASHA of the "
        "promotion kind 2 (at most max_t; measured on LCBench, BENCHMARKS.md), median 1",
    )
    reduction_factor: float = Field(3.0, gt=1, description="ASHA/HyperBand: keep 1/this per rung")
    brackets: int = Field(1, ge=1, description="ASHA brackets (stop mode)")
    max_t: int | None = Field(None, ge=1, description="ASHA/HyperBand; default num_epochs")
    asha_mode: Literal["auto", "promote", "stop"] = Field(
        "auto",
        description="ASHA: promote = trials pause at each rung and go on only once among its "
        "best 1/reduction_factor (raytrain.tune.promotion; needs resources.num_workers: 1); "
        "stop = Ray's ASHA, a trial is judged when it reaches a rung and stopped or let run; "
        "auto = promote where trials run in-process, else stop (measured on LCBench: 5.0x "
        "random search's speed against 2.8x, BENCHMARKS.md)",
    )
    rung_score: Literal["best", "last"] = Field(
        "best",
        description="ASHA (promote mode): rank a trial at a rung by its best epoch so far "
        "(best: how the search scores a trial, robust to a one-epoch dip of a noisy metric) "
        "or by its value at the rung's epoch (last: Li et al., Ray's and Optuna's rule); "
        "measured on the sample U-Net's curves and LCBench, BENCHMARKS.md",
    )
    revisit_early_promotions: bool = Field(
        True,
        description="ASHA (stop mode): judge again a trial that passed a rung before the rung had "
        "reduction_factor other results (raytrain.tune.asha; measured on LCBench and "
        "Hartmann-6, BENCHMARKS.md); false: Ray's rule",
    )
    rung_check: RungCheck | None = Field(
        default_factory=RungCheck,
        description="ASHA (stop mode): a rung stops trials only while it ranks them like the "
        "next level (raytrain.tune.asha.CheckedASHA); null: Ray's ASHA rule alone",
    )
    epoch_budget: int | None = Field(
        None,
        ge=1,
        description="Stop the whole search once its trials have trained this many epochs "
        "together (raytrain.tune.stopping); None: no limit",
    )
    time_budget_s: float | None = Field(
        None,
        gt=0,
        description="Stop the whole search after this many seconds (Ray's TimeoutStopper); "
        "running trials end, the best so far is kept and registered",
    )
    stop: StopThreshold | None = Field(
        None, description="Stop the whole search once a trial reports metric at threshold"
    )
    stop_plateau: StopPlateau | None = Field(
        None,
        description="Stop the whole search once patience finished trials in a row did not "
        "improve the best value by more than min_delta",
    )
    min_samples_required: int = Field(3, ge=1, description="Median stopping: trials to compare")
    perturbation_interval: int = Field(2, ge=1, description="PBT: epochs between exploits")
    quantile_fraction: float = Field(0.25, gt=0, le=0.5, description="PBT: top/bottom share")
    resample_probability: float = Field(0.25, ge=0, le=1, description="PBT: resample vs perturb")
    synch: bool = Field(
        False, description="PBT: wait for the whole population at each interval (reproducible)"
    )
    storage_path: str | None = Field(
        None,
        description="Default: training.output_dir; a folder, or s3://bucket/prefix, "
        "gs://bucket/prefix (credentials and endpoint from the environment)",
    )
    optuna_storage: str | None = Field(
        None,
        description="Optuna study storage (tpe, cmaes, gp, nsga2): sqlite:///PATH, "
        "postgresql://..., mysql://..., journal:///PATH (a journal file); default "
        "sqlite:///<experiment>/optuna.db",
    )
    shared_storage: bool = Field(
        False,
        description="Declare storage_path a filesystem mounted on every node (NFS, EFS, "
        "a PVC): required on a multi-node cluster, where a head-local path loses checkpoints",
    )

    @field_validator("optuna_storage")
    @classmethod
    def _optuna_storage_url(cls, v: str | None) -> str | None:
        schemes = ("sqlite", "postgresql", "mysql", "journal")
        scheme = (v or "").partition("://")[0].partition("+")[0]
        if v is not None and ("://" not in v or scheme not in schemes):
            raise ValueError(
                "expected an Optuna storage URL: sqlite:///PATH, postgresql://USER@HOST/DB, "
                "mysql://USER@HOST/DB or journal:///PATH"
            )
        return v
