"""Gradient flow and activation statistics, per layer and epoch (`logging.gradient_tracking`).

Gradients: a hook on every parameter records its gradient's L2 norm after each backward pass
(on rank 0's shard; under DDP the hook sees the local gradient, before the all-reduce averages
it); the epoch's row per parameter holds the mean and max norm, first layer to last.
Activations: a forward hook on every leaf module records, for the epoch's first training
batch, the output's mean, standard deviation and fraction of exact zeros (dead ReLUs). Rows go
to `analysis/gradient_flow.csv` and `analysis/activation_stats.csv`; `end_epoch()` returns the
epoch's summary (the run's last lands in `analysis/summary.json`).
Off by default: the hooks cost a norm per parameter per step.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn


class GradientTracker:
    def __init__(self, model: nn.Module, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.epoch = 0
        self._grad: dict[str, list[float]] = {}
        self._act: dict[str, dict[str, float]] = {}
        self._sample = False
        self._training = True
        self.last: dict[str, Any] = {}
        self._handles = []
        for name, p in model.named_parameters():
            if p.requires_grad:
                self._handles.append(p.register_hook(self._grad_hook(name)))
        for name, m in model.named_modules():
            if name and not any(True for _ in m.children()):
                self._handles.append(m.register_forward_hook(self._act_hook(name)))

    def _grad_hook(self, layer: str) -> Any:
        def hook(g: torch.Tensor) -> None:
            self._grad.setdefault(layer, []).append(float(g.detach().float().norm()))

        return hook

    def _act_hook(self, name: str) -> Any:
        def hook(module: nn.Module, _inp: Any, out: Any) -> None:
            if not (self._sample and module.training) or name in self._act:
                return
            if isinstance(out, torch.Tensor) and out.is_floating_point() and out.numel():
                o = out.detach().float()
                self._act[name] = {
                    "mean": float(o.mean()),
                    "std": float(o.std()) if o.numel() > 1 else 0.0,
                    "zero_fraction": float((o == 0).float().mean()),
                }

        return hook

    def start_epoch(self, epoch: int) -> None:
        self.epoch, self._grad, self._act, self._sample = epoch, {}, {}, True

    def end_epoch(self) -> dict[str, Any]:
        """Write the epoch's rows; the summary of this epoch."""
        self._sample = False
        grads = [
            {
                "epoch": self.epoch,
                "parameter": layer,
                "mean_grad_norm": sum(v) / len(v),
                "max_grad_norm": max(v),
                "steps": len(v),
            }
            for layer, v in self._grad.items()
            if v
        ]
        acts = [{"epoch": self.epoch, "module": k, **v} for k, v in self._act.items()]
        self._append("gradient_flow.csv", grads)
        self._append("activation_stats.csv", acts)
        norms = [g["mean_grad_norm"] for g in grads]
        self.last = {
            "epoch": self.epoch,
            "parameters": len(grads),
            "mean_grad_norm_first": norms[0] if norms else None,
            "mean_grad_norm_last": norms[-1] if norms else None,
            "smallest_mean_grad_norm": min(norms) if norms else None,
            "largest_mean_grad_norm": max(norms) if norms else None,
            "dead_activation_modules": sum(a["zero_fraction"] > 0.99 for a in acts),
        }
        return self.last

    def _append(self, name: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        path = self.out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        with path.open("a", newline="") as f:
            w = csv.DictWriter(f, list(rows[0]))
            if new:
                w.writeheader()
            w.writerows(rows)

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
