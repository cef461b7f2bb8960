"""The experiment config: one typed object for one YAML file.

The sections are the familiar ones (training, dataset, model, optimizer, ...), so that
existing files load as they are; raytrain adds `resources`, `tune`, `export` and `quick`.
Every section forbids unknown keys, so a typo is an error with a did-you-mean instead of a
silently ignored setting.

Model hyper-parameters (`model:` beyond `architecture`) are validated against the parameter class
that each registered architecture declares; see `raytrain.models.registry`.
"""

from __future__ import annotations

import typing
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from raytrain.config.section import Direction, Section
from raytrain.config.tune_section import (  # noqa: F401  (re-exported: the config's sections)
    RungCheck,
    StopPlateau,
    StopThreshold,
    TuneSection,
)


class TrainingSection(Section):
    name: str = Field("experiment", description="Experiment name; results go to results/<name>_*")
    mode: str = Field("development", description="Free-form tag (development, …)")
    task: str | None = Field(None, description="Task type; defaults to the architecture's task")
    seed: int = Field(42, description="Seed for weights, data order and augmentation")
    output_dir: str = Field("results", description="Root folder for experiment results")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not v or "/" in v or "\\" in v or v.startswith("."):
            raise ValueError("must be a plain name without '/', '\\' or a leading '.'")
        return v


class SampleDataSection(Section):
    """The built-in sample dataset, generated deterministically when no dataset path is given."""

    num_train: int = Field(512, ge=8)
    num_val: int = Field(128, ge=4)
    num_test: int = Field(128, ge=4)
    image_size: int = Field(64, ge=16, le=1024)
    seed: int = 0
    num_classes: int = Field(4, ge=2, le=6, description="Classifier sample data only")
    num_coefficients: int = Field(32, ge=4, le=512, description="Anomaly sample data only")
    target_rmse: float = Field(0.01, gt=0, description="Coefficient-optimizer sample data only")


AugmentationName = Literal["none", "basic", "advanced", "domain_specific", "flips"]


class TransformSpec(Section):
    """One albumentations transform: `{name: HorizontalFlip, p: 0.5, ...}`."""

    model_config = ConfigDict(extra="allow")
    name: str


class DatasetSection(Section):
    path: str | None = Field(None, description="A prepared dataset folder (with manifest.json)")
    train_path: str | None = None
    val_path: str | None = None
    test_path: str | None = None
    batch_size: int = Field(16, ge=1)
    num_workers: int = Field(
        2,
        ge=0,
        description="Most Ray Data read/decode/augment tasks at once per split (0: one per "
        "cluster CPU; never more than one per CPU or per shard)",
    )
    augmentation: AugmentationName | list[TransformSpec] = "basic"
    cache_dataset: bool | Literal["auto"] = Field(
        "auto",
        description="Keep the decoded images in the Ray object store (decode once, augment "
        "every epoch): auto = when the split fits in a quarter of the store",
    )
    on_bad_data: Literal["error", "skip"] = Field(
        "error",
        description="error: stop at the first bad file, naming it; skip: leave bad rows and "
        "shards out and count them in the run's data report",
    )
    image_size: int | None = Field(None, ge=16, description="Resize images to this size")
    sample: SampleDataSection = Field(default_factory=SampleDataSection)

    @model_validator(mode="after")
    def _paths_together(self) -> DatasetSection:
        if (self.train_path is None) != (self.val_path is None):
            raise ValueError("give both train_path and val_path, or neither (sample data)")
        if self.path is not None and self.train_path is not None:
            raise ValueError("give either path (a prepared dataset) or train_path/val_path")
        return self


class ModelSection(BaseModel):
    """`architecture` picks a registered model; the other keys are that model's parameters."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)
    architecture: str
    load_pretrained: bool = False
    fine_tune_layers: list[str] | None = None

    def params(self) -> dict[str, Any]:
        """The architecture's own parameters (everything but the generic keys)."""
        return dict(self.model_extra or {})


class OptimizerSection(Section):
    type: Literal["Adam", "AdamW", "SGD", "RMSprop", "Adadelta"] = "Adam"
    learning_rate: float = Field(1e-3, gt=0, le=10)
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0, validation_alias=AliasChoices("eps", "epsilon"))
    momentum: float = Field(0.0, ge=0, lt=1)
    nesterov: bool = False

    @field_validator("type", mode="before")
    @classmethod
    def _canonical_case(cls, v: Any) -> Any:
        names = {n.lower(): n for n in ("Adam", "AdamW", "SGD", "RMSprop", "Adadelta")}
        return names.get(str(v).lower(), v) if isinstance(v, str) else v


