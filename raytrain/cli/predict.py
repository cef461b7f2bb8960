"""`raytrain predict NAME[:VERSION] INPUTS... --out DIR`: run a registered model on files.

Images are read exactly as the training pipeline reads them (`raytrain.data.pipeline._decode`:
8-bit grayscale), so a PNG predicted here is seen the way the model's training data was.
Vector inputs (`.npy`, `.npz`, `.csv`) are one sample per row. Work goes in batches of
`--batch-size` files/rows, so a folder of thousands of images never sits in memory at once.

Outputs: edge maps as `<out>/<stem>.png` (0/255, at each input's size) plus a CSV index; for
the other tasks one row per sample in `<out>/predictions.csv` and `<out>/predictions.json`.
"""

from __future__ import annotations

import csv
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from raytrain.cli import options
from raytrain.errors import RaytrainError
from raytrain.inference.outputs import EdgePrediction, Prediction
from raytrain.inference.predictor import DEFAULT_BATCH_SIZE, Predictor

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
VECTOR_EXTS = (".npy", ".npz", ".csv")
#: Which input files each task reads.
TASK_EXTS: dict[str, tuple[str, ...]] = {
    "edges": IMAGE_EXTS,
    "classification": IMAGE_EXTS,
    "regression": IMAGE_EXTS + VECTOR_EXTS,
    "anomaly": VECTOR_EXTS,
}
#: The array an .npz holds, by task: the names `raytrain.data.folders` trains from.
NPZ_KEYS = {"anomaly": "coefficients", "regression": "features"}
_INPUT_N = re.compile(r"^input (\d+): ")
THRESHOLD_TASKS = ("edges", "anomaly")
_COUNTED = re.compile(r"^(\d+) (.*)$")


@dataclass(frozen=True)
class Item:
    """One sample: an image file (read when its batch runs) or one row of a vector file."""

    path: Path
    index: int
    row: np.ndarray | None = None

    @property
    def label(self) -> str:
        return str(self.path) if self.row is None else f"{self.path} row {self.index}"

    def array(self) -> np.ndarray:
        return self.row if self.row is not None else read_image(self.path)


def read_image(path: Path) -> np.ndarray:
    """8-bit grayscale, decoded as the training pipeline decodes (no resize here)."""
    from raytrain.data.preprocess import decode_image

    try:
        return decode_image(path.read_bytes(), str(path), "image", None)
    except (OSError, ValueError) as e:
        raise RaytrainError(f"{path}: not a readable image ({e})") from None


def _csv_rows(path: Path) -> np.ndarray:
    """Numeric rows; a first row that is not numeric is a header and is skipped."""
    with path.open(newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    out = []
    for n, r in enumerate(rows, start=1):
        try:
            out.append([float(c) for c in r])
        except ValueError:
            if n == 1:
                continue
            raise RaytrainError(f"{path}:{n}: not a row of numbers: {','.join(r)[:80]}") from None
    if not out:
        raise RaytrainError(f"{path}: no rows of numbers")
    width = len(out[0])
    bad = next((i for i, r in enumerate(out) if len(r) != width), None)
    if bad is not None:
        raise RaytrainError(f"{path}: row {bad} has {len(out[bad])} values, row 0 has {width}")
    return np.asarray(out, np.float32)


def read_vectors(path: Path, task: str) -> np.ndarray:
    """(N, D) rows of a .npy, .npz or .csv file."""
    try:
        if path.suffix == ".csv":
            return _csv_rows(path)
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise RaytrainError(f"{path}: cannot read vectors ({str(e).splitlines()[0]})") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            key = NPZ_KEYS.get(task)
            if key not in data.files and len(data.files) != 1:
                raise RaytrainError(
                    f"{path}: expected an array named '{key}' (or exactly one "
                    f"array); it holds {', '.join(data.files)}"
                )
            arr = data[key] if key in data.files else data[data.files[0]]
    else:
        arr = data
    if arr.ndim not in (1, 2):
        raise RaytrainError(
            f"{path}: expected one vector or rows of vectors, got shape {tuple(arr.shape)}"
        )
    return arr[None] if arr.ndim == 1 else arr


def collect_inputs(paths: tuple[Path, ...], task: str, dim: int) -> list[Item]:
    """Every sample the command will predict, in order; folders give their files sorted."""
    exts = TASK_EXTS[task]
    items: list[Item] = []
    for p in paths:
        if not p.exists():
            raise RaytrainError(f"{p}: no such file or folder")
        files = (
            sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in exts)
            if p.is_dir()
            else [p]
        )
        if p.is_dir() and not files:
            raise RaytrainError(f"{p}: no input files ({', '.join(exts)})")
        for f in files:
            items.extend(_items_of(f, task, exts, dim))
    if not items:
        raise RaytrainError("no inputs given")
    return items


def _items_of(f: Path, task: str, exts: tuple[str, ...], dim: int) -> list[Item]:
    ext = f.suffix.lower()
    if ext not in exts:
        raise RaytrainError(f"{f}: a {task} model reads {', '.join(exts)} files, not '{ext}'")
    if ext in IMAGE_EXTS:
        return [Item(f, 0)]
    rows = read_vectors(f, task)
    if rows.shape[1] != dim:
        raise RaytrainError(f"{f}: rows have {rows.shape[1]} values; the model expects {dim}")
    return [Item(f, i, r) for i, r in enumerate(rows)]


