"""The evaluation plots of the best checkpoint on the held-out test split.

A run's `visualizations/` show the *last* epoch's *validation* pass, drawn inside the training
loop. When the dataset has a test split, the end of a search and of `raytrain train` score the
*best* checkpoint on it (`raytrain.evaluation.held_out`) and hand the predictions of that one
pass here, which draws the same evaluation files into `test_visualizations/` at the top of the
experiment (search) or run (`raytrain train`) folder, beside `summary.json` and `report.html`:

- the folder belongs to the result, not to a trial: the best checkpoint is chosen across trials
  after they end, by the driver that writes summary.json, while a trial's own folder holds what
  that trial drew while it trained;
- a separate name keeps the two apart for a reader and for `report.html`, which shows this folder
  first, labelled "test split, best checkpoint", and the validation plots after it;
- `source.json` in the folder says what the plots were drawn from (split, checkpoint, its epoch,
  rows scored and rows plotted, class counts per split), so a reader or a test can check it.

Calibration, which a run keeps under `analysis/`, sits in the same folder here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the report reads this module's names without importing torch
    from raytrain.viz.run import PredictionBuffer

#: The folder name, under the experiment or run folder.
TEST_PLOTS_DIR = "test_visualizations"
#: What the folder's plots were drawn from.
SOURCE_FILE = "source.json"
#: How the report and the files label these plots.
LABEL = "test split, best checkpoint"


def write_held_out_plots(
    buffer: PredictionBuffer,
    out_dir: Path,
    *,
    class_names: list[str] | None,
    threshold: float,
    train_class_counts: list[int] | None,
    source: dict[str, Any],
    split: str = "test",
) -> list[Path]:
    """Draw the evaluation files of `buffer` (one pass of the best checkpoint over `split`)
    into `out_dir`, the training split's class balance beside the evaluated one, and write
    `source.json` (`source` plus what was plotted). Returns the files written."""
    from raytrain.viz.evaluation import class_balance_info, label_view, write_evaluation_plots
    from raytrain.viz.run import train_targets_of

    out_dir = Path(out_dir)
    arrays = buffer.arrays(class_names, threshold)
    train = train_targets_of(train_class_counts)
    written = write_evaluation_plots(
        arrays, out_dir, out_dir, train_targets=train, eval_split=split
    )
    record: dict[str, Any] = {
        "label": LABEL,
        "split": split,
        **source,
        "task": arrays.task,
        "rows_plotted": len(arrays.targets),
        "files": sorted(p.name for p in written),
    }
    if arrays.task in ("classification", "anomaly"):
        v = label_view(arrays)
        balance = class_balance_info(v.names, v.targets, train, split)
        record["class_counts"] = {k: c.tolist() for k, c in balance.counts.items()}
        record["class_names"] = v.names
    if arrays.task == "regression":
        record["targets_mean"] = float(np.mean(arrays.targets))
    (out_dir / SOURCE_FILE).write_text(json.dumps(record, indent=2, default=str))
    return written


def read_source(folder: Path) -> dict[str, Any]:
    """The folder's `source.json`; {} when it is missing or unreadable."""
    try:
        data = json.loads((Path(folder) / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
