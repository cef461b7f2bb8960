"""Ray's private modules: used only in `raytrain.runtime`, and still where raytrain expects them.

raytrain reaches into a few of Ray's private modules to save start-up time per trial (see
`raytrain.runtime.trainer`). Each use has a plain fallback, so a Ray upgrade that moves one
would only make searches slower, silently. These tests make it loud instead: every private
import in the package is found by reading the source, and each must still import, with every
name it takes; the private methods raytrain overrides must still exist where it overrides them.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

import raytrain

PACKAGE = Path(raytrain.__file__).parent
PRIVATE = ("._internal", "._private")


def _private_imports() -> list[tuple[Path, str, str]]:
    """(file, module, name) of every `from ray..._internal/_private... import name`."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ray"):
                if any(p in node.module for p in PRIVATE):
                    found += [(path, node.module, a.name) for a in node.names]
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("ray") and any(p in a.name for p in PRIVATE):
                        found.append((path, a.name, ""))
    return found


PRIVATE_IMPORTS = _private_imports()


def test_raytrain_uses_private_ray_modules_only_in_runtime() -> None:
    assert PRIVATE_IMPORTS, "the scan found no private import at all: is it still reading?"
    outside = [
        f"{p.relative_to(PACKAGE.parent)}: {m}"
        for p, m, _ in PRIVATE_IMPORTS
        if p.parent.name != "runtime"
    ]
    assert not outside, "private Ray modules outside raytrain/runtime/: " + ", ".join(outside)


@pytest.mark.parametrize(
    "module,name",
    sorted({(m, n) for _, m, n in PRIVATE_IMPORTS}),
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_each_private_import_still_resolves(module: str, name: str) -> None:
    mod = importlib.import_module(module)  # ImportError here: a Ray upgrade moved it
    if name:
        assert hasattr(mod, name), f"{module} no longer has {name} (a Ray upgrade moved it)"


def test_the_private_methods_raytrain_overrides_still_exist() -> None:
    """`raytrain.runtime.trainer` subclasses `TorchTrainer` and overrides these two; if Ray
    renames them, the overrides would never run and every trial would pay the full start-up."""
    from ray.train.torch import TorchTrainer

    for method in ("_create_default_callbacks", "_initialize_and_run_controller"):
        assert callable(getattr(TorchTrainer, method, None)), f"TorchTrainer.{method} is gone"


def test_the_single_machine_switch_raytrain_uses_still_exists() -> None:
    """`raytrain.runtime.session` keeps a Ray it starts on 127.0.0.1 through Ray's
    single-machine switch; without these two names it would listen on every interface."""
    from ray._private import ray_constants

    assert isinstance(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, str)
    assert isinstance(ray_constants.ENABLE_RAY_CLUSTER, bool)


def test_the_ray_data_loggers_raytrain_quiets_still_exist() -> None:
    """`raytrain train` filters these loggers by name; a renamed module would bring the
    per-dataset chatter back without an error."""
    from raytrain.runtime.run import _RAY_DATA_CHATTER

    for name in _RAY_DATA_CHATTER:
        assert importlib.util.find_spec(name) is not None, f"Ray Data has no module {name}"
