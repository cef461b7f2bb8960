"""The link between a Tune trial and the Ray Train run inside it (multi-worker trials).

A multi-worker trial is a Tune function trainable whose thread runs the Train run's controller
itself (`raytrain.runtime.inline_controller`). Two things link the two:

* `stop_signal`: the event Tune sets when it ends the trial's thread (a scheduler stopping
  the trial, the actor being reused or shut down). The run is aborted on it, so the trial
  leaves `fit()` and Tune can reuse its actor for the next trial (a new trial actor costs ~3 s
  on 2 cores) instead of the worker group holding its CPUs.
* `ReportToTune`: each epoch's report goes from the controller's callback straight into the
  trial's Tune session, in the trial's own thread. Ray's `TuneReportCallback` sends it
  through a Ray queue instead, because Ray's controller is another process; a queue is an
  actor (one more process per trial, ~1.7 CPU-seconds) and a round trip per report.
"""

from __future__ import annotations

import os
from typing import Any

from ray.train.v2.api.callback import UserCallback

#: how long Tune waits for a stopped trial's thread before it gives up reusing the actor. The
#: default (2 s) is shorter than aborting a worker group takes on 2 busy cores.
THREAD_TIMEOUT_S = "30"
#: the metric that carries a report's checkpoint directory (as Ray's `TuneReportCallback`)
CHECKPOINT_PATH_KEY = "checkpoint_path"


def stop_signal() -> Any:
    """The `threading.Event` Tune sets when it ends this trial's thread: `reset_config`
    before the actor runs the next trial, `cleanup` before the actor goes.

    Tune reads `TUNE_FUNCTION_THREAD_TIMEOUT_S` from the trial actor's own environment each
    time it resets the actor, so setting it here, in that process, is enough."""
    from ray.train._internal.session import get_session

    os.environ.setdefault("TUNE_FUNCTION_THREAD_TIMEOUT_S", THREAD_TIMEOUT_S)
    return get_session().stop_event


class ReportToTune(UserCallback):
    """Ray Train callback: rank 0's metrics of each report (plus the path of the checkpoint
    Ray Train has already persisted) become a result of this Tune trial.

    Must run in the trial's thread (the controller runs there). As for any function
    trainable, the report waits until Tune has taken it, and a trial Tune stops leaves it
    with `SystemExit`, on which the run is aborted (`controller_here`)."""

    def after_report(
        self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any
    ) -> None:
        from ray.train._internal.session import get_session

        result = dict(metrics[0])
        if checkpoint is not None:
            result[CHECKPOINT_PATH_KEY] = checkpoint.path
        get_session().report(result)