ScheduleName = Literal[
    "ReduceLROnPlateau",
    "CosineAnnealingLR",
    "cosine_decay",
    "cosine_decay_restarts",
    "exponential_decay",
    "constant",
]


class SchedulerSection(Section):
    """The learning rate per optimizer step (raytrain.train.schedules): per-epoch
    schedulers and per-step schedules, each after a linear warmup and above a floor."""

    type: ScheduleName = Field(
        "constant", validation_alias=AliasChoices("type", "lr_schedule", "lr_schedule_type")
    )
    mode: Literal["min", "max"] = "min"
    factor: float = Field(0.5, gt=0, lt=1)
    patience: int = Field(10, ge=0)
    min_lr: float = Field(0.0, ge=0)
    warmup_steps: int = Field(0, ge=0, description="Linear warmup, in optimizer steps")
    warmup_start_lr: float = Field(1e-8, ge=0, description="The LR of the first warmup step")
    alpha: float = Field(0.0, ge=0, le=1, description="Floor: never below alpha x learning_rate")
    decay_steps: int | None = Field(
        None,
        ge=1,
        description="cosine_decay: length of the decay (default: the run after warmup); "
        "exponential_decay: steps per decay_rate factor (default: one epoch); "
        "cosine_decay_restarts: first period (default: three periods fill the run)",
    )
    decay_rate: float = Field(0.9, gt=0, le=1, description="exponential_decay")
    t_mul: float = Field(2.0, gt=0, description="cosine_decay_restarts: period multiplier")
    m_mul: float = Field(1.0, gt=0, description="cosine_decay_restarts: LR multiplier")

    @field_validator("type", mode="before")
    @classmethod
    def _canonical_name(cls, v: Any) -> Any:
        names = {n.lower(): n for n in typing.get_args(ScheduleName)}
        names.update({"cosine": "cosine_decay", "exponential": "exponential_decay"})
        return names.get(v.lower(), v) if isinstance(v, str) else v


class TrainingParamsSection(Section):
    num_epochs: int = Field(10, ge=1)
    early_stopping_patience: int | None = Field(None, ge=1)
    save_frequency: int = Field(1, ge=1)
    gradient_clip: float | None = Field(
        None,
        gt=0,
        description="Clip the global gradient norm",
        validation_alias=AliasChoices("gradient_clip", "gradient_clipping_norm_global"),
    )
    gradient_clip_norm: float | None = Field(
        None,
        gt=0,
        description="Clip each parameter's gradient norm",
        validation_alias=AliasChoices("gradient_clip_norm", "gradient_clipping_norm_local"),
    )
    gradient_clip_value: float | None = Field(
        None,
        gt=0,
        description="Clip every gradient element to [-v, v]",
        validation_alias=AliasChoices("gradient_clip_value", "gradient_clipping_value"),
    )
    gradient_accumulation_steps: int = Field(
        1, ge=1, description="Micro-batches per optimizer step (effective batch = k x batch)"
    )
    mixed_precision: bool | Literal["auto", "bf16", "fp16"] = Field(
        False,
        description="true: bf16 (fp16 + loss scaling where bf16 is missing) on CUDA, float32 "
        "on CPU; auto: as true, plus channels_last for conv models on CUDA (no torch.compile); "
        "bf16 / fp16: that precision on any device that supports it",
    )
    warmup_epochs: int = Field(0, ge=0, description="Linear warmup, in epochs (adds to steps)")
    monitor_metric: str | None = Field(
        None, description="Best epoch / early stopping metric (default: search.metric)"
    )
    monitor_mode: Literal["min", "max"] | None = None
    num_to_keep: int | None = Field(
        2, ge=1, description="Checkpoints kept (best by the monitored metric); None: all"
    )
    pos_weight: float | Literal["auto"] | None = Field(
        "auto",
        description="BCE positive-class weight; auto: sqrt(negatives/positives) of the "
        "training split (class-balanced, tempered), None: 1",
    )
    max_failures: int = Field(0, ge=-1, description="Worker-group restarts allowed per trial")
    loss: str | None = Field(
        None,
        description="The task's loss (default: its first): edges bce, dice, bce_dice, focal; "
        "classification cross_entropy; regression mse, huber, l1; anomaly bce, focal",
    )
    label_smoothing: float = Field(
        0.0, ge=0.0, lt=1.0, description="Cross-entropy label smoothing (classification)"
    )


