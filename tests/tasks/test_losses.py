"""`training_params.loss`: each task's losses, their checks, and the loss as a search value."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from unit_helpers import TINY_DATA

from raytrain.config import load_config_text
from raytrain.errors import RaytrainError
from raytrain.tasks import create_task
from raytrain.tasks.losses import LOSSES, check_loss
from raytrain.tasks.resolve import task_for
from raytrain.tune.plan import plan_search


def _batch(task: str, perfect: bool) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    if task == "edges":
        y = (torch.rand(4, 1, 8, 8, generator=g) > 0.8).float()
        return (y * 20 - 10 if perfect else torch.randn(4, 1, 8, 8, generator=g)), y
    if task == "anomaly":
        y = (torch.rand(8, generator=g) > 0.5).float()
        return (y * 20 - 10 if perfect else torch.randn(8, generator=g)).view(8, 1), y
    if task == "classification":
        y = torch.randint(0, 3, (8,), generator=g)
        return (torch.nn.functional.one_hot(y, 3) * 20.0 if perfect else torch.randn(8, 3)), y
    y = torch.randn(8, generator=g) * 4 + 20
    return (y.clone() if perfect else y + torch.randn(8, generator=g) * 4).view(8, 1), y


@pytest.mark.parametrize(("task", "loss"), [(t, n) for t, names in LOSSES.items() for n in names])
def test_every_loss_trains_and_is_small_when_right(task: str, loss: str) -> None:
    t = create_task(task, TINY_DATA[task], loss=loss)
    out, y = _batch(task, perfect=False)
    out.requires_grad_(True)
    loss_value = t.loss(out, y)
    loss_value.backward()
    value = loss_value.detach()
    assert torch.isfinite(value) and value > 0 and out.grad is not None
    right, y = _batch(task, perfect=True)
    assert float(t.loss(right, y)) < 0.05 * float(value) + 1e-3, (task, loss)


def test_defaults_are_the_former_fixed_losses() -> None:
    assert [check_loss(t, None) for t in LOSSES] == ["bce", "bce", "cross_entropy", "mse"]


def test_a_loss_of_another_task_is_refused_by_name() -> None:
    with pytest.raises(
        RaytrainError,
        match=r"'dice' is not a loss for classification \('dice' "
        r"is a loss for edges\); choose cross_entropy",
    ):
        check_loss("classification", "dice")
    with pytest.raises(RaytrainError, match="did you mean 'huber'"):
        check_loss("regression", "hubber")


def test_label_smoothing_softens_cross_entropy() -> None:
    cfg = load_config_text(
        "model: {architecture: cnn_classifier}\ntraining_params: {label_smoothing: 0.2}\n"
    )
    t = task_for(cfg, TINY_DATA["classification"])
    right, y = _batch("classification", perfect=True)
    plain = create_task("classification", TINY_DATA["classification"])
    assert float(t.loss(right, y)) > 0.1 > float(plain.loss(right, y))


def test_the_loss_is_searchable_and_checked_before_the_search(tmp_path: Path) -> None:
    base = f"training: {{name: l, output_dir: {tmp_path}}}\nmodel: {{architecture: unet}}\n"
    ok = "search_space:\n  loss: {type: categorical, choices: [bce, dice, bce_dice, focal]}\n"
    plan = plan_search(load_config_text(base + ok), cluster_cpus=4, cluster_gpus=0)
    assert "training_params.loss" in plan.space.param_space
    bad = "search_space:\n  loss: {type: categorical, choices: [bce, mse]}\n"
    with pytest.raises(RaytrainError, match="search_space: training_params.loss: 'mse'"):
        plan_search(load_config_text(base + bad), cluster_cpus=4, cluster_gpus=0)
    smooth = "training_params: {label_smoothing: 0.1}\n"
    with pytest.raises(RaytrainError, match="only for classification"):
        plan_search(load_config_text(base + smooth), cluster_cpus=4, cluster_gpus=0)
