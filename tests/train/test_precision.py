"""`training_params.mixed_precision: auto` (raytrain.train.precision): what it resolves to on a
CPU and on a CUDA device, and that the resolved settings train, in TrainStep and in the loop.
CUDA is simulated where only the choice is tested; the steps themselves run on the CPU, whose
autocast has bf16 and fp16 too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from raytrain.config import load_config_text
from raytrain.config.schema import SchedulerSection
from raytrain.models import DataInfo, create_model
from raytrain.tasks import create_task
from raytrain.train.precision import Precision, is_conv_model, resolve_precision
from raytrain.train.schedules import LRSchedule
from raytrain.train.step import TrainStep

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
IMAGES = DataInfo(in_channels=3, image_size=32)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def models() -> dict[str, torch.nn.Module]:
    return {
        "unet": create_model("unet", {"base_filters": 4, "depth": 2}, IMAGES),
        "cnn": create_model(
            "cnn_classifier", {"base_filters": 4, "num_blocks": 2, "num_classes": 3}, IMAGES
        ),
        "vit": create_model("vit_edge", {"embed_dim": 16, "num_layers": 1, "num_heads": 2}, IMAGES),
        "mlp": create_model("anomaly_detector", {"hidden_dims": [8]}, DataInfo(feature_dim=8)),
    }


def test_the_field_accepts_auto_and_keeps_its_default() -> None:
    assert load_config_text("model: {architecture: unet}").training_params.mixed_precision is False
    cfg = load_config_text("model: {architecture: unet}\ntraining_params: {mixed_precision: auto}")
    assert cfg.training_params.mixed_precision == "auto"


def test_auto_is_float32_on_cpu() -> None:
    for model in models().values():
        assert resolve_precision("auto", CPU, model) == Precision()
    assert Precision().describe() == "float32"


def test_auto_on_cuda_bf16_channels_last_for_conv_models_no_compile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    picked = {name: resolve_precision("auto", CUDA, m) for name, m in models().items()}
    assert {n: p.amp_dtype for n, p in picked.items()} == dict.fromkeys(picked, torch.bfloat16)
    assert {n: p.channels_last for n, p in picked.items()} == {
        "unet": True,
        "cnn": True,
        "vit": False,  # its transformer dominates; the patch embedding is one conv
        "mlp": False,
    }
    assert not any(p.compile for p in picked.values())
    assert picked["unet"].describe() == "bf16 autocast, channels_last"
    # without bf16 (pre-Ampere): fp16, which TrainStep pairs with a GradScaler
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", CUDA, models()["unet"]).amp_dtype == torch.float16
    # the other settings mean what they meant before `auto`
    assert resolve_precision(True, CUDA, models()["unet"]) == Precision(torch.float16)
    assert resolve_precision(False, CUDA, models()["unet"]) == Precision()
    assert resolve_precision("bf16", CPU) == Precision(torch.bfloat16)


def test_is_conv_model_counts_parameters() -> None:
    m = models()
    assert is_conv_model(m["unet"]) and is_conv_model(m["cnn"])
    assert not is_conv_model(m["vit"]) and not is_conv_model(m["mlp"])
    assert not is_conv_model(torch.nn.Identity())


@pytest.mark.parametrize(
    "precision",
    [
        Precision(),  # auto on a CPU
        Precision(torch.bfloat16, channels_last=True),  # auto on a CUDA GPU with bf16
        Precision(torch.float16, channels_last=True),  # auto on a CUDA GPU without
    ],
    ids=lambda p: p.describe(),
)
def test_the_auto_settings_train_in_train_step(precision: Precision) -> None:
    torch.manual_seed(0)
    model = precision.apply(create_model("unet", {"base_filters": 4, "depth": 2}, IMAGES))
    seen: list[torch.Tensor] = []
    model.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    stepper = TrainStep(
        model,
        torch.optim.AdamW(model.parameters(), lr=1e-2),
        create_task("edges", IMAGES, pos_weight=2.0).loss,
        LRSchedule(SchedulerSection(), 1e-2, 4, 1),
        device=CPU,
        amp_dtype=precision.amp_dtype,
        memory_format=precision.memory_format,
    )
    assert stepper.scaler.is_enabled() == (precision.amp_dtype == torch.float16)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 32, 32, generator=g)
    y = (torch.rand(4, 1, 32, 32, generator=g) > 0.8).float()
    before = [p.detach().clone() for p in model.parameters()]
    losses = [float(stepper.micro_batch(x, y, last=True)) for _ in range(3)]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
    fmt = torch.channels_last if precision.channels_last else torch.contiguous_format
    assert seen[0].is_contiguous(memory_format=fmt)  # the input, converted by TrainStep
    conv_weights = [p for p in model.parameters() if p.dim() == 4]
    assert all(w.is_contiguous(memory_format=fmt) for w in conv_weights)


def test_the_loop_applies_the_resolved_precision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_loop resolves `mixed_precision` with the model and the device, converts the model
    before the context prepares it, and hands dtype and memory format to TrainStep: here with
    what `auto` picks on a GPU, forced onto the CPU."""
    from test_train_loop import MemoryContext

    import raytrain.train.loop as loop
    from raytrain.data.resolve import resolve_dataset
    from raytrain.tasks.resolve import task_name_of
    from raytrain.train.spec import build_run_spec

    seen: dict[str, Any] = {}

    def fake_resolve(mixed_precision: Any, device: torch.device, model: Any) -> Precision:
        seen["asked"] = (mixed_precision, device.type, type(model).__name__)
        return Precision(torch.bfloat16, channels_last=True)

    class Recording(TrainStep):
        def __init__(self, model: torch.nn.Module, *a: Any, **k: Any) -> None:
            super().__init__(model, *a, **k)
            seen["step"] = (self.amp_dtype, self.memory_format)
            seen["weights"] = [
                p.is_contiguous(memory_format=torch.channels_last)
                for p in model.parameters()
                if p.dim() == 4
            ]

    monkeypatch.setattr(loop, "resolve_precision", fake_resolve)
    monkeypatch.setattr(loop, "TrainStep", Recording)
    cfg = load_config_text(
        "dataset: {batch_size: 8, sample: {num_train: 16, num_val: 8, num_test: 8,"
        " image_size: 32}}\n"
        "model: {architecture: unet, base_filters: 4, depth: 2}\n"
        "training_params: {num_epochs: 1, mixed_precision: auto}\n"
        "logging: {visualizations: false, tensorboard: false}\n"
    )
    data_dir = resolve_dataset(cfg, task_name_of(cfg))
    (tmp_path / "keep").mkdir()
    ctx = MemoryContext(cfg, data_dir, tmp_path / "keep")
    loop.run_loop(build_run_spec(cfg, data_dir, log_dir=tmp_path / "logs", run_name="t"), ctx)
    assert seen["asked"] == ("auto", "cpu", "UNet")
    assert seen["step"] == (torch.bfloat16, torch.channels_last)
    assert seen["weights"] and all(seen["weights"])
    assert len(ctx.reports) == 1 and ctx.reports[0][0]["train_loss"] > 0


def test_auto_trains_in_the_loop_on_cpu(tmp_path: Path) -> None:
    from test_train_loop import run

    ctx = run(tmp_path, "training_params: {num_epochs: 1, mixed_precision: auto}\n")
    assert len(ctx.reports) == 1
    assert torch.isfinite(torch.tensor(ctx.reports[0][0]["train_loss"]))
