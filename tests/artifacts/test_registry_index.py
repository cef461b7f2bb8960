"""The registry never deletes what it did not just create, and its index can be rebuilt.

`registry.json` lost (deleted, not yet synced) or a version folder the index does not list
(a crash between the rename and the index write): a registration keeps every folder, picks
a version no folder uses, and writes an index that lists them all. Reading a registry whose
index is missing rebuilds it in memory and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from unit_helpers import make_checkpoint

from raytrain.artifacts.registry import INDEX, ModelRegistry
from raytrain.artifacts.registry_index import ENTRY_FILE, rebuild_index
from raytrain.cli.app import main


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".registry.lock"
    }


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "c", "coefficient_optimizer")[1]


@pytest.fixture()
def two_models(tmp_path: Path, ckpt: Path) -> ModelRegistry:
    reg = ModelRegistry(tmp_path / "models")
    reg.register("coef", ckpt, onnx=False)
    reg.register("other", ckpt, onnx=False)
    reg.promote("coef", "1.0.0", stage="production")
    return reg


def test_each_version_folder_keeps_its_entry(two_models: ModelRegistry) -> None:
    entry = two_models.get("coef", "1.0.0")
    saved = json.loads((two_models.path_of(entry) / ENTRY_FILE).read_text())
    assert saved["files"] == entry["files"] and saved["path"] == "coef/1.0.0"


def test_registering_without_an_index_deletes_nothing(
    two_models: ModelRegistry, ckpt: Path
) -> None:
    before = _tree(two_models.root)
    (two_models.root / INDEX).unlink()
    entry = two_models.register("coef", ckpt, onnx=False)
    assert entry["version"] == "1.1.0"  # 1.0.0 is taken by the folder on disk
    after = _tree(two_models.root)
    kept = {k: v for k, v in before.items() if k != INDEX}
    assert {k: after.get(k) for k in kept} == kept, "a registered file changed or vanished"
    listed = two_models.list()
    assert sorted(listed) == ["coef", "other"]
    assert [e["version"] for e in listed["coef"]] == ["1.0.0", "1.1.0"]
    model, _ = two_models.load("other")  # the rebuilt entries are usable: checksums match
    assert model is not None


def test_reading_without_an_index_rebuilds_it_and_writes_nothing(
    two_models: ModelRegistry,
) -> None:
    original = two_models.list()
    (two_models.root / INDEX).unlink()
    before = _tree(two_models.root)
    rebuilt = two_models.list()
    assert {n: [e["version"] for e in v] for n, v in rebuilt.items()} == {
        n: [e["version"] for e in v] for n, v in original.items()
    }
    assert rebuilt["coef"][0]["files"] == original["coef"][0]["files"]
    assert rebuilt["coef"][0]["stage"] == "none"  # stages live in the index only
    result = CliRunner().invoke(main, ["registry", "list", "--root", str(two_models.root)])
    assert result.exit_code == 0, result.output
    assert "coef" in result.output and "other" in result.output
    assert _tree(two_models.root) == before


def test_a_folder_left_by_a_crash_is_kept_and_skipped(
    two_models: ModelRegistry, ckpt: Path
) -> None:
    import shutil

    orphan = two_models.root / "coef" / "1.1.0"  # renamed into place, index never written
    shutil.copytree(two_models.root / "coef" / "1.0.0", orphan)
    before = _tree(orphan)
    entry = two_models.register("coef", ckpt, onnx=False)
    assert entry["version"] == "1.2.0"
    assert _tree(orphan) == before


def test_version_folders_without_entry_json_are_rebuilt_from_meta(
    two_models: ModelRegistry,
) -> None:
    for p in two_models.root.rglob(ENTRY_FILE):
        p.unlink()  # registered before entry.json existed
    index = rebuild_index(two_models.root)
    entry = index["models"]["coef"][0]
    assert entry["architecture"] == "coefficient_optimizer"
    assert entry["files"] == two_models.get("coef", "1.0.0")["files"]
    (two_models.root / INDEX).unlink()
    result = CliRunner().invoke(main, ["registry", "list", "--root", str(two_models.root)])
    assert result.exit_code == 0 and "v1.0.0" in result.output, result.output


def test_rename_is_fsynced(
    two_models: ModelRegistry, ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The version's files, its folder and the folders holding the renames are fsynced."""
    import raytrain.artifacts.registry_index as ri

    synced: list[str] = []
    real = ri.fsync_path
    monkeypatch.setattr(ri, "fsync_path", lambda p: (synced.append(Path(p).name), real(p)))
    import raytrain.artifacts.registry as reg_module

    monkeypatch.setattr(reg_module, "fsync_path", ri.fsync_path)
    two_models.register("coef", ckpt, onnx=False)
    assert "model.pt" in synced and "meta.json" in synced and ENTRY_FILE in synced
    assert "coef" in synced  # the folder the version was renamed into
    assert "models" in synced  # the folder the index was renamed into
