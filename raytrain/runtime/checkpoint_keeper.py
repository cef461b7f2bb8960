"""A run's checkpoint folders when no Ray Train run keeps them (one-worker `raytrain train`).

Same rules as Ray Train's `CheckpointConfig(num_to_keep, checkpoint_score_attribute,
checkpoint_score_order)`: the `num_to_keep` best by the monitored metric are kept, and the latest
always (it is what a resumed run continues from). Each checkpoint is written under a temporary
name and renamed into place, so a run killed mid-write leaves no half checkpoint behind; the
folders themselves are the record (their `meta.json` holds epoch and metrics), with no index
file to fall out of step with them.

`latest_checkpoint` reads a run folder written by either this keeper or Ray Train, so a run can
be resumed with a different number of workers than it started with.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any

from raytrain.artifacts.checkpoint import META_FILE, read_meta_json

PREFIX = "checkpoint_"


class CheckpointKeeper:
    """Keeps the checkpoints of one run in `root` (the run's `train/` folder)."""

    def __init__(self, root: str | Path, monitor: str, mode: str, num_to_keep: int | None) -> None:
        self.root = Path(root)
        self.monitor, self.mode, self.num_to_keep = monitor, mode, num_to_keep

    def add(self, source: str | Path, epoch: int) -> Path:
        """Copy the checkpoint folder `source` in as epoch `epoch`'s; drop what no longer
        makes the cut. Returns where it now lives."""
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / f"{PREFIX}epoch{epoch:05d}"
        tmp = self.root / f".tmp_{final.name}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp)
        if final.exists():  # the same epoch again (a resumed run re-saving it): replace
            shutil.rmtree(final)
        os.replace(tmp, final)
        self._prune(latest=final)
        return final

    def checkpoints(self) -> list[Path]:
        """Every complete checkpoint of the run, oldest epoch first."""
        return _checkpoints(self.root)

    def best(self) -> Path | None:
        """The kept checkpoint with the best monitored metric (the latest on a tie)."""
        ranked = self._ranked()
        return ranked[0] if ranked else None

    def _ranked(self) -> list[Path]:
        """Best first; a tie goes to the later checkpoint, as in Ray Train."""
        found = self.checkpoints()
        order = sorted(range(len(found)), key=lambda i: (self._score(found[i]), i), reverse=True)
        return [found[i] for i in order]

    def _score(self, folder: Path) -> float:
        value = read_meta_json(folder).get("metrics", {}).get(self.monitor)
        if not isinstance(value, int | float) or math.isnan(value):
            return -math.inf  # no score: worst, as Ray Train ranks a missing attribute
        return float(value) if self.mode == "max" else -float(value)

    def _prune(self, latest: Path) -> None:
        if self.num_to_keep is None:
            return
        ranked = self._ranked()
        keep = set(ranked[: self.num_to_keep]) | {latest}
        for folder in ranked:
            if folder not in keep:
                shutil.rmtree(folder, ignore_errors=True)


def _checkpoints(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    found = [p for p in root.glob(f"{PREFIX}*") if (p / META_FILE).is_file()]
    return sorted(found, key=lambda p: (_epoch(p), p.stat().st_mtime))


def _epoch(folder: Path) -> int:
    epoch: Any = read_meta_json(folder).get("epoch", 0)
    return int(epoch) if isinstance(epoch, int | float) else 0


def latest_checkpoint(train_dir: str | Path) -> Path | None:
    """The checkpoint a resumed run continues from: the highest epoch in `train_dir`, written
    by this keeper or by Ray Train (`checkpoint_<time>` folders with the same files)."""
    found = _checkpoints(Path(train_dir))
    return found[-1] if found else None
