"""`raytrain data ...`: build, check, split and describe datasets (thin over raytrain.data)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from raytrain.cli import options
from raytrain.errors import RaytrainError

TASKS = ("edges", "classification", "regression", "anomaly")


@click.group("data")
def data_command() -> None:
    """Build, check, split and describe datasets."""


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


@data_command.command("synth")
@click.argument("task", type=click.Choice(TASKS))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option(
    "--layout",
    type=click.Choice(["prepared", "folders"]),
    default="prepared",
    show_default=True,
    help="prepared = parquet shards + manifest; folders = raw files in a folder layout.",
)
@click.option("--num-train", type=int, default=512, show_default=True)
@click.option("--num-val", type=int, default=128, show_default=True)
@click.option("--num-test", type=int, default=128, show_default=True)
@click.option("--image-size", type=int, default=64, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--num-classes", type=int, default=4, show_default=True, help="classification")
@click.option("--num-coefficients", type=int, default=32, show_default=True, help="anomaly")
def synth_command(task: str, out: str, layout: str, **sizes: Any) -> None:
    """The built-in sample dataset for TASK, any size, deterministic by --seed."""
    from pydantic import ValidationError

    from raytrain.config.schema import SampleDataSection
    from raytrain.data.sample import ensure_sample_dataset, write_sample_folders

    try:
        s = SampleDataSection(**sizes)
    except ValidationError as e:
        err = e.errors()[0]
        raise RaytrainError(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}") from None
    if layout == "folders":
        path = write_sample_folders(task, s, out)
    else:
        path = ensure_sample_dataset(task, s, out=out)
    click.echo(f"wrote {task} sample data ({s.num_train}/{s.num_val}/{s.num_test}) to {path}")


@data_command.command("prepare")
@click.argument("source", type=click.Path(exists=True))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Prepared folder, or a bucket: s3://BUCKET/PREFIX, gs://BUCKET/PREFIX.",
)
@click.option("--task", type=click.Choice(TASKS), default=None, help="Default: from the layout.")
@click.option(
    "--generate-edges",
    is_flag=True,
    help="Edge maps from the images (a Canny+Sobel ensemble); edges/ not needed.",
)
@click.option(
    "--generate-anomalies",
    is_flag=True,
    help="Add one tampered copy of every normal coefficient set.",
)
@click.option(
    "--on-bad-data",
    type=click.Choice(["error", "skip"]),
    default="error",
    show_default=True,
    help="skip = leave bad rows out and list them in data_report.json.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="For --generate-anomalies.")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace a prepared dataset of other data already in --out.",
)
def prepare_command(
    source: str,
    out: str,
    task: str | None,
    generate_edges: bool,
    generate_anomalies: bool,
    on_bad_data: str,
    seed: int,
    overwrite: bool,
) -> None:
    """SOURCE (train/ val/ [test/] in a supported layout) -> parquet shards + manifest in --out
    (a folder, or a bucket: prepared in a temp folder, then uploaded, the manifest last)."""
    import shutil
    import tempfile

    from raytrain.data.folders import prepare_folders, split_paths
    from raytrain.data.fs import is_remote
    from raytrain.data.manifest import MANIFEST

    splits = split_paths(source)
    if "val" not in splits:
        raise RaytrainError(f"{source}: no val/ split; make one with `raytrain data split`")

    def prepare(into: str | Path) -> Path:
        return prepare_folders(
            task,
            splits["train"],
            splits["val"],
            splits.get("test"),
            out=into,
            generate_edges=generate_edges,
            generate_anomalies=generate_anomalies,
            on_bad_data=on_bad_data,
            seed=seed,
        )

    if is_remote(out):
        from raytrain.data.fs import check_readable
        from raytrain.data.upload import upload_dataset

        check_readable(out, "--out")  # an unreachable bucket fails before the work
        with tempfile.TemporaryDirectory(prefix="raytrain-prepare-") as tmp:
            path = prepare(Path(tmp) / "dataset")
            uploaded = upload_dataset(path, out, overwrite=overwrite)
            _prepared(path, out, "" if uploaded else " (already there: nothing uploaded)")
        return
    final = Path(out).expanduser()
    if not overwrite or not (final / MANIFEST).exists():
        _prepared(prepare(final), final)
        return
    # --overwrite: the new dataset is made whole beside the old one, then takes its place
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=f".{final.name}.") as tmp:
        path = prepare(Path(tmp) / "dataset")
        shutil.rmtree(final)
        path.rename(final)
    _prepared(final, final)


def _prepared(path: Path, where: str | Path, note: str = "") -> None:
    from raytrain.data.manifest import read_manifest
    from raytrain.data.problems import format_report

    m = read_manifest(path)
    counts = ", ".join(f"{k} {v.count}" for k, v in m.splits.items())
    report = m.extra.get("skipped") or {}
    click.echo(f"prepared {m.task} dataset in {where}: {counts}; {format_report(report)}{note}")
    for p in report.get("problems", []):
        click.echo(f"  skipped {p['path']}: {p['detail']}")


@data_command.command("validate")
@click.argument("path", type=click.Path(exists=True))
@click.option("--min-size", type=int, default=256, show_default=True, help="0 = no size check.")
@click.option(
    "--min-edge-density", type=float, default=0.01, show_default=True, help="0 = no check."
)
@options.as_json
def validate_command(path: str, min_size: int, min_edge_density: float, as_json: bool) -> None:
    """Quality checks on a raw or prepared dataset; lists every problem.

    Exit code 0 when the data is clean, 1 when problems were found.
    """
    from dataclasses import asdict

    from raytrain.data.validate import validate_path

    r = validate_path(path, min_size or None, min_edge_density or None)
    if as_json:
        _echo_json({**asdict(r), "ok": r.ok})
    else:
        counts = ", ".join(f"{k} {v}" for k, v in r.counts.items())
        click.echo(f"{r.path} ({r.kind}): usable rows {counts}")
        if r.ok:
            click.echo("dataset validation passed")
        else:
            click.echo(f"{len(r.problems)} problem(s):")
            for p in r.problems:
                click.echo(f"  - [{p.kind}] {p.path}: {p.detail}")
    sys.exit(0 if r.ok else 1)


def _ratios(value: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(v) for v in value.split(","))
    except ValueError:
        raise RaytrainError(
            f"--ratios {value}: expected three numbers, e.g. 0.7,0.15,0.15"
        ) from None
    if len(parts) != 3:
        raise RaytrainError(f"--ratios {value}: expected three numbers (train,val,test)")
    return parts  # type: ignore[return-value]


@data_command.command("split")
@click.argument("source", type=click.Path(exists=True))
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--ratios", default="0.7,0.15,0.15", show_default=True, help="train,val,test")
@click.option("--seed", type=int, default=42, show_default=True)
def split_command(source: str, out: str, ratios: str, seed: int) -> None:
    """SOURCE (one folder in a supported layout) -> --out/train, val, test."""
    from raytrain.data.split import split_folder

    counts = split_folder(source, out, _ratios(ratios), seed)
    click.echo(
        f"split {source} into {Path(out)}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
    )


@data_command.command("stats")
@click.argument("path", type=click.Path(exists=True))
@options.as_json
def stats_command(path: str, as_json: bool) -> None:
    """Counts, image sizes, class balance and edge density of a raw or prepared dataset."""
    from raytrain.data.stats import dataset_stats

    st = dataset_stats(path)
    if as_json:
        _echo_json(st)
        return
    click.echo(f"{st['path']} ({st['task']})")
    for split, s in st["splits"].items():
        click.echo(f"  {split}: {s['count']} rows")
        if "image_sizes" in s:
            click.echo(f"    image sizes: {_top(s['image_sizes'])}")
        if "edge_density" in s:
            click.echo(f"    edge density: {s['edge_density']:.4f}")
        if "class_balance" in s:
            click.echo(f"    class balance: {_top(s['class_balance'])}")
        if "target" in s:
            t = s["target"]
            click.echo(
                f"    target: mean {t['mean']:.4g}, std {t['std']:.4g}, "
                f"range {t['min']:.4g}..{t['max']:.4g}"
            )
        if "kinds" in s:
            click.echo(f"    kinds: {_top(s['kinds'])}")
    if st.get("problems"):
        click.echo(f"  {st['problems']} problem(s) found; run `raytrain data validate {path}`")


def _top(counts: dict[str, Any], n: int = 8) -> str:
    items = list(counts.items())
    more = f", … ({len(items) - n} more)" if len(items) > n else ""
    return ", ".join(f"{k} {v}" for k, v in items[:n]) + more
