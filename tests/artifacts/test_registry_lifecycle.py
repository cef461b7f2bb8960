"""The life of a registered model after registration: show, promote (stages and aliases),
remove, load by reference, and the `raytrain registry show|promote|remove` commands.

No Ray: versions are registered from fresh tiny checkpoints (tests/unit_helpers.py).
"""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from unit_helpers import example_input, make_checkpoint, tiny_model

import raytrain
from raytrain.artifacts.registry import INDEX, ModelRegistry, check_label, parse_ref
from raytrain.cli.app import main
from raytrain.data.manifest import sha256_file
from raytrain.errors import RaytrainError

ARCH = "coefficient_optimizer"


def _register(reg: ModelRegistry, tmp_path: Path, seeds: tuple[int, ...]) -> list[torch.nn.Module]:
    models = []
    for seed in seeds:
        model, ckpt = make_checkpoint(tmp_path / f"ckpt{seed}", ARCH, seed=seed)
        reg.register("coef", ckpt, onnx=False)
        models.append(model)
    return models


@pytest.fixture()
def three(tmp_path: Path) -> tuple[ModelRegistry, list[torch.nn.Module]]:
    """`coef` v1.0.0, v1.1.0, v1.2.0, each from a different seed."""
    reg = ModelRegistry(tmp_path / "models")
    return reg, _register(reg, tmp_path, (0, 1, 2))


def _assert_index_sound(reg: ModelRegistry) -> dict:
    """The index is valid JSON, every entry's files match their checksums, no folder is
    unindexed and no temp folder is left."""
    index = json.loads((reg.root / INDEX).read_text())
    indexed = set()
    for entries in index["models"].values():
        for e in entries:
            folder = reg.path_of(e)
            indexed.add(folder)
            for name, digest in e["files"].items():
                assert sha256_file(folder / name) == digest, (e["version"], name)
    on_disk = {p for p in reg.root.glob("*/*") if p.is_dir()}
    assert on_disk == indexed
    assert not list(reg.root.glob("*/.*")), "temp folders left behind"
    return index


def _outputs(model: torch.nn.Module) -> torch.Tensor:
    x = example_input(tiny_model(ARCH)[1], 4, seed=9)
    with torch.no_grad():
        return model(x)


# -- references -------------------------------------------------------------------------------


def test_parse_ref_with_labels() -> None:
    assert parse_ref("coef@production") == ("coef", "production")
    assert parse_ref("coef@champion") == ("coef", "champion")
    assert parse_ref("coef:1.2.0") == ("coef", "1.2.0")
    for bad in ("coef:../x", "coef@1x", "coef:1.2", "coef@a/b", "../x@production"):
        with pytest.raises(RaytrainError, match=r"model reference|registry name"):
            parse_ref(bad)


@pytest.mark.parametrize("label", ["1.0.0", "../x", "production", "latest", "a b", "", "-x"])
def test_bad_aliases_are_refused(label: str) -> None:
    with pytest.raises(RaytrainError, match=f"alias '{label}'"):
        check_label(label)


def test_latest_and_versions_resolve(three: tuple[ModelRegistry, list[torch.nn.Module]]) -> None:
    reg, _ = three
    assert reg.resolve("coef")["version"] == "1.2.0"
    assert reg.resolve("coef@latest")["version"] == "1.2.0"
    assert reg.resolve("coef:1.1.0")["version"] == "1.1.0"
    with pytest.raises(RaytrainError, match=r"no version in stage or alias 'production'"):
        reg.resolve("coef@production")


# -- promote ----------------------------------------------------------------------------------


