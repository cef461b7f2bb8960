"""Run a Ray Train run's `TrainController` in the calling thread instead of in an actor of its own.

Why: Ray Train 2.60 starts every run's controller as a new actor process. In a Tune trial that
process does nothing the trial's own process could not: the trial actor already has Ray Train
loaded and is otherwise idle in `fit()`. Measured on 2 cores, the controller's process costs
~2.4 s of every 2-worker trial (process start, Ray Train's controller modules). Here the same
`TrainController` class, with the same callbacks, runs its control loop on an asyncio loop in
the trial's thread; it creates the worker group, polls it, and shuts it down exactly as in its
actor.

What differs from the actor:

* Ray's `TrainController.abort` ends with `exit_actor()`, which here would end the trial's
  process. `_abort` does the rest of what `abort` does (`before_controller_abort` callbacks,
  worker group aborted, state ABORTED), which is also what happens when the run is stopped
  (`should_stop`) or the thread is ended by an exception (Tune's `sys.exit` in a stopped
  trial's `report`, an error in a callback).
* The workers' "controller actor" and the run's "controller actor id" are the trial's actor:
  the worker group (and its placement group) belongs to it, so it dies with the trial's actor,
  and the search's placement-group janitor (`raytrain.runtime.placement_janitor`) watches
  that actor.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: how often a running controller's loop looks at its stop signal (seconds)
STOP_POLL_S = 0.2


class RunStopped(Exception):
    """The run was stopped from outside (`should_stop`) and aborted; there is no result."""


def run_controller_here(
    controller_cls: type, should_stop: Callable[[], bool], **controller_init_kwargs: Any
) -> Any:
    """Run a Train controller to its end in this thread; its `Result`.

    Raises `RunStopped` once `should_stop()` is true (looked at every `STOP_POLL_S` while the
    control loop waits); any exception, `SystemExit` included, aborts the run before it
    propagates, so no worker group outlives the call."""
    from ray.train.v2.api import data_parallel_trainer as dpt

    # What Ray sets in its controller actor's environment (blocking `ray.get` inside the
    # controller's event loop is by design there).
    os.environ.setdefault(
        dpt.RAY_WARN_BLOCKING_GET_INSIDE_ASYNC_ENV_VAR,
        dpt.DEFAULT_RAY_WARN_BLOCKING_GET_INSIDE_ASYNC_VALUE,
    )
    controller = controller_cls(**controller_init_kwargs)
    try:
        asyncio.run(_run(controller, should_stop))
    except BaseException:
        _abort(controller)
        raise
    return controller.get_result()


async def _run(controller: Any, should_stop: Callable[[], bool]) -> None:
    task = asyncio.ensure_future(controller.run())
    while not (await asyncio.wait({task}, timeout=STOP_POLL_S))[0]:
        if should_stop():
            task.cancel()
            await asyncio.wait({task})
            raise RunStopped
    task.result()  # re-raises what the control loop raised


def _abort(controller: Any) -> None:
    """`TrainController.abort` without its `exit_actor()` (see the module docstring)."""
    from ray.train.v2._internal.execution.controller.state import AbortedState

    if controller.get_state().is_terminal():
        return
    controller._controller_callback_manager.invoke_best_effort("before_controller_abort")
    try:
        group = controller._worker_group
        if group is not None and group.has_started():
            group.abort()
        controller._set_state(AbortedState())
    except Exception:  # noqa: BLE001 — the caller's exception is the one that matters
        log.exception("could not abort the Train run's worker group")