class LoggingSection(Section):
    use_wandb: bool = False
    wandb_project: str = "raytrain"
    wandb_entity: str | None = None
    wandb_mode: Literal["offline", "online", "disabled"] | None = None
    log_frequency: int = Field(
        1, ge=1, description="Write every N-th optimizer step to steps_log.csv and TensorBoard"
    )
    save_samples: bool = Field(False, description="Not supported; see logging.visualizations")

    @field_validator("save_samples")
    @classmethod
    def _no_samples(cls, v: bool) -> bool:
        return _refuse_when_set(
            "logging",
            "save_samples",
            v,
            False,
            "is not a separate switch; sample predictions are drawn in visualizations/ "
            "(logging.visualizations: true) and by `raytrain predict`",
        )

    tensorboard: bool = True
    csv: bool = True
    visualizations: bool = Field(True, description="Plots in visualizations/ for each run")
    analysis: bool = Field(
        True, description="Analysis plots in analysis/ (weights, calibration, ...)"
    )
    visualization_frequency: int = Field(
        0, ge=0, description="Redraw every per-epoch plot every N epochs (0: at the end only)"
    )
    convergence_analysis: bool = Field(True, description="visualizations/convergence_analysis")
    overfitting_analysis: bool = Field(True, description="visualizations/overfitting_analysis")
    classification_viz: bool = Field(
        True, description="Class balance, confusion, ROC/PR, per-class and error plots"
    )
    final_dashboard: bool = Field(True, description="visualizations/final_dashboard")
    gradient_tracking: bool = Field(
        False, description="Per-layer gradient norms and activation statistics every epoch"
    )


#: Keys kept so old configs read, that a run does not do: set, each is an error saying what to
#: use instead (value -> why). Their defaults are accepted and do nothing.
_AFTER_TRAINING = (
    "is not done during training; score the registered model with `raytrain evaluate "
    "NAME[:VERSION]`, which reports every metric of the task beside the classical baseline"
)


def _refuse_when_set(section: str, key: str, value: Any, default: Any, why: str) -> Any:
    if value != default:
        raise ValueError(f"not supported: {section}.{key} {why}")
    return value


class EvaluationSection(Section):
    metrics: list[str] | None = Field(None, description="Not supported; `raytrain evaluate`")
    save_predictions: bool = Field(
        False, description="Not supported; `raytrain predict` / `raytrain evaluate`"
    )
    compare_with_baseline: bool = Field(False, description="Not supported; `raytrain evaluate`")
    threshold: float = Field(0.5, gt=0, lt=1, description="Probability threshold for binary maps")

    @field_validator("metrics", "save_predictions", "compare_with_baseline")
    @classmethod
    def _not_during_training(cls, v: Any, info: Any) -> Any:
        default = cls.model_fields[info.field_name].default
        return _refuse_when_set("evaluation", info.field_name, v, default, _AFTER_TRAINING)


class PretrainedSection(Section):
    model_path: str | None = None
    freeze_encoder: bool = False
    freeze_epochs: int = Field(0, ge=0)


_DIRECTION_ALIASES = {"max": "maximize", "min": "minimize"}


