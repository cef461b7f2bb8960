"""`raytrain evaluate`: a registered model on a held-out split, next to its classical baseline.

The evaluation script and its comparison with a classical baseline, for any registered model:

1. load the model from the registry (weights checked against their sha256) and rebuild its
   training config from the entry, which says which dataset it was trained on;
2. read the split in-process with pyarrow and decode it with the training pipeline's own
   `preprocess_batch` (no augmentation, no Ray): the model sees exactly what validation saw;
3. compute the task's metrics from the task's sufficient statistics (one definition of F1,
   RMSE … for training, evaluation and baselines), and time inference;
4. fit the task's baselines (`raytrain.evaluation.baselines`) on the training split, score
   them on the
   same split, and report model − baseline per metric, saying plainly when a baseline wins.

Inference time is reported two ways, both forward pass only (decoding excluded), after warm-up:
`batched` — each batch's time divided by its size, mean/std over batches (throughput view);
`batch1` — one image at a time over the first N images, mean/std/p50/p99 (latency view).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from raytrain.config import ExperimentConfig, validate
from raytrain.data.local import iter_split, preprocess_for, read_split
from raytrain.data.manifest import MANIFEST, read_manifest
from raytrain.data.preprocess import Preprocess
from raytrain.errors import RaytrainError
from raytrain.evaluation.baselines import (
    Baseline,
    as_task_tensors,
    baselines_for,
    update_baseline_stats,
)
from raytrain.inference.runner import BACKENDS, checked_onnx, onnx_runner, torch_runner
from raytrain.models import DataInfo
from raytrain.tasks import Task, create_task, higher_is_better

Backend = Literal["torch", "onnx"]
#: Baselines are fit on at most this many training rows (bounded memory on big image sets).
MAX_FIT_ROWS = 10_000
LATENCY_IMAGES = 32
WARMUP = 3
RESULT_FILES = ("evaluation.json", "evaluation.md", "confusion_matrix.png")


# -- the model -----------------------------------------------------------------------------------


def task_of(cfg: ExperimentConfig | None, task_name: str, data: DataInfo) -> Task:
    """The task exactly as training built it (threshold, pos_weight), or defaults without cfg."""
    if cfg is None:
        return create_task(task_name, data)
    from raytrain.tasks.resolve import task_for

    return task_for(cfg, data)


# -- comparing -----------------------------------------------------------------------------------


@dataclass
class MetricComparison:
    metric: str
    model: float
    baseline: float
    margin: float  # model − baseline
    higher_is_better: bool
    better: str  # "model", "baseline" or "tie"


def compare(
    model: dict[str, float], baseline: dict[str, float], tol: float = 1e-12
) -> list[MetricComparison]:
    """model − baseline for each metric both have, and who is better given its direction."""
    out = []
    for k, b in baseline.items():
        if k not in model:
            continue
        m = model[k]
        margin = m - b
        up = higher_is_better(k)
        if not math.isfinite(margin) or abs(margin) <= tol:
            better = "tie"
        else:
            better = "model" if (margin > 0) == up else "baseline"
        out.append(MetricComparison(k, m, b, margin, up, better))
    return out


@dataclass
class BaselineResult:
    name: str
    description: str
    metrics: dict[str, float]
    comparison: list[MetricComparison]
    confusion: list[list[float]] | None = None

    def on(self, metric: str) -> MetricComparison | None:
        return next((c for c in self.comparison if c.metric == metric), None)


@dataclass
class Timing:
    """Per-image inference time in ms, forward pass only."""

    how: str
    mean_ms: float
    std_ms: float
    n: int
    p50_ms: float | None = None
    p99_ms: float | None = None


def timing_of(samples_ms: list[float], how: str, percentiles: bool = False) -> Timing:
    a = np.asarray(samples_ms, np.float64)
    t = Timing(how=how, mean_ms=float(a.mean()), std_ms=float(a.std()), n=len(a))
    if percentiles:
        t.p50_ms, t.p99_ms = (float(v) for v in np.percentile(a, [50, 99]))
    return t


@dataclass
class EvalReport:
    name: str
    version: str
    architecture: str
    task: str
    backend: str
    split: str
    num_examples: int
    data_dir: str
    headline: str  # the metric the verdict is about
    metrics: dict[str, float]
    baselines: list[BaselineResult]
    timing: dict[str, Timing]
    confusion: list[list[float]] | None = None
    confusion_labels: list[str] | None = None
    threads: int = field(default_factory=torch.get_num_threads)

    @property
    def reference(self) -> BaselineResult:
        return self.baselines[0]

    def winners(self) -> list[BaselineResult]:
        """Baselines that beat the model on the headline metric."""
        return [
            b
            for b in self.baselines
            if (c := b.on(self.headline)) is not None and c.better == "baseline"
        ]

    def verdict(self) -> str:
        lines = []
        for b in self.baselines:
            c = b.on(self.headline)
            if c is None:
                continue
            nums = f"{c.model:.4g} vs {c.baseline:.4g}, margin {c.margin:+.4g}"
            if c.better == "baseline":
                lines.append(
                    f"THE BASELINE WINS: `{b.name}` beats the model on {self.headline} "
                    f"({nums}); the model is not better than the classical method here."
                )
            elif c.better == "model":
                lines.append(f"The model beats `{b.name}` on {self.headline} ({nums}).")
            else:
                lines.append(f"The model and `{b.name}` tie on {self.headline} ({nums}).")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["verdict"] = self.verdict()
        d["baseline_wins"] = [b.name for b in self.winners()]
        return d

    def to_markdown(self) -> str:
        out = [
            f"# {self.name} v{self.version} ({self.architecture}, {self.task}) on the "
            f"'{self.split}' split",
            "",
            f"{self.num_examples} examples from `{self.data_dir}`; backend {self.backend} "
            f"(CPU, {self.threads} threads).",
            "",
        ]
        for b in self.baselines:
            out += [
                f"## vs `{b.name}`: {b.description}",
                "",
                "| metric | model | baseline | margin | better? |",
                "| --- | ---: | ---: | ---: | --- |",
            ]
            for c in b.comparison:
                arrow = "↑" if c.higher_is_better else "↓"
                who = "**baseline**" if c.better == "baseline" else c.better
                out.append(
                    f"| {c.metric} {arrow} | {c.model:.4f} | {c.baseline:.4f} | "
                    f"{c.margin:+.4f} | {who} |"
                )
            out.append("")
        only = {
            k: v for k, v in self.metrics.items() if all(b.on(k) is None for b in self.baselines)
        }
        if only:
            out += ["Model only: " + ", ".join(f"{k} {v:.4f}" for k, v in only.items()), ""]
        out += ["**Verdict:** " + self.verdict().replace("\n", "  \n"), "", "## Inference time", ""]
        for t in self.timing.values():
            extra = f", p50 {t.p50_ms:.3f}, p99 {t.p99_ms:.3f}" if t.p50_ms is not None else ""
            out.append(f"- {t.how}: {t.mean_ms:.3f} ± {t.std_ms:.3f} ms per image (n={t.n}{extra})")
        return "\n".join(out) + "\n"

    def write(self, out: str | Path) -> list[Path]:
        """evaluation.json, evaluation.md and (tasks with counts) confusion_matrix.png."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "evaluation.json", out / "evaluation.md"]
        written[0].write_text(json.dumps(self.to_dict(), indent=2))
        written[1].write_text(self.to_markdown())
        if self.confusion is not None:
            written.append(plot_confusion(self, out / "confusion_matrix.png"))
        return written


