"""`raytrain evaluate --model PATH --test-data DIR`: a model file scored on a data folder, the way
an evaluation script does it — no registry, no prepared dataset needed.

PATH: a checkpoint folder (`model.pt` + `meta.json`: a run's `best_model/`, a trial's
checkpoint, a registered version's folder), a file inside one (`best_model/model.pt`), or
raytrain's `.pth` export bundle. DIR: a prepared dataset (`manifest.json`), a raw dataset with
`train/ val/ test/` folders, or one raw split folder in any supported layout (images/ + edges/,
class folders, normal/ + anomalous/, images/ + metadata.json, a features `.npz`): raw folders are
prepared once into the data cache (`raytrain.data.folders`) and the split is scored from there.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from raytrain.artifacts.checkpoint import META_FILE, MODEL_FILE, read_meta, save_checkpoint
from raytrain.data.manifest import MANIFEST, atomic_write_text, read_manifest
from raytrain.errors import RaytrainError
from raytrain.evaluation.scoring import score_checkpoint


@contextmanager
def checkpoint_folder(path: str | Path) -> Iterator[Path]:
    """A checkpoint folder for `path` (a folder, a file in one, or an export bundle)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise RaytrainError(f"--model {path}: does not exist")
    if path.is_dir():
        if not (path / META_FILE).exists():
            raise RaytrainError(
                f"--model {path}: not a checkpoint folder (no {META_FILE}); give a run's "
                f"best_model/, a registered version folder or a .pth export bundle"
            )
        yield path
        return
    if (path.parent / META_FILE).exists() and (path.parent / MODEL_FILE).exists():
        yield path.parent
        return
    from raytrain.artifacts.export import load_bundle

    try:
        model, bundle = load_bundle(path)
    except RaytrainError as e:
        raise RaytrainError(
            f"--model {path}: {str(e).split(': ', 1)[-1]}; a weights-only file does not say "
            f"which architecture it is: give the checkpoint folder it came from"
        ) from None
    md = bundle["metadata"]
    meta = {
        "architecture": md["architecture"],
        "model_params": md["model_params"],
        "task": md["task"],
        "data_info": bundle["data_info"],
        "metrics": bundle.get("metrics", {}),
        "config": bundle.get("training_config"),
    }
    with tempfile.TemporaryDirectory(prefix="raytrain-eval-") as tmp:
        save_checkpoint(tmp, model, meta)
        yield Path(tmp)


def prepared_test_data(
    test_data: str | Path, task: str, split: str = "test", on_bad_data: str = "error"
) -> tuple[Path, str]:
    """(prepared dataset folder, split to score) for `--test-data`."""
    from raytrain.data.folders import SPLITS, prepare_folders

    root = Path(test_data).expanduser()
    if not root.exists():
        raise RaytrainError(f"--test-data {root}: does not exist")
    if (root / MANIFEST).exists():
        return root, split
    if root.is_dir() and (root / "train").is_dir() and (root / split).exists():
        parts = {s: root / s for s in SPLITS if (root / s).exists()}
        prepared = prepare_folders(
            task, parts["train"], parts.get("val"), parts.get("test"), on_bad_data=on_bad_data
        )
        return prepared, split
    # one split folder: prepared as a dataset whose every split is this folder
    prepared = prepare_folders(task, root, root, root, on_bad_data=on_bad_data)
    return prepared, "test"


def _check_classes(meta: dict[str, Any], data_dir: Path) -> None:
    """A class-folder test set must name the classes the model was trained on, in its order."""
    trained = (meta["data_info"].get("extra") or {}).get("class_names")
    found = read_manifest(data_dir).info.get("class_names")
    if meta["task"] == "classification" and trained and found and list(trained) != list(found):
        raise RaytrainError(
            f"{data_dir}: classes {found} differ from the model's {trained}; the class "
            f"folders must be the ones it was trained on"
        )


def evaluate_path(
    model: str | Path,
    test_data: str | Path,
    split: str = "test",
    batch_size: int = 64,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Score the model at `model` on `test_data`; the report (also `out/evaluation.json`)."""
    if batch_size < 1:
        raise RaytrainError(f"batch size {batch_size}: must be at least 1")
    with checkpoint_folder(model) as folder:
        meta = read_meta(folder)
        data_dir, which = prepared_test_data(test_data, meta["task"], split)
        _check_classes(meta, data_dir)
        metrics = score_checkpoint(folder, data_dir, which, batch_size)
    report = {
        "model": str(model),
        "architecture": meta["architecture"],
        "task": meta["task"],
        "test_data": str(test_data),
        "prepared": str(data_dir),
        "split": which,
        "num_examples": int(metrics.pop("num_examples")),
        "metrics": metrics,
    }
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(out) / "evaluation.json", json.dumps(report, indent=2))
    return report


def format_path_report(report: dict[str, Any]) -> str:
    lines = [
        f"{report['architecture']} ({report['task']}) on {report['test_data']} "
        f"[{report['split']}, {report['num_examples']} examples]",
        "",
        "| metric | value |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v:.4g} |" for k, v in report["metrics"].items()]
    return "\n".join(lines)
