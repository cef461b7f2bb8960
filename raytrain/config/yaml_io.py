"""Safe YAML reading that remembers where every key was written.

Two problems with plain `yaml.safe_load` for configs:
- PyYAML follows YAML 1.1, which reads `1e-5` (no dot) as a *string*; many hand-written configs are
  written that way. We add a float resolver for YAML 1.2 style exponents.
- Error messages should point at a line. We compose the node graph once and keep a map from key
  path (tuple of keys) to the 1-based line of that key.

Untrusted input is bounded: a file over `MAX_BYTES` is refused before it is parsed; a document
whose aliases expand to more than `MAX_NODES` nodes ("billion laughs") or refer to themselves is
refused before anything is built from it; and a key given twice in one mapping is an error
naming both lines (PyYAML silently keeps the last).
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

#: Largest YAML file read (a config is a few KB).
MAX_BYTES = 1 << 20
#: Most nodes a document may expand to, aliases counted each time they are used.
MAX_NODES = 100_000
#: Deepest flow nesting (`[[[...`) read: PyYAML's scanner slows down quadratically with it.
MAX_DEPTH = 100


def _flow_depth_exceeded(text: str) -> bool:
    """Whether `[`/`{` nest deeper than MAX_DEPTH outside quotes and comments (a cheap scan
    done before parsing; plain configs never come close)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    depth, quote, comment = 0, "", False
    for ch in text:
        if comment:
            comment = ch != "\n"
        elif quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            comment = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif ch in "]}":
            depth = max(0, depth - 1)
    return False


def _check_size(node: yaml.Node, source: str) -> None:
    """Refuse a document whose expanded tree (aliases followed) exceeds MAX_NODES, or that
    contains itself. Sizes are memoized per node, so this costs one pass over the graph."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(n: yaml.Node) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise RaytrainError(
                f"{source}:{n.start_mark.line + 1}: YAML alias refers to itself; "
                f"a recursive document is not accepted"
            )
        total = 1
        if isinstance(n, yaml.SequenceNode | yaml.MappingNode):
            active.add(key)
            children = (
                n.value
                if isinstance(n, yaml.SequenceNode)
                else [c for pair in n.value for c in pair]
            )
            for child in children:
                total += size(child)
                if total > MAX_NODES:
                    break
            active.discard(key)
        sizes[key] = total
        if total > MAX_NODES:
            raise RaytrainError(
                f"{source}:{n.start_mark.line + 1}: YAML document expands to more than "
                f"{MAX_NODES} values (nested aliases?); refused"
            )
        return total

    size(node)


def _check_duplicates(node: yaml.Node, source: str, seen: set[int] | None = None) -> None:
    """A key given twice in one mapping: an error naming both lines."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                line = key_node.start_mark.line + 1
                if key_node.value in first:
                    raise RaytrainError(
                        f"{source}:{line}: key '{key_node.value}' is given twice in one "
                        f"mapping (lines {first[key_node.value]} and {line}); keep one"
                    )
                first[key_node.value] = line
            _check_duplicates(value_node, source, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicates(item, source, seen)


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
    if len(text) > MAX_BYTES:
        raise RaytrainError(f"{source}: YAML text over {MAX_BYTES} bytes; refused")
    if _flow_depth_exceeded(text):
        raise RaytrainError(f"{source}: YAML nested too deeply (over {MAX_DEPTH} levels); refused")
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_size(node, source)
                _check_duplicates(node, source)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except RecursionError:
        raise RaytrainError(f"{source}: YAML nested too deeply; refused") from None
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
        if p.stat().st_size > MAX_BYTES:
            raise RaytrainError(f"{p}: over {MAX_BYTES} bytes; not a raytrain YAML file")
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RaytrainError(f"{p}: cannot read: {e}") from None
    return loads(text, source=str(p))
