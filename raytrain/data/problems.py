"""Bad data: one place decides whether a problem stops the run, is skipped, or is listed.

Every reader of raw folders and prepared shards reports what it finds wrong through a
`Problems` sink instead of raising directly, so the same code serves three callers:

* `error` (the default): the first problem raises a `RaytrainError` naming the file;
* `skip` (opt-in, `dataset.on_bad_data: skip`): the bad row or shard is left out and recorded,
  so the run summary can say how many rows were skipped and why;
* `collect` (`raytrain data validate`): every problem is listed, not just the first.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from raytrain.errors import RaytrainError

Mode = Literal["error", "skip", "collect"]
MODES: tuple[str, ...] = ("error", "skip", "collect")
REPORT_FILE = "data_report.json"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the data: the file it is in, a short kind, and the details."""

    path: str
    kind: str  # e.g. "unreadable image", "checksum mismatch": what summaries count by
    detail: str
    rows: int = 1  # rows lost when it is skipped (a whole shard loses all of its rows)
    split: str = ""

    def message(self) -> str:
        return f"{self.path}: {self.detail}"


@dataclass
class Problems:
    """A sink for problems; what `add` does depends on the mode (see the module docstring)."""

    mode: Mode = "error"
    items: list[Problem] = field(default_factory=list)
    split: str = ""  # the split being read; recorded with each problem

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise RaytrainError(f"on_bad_data: '{self.mode}' is not one of {', '.join(MODES)}")

    def add(self, path: str | Path, kind: str, detail: str, rows: int = 1) -> None:
        problem = Problem(str(path), kind, detail, rows, self.split)
        if self.mode == "error":
            raise RaytrainError(problem.message())
        self.items.append(problem)

    def within(self, split: str) -> Problems:
        """This sink, recording `split` with the problems added from now on."""
        self.split = split
        return self

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def report(self) -> dict[str, Any]:
        """{"skipped_rows", "reasons": {kind: rows}, "problems": [...]}: for the run summary."""
        reasons: Counter[str] = Counter()
        for p in self.items:
            reasons[p.kind] += p.rows
        return {
            "on_bad_data": self.mode,
            "skipped_rows": sum(p.rows for p in self.items),
            "reasons": dict(sorted(reasons.items())),
            "problems": [asdict(p) for p in self.items],
        }


def merge_reports(*reports: dict[str, Any]) -> dict[str, Any]:
    """One report from several (prepare-time and run-time skips)."""
    reasons: Counter[str] = Counter()
    problems: list[dict[str, Any]] = []
    for r in reports:
        reasons.update(r.get("reasons", {}))
        problems.extend(r.get("problems", []))
    return {
        "on_bad_data": next((r["on_bad_data"] for r in reports if "on_bad_data" in r), "error"),
        "skipped_rows": sum(int(r.get("skipped_rows", 0)) for r in reports),
        "reasons": dict(sorted(reasons.items())),
        "problems": problems,
    }


def format_report(report: dict[str, Any]) -> str:
    """One line: '3 rows skipped (2 unreadable image, 1 size mismatch)' or 'no rows skipped'."""
    n = report.get("skipped_rows", 0)
    if not n:
        return "no rows skipped"
    why = ", ".join(f"{v} {k}" for k, v in report.get("reasons", {}).items())
    return f"{n} row{'s' if n != 1 else ''} skipped ({why})"


def write_report(folder: str | Path, report: dict[str, Any]) -> Path:
    from raytrain.data.manifest import atomic_write_text

    path = Path(folder) / REPORT_FILE
    atomic_write_text(path, json.dumps(report, indent=2))
    return path
