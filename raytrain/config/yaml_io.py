"""Safe YAML reading that remembers where every key was written.

Two problems with plain `yaml.safe_load` for configs:
- PyYAML follows YAML 1.1, which reads `1e-5` (no dot) as a *string*; many hand-written configs are
  written that way. We add a float resolver for YAML 1.2 style exponents.
- Error messages should point at a line. We compose the node graph once and keep a map from key
  path (tuple of keys) to the 1-based line of that key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from raytrain.errors import RaytrainError

_FLOAT_12 = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _Loader(yaml.SafeLoader):
    """SafeLoader (no `!!python/...` tags) that reads `1e-5` as a float."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:float"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))

KeyLines = dict[tuple[str, ...], int]


def _collect_lines(node: yaml.Node, path: tuple[str, ...], out: KeyLines) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*path, str(key_node.value))
            out[key] = key_node.start_mark.line + 1
            _collect_lines(value_node, key, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            key = (*path, str(i))
            out[key] = item.start_mark.line + 1
            _collect_lines(item, key, out)


def loads(text: str, source: str = "<string>") -> tuple[Any, KeyLines]:
    """Parse YAML text; return the data and a map key-path -> line number."""
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.constructor.ConstructorError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else "?"
        raise RaytrainError(
            f"{source}:{line}: unsupported YAML tag ({e.problem}); only plain YAML is accepted"
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise RaytrainError(f"{where}: YAML syntax error: {problem}") from None
    lines: KeyLines = {}
    if node is not None:
        _collect_lines(node, (), lines)
    return data, lines


def load_file(path: str | Path) -> tuple[Any, KeyLines]:
    """Read a YAML file, with clear errors for a missing or unreadable file."""
    p = Path(path)
    if not p.exists():
        raise RaytrainError(f"{p}: no such file")
    if p.is_dir():
        raise RaytrainError(f"{p}: is a directory, expected a YAML file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RaytrainError(f"{p}: cannot read: {e}") from None
    return loads(text, source=str(p))