def test_promote_moves_stages(three: tuple[ModelRegistry, list[torch.nn.Module]]) -> None:
    reg, _ = three
    reg.promote("coef", "1.0.0", "production")
    reg.promote("coef", "1.1.0", "staging")
    assert reg.labels("coef") == {"latest": "1.2.0", "production": "1.0.0", "staging": "1.1.0"}
    # Promoting staging to production: the old production version is archived, not lost.
    entry = reg.promote("coef", "staging", "production")
    assert entry["version"] == "1.1.0" and entry["stage"] == "production"
    stages = {e["version"]: e["stage"] for e in reg.list()["coef"]}
    assert stages == {"1.0.0": "archived", "1.1.0": "production", "1.2.0": "none"}
    assert reg.get("coef", "production")["version"] == "1.1.0"
    history = [h["stage"] for h in reg.get("coef", "1.1.0")["stage_history"]]
    assert history == ["staging", "production"]
    _assert_index_sound(reg)


def test_aliases_are_unique_per_name(three: tuple[ModelRegistry, list[torch.nn.Module]]) -> None:
    reg, _ = three
    reg.promote("coef", "1.0.0", alias="champion")
    reg.promote("coef", "1.0.0", alias="baseline")
    assert reg.resolve("coef@champion")["version"] == "1.0.0"
    reg.promote("coef", "1.2.0", alias="champion")
    assert reg.resolve("coef@champion")["version"] == "1.2.0"
    assert reg.get("coef", "1.0.0")["aliases"] == ["baseline"]
    with pytest.raises(RaytrainError, match=r"no version in stage or alias 'champ'.*'champion'"):
        reg.resolve("coef@champ")


def test_promote_errors_leave_the_index_alone(
    three: tuple[ModelRegistry, list[torch.nn.Module]],
) -> None:
    reg, _ = three
    before = (reg.root / INDEX).read_bytes()
    with pytest.raises(RaytrainError, match=r"has no version 9\.9\.9; versions: 1\.0\.0"):
        reg.promote("coef", "9.9.9", "production")
    with pytest.raises(RaytrainError, match=r"stage 'prodution'.*did you mean 'production'"):
        reg.promote("coef", "1.0.0", "prodution")
    with pytest.raises(RaytrainError, match="registry name '../x'"):
        reg.promote("../x", "1.0.0", "production")
    with pytest.raises(RaytrainError, match="no registered model 'cof'.*did you mean 'coef'"):
        reg.promote("cof", "1.0.0", "production")
    with pytest.raises(RaytrainError, match="give a stage"):
        reg.promote("coef", "1.0.0")
    assert (reg.root / INDEX).read_bytes() == before


def test_load_by_stage_and_alias(three: tuple[ModelRegistry, list[torch.nn.Module]]) -> None:
    reg, models = three
    reg.promote("coef", "1.1.0", "production")
    reg.promote("coef", "1.0.0", alias="first")
    root = str(reg.root)
    assert torch.equal(_outputs(raytrain.load_model("coef@production", root)), _outputs(models[1]))
    assert torch.equal(_outputs(raytrain.load_model("coef@first", root)), _outputs(models[0]))
    assert torch.equal(_outputs(raytrain.load_model("coef:1.2.0", root)), _outputs(models[2]))
    assert torch.equal(_outputs(raytrain.load_model("coef", root)), _outputs(models[2]))
    # The load_model(name, version=...) spelling.
    assert torch.equal(_outputs(reg.load_model("coef", version="1.0.0")), _outputs(models[0]))
    assert not raytrain.load_model("coef@production", root).training


# -- remove -----------------------------------------------------------------------------------


def test_remove_a_version(three: tuple[ModelRegistry, list[torch.nn.Module]]) -> None:
    reg, models = three
    reg.promote("coef", "1.1.0", alias="keep")
    removed = reg.remove("coef", "1.1.0")
    assert removed["version"] == "1.1.0"
    assert not (reg.root / "coef" / "1.1.0").exists()
    assert [e["version"] for e in reg.list()["coef"]] == ["1.0.0", "1.2.0"]
    with pytest.raises(RaytrainError, match=r"no version 1\.1\.0; versions: 1\.0\.0, 1\.2\.0"):
        reg.get("coef", "1.1.0")
    with pytest.raises(RaytrainError, match="alias 'keep'"):  # the alias went with it
        reg.resolve("coef@keep")
    # The others still load, unchanged.
    assert torch.equal(_outputs(reg.load_model("coef", "1.0.0")), _outputs(models[0]))
    _assert_index_sound(reg)
    # The next registration still gets a new version, not the removed one's.
    _, ckpt = make_checkpoint(reg.root.parent / "again", ARCH, seed=5)
    assert reg.register("coef", ckpt, onnx=False)["version"] == "1.3.0"


