"""YAML -> ExperimentConfig: values, overrides, and errors that name file, line and key path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from raytrain.config import SHORT_NAMES, load_config, load_config_text, resolve_path
from raytrain.config.yaml_io import loads
from raytrain.errors import RaytrainError
from raytrain.models import list_models

REPO = Path(__file__).resolve().parents[2]
SEARCH_SPACES = sorted((REPO / "search_spaces").glob("*.yaml"))
UNET_YAML = REPO / "search_spaces" / "unet.yaml"

BASE = "model:\n  architecture: unet\n"


def _write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _error(path: Path, **kwargs: object) -> str:
    with pytest.raises(RaytrainError) as info:
        load_config(path, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def _assert_names(msg: str, path: Path, line: int | None, key: str | None) -> None:
    """The message starts with 'FILE:LINE:' and names the key path."""
    prefix = f"{path}:{line}:" if line is not None else f"{path}:"
    assert msg.startswith(prefix), msg
    if key is not None:
        assert re.search(rf"(^|\s){re.escape(key)}:", msg), msg


# -- values ---------------------------------------------------------------------------------


def test_exponent_without_dot_is_a_float() -> None:
    # The seed writes `1e-5`; YAML 1.1 (PyYAML) would read a string and fail validation.
    data, _ = loads("a: 1e-5\nb: 1E5\nc: -2.5e-3\nd: 1e5x\ne: 3\nf: .5\n")
    assert data == {"a": 1e-5, "b": 1e5, "c": -2.5e-3, "d": "1e5x", "e": 3, "f": 0.5}
    assert isinstance(data["a"], float) and isinstance(data["e"], int)
    cfg = load_config_text(BASE + "optimizer:\n  weight_decay: 1e-5\n  learning_rate: 3e-4\n")
    assert cfg.optimizer.weight_decay == pytest.approx(1e-5)
    assert cfg.optimizer.learning_rate == pytest.approx(3e-4)


def test_line_numbers_of_nested_keys() -> None:
    _, lines = loads("a:\n  b: 1\n  c:\n    - x\n    - y\nd: 2\n")
    assert lines[("a",)] == 1 and lines[("a", "b")] == 2 and lines[("a", "c", "1")] == 5
    assert lines[("d",)] == 6


def test_unet_yaml_values() -> None:
    cfg = load_config(UNET_YAML)
    assert cfg.model.architecture.lower() == "unet"
    assert cfg.optimizer.weight_decay == pytest.approx(1e-5)
    assert cfg.search_space["learning_rate"].low == pytest.approx(1e-4)
    assert cfg.training_params.num_epochs == 12


# -- errors: each names the file, the line and the key path -----------------------------------


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "optimizer:\n  learning_rate: [1e-3\n  type: Adam\n")
    msg = _error(path)
    _assert_names(msg, path, 5, None)
    assert "YAML syntax error" in msg


def test_python_tag_is_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    path = _write(
        tmp_path, BASE + f"training:\n  name: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    msg = _error(path)
    _assert_names(msg, path, 4, None)
    assert "unsupported YAML tag" in msg
    assert not marker.exists()


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "trainng:\n  name: x\n")
    msg = _error(path)
    _assert_names(msg, path, 3, "trainng")
    assert "did you mean 'training'" in msg


def test_unknown_nested_key_did_you_mean(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "training_params:\n  num_epochs: 2\n  early_stoping: 3\n")
    msg = _error(path)
    _assert_names(msg, path, 5, "training_params.early_stoping")
    assert "did you mean 'early_stopping_patience'" in msg


def test_unknown_search_param_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "search_space:\n  dropout:\n    type: uniform\n    lo: 0.0\n    high: 0.2\n",
    )
    msg = _error(path)
    _assert_names(msg, path, 6, "search_space.dropout.lo")
    assert "did you mean 'low'" in msg


def test_wrong_type(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "dataset:\n  batch_size: big\n")
    msg = _error(path)
    _assert_names(msg, path, 4, "dataset.batch_size")
    assert "'big'" in msg


def test_out_of_range(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "optimizer:\n  type: Adam\n  learning_rate: 20\n")
    msg = _error(path)
    _assert_names(msg, path, 5, "optimizer.learning_rate")
    assert "20" in msg


def test_unknown_architecture_lists_registered(tmp_path: Path) -> None:
    path = _write(tmp_path, "training:\n  name: x\nmodel:\n  architecture: unett\n")
    msg = _error(path)
    _assert_names(msg, path, 4, "model.architecture")
    assert "did you mean 'unet'" in msg
    for name in list_models():
        assert name in msg


def test_unknown_model_parameter_did_you_mean(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "  depth: 2\n  base_filter: 8\n")
    msg = _error(path)
    _assert_names(msg, path, 4, "model.base_filter")
    assert "did you mean 'base_filters'" in msg


def test_model_parameter_out_of_range(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "  dropout: 1.5\n")
    msg = _error(path)
    _assert_names(msg, path, 3, "model.dropout")


def test_every_problem_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "dataset:\n  batch_size: 0\noptimizer:\n  learning_rat: 1\n")
    lines = _error(path).splitlines()
    assert len(lines) == 2
    assert any(ln.startswith(f"{path}:4: dataset.batch_size:") for ln in lines)
    assert any(ln.startswith(f"{path}:6: optimizer.learning_rat:") for ln in lines)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    msg = _error(path)
    assert msg == f"{path}: no such file"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text)
    assert _error(path) == f"{path}: the file is empty"


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path, "- model\n- unet\n")
    assert _error(path).startswith(f"{path}: the top level must be a mapping")


def test_missing_model_section(tmp_path: Path) -> None:
    path = _write(tmp_path, "training:\n  name: x\n")
    assert "model: required key is missing" in _error(path)


# -- overrides ------------------------------------------------------------------------------


def test_quick_overrides_are_applied_only_with_quick() -> None:
    full = load_config(UNET_YAML)
    quick = load_config(UNET_YAML, quick=True)
    assert (full.search.num_trials, quick.search.num_trials) == (16, 4)
    assert (full.training_params.num_epochs, quick.training_params.num_epochs) == (12, 4)
    assert (full.dataset.sample.num_train, quick.dataset.sample.num_train) == (1024, 256)
    assert quick.tune.grace_period == 1


def test_dotted_overrides_and_short_names() -> None:
    cfg = load_config(
        UNET_YAML,
        overrides={
            "learning_rate": 3e-4,
            "batch_size": 8,
            "dropout": 0.25,
            "weight_decay": 0.01,
            "optimizer.type": "sgd",
            "training_params.gradient_clip": 1.5,
        },
    )
    assert cfg.optimizer.learning_rate == pytest.approx(3e-4)
    assert cfg.dataset.batch_size == 8
    assert cfg.model.params()["dropout"] == pytest.approx(0.25)
    assert cfg.optimizer.weight_decay == pytest.approx(0.01)
    assert cfg.optimizer.type == "SGD"  # case-insensitive, canonical spelling
    assert cfg.training_params.gradient_clip == pytest.approx(1.5)


def test_overrides_win_over_quick() -> None:
    cfg = load_config(UNET_YAML, quick=True, overrides={"epochs": 2})
    assert cfg.training_params.num_epochs == 2


def test_short_names_resolve_to_config_fields() -> None:
    assert resolve_path("learning_rate") == "optimizer.learning_rate"
    assert resolve_path("batch_size") == "dataset.batch_size"
    assert resolve_path("dropout") == "model.dropout"
    assert resolve_path("weight_decay") == "optimizer.weight_decay"
    assert resolve_path("optimizer.eps") == "optimizer.eps"
    for short, path in SHORT_NAMES.items():
        assert resolve_path(short) == path


def test_bad_override_value_names_key(tmp_path: Path) -> None:
    msg = _error(UNET_YAML, overrides={"batch_size": 0})
    assert msg.startswith(f"{UNET_YAML}:") and "dataset.batch_size:" in msg


def test_override_into_a_value_is_an_error() -> None:
    with pytest.raises(RaytrainError, match=r"optimizer\.learning_rate\.x"):
        load_config(UNET_YAML, overrides={"optimizer.learning_rate.x": 1})


def test_quick_typo_points_at_quick_entry(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "training_params:\n  num_epochs: 3\nquick:\n  training_params.num_epoch: 2\n",
    )
    msg = _error(path, quick=True)
    assert msg.startswith(f"{path}:6:"), msg


# -- every shipped search space loads and dry-runs ----------------------------------------------


def test_search_spaces_exist() -> None:
    assert UNET_YAML in SEARCH_SPACES


@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
@pytest.mark.parametrize("path", SEARCH_SPACES, ids=lambda p: p.name)
def test_shipped_search_space_dry_runs(
    path: Path, quick: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray

    monkeypatch.chdir(tmp_path)  # output_dir is relative: plan in an empty folder
    ray_was_up = ray.is_initialized()  # other tests in this session may have started it

    from raytrain.tune.plan import plan_search

    text = path.read_text()
    assert text.startswith("# raytrain "), f"{path.name}: first line must be the command"
    cfg = load_config(path, quick=quick)
    gpus = 0.0
    if cfg.resources.use_gpu:  # a GPU config is planned for a cluster that has the GPUs
        gpus = cfg.resources.num_workers * cfg.resources.gpus_per_worker
    plan = plan_search(cfg, cluster_cpus=2, cluster_gpus=gpus)
    assert ray.is_initialized() == ray_was_up  # planning never starts Ray
    assert plan.num_samples >= 1 and plan.resources.max_concurrent_trials >= 1
    assert plan.experiment_dir.is_absolute()
    assert not plan.experiment_dir.exists()
    assert set(plan.space.param_space) == set(plan.space.entries)
    assert len(plan.space.entries) == len(cfg.search_space)
    assert plan.metric.startswith("val_") or cfg.search.metric == plan.metric
    assert plan.mode in ("min", "max")
    text = plan.describe()
    for entry_path in plan.space.entries:
        assert entry_path in text
    if quick and cfg.quick:
        full = load_config(path)
        assert cfg.model_dump() != full.model_dump()
