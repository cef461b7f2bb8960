"""Tune's random/grid generator, made to agree with the experiment it resumes.

Why: `BasicVariantGenerator` saves its own state (which trials are live, how far its sampler
got) in a file beside Tune's experiment state, and a resumed search reads both. They are
written at different moments, and on a bucket uploaded one by one, so a driver killed with
SIGKILL can leave a generator file older than the experiment state: it still counts a trial
that has since finished as live. With `max_concurrent` reached by that ghost, the restored
generator hands out no trial and never finishes, and Tune waits for it 600 s at a time, for
ever (seen in CI: a two-node search on a bucket, resumed, hung with its last trial done). Its
sampler may also be behind, so it would hand out again a trial the experiment already holds.

Here, on restore, the generator reads the trials the experiment state records (Tune downloads
it to the same folder first): a finished trial is no longer live, nor is one the experiment
never recorded (a generator file newer than the experiment state: that sample is lost, which
beats a search that never ends), and a trial the experiment already holds is never handed out
twice (Tune restores those itself).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.tune.search.basic_variant import BasicVariantGenerator

from raytrain.tune.experiment import saved_trial_states

FINISHED = ("TERMINATED", "ERROR")


def saved_trials(folder: str | Path) -> dict[str, str]:
    """trial id -> status, from the newest `experiment_state-*.json` in `folder` ({} if none,
    or unreadable: Tune itself reads the same file and says what is wrong with it)."""
    try:
        return saved_trial_states(folder)
    except (OSError, ValueError, KeyError, TypeError):
        return {}


class ResumableVariantGenerator(BasicVariantGenerator):
    """`BasicVariantGenerator` whose restored state agrees with the experiment state."""

    _paused: frozenset[str] | set[str] = frozenset()  # set_paused

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._known: set[str] = set()

    def restore_from_dir(self, dirpath: str) -> None:
        super().restore_from_dir(dirpath)
        saved = saved_trials(dirpath)
        if saved:  # live: only what the experiment holds unfinished (Tune runs those again)
            self._known = set(saved)
            self._live_trials &= {t for t, status in saved.items() if status not in FINISHED}

    def set_paused(self, trial_ids: set[str]) -> None:
        """The trials a pausing scheduler holds paused (raytrain.tune.promotion): they hold no
        resources, so `max_concurrent` does not count them."""
        self._paused = set(trial_ids)

    def next_trial(self) -> Any:
        paused = self._live_trials & self._paused
        self._live_trials -= paused  # not counted while the generator decides
        try:
            while True:
                trial = super().next_trial()
                if trial is None or trial.trial_id not in getattr(self, "_known", set()):
                    return trial
                # already in the experiment: Tune restored it (and counts it) itself
                self._live_trials.discard(trial.trial_id)
        finally:
            self._live_trials |= paused