def test_production_is_not_removed_without_force(
    three: tuple[ModelRegistry, list[torch.nn.Module]],
) -> None:
    reg, _ = three
    reg.promote("coef", "1.2.0", "production")
    before = (reg.root / INDEX).read_bytes()
    with pytest.raises(RaytrainError, match=r"'coef' v1\.2\.0 is in production"):
        reg.remove("coef", "production")
    assert (reg.root / INDEX).read_bytes() == before
    assert (reg.root / "coef" / "1.2.0").is_dir()
    reg.remove("coef", "1.2.0", force=True)
    assert reg.resolve("coef")["version"] == "1.1.0"
    _assert_index_sound(reg)


def test_removing_the_last_version_removes_the_name(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "models")
    _register(reg, tmp_path, (0,))
    reg.remove("coef", "1.0.0")
    assert reg.list() == {}
    assert not (reg.root / "coef").exists()
    with pytest.raises(RaytrainError, match="no registered model 'coef'"):
        reg.get("coef")
    # Registering the name again does not hand out 1.0.0 a second time.
    _, ckpt = make_checkpoint(tmp_path / "again", ARCH, seed=3)
    assert reg.register("coef", ckpt, onnx=False)["version"] == "1.1.0"


def test_a_removed_version_number_is_not_reused(
    three: tuple[ModelRegistry, list[torch.nn.Module]],
) -> None:
    reg, _ = three
    reg.remove("coef", "1.2.0")
    removed = json.loads((reg.root / INDEX).read_text())["removed"]["coef"]
    assert [r["version"] for r in removed] == ["1.2.0"] and removed[0]["removed"]
    _, ckpt = make_checkpoint(reg.root.parent / "next", ARCH, seed=8)
    assert reg.register("coef", ckpt, onnx=False)["version"] == "1.3.0"
    _, ckpt = make_checkpoint(reg.root.parent / "other", "anomaly_detector")
    assert reg.register("coef", ckpt, onnx=False)["version"] == "2.0.0"
    _assert_index_sound(reg)


def test_remove_errors(three: tuple[ModelRegistry, list[torch.nn.Module]]) -> None:
    reg, _ = three
    before = (reg.root / INDEX).read_bytes()
    with pytest.raises(RaytrainError, match="registry name '../x'"):
        reg.remove("../x", "1.0.0")
    with pytest.raises(RaytrainError, match=r"has no version 3\.0\.0"):
        reg.remove("coef", "3.0.0")
    with pytest.raises(RaytrainError, match="name the version"):
        reg.remove("coef", "")
    assert (reg.root / INDEX).read_bytes() == before
    assert not (reg.root.parent / "x").exists()


def test_tampered_entry_path_is_not_followed(
    three: tuple[ModelRegistry, list[torch.nn.Module]], tmp_path: Path
) -> None:
    reg, _ = three
    victim = tmp_path / "victim" / "data"
    victim.mkdir(parents=True)
    index = json.loads((reg.root / INDEX).read_text())
    index["models"]["coef"][0]["path"] = "../victim/data"
    (reg.root / INDEX).write_text(json.dumps(index))
    with pytest.raises(RaytrainError, match="outside its registry"):
        reg.remove("coef", "1.0.0")
    assert victim.is_dir()


# -- concurrency ------------------------------------------------------------------------------


def _churn(root: str, checkpoint: str, worker: int) -> None:
    """Register two versions, promote one, alias it, remove the other."""
    reg = ModelRegistry(root)
    a = reg.register("shared", checkpoint, onnx=False, source={"worker": worker})
    b = reg.register("shared", checkpoint, onnx=False, source={"worker": worker})
    reg.promote("shared", a["version"], "staging")
    reg.promote("shared", a["version"], alias=f"w{worker}")
    reg.remove("shared", b["version"])


