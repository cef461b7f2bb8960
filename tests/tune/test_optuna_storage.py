"""`tune.optuna_storage`: the Optuna study in any Optuna storage (sqlite, PostgreSQL, MySQL, a
journal file), checked before Ray starts; a search whose driver was killed resumes with its
study from a real PostgreSQL server; optuna-dashboard serves that study over HTTP.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from ray_helpers import kill_driver_when, run_to_end
from servers import optuna_dashboard, postgres_server

from raytrain.config.load import validate
from raytrain.errors import RaytrainError
from raytrain.tune.optuna_store import check_study_storage, open_storage
from raytrain.tune.searchers import optuna_storage_url
from raytrain.tune.study_url import shown

RAYTRAIN = [sys.executable, "-m", "raytrain"]


def test_storage_url_spellings_and_refusals(tmp_path: Path) -> None:
    base = {"model": {"architecture": "coefficient_optimizer"}}
    for url in ("sqlite:///x.db", "postgresql+psycopg2://u@h/db", "mysql://u@h/d", "journal:///j"):
        cfg = validate({**base, "tune": {"optuna_storage": url}}, source="t.yaml")
        assert optuna_storage_url(tmp_path, cfg) == url
    assert optuna_storage_url(tmp_path, validate(base, source="t")).endswith("/optuna.db")
    with pytest.raises(RaytrainError, match="tune.optuna_storage"):
        validate({**base, "tune": {"optuna_storage": "redis://h"}}, source="t.yaml")
    assert shown("postgresql://me:secret@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert shown("sqlite:////a/b.db") == "sqlite:////a/b.db"


def test_journal_file_storage_and_checks(tmp_path: Path) -> None:
    url = f"journal:///{tmp_path / 'studies' / 'journal.log'}"
    study = optuna.create_study(study_name="j", storage=open_storage(url))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert len(optuna.load_study(study_name="j", storage=open_storage(url)).trials) == 2
    check_study_storage(url, "other", resume=False)
    check_study_storage(url, "j", resume=True)
    with pytest.raises(RaytrainError, match="already holds a study 'j'.*--resume"):
        check_study_storage(url, "j", resume=False)


def test_unreachable_database_is_one_error_line() -> None:
    t0 = time.monotonic()
    with pytest.raises(RaytrainError) as e:
        check_study_storage("postgresql://me:pw@127.0.0.1:9/none", "x", resume=False)
    assert "cannot open the study database" in str(e.value) and "pw" not in str(e.value)
    assert "\n" not in str(e.value) and time.monotonic() - t0 < 30


CONFIG = """
training: {{name: pgkilled, seed: 5, output_dir: {out}}}
dataset:
  batch_size: 16
  augmentation: none
  sample: {{num_train: 64, num_val: 32, num_test: 16, image_size: 32}}
model: {{architecture: coefficient_optimizer, hidden_dims: [8, 4], dropout: 0.0}}
training_params: {{num_epochs: 6}}
logging: {{visualizations: false, analysis: false, tensorboard: false}}
search: {{method: tpe, num_trials: {n}, startup_trials: 2}}
search_space:
  learning_rate: {{type: loguniform, low: 1e-3, high: 1e-1}}
resources: {{num_workers: 1, cpus_per_worker: 0.5, max_concurrent_trials: 2}}
tune: {{scheduler: fifo, optuna_storage: "{db}"}}
export: {{registry_dir: {out}/models, onnx: false}}
"""


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def _one_complete(db: str) -> bool:
    try:
        study = optuna.load_study(study_name="pgkilled", storage=open_storage(db))
    except KeyError:  # not created yet
        return False
    return bool(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


@pytest.mark.slow
def test_killed_search_resumes_its_study_from_postgresql(tmp_path: Path) -> None:
    # Killed as soon as PostgreSQL holds a finished trial, 6 trials of 6 epochs: the kill
    # lands while most are still to run. (Waiting for Tune's saved state to show a TERMINATED
    # trial, with 3 trials of 2 epochs, lost the race in CI on 2026-12-06: all trials ended
    # within a second, between two of Tune's state saves, and the search was over.)
    n = 6
    env = {**os.environ, "RAY_ADDRESS": "local", "PYTHONUNBUFFERED": "1"}
    with postgres_server() as db:
        cfg = tmp_path / "space.yaml"
        cfg.write_text(CONFIG.format(out=tmp_path / "results", n=n, db=db))
        exp = tmp_path / "results" / "pgkilled"
        first = [*RAYTRAIN, "tune", str(cfg)]
        kill_driver_when(first, env, tmp_path / "first.log", lambda: _one_complete(db), 300)
        assert not (exp / "optuna.db").exists()  # the study is in PostgreSQL, not a file
        before = optuna.load_study(study_name="pgkilled", storage=open_storage(db)).get_trials()
        told = {t.number: t.values for t in before if t.state.name == "COMPLETE"}
        assert told

        run_to_end([*first, "--resume"], env)
        with (exp / "trials.csv").open() as f:
            ids = [r["trial"] for r in csv.DictReader(f)]
        assert len(ids) == len(set(ids)) == n
        after = optuna.load_study(study_name="pgkilled", storage=open_storage(db)).get_trials()
        assert not [t for t in after if t.state.name == "RUNNING"]
        complete = {t.number: t for t in after if t.state.name == "COMPLETE"}
        for number, values in told.items():  # the same study: old values kept
            assert complete[number].values == values
        assert {t.user_attrs["tune_trial_id"] for t in complete.values()} == set(ids)
        summary = json.loads((exp / "summary.json").read_text())
        assert summary["optuna_storage"] == db

        # a new search under the same name would join the old study: refused before Ray
        other = tmp_path / "other.yaml"
        other.write_text(CONFIG.format(out=tmp_path / "fresh", n=n, db=db))
        clash = subprocess.run(
            [*RAYTRAIN, "tune", str(other)], env=env, capture_output=True, text=True
        )
        assert clash.returncode == 2 and "already holds a study 'pgkilled'" in clash.stderr
        assert not (tmp_path / "fresh").exists()

        # optuna-dashboard serves the study; its JSON API gives the trials back
        with optuna_dashboard(db.replace("postgresql:", "postgresql+psycopg2:")) as base:
            studies = _get(f"{base}/api/studies")["study_summaries"]
            (study,) = [s for s in studies if s["study_name"] == "pgkilled"]
            detail = _get(f"{base}/api/studies/{study['study_id']}?after=0")
            served = {t["number"]: t for t in detail["trials"]}
            assert set(served) == {t.number for t in after}
            for number, t in complete.items():
                assert served[number]["state"].lower() == "complete"
                assert served[number]["values"] == pytest.approx(t.values)
