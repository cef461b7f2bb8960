"""Where metrics go: `training_log.csv`, TensorBoard event files, and wandb.

Written by rank 0 only. wandb runs offline unless the config sets `wandb_mode: online` or the
environment has `WANDB_API_KEY`/`WANDB_MODE`; one wandb run per trial, grouped by experiment.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from raytrain.config.schema import LoggingSection


class RunLogger:
    def __init__(
        self,
        log_dir: str | Path,
        cfg: LoggingSection,
        run_name: str,
        group: str,
        config: dict[str, Any],
    ) -> None:
        self.dir = Path(log_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cfg = cfg
        self._csv_file = None
        self._csv_writer: csv.DictWriter | None = None
        self._fields: list[str] = []
        self._tb = None
        self._wandb = None
        if cfg.tensorboard:
            self._tb = ScalarEvents(self.dir / "tensorboard_logs")
        if cfg.use_wandb:
            self._wandb = _start_wandb(self.dir, cfg, run_name, group, config)

    def log(self, metrics: dict[str, Any], step: int) -> None:
        scalars = {
            k: float(v)
            for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        if self.cfg.csv:
            self._write_csv(scalars)
        if self._tb is not None:
            for k, v in scalars.items():
                self._tb.add_scalar(k, v, step)
            self._tb.flush()
        if self._wandb is not None:
            self._wandb.log(scalars, step=step)

    def log_steps(self, rows: list[dict[str, Any]]) -> None:
        """Per-optimizer-step rows (step, epoch, lr, loss): `steps_log.csv` and TensorBoard
        `step/lr`, `step/loss` — the learning rate every step actually used; every
        `logging.log_frequency`-th step."""
        every = self.cfg.log_frequency
        rows = [r for r in rows if r["step"] % every == 0] if every > 1 else rows
        if not rows:
            return
        if self.cfg.csv:
            path = self.dir / "steps_log.csv"
            new = not path.exists() or path.stat().st_size == 0
            with open(path, "a", newline="") as f:
                w = csv.DictWriter(f, ["step", "epoch", "lr", "loss"], extrasaction="ignore")
                if new:
                    w.writeheader()
                w.writerows(rows)
        if self._tb is not None:
            for r in rows:
                self._tb.add_scalar("step/lr", r["lr"], r["step"])
                self._tb.add_scalar("step/loss", r["loss"], r["step"])
            self._tb.flush()

    def _write_csv(self, row: dict[str, float]) -> None:
        path = self.dir / "training_log.csv"
        if self._csv_writer is None:
            exists = path.exists() and path.stat().st_size > 0
            # A resumed run appends under the header already there, so columns stay aligned.
            self._fields = _csv_header(path) if exists else list(row)
            self._csv_file = open(path, "a", newline="")  # noqa: SIM115 (kept open for the run)
            self._csv_writer = csv.DictWriter(self._csv_file, self._fields, extrasaction="ignore")
            if not exists:
                self._csv_writer.writeheader()
        self._csv_writer.writerow(row)
        self._csv_file.flush()

    def close(self) -> None:
        if self._csv_file:
            self._csv_file.close()
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()


class ScalarEvents:
    """TensorBoard scalars (`events.out.tfevents.*`), written with tensorboard's own event-file
    writer and protos.

    Why not `torch.utils.tensorboard.SummaryWriter`: raytrain only logs scalars, and importing
    that module costs ~0.9 s on 2 cores — paid by rank 0 of every multi-worker trial, whose
    process is new each trial, before its first epoch. The event writer and protos cost ~0.1 s.
    """

    def __init__(self, log_dir: Path) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        log_dir.mkdir(parents=True, exist_ok=True)
        self._writer = EventFileWriter(str(log_dir))

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        import time

        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        summary = Summary(value=[Summary.Value(tag=tag, simple_value=float(value))])
        self._writer.add_event(Event(summary=summary, wall_time=time.time(), step=int(step)))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def _csv_header(path: Path) -> list[str]:
    with open(path, newline="") as f:
        return next(csv.reader(f), [])


def _start_wandb(
    log_dir: Path, cfg: LoggingSection, name: str, group: str, config: dict[str, Any]
) -> Any:
    import wandb

    mode = (
        cfg.wandb_mode
        or os.environ.get("WANDB_MODE")
        or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
    )
    return wandb.init(
        project=cfg.wandb_project,
        entity=cfg.wandb_entity,
        name=name,
        group=group,
        config=config,
        mode=mode,
        dir=str(log_dir),
        reinit=True,
        settings=wandb.Settings(silent=True),
    )


def read_offline_history(run_file: str | Path) -> list[dict[str, Any]]:
    """The rows `wandb.log` wrote to an offline run file (`offline-run-*/run-*.wandb`).

    wandb no longer ships a Python reader; the format is a 7-byte W&B header followed by
    LevelDB-log framed protobuf `Record`s in 32 KiB blocks. Used to check what an offline run
    holds before (or instead of) `wandb sync`.
    """
    import json

    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(run_file).read_bytes()
    block, pos, buf, rows = 32768, 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # block trailer too small for a header: skip it
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        buf = chunk if kind in (1, 2) else buf + chunk  # FULL/FIRST start, MIDDLE/LAST go on
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(buf)
            if record.WhichOneof("record_type") == "history":
                rows.append(
                    {
                        (i.key or "/".join(i.nested_key)): json.loads(i.value_json)
                        for i in record.history.item
                    }
                )
    return rows