class SearchSection(Section):
    """How trials are chosen; see raytrain.tune.searchers for each method."""

    method: Literal["bayesian", "tpe", "cmaes", "gp", "nsga2", "random", "grid", "pbt"] = Field(
        "bayesian",
        description="bayesian/tpe: Optuna TPE; cmaes: Optuna CMA-ES; gp: Optuna's Gaussian "
        "process; nsga2: Optuna NSGA-II (multi-objective); random; grid: every point of the "
        "space; pbt: population-based training (mutations from the space)",
    )
    num_trials: int = Field(10, ge=1, description="Trials (grid: ignored; pbt: population)")
    metric: str | None = Field(None, description="Defaults to the task's main validation metric")
    direction: Direction | None = None
    objectives: dict[str, Direction] | None = Field(
        None,
        description="Multi-objective search: metric -> direction (e.g. {val_f1_score: maximize, "
        "latency_ms: minimize}); the results get a Pareto front. `metric` stays the one that "
        "schedules trials and picks the checkpoint to register",
    )
    seed: int | None = Field(None, description="Sampler seed; default training.seed")
    startup_trials: int | None = Field(
        None, ge=1, description="TPE/CMA-ES/GP: random trials before the model takes over"
    )
    population_size: int | None = Field(
        None,
        ge=2,
        description="nsga2: trials per generation; default num_trials // 5, between 4 and 50 "
        "(Optuna's 50 would leave a smaller search all random)",
    )
    points_to_evaluate: list[dict[str, Any]] | None = Field(
        None,
        description="Trials to run first, each giving every search_space key a value in its "
        "range (e.g. [{learning_rate: 0.001, batch_size: 32}]); they count in num_trials",
    )
    warm_start_from: str | None = Field(
        None,
        description="A finished raytrain search's folder: its trials and their values are "
        "added to the new Optuna study before the first trial (tpe, gp)",
    )

    @field_validator("direction", mode="before")
    @classmethod
    def _direction_aliases(cls, v: Any) -> Any:
        return _DIRECTION_ALIASES.get(v, v) if isinstance(v, str) else v

    @field_validator("objectives", mode="before")
    @classmethod
    def _objective_aliases(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {
                k: _DIRECTION_ALIASES.get(d, d) if isinstance(d, str) else d for k, d in v.items()
            }
        return v

    @model_validator(mode="after")
    def _objectives_shape(self) -> SearchSection:
        if self.objectives is not None and len(self.objectives) < 2:
            raise ValueError("objectives needs two metrics or more (one metric: use 'metric')")
        return self


class SearchParam(Section):
    """One search-space entry. Seed spellings (loguniform, uniform) and Optuna's short form
    (`{type: float, low, high, log}`) are both accepted; see raytrain.config.search_space."""

    type: Literal[
        "loguniform",
        "uniform",
        "float",
        "int",
        "randint",
        "qrandint",
        "categorical",
        "choice",
        "grid",
    ]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] | None = None
    values: list[Any] | None = None

    @model_validator(mode="after")
    def _shape(self) -> SearchParam:
        if self.type in ("categorical", "choice"):
            if not self.choices:
                raise ValueError(f"type '{self.type}' needs a non-empty 'choices' list")
        elif self.type == "grid":
            if not (self.values or self.choices):
                raise ValueError("type 'grid' needs a non-empty 'values' list")
        else:
            if self.low is None or self.high is None:
                raise ValueError(f"type '{self.type}' needs 'low' and 'high'")
            if self.low >= self.high:
                raise ValueError(f"'low' ({self.low}) must be below 'high' ({self.high})")
            if (self.type == "loguniform" or self.log) and self.low <= 0:
                raise ValueError("a log-scale range needs 'low' > 0")
        return self


class ResourcesSection(Section):
    """What one trial uses. raytrain turns this into a Ray Train ScalingConfig and computes how
    many trials fit on the cluster at once."""

    num_workers: int = Field(1, ge=1, description="DDP workers per trial")
    use_gpu: bool = False
    cpus_per_worker: float | None = Field(None, gt=0, description="Default: computed to fit")
    gpus_per_worker: float = Field(1.0, gt=0)
    max_concurrent_trials: int | None = Field(None, ge=1, description="Default: what fits")
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = Field(
        "PACK", description="How a trial's workers are placed on nodes (SPREAD: across nodes)"
    )


#: ONNX opsets the exporter writes (torch's TorchScript-based exporter: 11 to 20).
OPSET_RANGE = (11, 20)


class ExportSection(Section):
    register_best: bool = Field(True, description="Register the best trial in the registry")
    registry_dir: str = Field("models", description="Where the model registry lives")
    registry_name: str | None = Field(None, description="Default: the experiment name")
    onnx: bool = True
    opset: int = Field(17, ge=OPSET_RANGE[0], le=OPSET_RANGE[1])
    tolerance: float = Field(1e-4, gt=0, description="Max |onnx - torch| on a random batch")


class ExperimentConfig(Section):
    training: TrainingSection = Field(default_factory=TrainingSection)
    dataset: DatasetSection = Field(default_factory=DatasetSection)
    #: required unless `objective` names a function to search (raytrain.config.load checks it)
    model: ModelSection | None = None
    objective: str | None = Field(
        None,
        description="Search this function instead of a built-in model: 'package.module:function'"
        " (raytrain.tune.function_trainable); it reports with raytrain.tune.report",
    )
    objective_params: dict[str, Any] = Field(
        default_factory=dict,
        description="objective: fixed values the function receives beside the searched ones",
    )
    optimizer: OptimizerSection = Field(default_factory=OptimizerSection)
    scheduler: SchedulerSection = Field(default_factory=SchedulerSection)
    training_params: TrainingParamsSection = Field(default_factory=TrainingParamsSection)
    logging: LoggingSection = Field(default_factory=LoggingSection)
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection)
    pretrained: PretrainedSection = Field(default_factory=PretrainedSection)
    search: SearchSection = Field(default_factory=SearchSection)
    search_space: dict[str, SearchParam] = Field(default_factory=dict)
    resources: ResourcesSection = Field(default_factory=ResourcesSection)
    tune: TuneSection = Field(default_factory=TuneSection)
    export: ExportSection = Field(default_factory=ExportSection)
    quick: dict[str, Any] = Field(
        default_factory=dict,
        description="Dotted-path overrides applied by --quick (a run that ends in minutes)",
    )
