"""Search plots (`raytrain.viz.search`) and the HTML report (`raytrain.viz.report`).

Every test builds its experiment folder from scratch (`make_experiment`), laid out like the one
`raytrain tune` writes: summary.json, trials.csv, config.yaml, trials/<id>/training_log.csv and
Ray Tune's tune/trial_<id>_*/progress.csv. No Ray is started. The browser test renders the report
in headless Chromium (Debian package `chromium`) and is skipped only when it is not installed.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import matplotlib.image
import pytest
import torch
import yaml
from click.testing import CliRunner
from matplotlib.figure import Figure

from raytrain.cli.report import report_command
from raytrain.errors import RaytrainError
from raytrain.viz._common import save_figure
from raytrain.viz.held_out import TEST_PLOTS_DIR, write_held_out_plots
from raytrain.viz.report import write_report
from raytrain.viz.run import PredictionBuffer
from raytrain.viz.search import (
    SEARCH_PLOTS,
    curves_info,
    declared_space,
    history_info,
    importance_info,
    parallel_info,
    read_experiment,
    timeline_info,
    write_search_plots,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
T0 = 1_700_000_000
MAX_EPOCHS = 6
SETUP_S = 5  # the first iteration of a trial includes its setup
EPOCH_S = 10

# trial id -> (status, params, final f1 per epoch (empty: errored, no log), start offset (s))
# Ids that look like numbers ('12345678', '1e000000') must stay strings.
TRIALS: dict[str, dict[str, Any]] = {
    "a1b2c3d4": {
        "status": "OK",
        "params": [1e-4, 16, 0.1, "AdamW", [64, 32]],
        "f1": [0.3, 0.5, 0.6, 0.7, 0.75, 0.8],
        "start": 0,
    },
    "1e000000": {
        "status": "OK",
        "params": [5e-2, 32, 0.4, "SGD", [32]],
        "f1": [0.2, 0.3],
        "start": 0,
    },
    "12345678": {
        "status": "OK",
        "params": [1e-3, 8, 0.2, "AdamW", [32]],
        "f1": [0.4, 0.5, 0.55, 0.6],
        "start": 26,
    },
    "deadbeef": {
        "status": "ERROR",
        "params": [2e-5, 8, 0.05, "SGD", [64, 32]],
        "f1": [],
        "start": 30,
    },
    "0badf00d": {
        "status": "OK",
        "params": [3e-5, 16, 0.3, "SGD", [64, 32]],
        "f1": [0.2, 0.4, 0.5, 0.6, 0.65, 0.7],
        "start": 66,
    },
}
PARAMS = [
    "optimizer.learning_rate",
    "dataset.batch_size",
    "model.dropout",
    "optimizer.type",
    "model.hidden_dims",
]
SEARCH_SPACE = {
    "learning_rate": {"type": "loguniform", "low": 1e-5, "high": 1e-1},
    "batch_size": {"type": "categorical", "choices": [8, 16, 32]},
    "dropout": {"type": "uniform", "low": 0.0, "high": 0.5},
    "optimizer.type": {"type": "categorical", "choices": ["AdamW", "SGD"]},
    "model.hidden_dims": {"type": "categorical", "choices": [[64, 32], [32]]},
}


def _end(spec: dict[str, Any]) -> int:
    return spec["start"] + SETUP_S + EPOCH_S * len(spec["f1"])


def make_experiment(
    root: Path,
    trials: dict[str, dict[str, Any]] | None = None,
    *,
    with_tune: bool = True,
    with_images: bool = True,
) -> Path:
    """An experiment folder shaped like `raytrain tune`'s output (see the module docstring)."""
    trials = TRIALS if trials is None else trials
    exp = root / "exp"
    exp.mkdir(parents=True)
    config = {
        "training": {"name": "synthetic_search", "seed": 0},
        "training_params": {"num_epochs": MAX_EPOCHS},
        "search": {"method": "bayesian", "metric": "val_f1_score", "direction": "maximize"},
        "search_space": SEARCH_SPACE,
        "tune": {"scheduler": "asha", "grace_period": 1},
    }
    (exp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    rows = []
    for i, (tid, spec) in enumerate(trials.items()):
        row: dict[str, Any] = {"trial": tid, "status": spec["status"]}
        row.update(dict(zip(PARAMS, spec["params"], strict=True)))
        if spec["f1"]:
            row["epochs"] = len(spec["f1"])
            row["best_val_f1_score"] = max(spec["f1"])
        rows.append(row)
        _write_trial_logs(exp, i, tid, spec, with_tune)
    ok = [r for r in rows if "best_val_f1_score" in r]
    best = max(ok, key=lambda r: r["best_val_f1_score"]) if ok else None
    summary = {
        "experiment_dir": str(exp),
        "metric": "val_f1_score",
        "mode": "max",
        "best": {
            "trial": best["trial"],
            "value": best["best_val_f1_score"],
            "epoch": best["epochs"],
            "checkpoint_path": str(exp / "trials" / best["trial"] / "checkpoint_x"),
            "params": {p: best[p] for p in PARAMS},
        }
        if best
        else None,
        "trials": rows,
        "errors": [f"trial {r['trial']}: RuntimeError: boom" for r in rows if r["status"] != "OK"],
        "registered": {"name": "synthetic", "version": "1.0.0", "path": "synthetic/1.0.0"},
        "test_metrics": {"test_f1_score": 0.6125, "test_num_examples": 16},
        "resources": {"cluster_cpus": 4.0, "max_concurrent_trials": 2},
        "wall_time_s": 140.5,
    }
    (exp / "summary.json").write_text(json.dumps(summary, indent=2))
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with (exp / "trials.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()})
    if with_images and best:
        for sub, name in (("visualizations", "predictions"), ("analysis", "confusion")):
            _small_png(exp / "trials" / best["trial"] / sub / f"{name}.png")
        _small_png(exp / "trials" / "12345678" / "visualizations" / "other_trial.png")
    return exp


def _write_trial_logs(exp: Path, i: int, tid: str, spec: dict[str, Any], with_tune: bool) -> None:
    log_rows, progress_rows = [], []
    for epoch, f1 in enumerate(spec["f1"], start=1):
        took = SETUP_S + EPOCH_S if epoch == 1 else EPOCH_S
        log_rows.append(
            {
                "epoch": float(epoch),
                "train_loss": 1.0 - f1,
                "val_loss": 1.1 - f1,
                "lr": spec["params"][0],
                "val_f1_score": f1,
                "epoch_time_s": float(EPOCH_S),
            }
        )
        progress_rows.append(
            {
                **log_rows[-1],
                "timestamp": T0 + spec["start"] + SETUP_S + EPOCH_S * epoch,
                "training_iteration": epoch,
                "trial_id": tid,
                "time_this_iter_s": float(took),
                "pid": 1000 + i,
                "node_ip": "10.0.0.1",
            }
        )
    folder = exp / "trials" / tid
    folder.mkdir(parents=True)
    if log_rows:
        _write_rows(folder / "training_log.csv", log_rows)
    if with_tune:
        tune = (
            exp / "tune" / f"trial_{tid}_{i + 1}_lr={spec['params'][0]:.4f}_2026-01-01_00-00-0{i}"
        )
        tune.mkdir(parents=True)
        if progress_rows:
            _write_rows(tune / "progress.csv", progress_rows)
        else:
            (tune / "progress.csv").write_text("")  # Tune leaves it empty for a failed trial


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _small_png(path: Path) -> None:
    fig = Figure(figsize=(3, 2))
    fig.add_subplot().plot([0, 1], [1, 0])
    save_figure(fig, path)


def assert_valid_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100, (path, image.shape)


# --------------------------------------------------------------------------------------------
# Info functions
# --------------------------------------------------------------------------------------------


def test_history_info_best_so_far_is_monotone_in_completion_order(tmp_path: Path) -> None:
    exp = read_experiment(make_experiment(tmp_path))
    order = [b.trial for b in sorted(timeline_info(exp.path).bars, key=lambda b: b.end)]
    info = history_info(exp.trials, "val_f1_score", "max", order)
    assert info.trials == ["1e000000", "a1b2c3d4", "12345678", "0badf00d"]
    assert info.values == [0.3, 0.8, 0.6, 0.7]
    assert info.best_so_far == [0.3, 0.8, 0.8, 0.8]
    assert all(b >= a for a, b in zip(info.best_so_far, info.best_so_far[1:], strict=False))
    assert (info.best_trial, info.best_value) == ("a1b2c3d4", 0.8)
    assert info.errored == ["deadbeef"]

    low = history_info(exp.trials, "val_f1_score", "min")  # trials.csv order without `order`
    assert low.trials == ["a1b2c3d4", "1e000000", "12345678", "0badf00d"]
    assert low.best_so_far == [0.8, 0.3, 0.3, 0.3]
    assert low.best_trial == "1e000000"


def test_parallel_info_lays_out_log_linear_and_categorical_axes(tmp_path: Path) -> None:
    exp = read_experiment(make_experiment(tmp_path))
    info = parallel_info(exp.trials, exp.metric, exp.mode, declared_space(exp.config))
    kinds = {a.name: a.kind for a in info.axes}
    assert kinds == {
        "optimizer.learning_rate": "log",
        "dataset.batch_size": "categorical",
        "model.dropout": "linear",
        "optimizer.type": "categorical",
        "model.hidden_dims": "categorical",
    }
    hidden = next(a for a in info.axes if a.name == "model.hidden_dims")
    assert hidden.choices == ["[64, 32]", "[32]"]
    assert "deadbeef" not in info.trials and len(info.trials) == 4
    assert info.best_trial == "a1b2c3d4"
    assert all(0.0 <= p <= 1.0 for row in info.positions for p in row)
    lr = info.axes[0]  # declared range 1e-5..1e-1: 1e-3 sits half way on a log axis
    assert lr.position(1e-3) == pytest.approx(0.5)

    # Without the declared space: inferred from values; 5e-2 / 3e-5 spans > 2 decades -> log.
    bare = parallel_info(exp.trials, exp.metric, exp.mode)
    bare_kinds = {a.name: a.kind for a in bare.axes}
    assert bare_kinds["optimizer.learning_rate"] == "log"
    assert bare_kinds["model.dropout"] == "linear"
    assert bare_kinds["optimizer.type"] == "categorical"


def test_importance_info_needs_three_completed_trials(tmp_path: Path) -> None:
    exp = read_experiment(make_experiment(tmp_path / "a"))
    info = importance_info(exp.trials, exp.metric, exp.mode, declared_space(exp.config))
    assert info.n_completed == 4 and info.evaluator
    assert set(info.importances) == set(PARAMS)
    assert all(v >= 0 for v in info.importances.values())
    assert sum(info.importances.values()) == pytest.approx(1.0)
    assert list(info.importances.values()) == sorted(info.importances.values(), reverse=True)

    two = {k: TRIALS[k] for k in ("a1b2c3d4", "1e000000", "deadbeef")}
    few = read_experiment(make_experiment(tmp_path / "b", two))
    small = importance_info(few.trials, few.metric, few.mode)
    assert small.importances == {} and small.n_completed == 2
    assert "not enough trials" in (small.note or "")


def test_curves_info_marks_trials_stopped_before_max_epochs(tmp_path: Path) -> None:
    exp = make_experiment(tmp_path)
    info = curves_info(exp, "val_f1_score", MAX_EPOCHS)
    by_trial = {c.trial: c for c in info.curves}
    assert set(by_trial) == {"a1b2c3d4", "1e000000", "12345678", "0badf00d"}
    assert {c.trial for c in info.curves if c.stopped} == {"1e000000", "12345678"}
    assert by_trial["12345678"].epochs == [1, 2, 3, 4]
    assert by_trial["a1b2c3d4"].values[-1] == 0.8
    assert info.missing == ["deadbeef"]
    assert info.best_trial == "a1b2c3d4"


def test_curves_info_falls_back_to_progress_csv(tmp_path: Path) -> None:
    exp = make_experiment(tmp_path)
    (exp / "trials" / "12345678" / "training_log.csv").unlink()
    info = curves_info(exp, "val_f1_score", MAX_EPOCHS)
    assert [c.epochs for c in info.curves if c.trial == "12345678"] == [[1, 2, 3, 4]]


def test_timeline_info_intervals_and_concurrency(tmp_path: Path) -> None:
    info = timeline_info(make_experiment(tmp_path))
    assert info.t0 == T0  # the first trial's first timestamp minus its first iteration
    bars = {b.trial: b for b in info.bars}
    assert set(bars) == {"a1b2c3d4", "1e000000", "12345678", "0badf00d"}  # empty csv skipped
    for tid, b in bars.items():
        assert (b.start, b.end) == (TRIALS[tid]["start"], _end(TRIALS[tid]))
        assert b.node == "10.0.0.1"
    # Two run at once: 12345678 reuses 1e000000's slot, 0badf00d reuses a1b2c3d4's.
    assert info.n_slots == info.max_concurrency == 2
    assert bars["12345678"].slot == bars["1e000000"].slot
    assert bars["0badf00d"].slot == bars["a1b2c3d4"].slot != bars["1e000000"].slot
    assert info.note is None


def test_trial_ids_with_underscores_are_read_from_progress_csv(tmp_path: Path) -> None:
    """Random search names trials `<uuid>_<index>`: the id must come from the csv, not the
    folder name `trial_<uuid>_<index>_<n>_<params>_<date>`."""
    trials = {"4a2b3_00000": TRIALS["a1b2c3d4"], "4a2b3_00001": TRIALS["12345678"]}
    exp = make_experiment(tmp_path, trials, with_images=False)
    (exp / "trials" / "4a2b3_00001" / "training_log.csv").unlink()
    assert {b.trial for b in timeline_info(exp).bars} == set(trials)
    info = curves_info(exp, "val_f1_score", MAX_EPOCHS)
    assert {c.trial for c in info.curves} == set(trials) and info.missing == []


def test_timeline_info_without_tune_folder(tmp_path: Path) -> None:
    info = timeline_info(make_experiment(tmp_path, with_tune=False))
    assert info.bars == [] and "no tune/" in (info.note or "")


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------


def test_write_search_plots_writes_five_valid_pngs(tmp_path: Path) -> None:
    exp = make_experiment(tmp_path)
    with warnings.catch_warnings(record=True) as record:  # none may say a plot failed
        warnings.simplefilter("always")
        paths = write_search_plots(exp)
    assert not [w for w in record if "could not draw" in str(w.message)]
    assert [p.name for p in paths] == list(SEARCH_PLOTS)
    assert all(p.parent == exp / "search_plots" for p in paths)
    for p in paths:
        assert_valid_png(p)


@pytest.mark.parametrize(
    "case", ["one_trial", "all_errored", "no_tune_folder", "two_trials_no_images"]
)
def test_write_search_plots_degrades_gracefully(tmp_path: Path, case: str) -> None:
    trials = {
        "one_trial": {"a1b2c3d4": TRIALS["a1b2c3d4"]},
        "all_errored": {"deadbeef": TRIALS["deadbeef"]},
        "no_tune_folder": TRIALS,
        "two_trials_no_images": {k: TRIALS[k] for k in ("a1b2c3d4", "deadbeef")},
    }[case]
    exp = make_experiment(tmp_path, trials, with_tune=case != "no_tune_folder", with_images=False)
    paths = write_search_plots(exp, tmp_path / "plots")
    assert [p.name for p in paths] == list(SEARCH_PLOTS)
    for p in paths:
        assert_valid_png(p)
    report = write_report(exp, tmp_path / "out" / "r.html")
    assert report.read_text().count('<img src="data:image/png;base64,') == 5


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One synthetic experiment with its report written (the slow part), shared below."""
    exp = make_experiment(tmp_path_factory.mktemp("report"))
    assert not (exp / "search_plots").exists()
    return write_report(exp)


def _all_pngs(exp: Path) -> list[Path]:
    return sorted(exp.rglob("*.png"))


def test_report_embeds_every_png_and_the_trial_table(report: Path) -> None:
    exp = report.parent
    assert report == exp / "report.html"
    assert sorted(p.name for p in (exp / "search_plots").iterdir()) == sorted(SEARCH_PLOTS)
    page = report.read_text()
    pngs = _all_pngs(exp)
    assert len(pngs) == 5 + 3  # search plots + best trial's 2 + another trial's 1
    assert page.count('<img src="data:image/png;base64,') == len(pngs)
    for p in pngs:
        assert str(p.relative_to(exp)) in page  # each caption names its file
    assert 'id="trial-table"' in page
    for tid in TRIALS:
        assert f'data-trial="{tid}"' in page
    best_row = re.search(r'<tr class="([^"]*)" data-trial="a1b2c3d4">', page)
    assert best_row and "best" in best_row.group(1).split()
    assert re.search(r'<tr class="error" data-trial="deadbeef">', page)
    assert "<details><summary>Full resolved config.yaml" in page
    assert "synthetic_search" in page and "maximize" in page and "synthetic v1.0.0" in page
    assert "trial deadbeef: RuntimeError: boom" in page
    assert "test_f1_score" in page and "0.6125" in page  # the best checkpoint on the test split
    assert "http://" not in page and "https://" not in page  # self-contained


def test_report_command_prints_the_path_and_rejects_other_folders(tmp_path: Path) -> None:
    exp = make_experiment(tmp_path, with_images=False)
    out = tmp_path / "elsewhere" / "page.html"
    result = CliRunner().invoke(report_command, [str(exp), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out) and out.is_file()

    not_exp = tmp_path / "not_an_experiment"
    not_exp.mkdir()
    with pytest.raises(RaytrainError, match=re.escape(str(not_exp))):
        write_report(not_exp)
    result = CliRunner().invoke(report_command, [str(not_exp)])
    assert isinstance(result.exception, RaytrainError)
    assert str(not_exp) in str(result.exception)


def test_report_shows_the_test_split_plots_first_with_their_label(tmp_path: Path) -> None:
    """The best checkpoint's test-split plots (`test_visualizations/`, drawn by
    `write_held_out_plots` from a real prediction buffer) come before the best trial's
    validation plots, and say which split, checkpoint and row count they show."""
    exp = make_experiment(tmp_path)
    buffer = PredictionBuffer("classification")
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(12, 1, 16, 16, generator=gen)
    buffer.add(x, torch.softmax(torch.randn(12, 3, generator=gen), 1), torch.arange(12) % 3)
    written = write_held_out_plots(
        buffer,
        exp / TEST_PLOTS_DIR,
        class_names=["a", "b", "c"],
        threshold=0.5,
        train_class_counts=[10, 20, 30],
        source={"checkpoint": "ckpt", "checkpoint_epoch": 3, "num_examples": 12},
    )
    page = write_report(exp).read_text()
    heading = (
        "Test split, best checkpoint: test_visualizations/ (checkpoint of epoch 3, "
        "12 test examples)"
    )
    validation = "Best trial a1b2c3d4: visualizations/ (validation split, last epoch)"
    assert heading in page and validation in page
    assert page.index(heading) < page.index(validation)
    for p in written:
        caption = f"Test split, best checkpoint: {p.stem.replace('_', ' ')}"
        assert f"{caption} <code>{TEST_PLOTS_DIR}/{p.name}</code>" in page
    assert page.count('<img src="data:image/png;base64,') == len(_all_pngs(exp)) == 5 + 3 + 8


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return found or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    """The page's inline script counts images that decoded (naturalWidth > 0) on load."""
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (Debian/Ubuntu package: chromium)")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=5000",
    ]
    url = report.resolve().as_uri()
    dom = subprocess.run(
        [browser, *flags, f"--user-data-dir={tmp_path / 'profile1'}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body, dom.stdout[:500]
    loaded = re.search(r'data-images-loaded="(\d+)"', body.group(0))
    total = re.search(r'data-images-total="(\d+)"', body.group(0))
    assert loaded and total, body.group(0)
    assert int(loaded.group(1)) == int(total.group(1)) == len(_all_pngs(report.parent))

    shot = tmp_path / "shot.png"
    run = subprocess.run(
        [
            browser,
            *flags,
            f"--user-data-dir={tmp_path / 'profile2'}",
            "--hide-scrollbars",
            "--window-size=1280,2000",
            f"--screenshot={shot}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.stat().st_size > 10_000
    image = matplotlib.image.imread(shot)
    assert image.shape[:2] == (2000, 1280)
    assert image.std() > 0.01  # not a blank page
