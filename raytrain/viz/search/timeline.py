"""Trial timeline (`trial_timeline.png`): when each trial ran, on which worker, and how many
ran at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from raytrain.viz.search._draw import _note_figure
from raytrain.viz.search.experiment import _label, _progress_files, _read_csv

#: Tune writes `timestamp` in whole seconds: intervals touching within this are sequential.
TIMESTAMP_TOLERANCE_S = 1.0


@dataclass
class Bar:
    """One trial's run time: from its first start to its last report, in seconds from t0."""

    trial: str
    start: float
    end: float
    node: str
    pid: str
    slot: int


@dataclass
class TimelineInfo:
    bars: list[Bar]
    #: unix time of the earliest start; bars are relative to it
    t0: float
    n_slots: int
    max_concurrency: int
    #: (time, running trials) steps, for the concurrency strip
    concurrency: list[tuple[float, int]]
    note: str | None = None


def _last(df: pd.DataFrame, col: str) -> str:
    """The column's last non-empty value as text ('?' when none), e.g. the node a trial ran on."""
    values = df[col].dropna() if col in df else pd.Series(dtype=object)
    return "?" if values.empty else _label(values.iloc[-1])


def timeline_info(experiment_dir: Path) -> TimelineInfo:
    """Trial intervals from Ray Tune's progress.csv: start = first row's `timestamp` minus its
    `time_this_iter_s` (the first iteration includes the trial's setup), end = last `timestamp`.

    Trials are packed into worker slots greedily by start time, which for intervals uses the
    fewest slots possible, so `n_slots` is the peak number of trials running at once.
    Timestamps are whole seconds: a trial starting within `TIMESTAMP_TOLERANCE_S` of another's
    end reuses its slot rather than counting as concurrent.
    """
    exp = Path(experiment_dir)
    if not (exp / "tune").is_dir():
        return TimelineInfo([], 0.0, 0, 0, [], f"no tune/ folder in {exp}: no timing to show")
    raw = []
    for trial, csv in _progress_files(exp).items():
        df = _read_csv(csv)
        if df is None or "timestamp" not in df or df.empty:
            continue
        ts = pd.to_numeric(df["timestamp"], errors="coerce")
        if ts.isna().all():
            continue
        first = df.index[ts.notna()][0]
        took = pd.to_numeric(
            df.get("time_this_iter_s", pd.Series(0.0, index=df.index)), errors="coerce"
        )
        first_took = float(took[first]) if np.isfinite(took[first]) else 0.0

        raw.append(
            (
                float(ts[first]) - first_took,
                float(ts.max()),
                trial,
                _last(df, "node_ip"),
                _last(df, "pid"),
            )
        )
    if not raw:
        return TimelineInfo([], 0.0, 0, 0, [], "no progress.csv with timestamps under tune/")
    raw.sort()
    t0 = raw[0][0]
    slot_free_at: list[float] = []
    bars = []
    for start, end, trial, node, pid in raw:
        s, e = start - t0, max(end, start) - t0
        slot = next(
            (i for i, free in enumerate(slot_free_at) if free - TIMESTAMP_TOLERANCE_S <= s),
            len(slot_free_at),
        )
        if slot == len(slot_free_at):
            slot_free_at.append(e)
        else:
            slot_free_at[slot] = e
        bars.append(Bar(trial, s, e, node, pid, slot))
    # Running trials over time, with the same tolerance: an interval counts until end - tol.
    events = sorted(
        [(b.start, 1) for b in bars]
        + [
            (
                max(b.start, b.end - TIMESTAMP_TOLERANCE_S)
                if b.end - b.start > TIMESTAMP_TOLERANCE_S
                else b.end,
                -1,
            )
            for b in bars
        ],
        key=lambda ev: (ev[0], ev[1]),
    )
    running, steps = 0, []
    for t, d in events:
        running += d
        steps.append((t, running))
    peak = max((r for _, r in steps), default=0)
    return TimelineInfo(bars, t0, len(slot_free_at), peak, steps)


def _get_timeline_plot(info: TimelineInfo) -> Figure:
    title = "Trial timeline"
    if not info.bars:
        return _note_figure(title, info.note or "no timing information")
    n = len(info.bars)
    fig = Figure(figsize=(10, 2.2 + 0.4 * n))
    grid = fig.add_gridspec(2, 1, height_ratios=[max(2.0, 0.4 * n), 1.0], hspace=0.08)
    ax = fig.add_subplot(grid[0])
    strip = fig.add_subplot(grid[1], sharex=ax)
    cmap = colormaps["tab10"]
    nodes = sorted({b.node for b in info.bars})
    for y, b in enumerate(info.bars):
        ax.barh(
            y,
            max(b.end - b.start, 0.5),
            left=b.start,
            color=cmap(b.slot % 10),
            edgecolor="black",
            lw=0.5,
        )
        where = f"{b.node} pid {b.pid}" if len(nodes) > 1 else f"pid {b.pid}"
        ax.text(b.start + 0.5, y, f" {where}", va="center", fontsize=7)
    ax.set_yticks(range(n), [b.trial for b in info.bars], fontsize=8)
    ax.invert_yaxis()
    ax.set_ylabel("trial")
    ax.tick_params(labelbottom=False)
    handles = [Patch(color=cmap(s % 10), label=f"worker slot {s}") for s in range(info.n_slots)]
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(
        f"{title}: {n} trial(s), peak {info.max_concurrency} running at once"
        + (f" on {len(nodes)} nodes" if len(nodes) > 1 else "")
    )
    t = [s[0] for s in info.concurrency]
    r = [s[1] for s in info.concurrency]
    strip.step([0.0, *t], [0, *r], where="post", color="tab:blue")
    strip.fill_between([0.0, *t], [0, *r], step="post", alpha=0.3)
    strip.set_ylim(0, info.max_concurrency + 0.5)
    strip.set_yticks(range(info.max_concurrency + 1))
    strip.set_ylabel("running")
    strip.set_xlabel("seconds since the first trial started")
    strip.grid(alpha=0.3)
    return fig
