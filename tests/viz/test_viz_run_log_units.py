"""Pure helpers of the training and model-analysis plots on tiny hand-made logs and layers:
log normalisation, metric columns, layer grouping, and the dashboard's number formats."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch.nn as nn

from raytrain.viz.model import LayerRow, dynamics_info, group_layers, summary_info
from raytrain.viz.model.dashboard import _fmt
from raytrain.viz.model.dynamics import _duration
from raytrain.viz.training import best_epoch, load_log, metric_columns, resolve_monitor
from raytrain.viz.training.curves import training_curves_info


def test_load_log_keeps_the_rerun_epoch_and_sorts(tmp_path: Path) -> None:
    path = tmp_path / "training_log.csv"
    path.write_text(
        "epoch,train_loss,val_loss,val_f1\n"
        "1.0,1.0,0.9,0.1\n"
        "2.0,0.8,0.7,0.2\n"
        "2.0,0.75,0.65,0.25\n"  # the epoch re-run after a restart wins
        "3.0,0.6,bad,0.3\n"
    )
    df = load_log(path)
    assert df["epoch"].tolist() == [1, 2, 3] and df["epoch"].dtype.kind == "i"
    assert df["train_loss"].tolist() == [1.0, 0.75, 0.6]
    assert math.isnan(df["val_loss"].iloc[2])  # unparsable cells become NaN
    (tmp_path / "header_only.csv").write_text("epoch,train_loss\n")
    assert load_log(tmp_path / "header_only.csv").empty


def test_metric_columns_and_monitor_lookup() -> None:
    df = pd.DataFrame(
        {
            "epoch": [1, 2],
            "val_loss": [1.0, 0.5],
            "val_iou": [float("nan")] * 2,  # never computed: not a metric to draw
            "val_f1_score": [0.2, 0.4],
            "val_accuracy": [0.5, 0.6],
            "lr": [0.1, 0.1],
        }
    )
    assert metric_columns(df) == ["val_f1_score", "val_accuracy"]
    assert resolve_monitor(df, "f1_score") == "val_f1_score"
    assert resolve_monitor(df, "val_loss") == "val_loss"
    with pytest.raises(ValueError, match="not in the log"):
        resolve_monitor(df, "rmse")


def test_dynamics_info_differences_by_hand() -> None:
    df = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [1.0, 0.5, 0.25],
            "val_loss": [1.0, 0.8, 0.9],
            "val_acc": [0.5, 0.7, 0.75],
            "epoch_time_s": [10.0, 12.0, float("nan")],
        }
    )
    info = dynamics_info(df)
    np.testing.assert_allclose(info.d_train_loss, [np.nan, -0.5, -0.25])
    np.testing.assert_allclose(info.d_val_loss, [np.nan, -0.2, 0.1])
    np.testing.assert_allclose(info.velocity["val_acc"], [np.nan, 0.2, 0.05])
    assert info.total_time == 22.0
    assert np.isnan(info.lr).all()  # not logged


def test_group_layers_merges_by_prefix_and_folds_the_surplus() -> None:
    model = nn.Sequential(
        nn.Sequential(nn.Linear(2, 2), nn.ReLU()), nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    )
    rows = [
        LayerRow("0.0", "Linear", "(1, 2)", 6),
        LayerRow("0.1", "ReLU", "(1, 2)", 0),
        LayerRow("1.0", "Linear", "(1, 3)", 9),
        LayerRow("1.1", "ReLU", "(1, 3)", 0),
    ]
    same, depth = group_layers(model, rows, max_rows=4)
    assert depth == 2 and same == rows  # everything fits: no grouping
    grouped, depth = group_layers(model, rows, max_rows=2)
    assert depth == 1
    assert [(r.name, r.type, r.output_shape, r.params, r.layers) for r in grouped] == [
        ("0", "Sequential", "(1, 2)", 6, 2),
        ("1", "Sequential", "(1, 3)", 9, 2),
    ]
    folded, _ = group_layers(model, rows, max_rows=1)
    assert [(r.name, r.params, r.layers) for r in folded] == [("... 2 more", 15, 4)]


def test_dashboard_number_formats() -> None:
    assert _duration(42.0) == "42.0 s"
    assert _duration(3725) == "1h 02m 05s"
    assert _duration(125) == "2m 05s"
    assert _duration(float("nan")) == "n/a"
    assert _fmt(1234567) == "1,234,567"
    assert _fmt(0.000123456) == "0.0001235"
    assert _fmt(float("nan")) == "n/a"
    assert _fmt(True) == "True"


def test_training_curves_info_panels_and_smoothing() -> None:
    df = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [1.0, 0.5, 0.25],
            "val_loss": [1.0, 0.8, 0.9],
            "train_acc": [0.4, 0.6, 0.8],
            "val_acc": [0.5, 0.7, 0.75],
        }
    )
    best = best_epoch(df, "val_acc", "max")
    info = training_curves_info(df, best, 0.5)
    assert [p.name for p in info.panels] == ["loss", "val_acc"]
    assert [p.has_best for p in info.panels] == [False, True]
    acc = info.panels[1].series
    assert [(s.column, s.label) for s in acc] == [("train_acc", "train"), ("val_acc", "val")]
    np.testing.assert_allclose(acc[1].smoothed, [0.5, 0.6, 0.675])  # EMA with alpha 0.5
    assert info.smoothing == 0.5
    short = training_curves_info(df.iloc[:2], None, 0.5)  # two epochs: nothing to smooth
    assert short.smoothing == 0.0 and short.panels[0].series[0].smoothed is None


def test_summary_info_picks_the_best_epoch_and_the_largest_weights() -> None:
    df = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [1.0, 0.5, 0.25],
            "val_loss": [1.0, 0.8, 0.9],
            "lr": [float("nan")] * 3,
        }
    )
    stats = [{"name": f"w{i}", "numel": n} for i, n in enumerate([5, 50, 1, 9, 7, 3, 2, 8, 4, 6])]
    info = summary_info(df, {"epochs": "3"}, stats, "val_loss", "min")
    assert info.best is not None and (info.best.epoch, info.best.value) == (2, 0.8)
    np.testing.assert_allclose(info.monitored, [1.0, 0.8, 0.9])
    assert list(info.losses) == ["train_loss", "val_loss"]
    np.testing.assert_allclose(info.losses["train_loss"][1], [1.0, 0.8, 0.58])  # EMA 0.6
    assert info.lr is None  # logged but never finite
    assert [s["numel"] for s in info.top_weights or []] == [50, 9, 8, 7, 6, 5, 4, 3]
    assert info.n_weights == 10
    no_model = summary_info(df, {}, None, "val_iou", "max")
    assert no_model.best is None and no_model.top_weights is None and no_model.n_weights == 0
