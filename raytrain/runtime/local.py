"""How raytrain starts a Ray of its own (`raytrain tune/train` without `--address`, the tests,
the benchmarks): settings that make a worker group's run start and end sooner.

Ray Train's controller looks at its workers every 2 s (`RAY_TRAIN_HEALTH_CHECK_INTERVAL_S`), so
a run whose workers have finished is noticed up to 2 s late, and the poll also paces the
start-up. Measured here with a 2-worker TorchTrainer doing nothing (2 cores, 6 runs each): the
time from the workers' return to fit()'s return was 2.2-5.0 s with the default, 1.1-2.0 s at
0.5 s. A poll is one `ray.wait` on the workers' futures: four a second cost nothing next to
training.

On one machine, Ray Train's preemption watcher is off (`RAY_TRAIN_ENABLE_PREEMPTION_WATCHER=0`):
it is one more actor process per run (measured ~1.3 CPU-seconds of start-up per trial on 2
cores) watching for the loss of a node to spot preemption, which a single machine cannot have.
Clusters keep it.

Tried and dropped: `preload_python_modules` (idle Ray workers import torch while they wait). It
did not shorten a worker group's start (the workers' actors did not land on pre-imported
processes) and it slowed every Ray Data task worker by the torch import.

Ray Train's state tracking is on (`RAY_TRAIN_ENABLE_STATE_TRACKING=1`): without it the
dashboard's Train API for Ray Train V2 runs, `/api/train/v2/runs/v1`, knows no runs ("Train
state data is not available"; `/api/train/v2/runs`, despite its name, serves Train V1 runs,
which raytrain has none of, and answers that whatever the setting). Each run then reports its
state and workers to a Train state actor; every
multi-worker trial of a search appears there as a run named after its Tune trial id (a
one-worker trial trains inside its Tune trial, with no Train run to show).

A cluster started with `ray start` (cluster/*.yaml) gets the same setting from `cluster_env()`;
`RAYTRAIN_FAST_START=0` leaves Ray's default (for comparisons).
"""

from __future__ import annotations

import os

#: Environment for the Ray processes: set before a local Ray starts, every worker inherits it.
RAY_ENV = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5", "RAY_TRAIN_ENABLE_STATE_TRACKING": "1"}
#: Only for a Ray on this one machine (see above).
LOCAL_ENV = {"RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}


def enabled() -> bool:
    return os.environ.get("RAYTRAIN_FAST_START", "1") != "0"


def prepare_local_ray() -> None:
    """Call before `ray.init` starts a local Ray; a value the user set is kept."""
    if enabled():
        for key, value in {**RAY_ENV, **LOCAL_ENV}.items():
            os.environ.setdefault(key, value)


def cluster_env() -> str:
    """The same settings as `KEY=VALUE ...` for `ray start` on a cluster's nodes."""
    return " ".join(f"{k}={v}" for k, v in RAY_ENV.items())