# -- confusion matrices ---------------------------------------------------------------------------


def confusion_of(
    task: Task, stats: torch.Tensor, data: DataInfo
) -> tuple[list[list[float]], list[str]] | None:
    """(matrix, labels), rows = truth, columns = prediction, from the task's statistics.

    The binary tasks' stats are [tp, fp, fn, tn] and classification's are the k×k matrix
    itself, so no extra pass over the data is needed. None for tasks without counts.
    """
    s = stats.tolist()
    if task.name in ("edges", "anomaly") and len(s) == 4:
        tp, fp, fn, tn = s
        labels = (
            ["no edge", "edge"]
            if task.name == "edges"
            else list(data.extra.get("class_names") or ["normal", "tampered"])
        )
        return [[tn, fp], [fn, tp]], labels
    if task.name == "classification":
        k = int(round(len(s) ** 0.5))
        names = list(data.extra.get("class_names") or [str(i) for i in range(k)])
        return [s[i * k : (i + 1) * k] for i in range(k)], names
    return None


def plot_confusion(report: EvalReport, path: Path) -> Path:
    """Model and reference baseline side by side, counts annotated.

    `matplotlib.figure.Figure` renders with Agg without touching pyplot's global backend.
    """
    from matplotlib.figure import Figure

    panels = [(f"model ({report.backend})", report.confusion)]
    if report.baselines and report.reference.confusion is not None:
        panels.append((f"baseline: {report.reference.name}", report.reference.confusion))
    labels = report.confusion_labels or []
    fig = Figure(figsize=(5.5 * len(panels), 4.8))
    for i, (title, cm) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        a = np.asarray(cm, np.float64)
        ax.imshow(a, cmap="Blues")
        for (r, c), v in np.ndenumerate(a):
            ax.text(
                c,
                r,
                f"{int(v)}",
                ha="center",
                va="center",
                color="white" if v > a.max() / 2 else "black",
            )
        ax.set_xticks(range(len(labels)), labels, rotation=30)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("Predicted Label")
        ax.set_ylabel("True Label")
        ax.set_title(f"Confusion Matrix: {title}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


# -- evaluate ------------------------------------------------------------------------------------


def _config_of(entry: dict[str, Any], meta: dict[str, Any]) -> ExperimentConfig | None:
    raw = entry.get("config") or meta.get("config")
    if raw is None:
        return None
    return validate(raw, source=f"{entry['name']} v{entry['version']} (registered config)")


def dataset_for(
    cfg: ExperimentConfig | None, task: Task, data: DataInfo, override: str | Path | None
) -> str | Path:
    """The prepared dataset to evaluate on: `override`, else the one the model trained on."""
    if override is None:
        if cfg is None:
            raise RaytrainError(
                "the registered model records no training config, so its "
                "dataset is unknown; pass --data DIR (a prepared dataset)"
            )
        from raytrain.data.resolve import resolve_dataset

        root = resolve_dataset(cfg, task.name)
    elif "://" in str(override):  # a prepared dataset in a bucket
        from raytrain.data.resolve import prepared_manifest

        root = prepared_manifest(str(override), "--data")[0]
    else:
        root = Path(override).expanduser()
        if not (root / MANIFEST).exists():
            raise RaytrainError(
                f"--data {root}: not a prepared dataset (no {MANIFEST}); run "
                f"`raytrain data prepare` on it first"
            )
    manifest = read_manifest(root)
    if manifest.task != task.name:
        raise RaytrainError(
            f"{root}: holds '{manifest.task}' data, the model needs '{task.name}' data"
        )
    dim = manifest.info.get("feature_dim")
    if task.inputs == "vector" and dim is not None and dim != data.feature_dim:
        raise RaytrainError(
            f"{root}: has {dim} features per row, the model takes {data.feature_dim}"
        )
    return root


def _fit_baselines(task: Task, data_dir: str | Path, p: Preprocess) -> list[Baseline]:
    """The task's baselines, fit on (at most MAX_FIT_ROWS of) the training split."""
    baselines = baselines_for(task.name)
    if any(b.needs_fit for b in baselines):
        x, y = read_split(data_dir, "train", p, limit=MAX_FIT_ROWS)
        for b in baselines:
            b.fit(x, y)
    return baselines


def _latency(predict: Callable[[torch.Tensor], torch.Tensor], images: list[torch.Tensor]) -> Timing:
    for x in images[:WARMUP]:
        predict(x)
    samples = []
    for x in images:
        t0 = time.perf_counter()
        predict(x)
        samples.append((time.perf_counter() - t0) * 1e3)
    return timing_of(
        samples, f"batch 1, one image at a time over the first {len(images)}", percentiles=True
    )


def evaluate(
    name: str,
    version: str | None = None,
    root: str | Path = "models",
    split: str = "test",
    data: str | Path | None = None,
    batch_size: int = 64,
    backend: str = "torch",
    out: str | Path | None = None,
) -> EvalReport:
    """Evaluate a registered model and its task's baselines on one split; write to `out`."""
    from raytrain.artifacts.checkpoint import data_info_of, read_meta
    from raytrain.artifacts.registry import ModelRegistry

    if backend not in BACKENDS:
        raise RaytrainError(f"backend '{backend}': use one of {', '.join(BACKENDS)}")
    if batch_size < 1:
        raise RaytrainError(f"batch size {batch_size}: must be at least 1")
    registry = ModelRegistry(root)
    model, entry = registry.load(name, version)
    folder = registry.path_of(entry)
    meta = read_meta(folder)
    info = data_info_of(meta)
    cfg = _config_of(entry, meta)
    task = task_of(cfg, entry["task"], info)
    data_dir = dataset_for(cfg, task, info, data)
    p = preprocess_for(task, info)
    onnx_path = folder / f"{entry['name']}_v{entry['version']}.onnx"
    run = (
        torch_runner(model, meta, logits=True)
        if backend == "torch"
        else onnx_runner(
            checked_onnx(onnx_path, entry, f"{entry['name']}:{entry['version']}"),
            meta,
            logits=True,
            threads=torch.get_num_threads(),  # the same threads as the torch backend
        )
    )

    def predict(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(run(x.numpy()))

    baselines = _fit_baselines(task, data_dir, p)

    stats = task.new_stats()
    base_stats = [task.new_stats() for _ in baselines]
    loss_sum, n, per_image, first = 0.0, 0, [], []
    for i, batch in enumerate(iter_split(data_dir, split, p, batch_size)):
        x, y = as_task_tensors(batch["x"], batch["y"], task)
        if i == 0:
            predict(x)  # warm-up: first-call allocations are not inference time
        t0 = time.perf_counter()
        output = predict(x)
        per_image.append((time.perf_counter() - t0) * 1e3 / len(x))
        task.update_stats(stats, output, y)
        loss_sum += float(task.loss(output.float(), y)) * len(x)
        n += len(x)
        first.extend(x[j : j + 1] for j in range(min(len(x), LATENCY_IMAGES - len(first))))
        for b, s in zip(baselines, base_stats, strict=True):
            update_baseline_stats(s, task, b, batch["x"], batch["y"])
    if n == 0:
        raise RaytrainError(f"{data_dir}: the '{split}' split is empty")

    metrics = {**task.compute_metrics(stats), "loss": loss_sum / n}
    results = []
    for b, s in zip(baselines, base_stats, strict=True):
        m = task.compute_metrics(s)
        cm = confusion_of(task, s, info)
        results.append(
            BaselineResult(b.name, b.description, m, compare(metrics, m), cm[0] if cm else None)
        )
    cm = confusion_of(task, stats, info)
    monitor = (cfg.search.metric if cfg else None) or task.default_metric
    headline = monitor.removeprefix("val_")
    if all(r.on(headline) is None for r in results):
        headline = task.default_metric.removeprefix("val_")
    report = EvalReport(
        name=entry["name"],
        version=entry["version"],
        architecture=entry["architecture"],
        task=task.name,
        backend=backend,
        split=split,
        num_examples=n,
        data_dir=str(data_dir),
        headline=headline,
        metrics=metrics,
        baselines=results,
        timing={
            "batched": timing_of(
                per_image,
                f"batch {batch_size}, batch time / batch size, over {len(per_image)} batches",
            ),
            "batch1": _latency(predict, first),
        },
        confusion=cm[0] if cm else None,
        confusion_labels=cm[1] if cm else None,
    )
    if out is not None:
        report.write(out)
    return report


# -- the command ---------------------------------------------------------------------------------
