"""Transfer learning: start from pretrained weights, train only some layers
for a while, then fine-tune.

* `pretrained.model_path`: a raytrain checkpoint folder (its `model.pt`) or a weights file
  (`.pt`/`.pth`): a state dict, or a checkpoint dict holding one under `model_state_dict`
  (a training script's `{'epoch', 'model_state_dict', ...}`, raytrain's export bundle),
  `state_dict` or `model`. Entries whose name and shape match the new model are loaded, the
  rest keep their fresh initialisation (a new head for a different number of classes).
* Which parameters are frozen: with `model.fine_tune_layers`, every parameter outside those
  layers; else, with `pretrained.freeze_encoder`, the encoder's. Layers are named by their
  module path prefix (`decoder`, `encoder.0`); `output` names the model's final layer.
* For how long: the first `pretrained.freeze_epochs` epochs, then everything trains; with
  `freeze_epochs: 0`, the whole run.

Frozen BatchNorm layers also stop updating their running statistics (eval mode while frozen).
Frozen parameters keep `requires_grad` (DDP fixes the set of synchronised parameters when it
wraps the model, so unfreezing later would silently leave them unsynchronised): instead, their
gradients are dropped before each optimizer step, and torch optimizers skip a parameter
without a gradient entirely — no update, no weight decay, no momentum.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch.nn as nn

from raytrain.artifacts.checkpoint import MODEL_FILE, load_state_dict
from raytrain.config.schema import ExperimentConfig
from raytrain.errors import RaytrainError

#: module-name prefixes that make up "the encoder" of the built-in architectures
ENCODER_PREFIXES = ("encoder", "patch_embed", "bottleneck", "features")
#: common spellings for a model's last layer
OUTPUT_ALIASES = ("output", "head")


#: where a checkpoint dict keeps its weights: a training script's `{'epoch', 'model_state_dict',
#: 'optimizer_state_dict', 'val_loss', ...}`, raytrain's export bundle (`model_state_dict`), a
#: Lightning-style `state_dict`, or `model`
WEIGHT_KEYS = ("model_state_dict", "state_dict", "model")


def weights_of(state: dict[str, Any]) -> dict[str, Any]:
    """The weights inside a checkpoint dict (unwrapped from its `WEIGHT_KEYS`, as deep as they
    nest), without DDP's `module.` prefix; a plain state dict is returned as it is."""
    for _ in range(3):
        inner = next((state[k] for k in WEIGHT_KEYS if isinstance(state.get(k), dict)), None)
        if inner is None:
            break
        state = inner
    return {k.removeprefix("module."): v for k, v in state.items() if hasattr(v, "shape")}


def load_pretrained(model: nn.Module, path: str | Path) -> tuple[int, int]:
    """Load the matching entries of the weights at `path` into `model`; (loaded, total)."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.exists():
        raise RaytrainError(f"pretrained.model_path: {path} does not exist")
    state = weights_of(load_state_dict(path))
    own = model.state_dict()
    match = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not match:
        raise RaytrainError(
            f"pretrained.model_path: {path} has no weights that fit this model "
            f"(its first keys: {', '.join(list(state)[:3]) or 'none'})"
        )
    model.load_state_dict(match, strict=False)
    return len(match), len(own)


def _last_layer(model: nn.Module) -> str:
    names = [n.rsplit(".", 1)[0] for n, _ in model.named_parameters()]
    return names[-1] if names else ""


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def frozen_parameter_names(model: nn.Module, cfg: ExperimentConfig) -> list[str]:
    """The names of the parameters to freeze (possibly none), checked against the model."""
    names = [n for n, _ in model.named_parameters()]
    layers = cfg.model.fine_tune_layers
    if layers:
        prefixes = [_last_layer(model) if p in OUTPUT_ALIASES else p for p in layers]
        for given, prefix in zip(layers, prefixes, strict=True):
            if not any(_matches(n, prefix) for n in names):
                tops = sorted({n.split(".")[0] for n in names})
                raise RaytrainError(
                    f"model.fine_tune_layers: '{given}' names no layer of "
                    f"'{cfg.model.architecture}'; its layers: {', '.join(tops)} (or 'output')"
                )
        return [n for n in names if not any(_matches(n, p) for p in prefixes)]
    if cfg.pretrained.freeze_encoder:
        frozen = [n for n in names if any(_matches(n.split(".")[0], p) for p in ENCODER_PREFIXES)]
        if not frozen:
            raise RaytrainError(
                f"pretrained.freeze_encoder: '{cfg.model.architecture}' has no encoder "
                f"layer ({', '.join(ENCODER_PREFIXES)}); name the layers to train in "
                f"model.fine_tune_layers"
            )
        return frozen
    return []


class Freeze:
    """The frozen parameters and until which epoch (None: the whole run)."""

    def __init__(self, model: nn.Module, names: list[str], until_epoch: int | None) -> None:
        wanted = set(names)
        self.params = [p for n, p in model.named_parameters() if n in wanted]
        self.until_epoch = until_epoch
        # normalisation layers that are wholly frozen also keep their running statistics
        self.norms = [
            m
            for prefix, m in model.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)
            and all(f"{prefix}.{n}" in wanted for n, _ in m.named_parameters())
            and any(True for _ in m.parameters())
        ]

    @classmethod
    def from_config(cls, model: nn.Module, cfg: ExperimentConfig) -> Freeze:
        epochs = cfg.pretrained.freeze_epochs
        return cls(model, frozen_parameter_names(model, cfg), epochs or None)

    def active(self, epoch: int) -> bool:
        """Whether the freeze holds in `epoch` (0-based)."""
        return bool(self.params) and (self.until_epoch is None or epoch < self.until_epoch)

    def hold_statistics(self) -> None:
        """Put the frozen BatchNorm layers in eval mode (call after `model.train()`)."""
        for m in self.norms:
            m.eval()

    def drop_grads(self) -> None:
        for p in self.params:
            p.grad = None


def apply_pretrained(model: nn.Module, cfg: ExperimentConfig) -> str | None:
    """Load `pretrained.model_path` into `model` when the config asks; a line for the log."""
    path = cfg.pretrained.model_path
    if cfg.model.load_pretrained and not path:
        raise RaytrainError("model.load_pretrained: true needs pretrained.model_path")
    if not path:
        return None
    loaded, total = load_pretrained(model, path)
    return f"pretrained: {loaded}/{total} weight tensors loaded from {path}"
