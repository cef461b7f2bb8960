"""`raytrain lr-find`: the LR range test, its plot and suggestion."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from raytrain.cli.app import main
from raytrain.errors import RaytrainError
from raytrain.train.lr_find import range_test, smooth, suggest


def test_smooth_is_a_bias_corrected_moving_average() -> None:
    assert smooth([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])
    assert smooth([1.0, 3.0], beta=0.5) == pytest.approx([1.0, (0.25 + 1.5) / 0.75])


def test_suggestion_is_the_steepest_descent() -> None:
    lrs = list(np.logspace(-6, 0, 61))
    # flat, a steep fall centred at lr = 1e-3 (index 30), then flat again
    curve = [1.0 / (1.0 + np.exp((i - 30) / 2.0)) for i in range(61)]
    assert suggest(lrs, curve) == pytest.approx(lrs[30])
    with pytest.raises(RaytrainError, match="only 2 steps"):
        suggest(lrs[:2], curve[:2])


def _regression() -> tuple[
    torch.nn.Module, Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]]
]:
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    model = torch.nn.Linear(4, 1)
    return model, lambda: iter([(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)])


def test_range_test_sweeps_exponentially_and_stops_on_divergence() -> None:
    model, batches = _regression()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    lrs, losses, stopped = range_test(
        model, opt, torch.nn.functional.mse_loss, batches, start_lr=1e-4, end_lr=1e-2, num_iter=9
    )
    assert not stopped and len(lrs) == len(losses) == 9  # cycles through the 4 batches
    assert lrs == pytest.approx(list(np.logspace(-4, -2, 9)))
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-2)  # the LR was really applied
    model, batches = _regression()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    lrs, losses, stopped = range_test(
        model, opt, torch.nn.functional.mse_loss, batches, start_lr=1e-3, end_lr=1e3, num_iter=60
    )
    assert stopped and len(lrs) < 60  # SGD at lr >> 1 blows up: the test ends there
    assert lrs[-1] > 0.1


def test_lr_find_command_writes_plot_table_and_suggestion(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        f"training: {{name: lrf, output_dir: {tmp_path}}}\n"
        "dataset: {batch_size: 8, sample: {num_train: 32, num_val: 8, num_test: 8,"
        " image_size: 32}}\n"
        "model: {architecture: unet, base_filters: 4, depth: 2}\n"
    )
    res = CliRunner().invoke(
        main, ["lr-find", str(cfg), "--num-iter", "20", "--start-lr", "1e-4", "--end-lr", "1"]
    )
    assert res.exit_code == 0, res.output
    out = tmp_path / "lrf_lr_finder"
    png = out / "lr_finder.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(out / "lr_finder.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 20 and float(rows[0]["lr"]) == pytest.approx(1e-4)
    suggested = float(res.output.split("Suggested learning rate: ")[1].split()[0])
    assert any(abs(float(r["lr"]) - suggested) / suggested < 1e-2 for r in rows)  # a step's LR
