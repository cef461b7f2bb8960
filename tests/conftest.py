"""Shared fixtures. One Ray session serves every test that needs Ray (starting Ray costs
seconds); data and registries go to per-test temp folders so tests never share state."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SEARCH_SPACES = sorted((REPO / "search_spaces").glob("*.yaml"))
OBJECT_STORE_BYTES = 96 * 1024 * 1024


@pytest.fixture(autouse=True)
def _isolated_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sample data is cached per session (generation is deterministic), wandb never phones home."""
    monkeypatch.setenv("RAYTRAIN_DATA_DIR", str(tmp_path_factory.getbasetemp() / "datasets"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")


@pytest.fixture(scope="session")
def ray_start_2_cpus() -> Iterator[None]:
    """A local Ray with 2 logical CPUs, shared by the whole test session."""
    import ray

    from raytrain.runtime.local import prepare_local_ray

    prepare_local_ray()  # as raytrain starts its own Ray
    ray.init(
        address="local",
        num_cpus=2,
        # Small, so that tests/data/test_data_pipeline.py can stream a dataset 4x the store cheaply;
        # every other test's data is a few MB.
        object_store_memory=OBJECT_STORE_BYTES,
        log_to_driver=False,
        runtime_env={"env_vars": {"WANDB_MODE": "offline", "WANDB_SILENT": "true"}},
    )
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


def write_module(folder: Path, mp: pytest.MonkeyPatch, prefix: str, source: str) -> str:
    """`source` as a module named after `prefix` and `folder` (unique per test), importable
    here and, through the driver's path, in trials; returns its name."""
    name = f"{prefix}_{folder.name.replace('-', '_')}"
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    mp.syspath_prepend(str(folder))
    return name


def _write_quad(folder: Path, mp: pytest.MonkeyPatch) -> str:
    from quad_objective import FUNCTION

    return write_module(folder, mp, "quad_objective", FUNCTION)


@pytest.fixture
def make_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str, str], str]]:
    """`make_module(prefix, source)`: `write_module` in the test's folder; the module is
    forgotten after the test."""
    names: list[str] = []

    def make(prefix: str, source: str) -> str:
        names.append(write_module(tmp_path, monkeypatch, prefix, source))
        return names[-1]

    yield make
    for name in names:
        sys.modules.pop(name, None)


@pytest.fixture
def quad_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`<module>:quad` (tests/quad_objective.py) importable here and, through the driver's
    path, in trials."""
    name = _write_quad(tmp_path, monkeypatch)
    yield name
    sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def quad_module_once(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`quad_module` for a module-scoped fixture that runs a search once for several tests
    (set up before the per-test `_isolated_env`, so it sets wandb's variables itself)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "offline")
        mp.setenv("WANDB_SILENT", "true")
        name = _write_quad(tmp_path_factory.mktemp("quad"), mp)
        yield name
    sys.modules.pop(name, None)