@pytest.mark.slow
def test_concurrent_promote_and_remove_keep_the_index_sound(tmp_path: Path) -> None:
    _, checkpoint = make_checkpoint(tmp_path / "ckpt", ARCH)
    root = tmp_path / "models"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_churn, args=(str(root), str(checkpoint), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    reg = ModelRegistry(root)
    index = _assert_index_sound(reg)
    entries = index["models"]["shared"]
    assert len(entries) == 4  # 8 registered, 4 removed
    assert sorted(a for e in entries for a in e["aliases"]) == ["w0", "w1", "w2", "w3"]
    assert sum(e["stage"] == "staging" for e in entries) == 1
    versions = [e["version"] for e in entries]
    assert len(set(versions)) == 4


# -- the commands -----------------------------------------------------------------------------


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_cli_show(three: tuple[ModelRegistry, list[torch.nn.Module]]) -> None:
    reg, _ = three
    root = str(reg.root)
    reg.promote("coef", "1.1.0", "production")
    code, out = _cli("registry", "show", "coef@production", "--root", root)
    assert code == 0, out
    assert "coef v1.1.0" in out and "production" in out and ARCH in out
    assert "versions       1.0.0, 1.1.0, 1.2.0" in out
    assert "model.pt" in out and "val_loss" in out
    code, out = _cli("registry", "show", "coef:1.0.0", "--root", root, "--json")
    data = json.loads(out)
    assert data["version"] == "1.0.0" and data["stage"] == "none" and "config" not in data
    assert Path(data["folder"]) == reg.root / "coef" / "1.0.0"


def test_cli_promote_and_remove(three: tuple[ModelRegistry, list[torch.nn.Module]]) -> None:
    reg, _ = three
    root = str(reg.root)
    code, out = _cli("registry", "promote", "coef:1.0.0", "production", "--root", root)
    assert code == 0 and "coef v1.0.0 -> production" in out
    code, out = _cli("registry", "promote", "coef:1.2.0", "production", "--root", root)
    assert code == 0 and "coef v1.2.0 -> production (was v1.0.0)" in out
    code, out = _cli("registry", "promote", "coef:1.0.0", "--alias", "old", "--root", root)
    assert code == 0 and "-> old" in out
    code, out = _cli("registry", "list", "--root", root)
    assert "[production]" in out and "[archived, @old]" in out
    code, out = _cli("registry", "remove", "coef:1.2.0", "--root", root)
    assert code == 2 and "is in production" in out
    code, out = _cli("registry", "remove", "coef@old", "--root", root)
    assert code == 0 and "removed coef v1.0.0" in out
    code, out = _cli("registry", "remove", "coef:1.2.0", "--force", "--root", root)
    assert code == 0
    assert [e["version"] for e in reg.list()["coef"]] == ["1.1.0"]
    _assert_index_sound(reg)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("registry", "show", "../x"), "registry name '../x'"),
        (("registry", "show", "coef:9.9.9"), "has no version 9.9.9"),
        (("registry", "promote", "coef", "production"), "name the version"),
        (("registry", "promote", "coef:1.0.0", "prodution"), "did you mean 'production'"),
        (("registry", "promote", "../x:1.0.0", "production"), "registry name '../x'"),
        (("registry", "remove", "coef"), "name the version to remove"),
        (("registry", "remove", "coef:9.9.9"), "has no version 9.9.9"),
        (("registry", "remove", "../../etc:1.0.0"), "registry name"),
    ],
)
def test_cli_errors(
    three: tuple[ModelRegistry, list[torch.nn.Module]], args: tuple[str, ...], message: str
) -> None:
    reg, _ = three
    before = (reg.root / INDEX).read_bytes()
    code, out = _cli(*args, "--root", str(reg.root))
    assert code == 2, out
    assert out.startswith("error: ") and message in out and "Traceback" not in out
    assert (reg.root / INDEX).read_bytes() == before
