"""raytrain's own metrics, exported with `ray.util.metrics`.

Ray ships every process's metrics to its node's metrics agent, which serves them on the node's
Prometheus endpoint (`ray.nodes()[i]["MetricsExportPort"]`) with a `ray_` prefix; the
dashboard's Metrics view and a Prometheus/Grafana set-up (`ray metrics launch-prometheus`)
read them from there. Series (tags in braces):

- `ray_raytrain_trial_epoch{experiment,trial}`: epochs done;
- `ray_raytrain_trial_samples_per_second{experiment,trial}`: training samples per second of
  the last epoch, all workers together;
- `ray_raytrain_trial_objective{experiment,trial,metric}`: the monitored metric, last epoch;
- `ray_raytrain_trial_best_objective{experiment,trial,metric}`: its best value so far;
- `ray_raytrain_search_trials{experiment,state}`: a search's trials `running`, `finished`,
  `stopped`, `errored` (`search_callback`).

The train loop sets the trial series on rank 0 after every epoch; the search's driver sets
the search series from a Tune callback.

`trial` is the Tune trial id (a Ray Train run of that trial has the same name) or, for
`raytrain train`, the run's name. Recording never fails a run: an error is logged once.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "raytrain_"

#: name -> (description, tag keys)
TRIAL_GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "trial_epoch": ("Epochs a trial has finished.", ("experiment", "trial")),
    "trial_samples_per_second": (
        "Training samples per second over a trial's last epoch (all workers).",
        ("experiment", "trial"),
    ),
    "trial_objective": (
        "The monitored metric of a trial's last epoch.",
        ("experiment", "trial", "metric"),
    ),
    "trial_best_objective": (
        "The best value of the monitored metric a trial has reached.",
        ("experiment", "trial", "metric"),
    ),
}
SEARCH_GAUGE = ("search_trials", "Trials of a search by state.", ("experiment", "state"))
SEARCH_STATES = ("running", "finished", "stopped", "errored")

_gauges: dict[str, Any] = {}
_failed = False


def _gauge(name: str, description: str, tag_keys: tuple[str, ...]) -> Any:
    gauge = _gauges.get(name)
    if gauge is None:
        from ray.util.metrics import Gauge

        gauge = _gauges[name] = Gauge(PREFIX + name, description, tag_keys=tag_keys)
    return gauge


def _safely(fn: Any, *args: Any) -> None:
    global _failed
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 — metrics are a view; never the reason a run fails
        if not _failed:
            log.warning("raytrain metrics: could not record", exc_info=True)
        _failed = True


def record_epoch(
    experiment: str,
    trial: str,
    *,
    epoch: int,
    samples: float,
    seconds: float,
    metric: str,
    value: float,
    best: float,
) -> None:
    """One epoch of a trial (call on rank 0 only): `samples` trained by all workers in
    `seconds`; `value` and `best` of the monitored `metric`."""

    def record() -> None:
        tags = {"experiment": experiment, "trial": trial}
        metric_tags = {**tags, "metric": metric}
        values = {
            "trial_epoch": (float(epoch), tags),
            "trial_samples_per_second": (samples / seconds if seconds > 0 else 0.0, tags),
            "trial_objective": (float(value), metric_tags),
            "trial_best_objective": (float(best), metric_tags),
        }
        for name, (v, t) in values.items():
            _gauge(name, *TRIAL_GAUGES[name]).set(v, tags=t)

    _safely(record)


def record_search(experiment: str, counts: dict[str, int]) -> None:
    """The search's trials by state (`SEARCH_STATES`)."""

    def record() -> None:
        gauge = _gauge(*SEARCH_GAUGE)
        for state in SEARCH_STATES:
            gauge.set(float(counts.get(state, 0)), tags={"experiment": experiment, "state": state})

    _safely(record)


def search_callback(experiment: str, epochs_of: Any = None) -> Any:
    """A Tune callback (in the search's driver) that keeps `raytrain_search_trials` current.

    A trial is `finished` when it trained its last epoch (`epochs_of(trial.config)`: the epochs
    it was given; ASHA ends a trial at its last epoch too) or ended itself (early stopping),
    `stopped` when the scheduler ended it before that (ASHA, PBT, a stop condition), `errored`
    when it failed; `running` from its start to one of those."""
    from ray.tune import Callback

    class SearchMetrics(Callback):
        def __init__(self) -> None:
            self.state: dict[str, str] = {}

        def _set(self, trial: Any, state: str) -> None:
            self.state[trial.trial_id] = state
            counts = {s: 0 for s in SEARCH_STATES}
            for s in self.state.values():
                counts[s] += 1
            record_search(experiment, counts)

        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._set(trial, "running")

        def on_trial_restore(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._set(trial, "running")

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            result = trial.last_result or {}
            done = bool(result.get("done"))
            if not done and epochs_of is not None:
                try:
                    done = int(result.get("epoch", 0)) >= int(epochs_of(trial.config))
                except Exception:  # noqa: BLE001 — a view: count it as stopped
                    done = False
            self._set(trial, "finished" if done else "stopped")

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._set(trial, "errored")

    return SearchMetrics()
