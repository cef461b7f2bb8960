"""What `training_params.mixed_precision` turns into on a device: autocast dtype, memory format
and whether the model is compiled. Torch only (no Ray): the per-worker loop, `raytrain lr-find`
and `bench/gpu_check.py` resolve it the same way.

| setting | CUDA | CPU |
| --- | --- | --- |
| `false` (the default) | float32 | float32 |
| `true` | bf16 autocast (fp16 + GradScaler without bf16) | float32 |
| `bf16` / `fp16` | that autocast dtype | that autocast dtype |
| `auto` | as `true`, channels_last for conv models, no torch.compile | float32 |

Why `auto` is that, before any GPU measurement of raytrain itself: bf16 autocast is the standard,
widely measured choice on Ampere and Hopper (tensor cores run bf16 at 2x TF32's dense rate and
16x plain fp32's, with fp32's exponent range, so no loss scaling); cuDNN's fastest convolution
kernels on those GPUs take NHWC, so the U-Net and the CNN run channels_last; `torch.compile` stays
off because its compile time (tens of seconds per model and precision) is paid by every trial of
a search, and no measurement here shows it winning that back. `bench/gpu_check.py` measures
all of these combinations; BENCHMARKS.md records what it finds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from raytrain.train.step import autocast_dtype

_CONV2D = (nn.Conv2d, nn.ConvTranspose2d)


@dataclass(frozen=True)
class Precision:
    """Resolved numerics of one run on one device."""

    amp_dtype: torch.dtype | None = None
    channels_last: bool = False
    compile: bool = False

    @property
    def memory_format(self) -> torch.memory_format | None:
        return torch.channels_last if self.channels_last else None

    def describe(self) -> str:
        dtype: dict[torch.dtype | None, str] = {
            torch.bfloat16: "bf16 autocast",
            torch.float16: "fp16 autocast + GradScaler",
        }
        parts = [dtype.get(self.amp_dtype, "float32")]
        if self.channels_last:
            parts.append("channels_last")
        if self.compile:
            parts.append("torch.compile")
        return ", ".join(parts)

    def apply(self, model: nn.Module) -> nn.Module:
        """The model in this memory format (call before DDP wraps it: DDP's buckets keep the
        parameters' layout)."""
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model


def is_conv_model(model: nn.Module) -> bool:
    """A convolutional network (U-Net, CNN): 2-D convolutions and no attention, so its compute
    is convolutions and channels_last pays. A ViT has convolutions too (patch embedding,
    decoder), but its attention and MLP blocks work on token sequences."""
    mods = list(model.modules())
    return any(isinstance(m, _CONV2D) for m in mods) and not any(
        isinstance(m, nn.MultiheadAttention) for m in mods
    )


def resolve_precision(
    mixed_precision: bool | str, device: torch.device, model: nn.Module | None = None
) -> Precision:
    """`training_params.mixed_precision` on `device` for `model` (see the module's table)."""
    if mixed_precision != "auto":
        return Precision(amp_dtype=autocast_dtype(mixed_precision, device))
    if device.type != "cuda":
        return Precision()
    return Precision(
        amp_dtype=autocast_dtype(True, device),
        channels_last=model is not None and is_conv_model(model),
        compile=False,
    )
