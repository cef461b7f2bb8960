"""Training-curve and model plots: the numbers on synthetic logs with known answers, and that
every image is a real PNG (including for a 0- and 1-epoch log)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
from matplotlib.image import imread

from raytrain.models import DataInfo, create_model
from raytrain.viz import model as model_viz
from raytrain.viz import training

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

EPOCHS = 20
BEST_VAL_EPOCH = 8  # val loss is a U with its minimum here
BEST_F1_EPOCH = 10
WARMUP = 3
BASE_LR = 1e-3


def synthetic_log(epochs: int = EPOCHS) -> pd.DataFrame:
    """Train loss falls geometrically; val loss is a parabola with its minimum at epoch 8, so
    after epoch 8 val rises while train falls (the gap grows every epoch); the LR warms up
    linearly like `EpochSchedule` (base * k / (w + 1) for k = 1..w), then decays by cosine."""
    e = np.arange(1, epochs + 1)
    lr = np.where(
        e <= WARMUP,
        BASE_LR * e / (WARMUP + 1),
        BASE_LR * 0.5 * (1 + np.cos(np.pi * (e - WARMUP - 1) / (epochs - WARMUP))),
    )
    lr = np.maximum(lr, 1e-6)
    return pd.DataFrame(
        {
            "epoch": e.astype(float),  # the loop writes epochs as floats
            "train_loss": 1.0 * 0.9**e,
            "val_loss": 0.5 + 0.01 * (e - BEST_VAL_EPOCH) ** 2,
            "lr": lr,
            "val_f1_score": 0.8 - 0.005 * (e - BEST_F1_EPOCH) ** 2,
            "val_precision": np.linspace(0.3, 0.9, epochs),
            "val_recall": np.linspace(0.9, 0.6, epochs),
            "epoch_time_s": np.full(epochs, 2.0),
            "world_size": 2.0,
            "num_nodes": 1.0,
        }
    )


@pytest.fixture
def log_csv(tmp_path: Path) -> Path:
    path = tmp_path / "training_log.csv"
    synthetic_log().to_csv(path, index=False)
    return path


def assert_png(path: Path) -> None:
    assert path.exists() and path.stat().st_size > 0, path
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    image = imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100, (path, image.shape)


# -- pure numbers -------------------------------------------------------------------------------


def test_smooth_is_an_ema_starting_at_the_first_value() -> None:
    np.testing.assert_allclose(training.smooth([1.0, 2.0, 3.0], 0.5), [1.0, 1.5, 2.25])
    np.testing.assert_allclose(training.smooth([1.0, 2.0, 3.0], 0.0), [1.0, 2.0, 3.0])
    out = training.smooth([1.0, np.nan, 3.0], 0.5)  # NaN stays NaN and does not reset
    assert np.isnan(out[1]) and out[2] == pytest.approx(2.0)
    with pytest.raises(ValueError):
        training.smooth([1.0], 1.0)


def test_load_log_keeps_the_last_row_of_a_rerun_epoch(tmp_path: Path) -> None:
    df = synthetic_log(5)
    rerun = df.iloc[[3]].assign(val_loss=123.0)  # a restarted trial appends epoch 4 again
    path = tmp_path / "log.csv"
    pd.concat([df, rerun]).to_csv(path, index=False)
    log = training.load_log(path)
    assert log["epoch"].tolist() == [1, 2, 3, 4, 5]
    assert log.loc[log["epoch"] == 4, "val_loss"].item() == 123.0
    assert training.load_log(tmp_path / "missing.csv").empty


def test_best_epoch_follows_monitor_and_mode(log_csv: Path) -> None:
    df = training.load_log(log_csv)
    best = training.best_epoch(df, "val_loss", "min")
    assert best is not None and best.epoch == BEST_VAL_EPOCH and best.value == pytest.approx(0.5)
    assert training.best_epoch(df, "val_f1_score", "max").epoch == BEST_F1_EPOCH
    assert training.best_epoch(df, "f1_score", "max").monitor == "val_f1_score"
    tied = pd.DataFrame({"epoch": [1, 2, 3], "val_acc": [0.5, 0.9, 0.9]})
    assert training.best_epoch(tied, "val_acc", "max").epoch == 2  # first of a tie, as the loop
    with pytest.raises(ValueError, match="not in the log"):
        training.best_epoch(df, "val_iou", "max")


def test_overfitting_onset_is_the_val_minimum_of_a_u_shape(log_csv: Path) -> None:
    df = training.load_log(log_csv)
    info = training.overfitting_info(df)
    assert info.run_length == 3
    assert info.onset_epoch == BEST_VAL_EPOCH
    assert info.best_val_epoch == BEST_VAL_EPOCH
    np.testing.assert_allclose(info.gap, df["val_loss"] - df["train_loss"])
    assert info.diverging[BEST_VAL_EPOCH:].all() and not info.diverging[:BEST_VAL_EPOCH].any()
    assert info.gap_growth_since_best > 0

    with_patience = training.overfitting_info(df, patience=5)
    assert with_patience.run_length == 5 and with_patience.onset_epoch == BEST_VAL_EPOCH
    assert with_patience.since_best[BEST_VAL_EPOCH - 1] == 0
    assert with_patience.patience_epoch == BEST_VAL_EPOCH + 5
    # the rise must last `patience` epochs: 12 epochs follow the minimum, 13 are not there yet
    assert training.overfitting_info(df, patience=EPOCHS - BEST_VAL_EPOCH).onset_epoch == 8
    assert training.overfitting_info(df, patience=EPOCHS - BEST_VAL_EPOCH + 1).onset_epoch is None
    # counted on the monitor, like early stopping
    f1 = training.overfitting_info(df, patience=4, monitor="val_f1_score", mode="max")
    assert f1.patience_epoch == BEST_F1_EPOCH + 4


def test_convergence_epoch_rate_and_gap(log_csv: Path) -> None:
    df = training.load_log(log_csv)
    info = training.convergence_info(df)
    # val loss improves by >= 1 % every epoch up to the minimum at 8, then never again
    assert info.converged_epoch == BEST_VAL_EPOCH
    assert np.isnan(info.rel_improvement[0])
    assert info.rel_improvement[1] == pytest.approx((0.99 - 0.86) / 0.99)
    assert info.rate > 0  # the last 5 epochs are on the rising side of the U
    assert info.fit_epochs == (EPOCHS - 4, EPOCHS)

    e = np.arange(1, 11)
    decaying = pd.DataFrame(
        {"epoch": e, "train_loss": np.exp(-0.2 * e), "val_loss": np.exp(-0.1 * e)}
    )
    info = training.convergence_info(decaying)
    assert info.rate == pytest.approx(-0.1)
    assert info.rate_percent == pytest.approx((math.exp(-0.1) - 1) * 100)
    assert info.converged_epoch is None  # still improving ~9.5 % per epoch
    np.testing.assert_allclose(info.gap, np.exp(-0.1 * e) - np.exp(-0.2 * e))


def test_lr_info_detects_the_warmup(log_csv: Path) -> None:
    df = training.load_log(log_csv)
    info = training.lr_info(df)
    assert info.detected_warmup == WARMUP and info.warmup_epochs == WARMUP
    assert info.peak_lr == pytest.approx(BASE_LR) and info.peak_epoch == WARMUP + 1
    assert info.log_scale
    assert training.lr_info(df, warmup_epochs=5).warmup_epochs == 5  # the config wins
    plateau = pd.DataFrame({"epoch": [1, 2, 3, 4], "lr": [1e-3, 1e-3, 1e-4, 1e-4]})
    assert training.lr_info(plateau).drops == [3]
    assert training.lr_info(plateau).detected_warmup == 0


# -- images --------------------------------------------------------------------------------------


def test_training_plots_are_valid_pngs(log_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "visualizations"
    paths = training.write_training_plots(
        log_csv,
        out,
        monitor="val_f1_score",
        mode="max",
        patience=5,
        schedule="CosineAnnealingLR",
        warmup_epochs=WARMUP,
    )
    assert [p.name for p in paths] == [
        "training_curves.png",
        "lr_schedule.png",
        "convergence_analysis.png",
        "overfitting_analysis.png",
    ]
    for p in paths:
        assert p.parent == out
        assert_png(p)


@pytest.mark.parametrize("epochs", [0, 1])
def test_training_plots_of_a_tiny_log(tmp_path: Path, epochs: int) -> None:
    log = tmp_path / "training_log.csv"
    synthetic_log(epochs).to_csv(log, index=False)
    paths = training.write_training_plots(log, tmp_path / "vis", monitor="val_loss", mode="min")
    assert len(paths) == 4
    for p in paths:
        assert_png(p)
    df = training.load_log(log)
    assert training.convergence_info(df).converged_epoch is None
    assert training.overfitting_info(df, patience=2).onset_epoch is None
    model_viz.write_training_dynamics(log, tmp_path / "dyn.png")
    model_viz.write_summary_dashboard(log, None, tmp_path / "dash.png", "val_loss", "min", None)
    assert_png(tmp_path / "dyn.png")
    assert_png(tmp_path / "dash.png")


def test_old_log_without_num_nodes_and_unknown_monitor(tmp_path: Path) -> None:
    log = tmp_path / "training_log.csv"
    synthetic_log(6).drop(columns=["num_nodes", "epoch_time_s"]).to_csv(log, index=False)
    for p in training.write_training_plots(log, tmp_path, monitor="val_iou", mode="max"):
        assert_png(p)
    model_viz.write_training_dynamics(log, tmp_path / "dyn.png")
    assert_png(tmp_path / "dyn.png")


# -- model plots ---------------------------------------------------------------------------------


def tiny_unet() -> nn.Module:
    return create_model("unet", {"base_filters": 4, "depth": 2}, DataInfo(image_size=32))


def tiny_mlp() -> nn.Module:
    return create_model("anomaly_detector", {"hidden_dims": [16, 8]}, DataInfo(feature_dim=12))


def test_architecture_info_of_a_unet() -> None:
    model = tiny_unet().train()
    info = model_viz.architecture_info(model, (1, 32, 32))
    assert info.forward_error is None and info.grouped_by is None
    assert info.total_params == sum(p.numel() for p in model.parameters())
    assert sum(r.params for r in info.rows) == info.total_params
    assert info.rows[0].name == "encoder.0.0" and info.rows[0].output_shape == "(1, 4, 32, 32)"
    assert info.rows[-1].name == "head" and info.output_shape == "(1, 1, 32, 32)"
    assert next(r for r in info.rows if r.name == "pool").calls == 2
    assert model.training and all(m.training for m in model.modules())  # modes restored


def test_architecture_info_of_a_transformer_and_a_long_model() -> None:
    vit = create_model(
        "vit_edge",
        {"patch_size": 4, "embed_dim": 16, "num_layers": 2, "num_heads": 2},
        DataInfo(image_size=16),
    )
    info = model_viz.architecture_info(vit, (1, 16, 16))
    names = {r.name: r for r in info.rows}
    # attention owns its weights: one row, run by the hook even though out_proj is functional
    assert names["encoder.layers.0.self_attn"].output_shape.startswith("(1, 16, 16)")
    assert names["pos_embed"].type == "Parameter"
    assert sum(r.params for r in info.rows) == info.total_params

    deep = nn.Sequential(
        *[nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8)) for _ in range(20)]
    )
    info = model_viz.architecture_info(deep, (8,))
    assert info.leaf_count == 60 and len(info.rows) == 20 and info.grouped_by == 1
    assert info.rows[0].layers == 3 and info.rows[0].output_shape == "(1, 8)"
    assert sum(r.params for r in info.rows) == info.total_params


def test_weight_stats() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.0, 1.0, -1.0, 0.0]] * 3))
    stats = model_viz.weight_stats(model)
    assert [s["name"] for s in stats] == ["0.weight", "2.weight"]  # biases are left out
    s = stats[0]
    assert s["shape"] == (3, 4) and s["numel"] == 12
    assert s["mean"] == pytest.approx(0.0) and s["std"] == pytest.approx(math.sqrt(0.5))
    assert s["near_zero_frac"] == pytest.approx(0.5) and s["abs_mean"] == pytest.approx(0.5)
    hists = model_viz.weight_histograms(model, max_layers=1)
    assert len(hists) == 1 and hists[0].stats["name"] == "0.weight"
    assert hists[0].counts.sum() == 12


def test_dynamics_and_summary_numbers(log_csv: Path) -> None:
    df = training.load_log(log_csv)
    info = model_viz.dynamics_info(df)
    assert np.isnan(info.d_val_loss[0])
    assert info.d_val_loss[1] == pytest.approx(0.86 - 0.99)
    assert info.total_time == pytest.approx(2.0 * EPOCHS)
    assert set(info.velocity) == {"val_f1_score", "val_precision", "val_recall"}
    model = tiny_mlp()
    numbers = model_viz.summary_numbers(df, model, "val_f1_score", "max", {"trial": "abc"})
    assert numbers["best epoch"] == str(BEST_F1_EPOCH)
    assert numbers["best val_f1_score"] == "0.8"
    assert numbers["parameters"] == f"{sum(p.numel() for p in model.parameters()):,}"
    assert numbers["total time"] == "40.0 s" and numbers["workers"] == "2"
    assert numbers["trial"] == "abc"


@pytest.mark.parametrize("build,shape", [(tiny_unet, (1, 32, 32)), (tiny_mlp, (12,))])
def test_model_plots_are_valid_pngs(build, shape, log_csv: Path, tmp_path: Path) -> None:
    model = build().eval()
    paths = [
        model_viz.write_network_architecture(model, shape, tmp_path / "network_architecture.png"),
        model_viz.write_weight_distributions(model, tmp_path / "analysis/weight_distributions.png"),
        model_viz.write_training_dynamics(log_csv, tmp_path / "analysis/training_dynamics.png"),
        model_viz.write_summary_dashboard(
            log_csv, model, tmp_path / "analysis/summary_dashboard.png", "val_loss", "min", None
        ),
    ]
    for p in paths:
        assert_png(p)


def test_architecture_diagram_survives_a_wrong_input_shape(tmp_path: Path) -> None:
    model = tiny_mlp()
    info = model_viz.architecture_info(model, (5,))
    assert info.forward_error and all(r.output_shape == "?" for r in info.rows)
    assert sum(r.params for r in info.rows) == info.total_params
    assert_png(model_viz.write_network_architecture(model, (5,), tmp_path / "arch.png"))
