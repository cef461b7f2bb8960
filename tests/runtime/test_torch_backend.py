"""raytrain's torch backend config: what a Train controller unpickles must not import torch
(that import was ~2 s on the critical path of every multi-worker trial). That DDP still works
with it is what every DDP test checks (tests/runtime/test_train_engine.py,
tests/runtime/test_multinode.py)."""

from __future__ import annotations

import pickle
import subprocess
import sys

from raytrain.runtime.torch_backend import TorchBackendConfig


def test_a_controller_unpickling_the_config_and_its_backend_imports_no_torch() -> None:
    cfg = TorchBackendConfig(backend="gloo", timeout_s=60)
    blob = pickle.dumps((cfg, cfg.backend_cls()))
    code = (
        "import pickle, sys; "
        f"cfg, backend = pickle.loads({blob!r}); "
        "assert cfg.to_dict() == {'backend': 'gloo', 'init_method': 'env', 'timeout_s': 60}; "
        "assert backend.share_cuda_visible_devices; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out


def test_it_is_a_drop_in_for_rays_torch_config() -> None:
    from ray.train.torch.config import TorchConfig

    ours, rays = TorchBackendConfig(), TorchConfig()
    assert ours.to_dict() == rays.to_dict()
    assert ours.framework == rays.framework
    assert ours.train_func_context is rays.train_func_context
