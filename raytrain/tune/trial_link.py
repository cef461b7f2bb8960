"""The link between a Tune trial and the Ray Train run inside it (multi-worker trials).

A multi-worker trial is a Tune function trainable whose thread sits in `TorchTrainer.fit()`;
the run's controller sends each epoch's report to the trial through a Ray queue
(`TuneReportCallback`). Two things in Ray 2.60 make such trials cost more than they need to:

* A trial the scheduler stops stays inside `fit()`: Tune cannot reuse its actor for the next
  trial (a new trial actor costs ~3 s on 2 cores) and the worker group keeps its CPUs.
  `stop_signal` hands `fit()` the event Tune sets when it ends the trial's thread, and the
  run is aborted on it (`raytrain.train.launch`).
* Every trial makes a new queue, and a Ray queue is an actor: one more process per trial
  (~1.7 CPU-seconds). `report_queue` keeps one queue per trial actor; a reused actor's next
  trial finds it already running.
"""

from __future__ import annotations

import os
from typing import Any

#: how long Tune waits for a stopped trial's thread before it gives up reusing the actor. The
#: default (2 s) is shorter than aborting a worker group takes on 2 busy cores.
THREAD_TIMEOUT_S = "30"

_queue: Any = None  # this trial actor's report queue, kept across the trials it runs


def stop_signal() -> Any:
    """The `threading.Event` Tune sets when it ends this trial's thread: `reset_config`
    before the actor runs the next trial, `cleanup` before the actor goes.

    Tune reads `TUNE_FUNCTION_THREAD_TIMEOUT_S` from the trial actor's own environment each
    time it resets the actor, so setting it here, in that process, is enough."""
    from ray.train._internal.session import get_session

    os.environ.setdefault("TUNE_FUNCTION_THREAD_TIMEOUT_S", THREAD_TIMEOUT_S)
    return get_session().stop_event


def report_queue() -> Any:
    """Install this actor's report queue in the trial's session, empty, before the run's
    `TuneReportCallback` is made (it picks up the session's queue instead of making one)."""
    from ray.train._internal.session import get_session
    from ray.util.queue import Queue

    global _queue
    if _queue is None:
        _queue = Queue(1, actor_options={"num_cpus": 0})  # as Ray's own, but once
    drain(_queue)  # nothing of an earlier, aborted trial may reach this one
    get_session()._inter_actor_queue = _queue
    return _queue


def drain(queue: Any = None) -> None:
    """Drop the reports waiting in the queue: a stopped trial's controller blocks on a full
    queue (size 1) and, blocked, cannot take the abort."""
    from ray.util.queue import Empty

    queue = queue if queue is not None else _queue
    while queue is not None:
        try:
            queue.get_nowait()
        except Empty:
            return
