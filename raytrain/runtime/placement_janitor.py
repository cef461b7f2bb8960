"""One placement-group cleaner for a whole search, instead of one detached actor per Train run.

Why: a Ray Train run's worker group lives in a placement group (PG) that its `TrainController`
creates. The controller removes it when it ends, but a controller that dies (Tune kills a trial
actor that owns it: a failed or early-stopped trial, the end of a search) leaves a PG that Ray keeps
until the *job* ends, holding CPUs the next trials wait for. Ray Train 2.60 guards against
that with a detached `PlacementGroupCleaner` actor per run: one more Python process per trial
(~2.5 CPU-seconds measured on 2 cores, a sixth of a 2-worker trial's fixed cost), which also
needs the dashboard's state API to see the controller die.

Here one `PlacementGroupJanitor` per search (owned by the search's driver, so it ends with the
search) watches every run's controller through its actor handle and removes the PG of any that
dies without removing it; `JanitorCallback` stands in for Ray's `PlacementGroupCleanerCallback`
(`raytrain.runtime.trainer` swaps it in when a janitor is given).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import ray
from ray.train.v2._internal.execution.callback import ControllerCallback, WorkerGroupCallback
from ray.train.v2._internal.execution.controller.state import AbortedState

log = logging.getLogger(__name__)

#: seconds between two looks at the watched controllers
CHECK_INTERVAL_S = 1.0


class PlacementGroupJanitor:
    """Watches Train controllers; removes the PG of any that dies while holding one."""

    def __init__(self, check_interval_s: float = CHECK_INTERVAL_S) -> None:
        self._watched: dict[str, tuple[Any, Any]] = {}  # controller id -> (handle, PG)
        self._lock = threading.Lock()
        self._interval = check_interval_s
        self._removed = 0
        threading.Thread(target=self._loop, name="pg-janitor", daemon=True).start()

    def watch(self, key: str, controller: Any, placement_group: Any) -> None:
        """Start (or, after a worker-group restart, update) watching `controller`'s PG."""
        with self._lock:
            self._watched[key] = (controller, placement_group)

    def forget(self, key: str) -> None:
        """The controller ends cleanly and removes its PG itself."""
        with self._lock:
            self._watched.pop(key, None)

    def stats(self) -> dict[str, int]:
        """How many controllers are watched and how many PGs were removed (for tests, logs)."""
        with self._lock:
            return {"watched": len(self._watched), "removed": self._removed}

    def sweep(self) -> int:
        """Look at every watched controller now (all at once: one wait, however many there
        are); how many are still watched after."""
        with self._lock:
            watched = list(self._watched.items())
        dead = _dead([controller for _, (controller, _) in watched])
        for (key, (_, pg)), gone in zip(watched, dead, strict=True):
            if gone:
                self._remove(key, pg)
        return self.stats()["watched"]

    def _loop(self) -> None:
        while True:
            time.sleep(self._interval)
            self.sweep()

    def _remove(self, key: str, pg: Any) -> None:
        from ray.util.placement_group import placement_group_table, remove_placement_group

        with self._lock:
            if self._watched.pop(key, None) is None:
                return  # forgotten meanwhile: it ended cleanly
        try:
            if placement_group_table(pg).get("state") not in (None, "REMOVED"):
                remove_placement_group(pg)
                with self._lock:
                    self._removed += 1
                log.warning("Train controller %s died; removed its placement group", key)
        except Exception as e:  # noqa: BLE001 — a cleaner must not die of one bad PG
            log.warning("could not remove placement group of controller %s: %s", key, e)


def _dead(controllers: list[Any], timeout_s: float = 2.0) -> list[bool]:
    """For each controller, True only when Ray says the actor is gone. A busy controller that
    does not answer within the timeout counts as alive: its PG is left alone, never removed
    under a run."""
    refs = [c.__ray_ready__.remote() for c in controllers]
    if refs:
        ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
    return [_gone(ref) for ref in refs]


def _gone(ref: Any) -> bool:
    ready, _ = ray.wait([ref], timeout=0)
    if not ready:
        return False
    try:
        ray.get(ref)
    except ray.exceptions.ActorUnavailableError:  # "may be available later": not dead
        return False
    except ray.exceptions.RayActorError:
        return True
    return False


def start_janitor() -> Any:
    """A janitor actor for one search (no CPU; on this node; ends with its driver)."""
    return (
        ray.remote(PlacementGroupJanitor)
        .options(num_cpus=0, max_concurrency=4, scheduling_strategy="DEFAULT")
        .remote()
    )


def settle(janitor: Any, timeout_s: float = 10.0) -> None:
    """At the end of a search: wait (up to `timeout_s`) until the controllers of trials Tune
    has just killed are seen dead and their PGs removed, then let the janitor go. Without it a
    PG could outlive the search in a Ray session that goes on (notebooks, tests)."""
    deadline = time.monotonic() + timeout_s
    try:
        while ray.get(janitor.sweep.remote()) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        ray.kill(janitor)


class JanitorCallback(ControllerCallback, WorkerGroupCallback):
    """Ray Train callback that registers the run's PG with a search's janitor (in place of
    Ray's `PlacementGroupCleanerCallback`; see the module docstring)."""

    def __init__(self, janitor: Any) -> None:
        self._janitor = janitor
        self._key: str | None = None

    def after_controller_start(self, train_run_context: Any) -> None:
        # the controller's actor: its own, or the Tune trial's it runs in (`controller_here`)
        self._key = ray.get_runtime_context().get_actor_id()

    def after_worker_group_start(self, worker_group: Any) -> None:
        pg = worker_group.get_worker_group_state().placement_group_handle.placement_group
        me = ray.get_runtime_context().current_actor
        ray.get(self._janitor.watch.remote(self._key, me, pg))

    async def before_controller_shutdown(self) -> None:
        # runs after the worker group (and its PG) is shut down: nothing left to clean
        self._janitor.forget.remote(self._key)

    def after_controller_state_update(self, previous_state: Any, current_state: Any) -> None:
        # A run is set ABORTED only once its worker group's abort has removed the PG. A
        # controller running in a trial's thread (`controller_here`) lives on after that.
        if isinstance(current_state, AbortedState):
            self._janitor.forget.remote(self._key)

    # No `before_controller_abort`: it runs *before* the abort removes the PG, and a trial
    # actor killed meanwhile (a stopped trial, end of search) takes the controller with it. The
    # controller stays watched; once it is gone the janitor finds its PG removed, or removes it.
