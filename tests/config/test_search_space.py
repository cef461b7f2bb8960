"""`search_space:` entries -> Ray Tune domains, short names, and errors naming the entry."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from ray.tune.search.sample import Categorical, Float, Integer, Quantized

from raytrain.config import load_config_text
from raytrain.config.search_space import SearchSpace, build_search_space
from raytrain.errors import RaytrainError

MLP = "model:\n  architecture: coefficient_optimizer\n  hidden_dims: [8, 4]\n"


def _space(entries: str, base: str = MLP, method: str = "random") -> SearchSpace:
    cfg = load_config_text(f"{base}search:\n  method: {method}\nsearch_space:\n{entries}")
    return build_search_space(cfg)


def _domain(entry: str, key: str = "x") -> Any:
    """The single domain of a one-entry space whose YAML key is `key`."""
    space = _space(f"  {key}: {entry}\n")
    assert len(space.param_space) == 1
    return next(iter(space.param_space.values()))


def _samples(domain: Any, n: int = 400) -> list[Any]:
    return list(domain.sample(size=n, random_state=np.random.default_rng(0)))


def _error(entries: str, base: str = MLP) -> str:
    with pytest.raises(RaytrainError) as info:
        _space(entries, base)
    return str(info.value)


# -- each entry type -> the right domain -----------------------------------------------------


def test_loguniform() -> None:
    d = _domain("{type: loguniform, low: 1e-5, high: 1e-1}", "learning_rate")
    assert isinstance(d, Float) and isinstance(d.get_sampler(), Float._LogUniform)
    assert (d.lower, d.upper) == pytest.approx((1e-5, 1e-1))
    s = np.array(_samples(d))
    assert s.min() >= 1e-5 and s.max() <= 1e-1
    # log-uniform: about half the samples fall below the geometric middle 1e-3
    assert 0.35 < (s < 1e-3).mean() < 0.65


def test_uniform() -> None:
    d = _domain("{type: uniform, low: 0.0, high: 0.5}", "dropout")
    assert isinstance(d, Float) and isinstance(d.get_sampler(), Float._Uniform)
    assert (d.lower, d.upper) == (0.0, 0.5)


def test_float_with_log() -> None:
    d = _domain("{type: float, low: 1e-6, high: 1e-2, log: true}", "weight_decay")
    assert isinstance(d, Float) and isinstance(d.get_sampler(), Float._LogUniform)
    assert (d.lower, d.upper) == pytest.approx((1e-6, 1e-2))


def test_float_with_step() -> None:
    d = _domain("{type: float, low: 0.0, high: 0.9, step: 0.1}", "optimizer.momentum")
    sampler = d.get_sampler()
    assert isinstance(d, Float) and isinstance(sampler, Quantized)
    assert sampler.q == pytest.approx(0.1) and isinstance(sampler.sampler, Float._Uniform)
    for v in _samples(d):
        assert 0.0 <= v <= 0.9 + 1e-9
        assert v / 0.1 == pytest.approx(round(v / 0.1), abs=1e-6)


def test_float_with_log_and_step_is_refused() -> None:
    # Ray's Optuna conversion silently drops the step of a log range: refuse it instead.
    with pytest.raises(RaytrainError, match="step"):
        _domain("{type: float, low: 1e-8, high: 1e-6, log: true, step: 1e-8}", "optimizer.eps")


def test_int_includes_high() -> None:
    d = _domain("{type: int, low: 8, high: 12}", "batch_size")
    assert isinstance(d, Integer) and isinstance(d.get_sampler(), Integer._Uniform)
    # Tune's randint excludes `upper`; the YAML's high is inclusive (Optuna's convention)
    assert (d.lower, d.upper) == (8, 13)
    assert set(_samples(d)) == {8, 9, 10, 11, 12}


def test_int_log() -> None:
    d = _domain("{type: int, low: 1, high: 8, log: true}", "training_params.save_frequency")
    assert isinstance(d, Integer) and isinstance(d.get_sampler(), Integer._LogUniform)
    assert set(_samples(d)) == set(range(1, 9))


def test_int_needs_whole_numbers() -> None:
    msg = _error("  batch_size: {type: int, low: 8.5, high: 16}\n")
    assert "batch_size" in msg and "whole numbers" in msg


def test_int_needs_whole_numbers_names_yaml_key() -> None:
    msg = _error("  batch_size: {type: int, low: 8.5, high: 16}\n")
    assert msg.startswith("search_space.batch_size:"), msg


def test_categorical_scalars() -> None:
    space = _space("  optimizer: {type: categorical, choices: [Adam, SGD, AdamW]}\n")
    d = space.param_space["optimizer.type"]
    assert isinstance(d, Categorical) and d.categories == ["Adam", "SGD", "AdamW"]
    assert space.by_index == {}
    assert space.decode({"optimizer.type": "SGD"}) == {"optimizer.type": "SGD"}


def test_categorical_lists_are_searched_by_index() -> None:
    space = _space(
        "  hidden_dims: {type: categorical, choices: [[8], [16, 8], [32, 16, 8]]}\n"
        "  learning_rate: {type: loguniform, low: 1e-4, high: 1e-2}\n"
    )
    d = space.param_space["model.hidden_dims"]
    assert isinstance(d, Categorical) and d.categories == [0, 1, 2]
    assert space.by_index["model.hidden_dims"] == [[8], [16, 8], [32, 16, 8]]
    decoded = space.decode({"model.hidden_dims": 1, "optimizer.learning_rate": 0.003})
    assert decoded == {"model.hidden_dims": [16, 8], "optimizer.learning_rate": 0.003}


def test_choice_alias() -> None:
    d = _domain("{type: choice, choices: [8, 16]}", "batch_size")
    assert isinstance(d, Categorical) and d.categories == [8, 16]


def test_grid() -> None:
    space = _space(
        "  gradient_clip: {type: grid, values: [0.5, 1.0, 2.0]}\n"
        "  hidden_dims: {type: grid, values: [[8], [8, 4]]}\n"
    )
    assert space.param_space["training_params.gradient_clip"] == {"grid_search": [0.5, 1.0, 2.0]}
    assert space.param_space["model.hidden_dims"] == {"grid_search": [0, 1]}
    assert space.has_grid and space.grid_size() == 6
    assert space.decode({"model.hidden_dims": 1}) == {"model.hidden_dims": [8, 4]}


def test_short_and_dotted_names_resolve() -> None:
    space = _space(
        "  learning_rate: {type: loguniform, low: 1e-4, high: 1e-2}\n"
        "  batch_size: {type: categorical, choices: [8, 16]}\n"
        "  dropout: {type: uniform, low: 0.0, high: 0.3}\n"
        "  weight_decay: {type: loguniform, low: 1e-6, high: 1e-3}\n"
        "  optimizer.eps: {type: loguniform, low: 1e-9, high: 1e-7}\n"
    )
    assert list(space.param_space) == [
        "optimizer.learning_rate",
        "dataset.batch_size",
        "model.dropout",
        "optimizer.weight_decay",
        "optimizer.eps",
    ]
    assert list(space.entries) == list(space.param_space)


def test_empty_space() -> None:
    space = _space("  {}\n")
    assert space.param_space == {} and not space.has_grid and space.grid_size() == 1


# -- invalid entries name search_space.<key> ----------------------------------------------------


def test_dropout_out_of_range() -> None:
    msg = _error("  dropout: {type: uniform, low: 0.1, high: 1.5}\n")
    assert msg.startswith("search_space.dropout:")
    assert "1.5" in msg and "model.dropout" in msg


def test_key_that_is_not_a_config_field() -> None:
    msg = _error("  learning_rat: {type: uniform, low: 0.1, high: 0.2}\n")
    assert msg.startswith("search_space.learning_rat:")
    assert "unknown key" in msg


def test_unknown_model_parameter_key() -> None:
    msg = _error("  model.depth: {type: int, low: 1, high: 3}\n")
    assert msg.startswith("search_space.model.depth:")


def test_low_not_below_high() -> None:
    with pytest.raises(RaytrainError, match=r"search_space\.dropout: .*must be below"):
        _space("  dropout: {type: uniform, low: 0.3, high: 0.3}\n")


def test_log_range_needs_positive_low() -> None:
    with pytest.raises(RaytrainError, match=r"search_space\.learning_rate: .*'low' > 0"):
        _space("  learning_rate: {type: loguniform, low: 0.0, high: 0.1}\n")


def test_empty_choices() -> None:
    with pytest.raises(RaytrainError, match=r"search_space\.batch_size: .*non-empty"):
        _space("  batch_size: {type: categorical, choices: []}\n")


def test_empty_grid() -> None:
    with pytest.raises(RaytrainError, match=r"search_space\.batch_size: .*non-empty"):
        _space("  batch_size: {type: grid, values: []}\n")


def test_invalid_choice_is_named() -> None:
    msg = _error("  batch_size: {type: categorical, choices: [8, 0]}\n")
    assert msg.startswith("search_space.batch_size: value 0")


def test_unknown_type() -> None:
    with pytest.raises(RaytrainError, match=r"search_space\.batch_size\.type"):
        _space("  batch_size: {type: normal, low: 1, high: 2}\n")


def test_same_field_twice() -> None:
    msg = _error(
        "  learning_rate: {type: loguniform, low: 1e-4, high: 1e-2}\n"
        "  optimizer.learning_rate: {type: loguniform, low: 1e-4, high: 1e-2}\n"
    )
    assert msg.startswith("search_space.optimizer.learning_rate:") and "twice" in msg


def test_search_settings_cannot_be_searched() -> None:
    msg = _error("  num_trials: {type: int, low: 1, high: 4}\n")
    assert msg.startswith("search_space.num_trials:") and "cannot be searched" in msg


def test_step_not_dividing_bounds_is_a_raytrain_error() -> None:
    with pytest.raises(RaytrainError, match=r"search_space\.dropout"):
        _space("  dropout: {type: float, low: 0.05, high: 0.25, step: 0.1}\n")


def test_int_step_must_divide_the_bounds() -> None:
    # Tune's qrandint samples multiples of the step while Optuna counts from low; requiring the
    # step to divide both bounds makes the two agree, so a YAML means the same under any sampler.
    d = _domain("{type: int, low: 2, high: 8, step: 2}", "training_params.save_frequency")
    assert set(_samples(d)) <= {2, 4, 6, 8}
    with pytest.raises(RaytrainError, match="int step"):
        _domain("{type: int, low: 1, high: 8, step: 2}", "training_params.save_frequency")
