"""Property tests (Hypothesis): random mutations of valid files never give a traceback and never
change a file.

Three readers of untrusted input: the YAML config loader, the search-space parser (config ->
Tune domains) and the registry index reader. Each gets valid input mutated at random (bytes
cut, inserted or replaced; JSON values swapped for others of any type; keys dropped); the
property is that it returns or raises RaytrainError (one `error:` line for the CLI) and that
the file it read has the same sha256 afterwards. 50 examples each, so the three stay within
a few seconds.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raytrain.config import load_config, load_config_text
from raytrain.config.search_space import build_search_space
from raytrain.config.yaml_io import load_file
from raytrain.errors import RaytrainError

EXAMPLES = 50
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

VALID_CONFIG = """\
training: {name: props, seed: 3}
model:
  architecture: coefficient_optimizer
  hidden_dims: [8, 8]
  dropout: 0.1
optimizer: {type: adamw, learning_rate: 1e-3}
dataset:
  batch_size: 16
  sample: {num_train: 64, num_val: 16}
search:
  method: random
  num_trials: 3
search_space:
  optimizer.learning_rate: {type: loguniform, min: 1e-4, max: 1e-2}
  model.dropout: {type: uniform, min: 0.0, max: 0.5}
  dataset.batch_size: {type: choice, values: [8, 16]}
quick:
  training_params.num_epochs: 1
"""


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


#: A mutation of a byte string: cut, insert or overwrite a slice, a few times.
_edit = st.tuples(
    st.sampled_from(["cut", "insert", "overwrite"]),
    st.floats(0, 1),
    st.binary(min_size=0, max_size=12)
    | st.sampled_from([b"&a ", b"*a", b"!!python/object:os.system", b"{", b"]", b": ", b"\n  "]),
)


def _mutate(data: bytes, edits: list[tuple[str, float, bytes]]) -> bytes:
    for kind, where, chunk in edits:
        i = int(where * len(data))
        if kind == "cut":
            data = data[:i] + data[i + max(1, len(chunk)) :]
        elif kind == "insert":
            data = data[:i] + chunk + data[i:]
        else:
            data = data[:i] + chunk + data[i + len(chunk) :]
    return data


@SETTINGS
@given(edits=st.lists(_edit, min_size=1, max_size=4))
def test_yaml_loader_never_crashes_or_writes(tmp_path: Path, edits: list[Any]) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(_mutate(VALID_CONFIG.encode(), edits))
    before = _sha(path)
    try:
        load_file(path)
        load_config(path, quick=True)
    except RaytrainError as e:
        assert str(e).strip() and "Traceback" not in str(e)
    assert _sha(path) == before


#: Values a mutated JSON/YAML tree may hold instead of the right one.
_any_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["../x", "/etc", "1.0.0", "coef", "none", "production", "loguniform"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += _paths(v, (*prefix, i))
    return out


def _apply(tree: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    if not path:
        return value
    node = tree
    for part in path[:-1]:
        node = node[part]
    if action == "drop":
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return tree


@st.composite
def _mutated_tree(draw: st.DrawFn, valid: Any) -> Any:
    tree = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(tree)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["drop", "set"])) if path else "set"
        tree = _apply(tree, path, action, draw(_any_value))
    return tree


def _valid_space() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(VALID_CONFIG)


@SETTINGS
@given(data=st.data())
def test_search_space_parser_never_crashes(data: st.DataObject) -> None:
    raw = data.draw(_mutated_tree({"search_space": _valid_space()["search_space"]}))
    base = {k: v for k, v in _valid_space().items() if k != "search_space"}
    if isinstance(raw, dict):
        base.update(raw)
    import yaml

    text = yaml.safe_dump(base)
    try:
        cfg = load_config_text(text)
        build_search_space(cfg)
    except RaytrainError as e:
        assert str(e).strip()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from unit_helpers import make_checkpoint

    from raytrain.artifacts.registry import ModelRegistry

    root = tmp_path_factory.mktemp("props")
    _, ckpt = make_checkpoint(root / "ckpt", "coefficient_optimizer")
    reg = ModelRegistry(root / "models")
    reg.register("coef", ckpt, onnx=False)
    reg.register("coef", ckpt, onnx=False)
    reg.promote("coef", "1.1.0", stage="production", alias="champion")
    return root / "models"


def _cli(*argv: str) -> None:
    """A CLI command in-process: exit 0, or 2 with one `error:` line; anything else raises."""
    from click.testing import CliRunner

    from raytrain.cli.app import main

    result = CliRunner().invoke(main, list(argv))
    if result.exit_code == 2:
        assert result.output.startswith("error: ") and "Traceback" not in result.output
        return
    assert result.exit_code == 0, (result.output, result.exception)


@SETTINGS
@given(data=st.data())
def test_registry_index_reader_never_crashes_or_writes(registry: Path, data: st.DataObject) -> None:
    from raytrain.artifacts.registry import INDEX, ModelRegistry

    valid = json.loads((registry / INDEX).read_text())
    mutated = data.draw(_mutated_tree(valid))
    as_bytes = data.draw(st.booleans())
    text = json.dumps(mutated).encode()
    if as_bytes:  # byte-level damage as well: a truncated or spliced file
        text = _mutate(text, data.draw(st.lists(_edit, min_size=1, max_size=3)))
    (registry / INDEX).write_bytes(text)
    try:
        before = {p: _sha(p) for p in registry.rglob("*") if p.is_file()}
        reg = ModelRegistry(registry)
        for call in (
            lambda: reg.list(),
            lambda: reg.get("coef"),
            lambda: reg.resolve("coef@production"),
            lambda: reg.labels("coef"),
            lambda: reg.path_of(reg.get("coef", "1.0.0")),
            lambda: _cli("registry", "list", "--root", str(registry)),
            lambda: _cli("registry", "show", "coef@production", "--root", str(registry)),
        ):
            try:
                call()
            except RaytrainError as e:
                assert str(e).strip()
        assert {p: _sha(p) for p in registry.rglob("*") if p.is_file()} == before
    finally:
        (registry / INDEX).write_text(json.dumps(valid))
