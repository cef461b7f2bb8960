"""Ray Train's torch backend set-up, without importing torch in the Train controller.

Why: `ray.train.torch.config` (Ray's `TorchConfig` and its backend) imports torch at module
level, and the `TrainController` unpickles a `TorchConfig`, so every run's controller process
imports torch (~2 s of CPU on 2 cores) before it starts any worker — on the critical path of
every multi-worker trial, and for nothing: the controller only asks the workers to set up the
process group. `TorchBackendConfig` is the same configuration and the same steps (the
functions that run on the workers are Ray's own, imported there, where torch is loaded
anyway); only the orchestration lives here, in a module that does not import torch.

Covers what raytrain runs: gloo on CPUs, NCCL on GPUs, `env://` or `tcp://` rendezvous.
Anything else (Ray's TPU backend) is handed to Ray's own `_TorchBackend`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ray.train.backend import Backend, BackendConfig


@dataclass
class TorchBackendConfig(BackendConfig):
    """Drop-in for `ray.train.torch.TorchConfig` (same fields, same meaning)."""

    backend: str | None = None
    init_method: str = "env"
    timeout_s: int = 1800

    @property
    def backend_cls(self) -> type[Backend]:
        return _TorchBackend

    @property
    def train_func_context(self) -> Any:
        # read where the trainer is built (the trial, which has torch), not in the controller
        from ray.train.torch.config import TorchConfigContextManager

        return TorchConfigContextManager

    @property
    def framework(self) -> Any:
        from ray.train.v2._internal.util import TrainingFramework

        return TrainingFramework.TORCH

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "init_method": self.init_method,
            "timeout_s": self.timeout_s,
        }


class _TorchBackend(Backend):
    """The steps of Ray 2.60's `_TorchBackend` for gloo/NCCL, run from the controller."""

    share_cuda_visible_devices: bool = True

    def on_start(self, worker_group: Any, backend_config: TorchBackendConfig) -> None:
        from ray.train._internal.utils import get_address_and_port

        backend = backend_config.backend or _default_backend(worker_group)
        if backend not in ("gloo", "nccl"):
            return _ray_backend().on_start(worker_group, _ray_config(backend_config))
        addr, port = worker_group.execute_single(0, get_address_and_port)
        if backend_config.init_method == "env":
            worker_group.execute(_set_master, addr=addr, port=port)
            url = "env://"
        elif backend_config.init_method == "tcp":
            from ray._common.network_utils import build_address

            url = f"tcp://{build_address(addr, port)}"
        else:
            raise ValueError(
                f"The provided init_method ({backend_config.init_method}) is not supported. "
                "Must be either 'env' or 'tcp'."
            )
        worker_group.execute(_set_torch_distributed_env_vars)
        import ray

        ray.get(
            [
                worker_group.execute_single_async(
                    rank,
                    _setup_torch_process_group,
                    backend=backend,
                    world_rank=rank,
                    world_size=len(worker_group),
                    init_method=url,
                    timeout_s=backend_config.timeout_s,
                )
                for rank in range(len(worker_group))
            ]
        )

    def on_shutdown(self, worker_group: Any, backend_config: TorchBackendConfig) -> None:
        import ray
        from ray._private import ray_constants
        from ray.exceptions import GetTimeoutError
        from ray.train.constants import (
            DEFAULT_TORCH_PROCESS_GROUP_SHUTDOWN_TIMEOUT_S,
            TORCH_PROCESS_GROUP_SHUTDOWN_TIMEOUT_S,
        )

        futures = worker_group.execute_async(
            _shutdown_torch, destroy_process_group=len(worker_group) > 1
        )
        timeout_s = ray_constants.env_integer(
            TORCH_PROCESS_GROUP_SHUTDOWN_TIMEOUT_S, DEFAULT_TORCH_PROCESS_GROUP_SHUTDOWN_TIMEOUT_S
        )
        try:
            ray.get(futures, timeout=timeout_s)
        except GetTimeoutError:
            import logging

            logging.getLogger(__name__).warning(
                "Torch process group shutdown timed out after %s seconds", timeout_s
            )


def _default_backend(worker_group: Any) -> str:
    resources = worker_group.get_resources_per_worker()
    if resources.get("GPU", 0) > 0:
        return "nccl"
    if resources.get("TPU", 0) > 0:
        return "tpu_dist"
    return "gloo"


def _ray_backend() -> Any:
    from ray.train.torch.config import _TorchBackend as RayTorchBackend

    return RayTorchBackend()


def _ray_config(cfg: TorchBackendConfig) -> Any:
    from ray.train.torch.config import TorchConfig

    return TorchConfig(backend=cfg.backend, init_method=cfg.init_method, timeout_s=cfg.timeout_s)


# -- run on the workers (where torch is loaded anyway): Ray's own functions -----------------------


def _set_master(addr: str, port: int) -> None:
    os.environ["MASTER_ADDR"] = addr
    os.environ["MASTER_PORT"] = str(port)


def _set_torch_distributed_env_vars() -> None:
    from ray.train.torch.config import _set_torch_distributed_env_vars as ray_fn

    ray_fn()


def _setup_torch_process_group(**kwargs: Any) -> None:
    from ray.train.torch.config import _setup_torch_process_group as ray_fn

    ray_fn(**kwargs)


def _shutdown_torch(destroy_process_group: bool = False) -> None:
    from ray.train.torch.config import _shutdown_torch as ray_fn

    ray_fn(destroy_process_group)
