"""An OptunaSearch whose history survives the driver: the study lives in a database file and
the Tune-trial -> Optuna-trial map is rebuilt from that database on resume.

Ray's OptunaSearch pickles its whole state, in-memory study included, with each experiment
checkpoint, so a driver killed between two checkpoints loses the trials told since (and a
resumed trial that Optuna never saw makes `on_trial_complete` fail). Here every Optuna trial
records its Tune trial id as a user attribute; `restore` reopens the study from the database
and maps ids back, so the sampler keeps every finished trial and the running ones are told
when their resumed Tune trial ends.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from optuna.samplers import NSGAIISampler
from ray.tune.search.optuna import OptunaSearch

from raytrain.errors import RaytrainError
from raytrain.tune.optuna_pauses import PAUSED_AT_ATTR, PauseRecords, hide_pause_records
from raytrain.tune.study_url import shown, with_driver

#: Optuna trial user attribute holding the Tune trial id
TUNE_TRIAL_ATTR = "tune_trial_id"
#: Optuna trial user attribute of a trial added from a finished search (its folder)
WARM_START_ATTR = "warm_start_from"


class DurableOptunaSearch(OptunaSearch):
    """Also limits concurrency itself: Tune's ConcurrencyLimiter does not save which trials
    are live, so after a resume it drops the completions of resumed trials (Optuna never hears
    of them) and lets too many start. Trials that pause (ASHA of the promotion kind) are
    recorded as raytrain.tune.optuna_pauses says."""

    _max_concurrent = 0
    _paused: frozenset[str] | set[str] = frozenset()  # set_paused

    def __init__(
        self,
        *args: Any,
        evaluated: list[tuple[dict, list[float]]] | None = None,
        warm_source: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._evaluated = list(evaluated or [])
        self._warm_source = warm_source
        self._pauses = PauseRecords()
        super().__init__(*args, **kwargs)

    def _setup_study(self, mode: str | list) -> None:
        """Ray's set-up (the given points enqueued), then a finished search's trials added as
        completed ones (`search.warm_start_from`), marked with the folder they came from. Ray's
        own `evaluated_rewards` takes one value per point and would run the points again."""
        super()._setup_study(mode)
        import optuna
        from optuna.trial import TrialState

        hide_pause_records(self._ot_study)
        for params, values in self._evaluated:
            self._ot_study.add_trial(
                optuna.trial.create_trial(
                    state=TrialState.COMPLETE,
                    params=params,
                    distributions={k: self._space[k] for k in params},
                    values=values,
                    user_attrs={WARM_START_ATTR: self._warm_source},
                )
            )
        self._evaluated = []  # once: a restored searcher does not add them again

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        self._max_concurrent = max_concurrent
        return True  # Tune then wraps nothing around this searcher

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict, **spec: Any
    ) -> bool:
        if isinstance(self._metric, list):  # Tune passes only the primary metric: keep all
            metric, mode = None, None
        return super().set_search_properties(metric, mode, config, **spec)

    def set_paused(self, trial_ids: set[str]) -> None:
        """The trials a pausing scheduler holds paused (raytrain.tune.promotion): they hold no
        resources, so the concurrency limit does not count them, and their Optuna records are
        closed (raytrain.tune.optuna_pauses; Optuna keeps no intermediate values of a
        multi-objective trial, so those stay RUNNING)."""
        self._paused = set(trial_ids)
        if isinstance(self._metric, list):
            return
        for tid in self._paused:
            if tid in self._ot_trials and tid not in self._completed_trials:
                self._pauses.pause(self._ot_study, self._ot_trials[tid], tid)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if isinstance(self._metric, list) or trial_id not in self._ot_trials:
            return super().on_trial_result(trial_id, result)
        if trial_id in self._pauses.closed:  # promoted after a driver restart (reattach)
            self._completed_trials.discard(trial_id)
        elif trial_id in self._completed_trials:
            return super().on_trial_result(trial_id, result)  # Ray's warning
        self._pauses.report(
            self._ot_trials[trial_id], trial_id, result[self._metric], result["training_iteration"]
        )

    def suggest(self, trial_id: str) -> dict | None:
        live = len(self._ot_trials.keys() - self._completed_trials - self._paused)
        if trial_id not in self._ot_trials and 0 < self._max_concurrent <= live:
            return None
        params = super().suggest(trial_id)
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is not None:
            ot_trial.set_user_attr(TUNE_TRIAL_ATTR, trial_id)
        return params

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        """A trial a scheduler stopped (ASHA, median stopping: its last result is not `done`)
        is PRUNED for Optuna, not COMPLETE: otherwise TPE would rank its 3-epoch F1 beside
        finished trials' 27-epoch F1. Optuna has its intermediate values (`on_trial_result`),
        so TPE still learns from it, as from a trial its own pruner stopped. A trial whose
        record was closed at a pause gets one more record of its training since."""
        if (
            trial_id in self._ot_trials
            and trial_id not in self._completed_trials
            and not isinstance(self._metric, list)
        ):
            value = result.get(self._metric) if result and not error else None
            done = value is not None and result.get("done") is not False
            if self._pauses.end(self._ot_study, trial_id, value, done):
                self._completed_trials.add(trial_id)
                return
        stopped_early = (
            result is not None
            and not error
            and result.get("done") is False
            and not isinstance(self._metric, list)  # Optuna prunes single objectives only
            and trial_id in self._ot_trials
            and trial_id not in self._completed_trials
        )
        if not stopped_early:
            super().on_trial_complete(trial_id, result, error)
            return
        from optuna.trial import TrialState

        self._ot_study.tell(self._ot_trials[trial_id], state=TrialState.PRUNED)
        self._completed_trials.add(trial_id)

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        if self._storage is not None:
            self.reattach()

    def reattach(self) -> None:
        """Reopen the study from its storage and rebuild the trial maps from it."""
        import optuna
        from optuna.trial import Trial, TrialState

        study = optuna.load_study(
            study_name=self._study_name, storage=self._storage, sampler=self._sampler
        )
        hide_pause_records(study)
        self._ot_study = study
        self._ot_trials, self._completed_trials = {}, set()
        self._pauses = PauseRecords()
        for frozen in study.get_trials(deepcopy=False):  # by number: a trial's latest last
            tid = frozen.user_attrs.get(TUNE_TRIAL_ATTR)
            if tid is None:
                continue
            self._ot_trials.setdefault(tid, Trial(study, frozen._trial_id))
            self._pauses.closed.pop(tid, None)
            if frozen.state == TrialState.RUNNING:
                self._completed_trials.discard(tid)
                continue
            self._completed_trials.add(tid)
            if PAUSED_AT_ATTR in frozen.user_attrs:  # paused: it may be promoted yet
                self._pauses.restore(tid, self._ot_trials[tid], frozen)


class PicklableNSGAII(NSGAIISampler):
    """Optuna's NSGA-II sampler, which Tune can save with its searcher: the GA base class holds
    a thread lock (Optuna 4.x-5.x), which pickle refuses; it is made anew on load."""

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_thread_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._thread_lock = threading.Lock()


#: `tune.optuna_storage: journal:///PATH`: Optuna's journal file (JournalFileBackend), an
#: append-only log that needs no database server; any other URL is an SQLAlchemy one (RDB).
JOURNAL = "journal://"


def open_storage(url: str) -> Any:
    """The Optuna storage object a `tune.optuna_storage` URL names."""
    import optuna

    if url.startswith(JOURNAL):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url[len(JOURNAL) :]).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    url = with_driver(url)
    if url.startswith("sqlite"):  # concurrent dashboard readers: wait for the lock
        kwargs: dict[str, Any] = {"connect_args": {"timeout": 30}}
    else:  # a server: drop connections it closed while the search waited on trials
        kwargs = {"pool_pre_ping": True}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def check_study_storage(url: str, study_name: str, resume: bool) -> None:
    """Before Ray starts: the storage answers, and a new search does not join a study of the
    same name that an earlier search left in a shared database (one name, one search)."""
    import optuna

    try:
        storage = open_storage(url)
        names = {s.study_name for s in optuna.study.get_all_study_summaries(storage)}
    except Exception as e:  # driver errors differ (psycopg2, pymysql, sqlite3, OSError)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RaytrainError(
            f"tune.optuna_storage: {shown(url)}: cannot open the study database ({first})"
        ) from None
    if not resume and study_name in names:
        raise RaytrainError(
            f"tune.optuna_storage: {shown(url)} already holds a study '{study_name}'; pass "
            f"--resume to finish that search, pick another name (--name), or delete the study "
            f"(optuna delete-study --study-name {study_name} --storage URL)"
        )


def study_exists(url: str, study_name: str) -> bool:
    import optuna

    storage = open_storage(url)
    return study_name in {s.study_name for s in optuna.study.get_all_study_summaries(storage)}


def fail_orphans(storage_url: str, study_name: str, known: set[str]) -> int:
    """Mark FAIL the Optuna trials still RUNNING whose Tune trial is not in `known` (Tune's
    saved state, before a resume; every trial, after the search): a killed driver asked for
    them but never recorded them, so no one will finish them. Returns how many."""
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=study_name, storage=open_storage(storage_url))
    n = 0
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if frozen.user_attrs.get(TUNE_TRIAL_ATTR) not in known:
            study.tell(frozen.number, state=TrialState.FAIL)
            n += 1
    return n


def study_summary(storage_url: str, study_name: str) -> dict[str, Any]:
    """Trial counts by state in a stored study (for the summary and the tests)."""
    import optuna

    study = optuna.load_study(study_name=study_name, storage=open_storage(storage_url))
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return {"study_name": study_name, "storage": shown(storage_url), "trials": counts}