def _batches(items: list[Item], size: int) -> Iterator[list[Item]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _predict_batch(predictor: Predictor, batch: list[Item], threshold: float | None) -> Prediction:
    """Predict one batch; an "input N: ..." error is re-labelled with the file it came from."""
    try:
        return predictor.predict(
            [it.array() for it in batch], threshold=threshold, batch_size=len(batch)
        )
    except RaytrainError as e:
        m = _INPUT_N.match(str(e))
        if m and int(m[1]) < len(batch):
            raise RaytrainError(f"{batch[int(m[1])].label}: {str(e)[m.end() :]}") from None
        raise


def _tally(notes: dict[str, int], new: list[str]) -> None:
    """Sum per-batch notes ("2 image(s) resized ...") into one count per kind of note."""
    for note in new:
        m = _COUNTED.match(note)
        text, n = (m[2], int(m[1])) if m else (note, 0)
        notes[text] = notes.get(text, 0) + n


class _EdgeWriter:
    """Writes `<stem>.png` per input, never over an input file or an earlier output."""

    def __init__(self, out: Path, inputs: list[Item]) -> None:
        self.out = out
        self.inputs = {it.path.resolve() for it in inputs}
        self.used: set[str] = set()

    def path_for(self, item: Item) -> Path:
        stem, n = item.path.stem, 1
        while stem in self.used:
            stem, n = f"{item.path.stem}-{n}", n + 1
        self.used.add(stem)
        target = self.out / f"{stem}.png"
        if target.resolve() in self.inputs:
            raise RaytrainError(f"{target}: would overwrite an input; choose another --out")
        return target

    def write(self, item: Item, edges: np.ndarray) -> str:
        import cv2

        target = self.path_for(item)
        if not cv2.imwrite(str(target), edges):
            raise RaytrainError(f"{target}: could not write the edge map")
        return str(target)


def _refuse_existing_outputs(out: Path, items: list[Item], task: str) -> None:
    """Like `export`: earlier outputs in --out are kept unless --overwrite."""
    targets = [out / "predictions.csv", out / "predictions.json"]
    if task == "edges":
        planner = _EdgeWriter(out, items)
        targets += [planner.path_for(item) for item in items]
    existing = next((t for t in targets if t.exists()), None)
    if existing is not None:
        raise RaytrainError(
            f"{existing}: exists (an earlier prediction?); choose another --out or --overwrite"
        )


def _write_tables(out: Path, rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    fields: list[str] = []
    for r in rows:
        fields.extend(k for k in r if k not in fields)
    with (out / "predictions.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    (out / "predictions.json").write_text(
        json.dumps({**summary, "predictions": rows}, indent=2) + "\n"
    )


@click.argument("model")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=False, path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the outputs (created if missing).",
)
@options.registry_root
@options.backend("PyTorch, or the registered ONNX file on onnxruntime (CPU).")
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default=None,
    help="torch backend device (default: cuda when available).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Edge / tamper probability threshold (default: the model's evaluation threshold).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Samples per forward pass.",
)
@click.option("--overwrite", is_flag=True, help="Replace outputs already in --out.")
def predict(
    model: str,
    inputs: tuple[Path, ...],
    out: Path,
    root: Path,
    backend: str,
    device: str | None,
    threshold: float | None,
    batch_size: int,
    overwrite: bool = False,
) -> None:
    """Predict with registered MODEL (NAME[:VERSION], a version folder or a .pth bundle).

    INPUTS are image files or folders of images (edges, classification, the coefficient
    optimizer) or .npy/.npz/.csv files of vectors (anomaly detector, coefficient optimizer).
    """
    predictor = Predictor()
    predictor.registry_root = root
    with warnings.catch_warnings():  # its notes are printed below as "note:" lines
        warnings.simplefilter("ignore")
        predictor.initialize(
            {"model_path": model, "backend": backend, "device": device, "batch_size": batch_size}
        )
    if threshold is not None and predictor.task not in THRESHOLD_TASKS:
        raise RaytrainError(
            f"--threshold: applies to edge and anomaly models; '{predictor.source.ref}' is a "
            f"{predictor.metadata.model_type}"
        )
    dim = predictor.input_shape[0]
    items = collect_inputs(inputs, predictor.task, dim)
    if not overwrite:
        _refuse_existing_outputs(out, items, predictor.task)
    out.mkdir(parents=True, exist_ok=True)
    edge_writer = _EdgeWriter(out, items) if predictor.task == "edges" else None
    rows: list[dict[str, Any]] = []
    notes: dict[str, int] = dict.fromkeys(predictor.notes, 0)
    used_threshold: float | None = None
    batches = list(_batches(items, batch_size))
    with click.progressbar(
        batches, label=f"predicting {len(items)} input(s)", file=click.get_text_stream("stderr")
    ) as bar:
        for batch in bar:
            result = _predict_batch(predictor, batch, threshold)
            _tally(notes, result.notes)
            used_threshold = getattr(result, "threshold", None)
            for j, (item, row) in enumerate(zip(batch, result.rows(), strict=True)):
                head: dict[str, Any] = {"input": str(item.path), "index": item.index}
                if edge_writer is not None:
                    assert isinstance(result, EdgePrediction)
                    head["output"] = edge_writer.write(item, result.edges[j])
                rows.append({**head, **row})
    src = predictor.source
    notes_text = [f"{n} {text}" if n else text for text, n in notes.items()]
    summary = {
        "model": src.ref,
        "task": predictor.task,
        "backend": predictor.backend,
        "threshold": used_threshold,
        "notes": notes_text,
    }
    _write_tables(out, rows, summary)
    for note in notes_text:
        click.echo(f"note: {note}", err=True)
    what = f"{len(rows)} edge map(s) and " if edge_writer is not None else ""
    click.echo(f"{src.ref}: wrote {what}{len(rows)} prediction(s) to {out / 'predictions.csv'}")


predict_command = click.command("predict")(predict)
