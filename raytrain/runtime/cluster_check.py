"""Preflight for a cluster config (`raytrain cluster check cluster/gpu.yaml`), before `ray up`
or `kubectl apply`: what would otherwise fail minutes into a cluster's start, or start a
cluster that cannot work.

Checked, in order, and the first problem is the error (naming the file, line and key):

1. the file reads as YAML;
2. no value still holds a placeholder of the shipped configs (`REPLACE-ME`, `YOUR-...`):
   a security group, an EFS id, a bucket, a project, an image;
3. a cluster-launcher config passes Ray's own checks (Ray's JSON schema, then the defaults
   merged in and `validate_config`, as `ray up` does before it calls a cloud);
4. the files it copies to the nodes exist here (`file_mounts` sources, `auth.ssh_private_key`),
   the Ray token (`~/.ray/auth_token`) included.

Nothing is started and no cloud is called.
"""

from __future__ import annotations

import copy
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from raytrain.errors import RaytrainError

#: How the shipped configs mark what the user must fill in.
PLACEHOLDER = re.compile(r"REPLACE-ME|\bYOUR-[A-Z][A-Z-]*[A-Z]\b")


@dataclass
class Leaf:
    key: str  # dotted path, list items as [i]
    line: int  # 1-based
    value: str


def _leaves(node: yaml.Node, path: str = "") -> list[Leaf]:
    if isinstance(node, yaml.MappingNode):
        out = []
        for k, v in node.value:
            key = f"{path}.{k.value}" if path else str(k.value)
            out += _leaves(v, key)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [leaf for i, item in enumerate(node.value) for leaf in _leaves(item, f"{path}[{i}]")]
    return [Leaf(path, node.start_mark.line + 1, str(node.value))]


def _read(path: Path) -> tuple[list[Any], list[yaml.Node]]:
    try:
        text = path.read_text()
    except OSError as e:
        raise RaytrainError(f"{path}: cannot read ({e.strerror})") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
        nodes = [n for n in yaml.compose_all(text, Loader=yaml.SafeLoader) if n is not None]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise RaytrainError(f"{path}{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if not docs or not all(isinstance(d, dict) for d in docs):
        raise RaytrainError(f"{path}: not a cluster config (expected a YAML mapping)")
    return docs, nodes


def check_placeholders(path: Path, nodes: list[yaml.Node]) -> None:
    lines = path.read_text().splitlines()
    for node in nodes:
        for leaf in _leaves(node):
            found = PLACEHOLDER.search(leaf.value)
            if found:
                # a folded or multi-line value starts above the line that holds the placeholder
                line = next(
                    (i + 1 for i in range(leaf.line - 1, len(lines)) if found.group(0) in lines[i]),
                    leaf.line,
                )
                value = leaf.value if len(leaf.value) <= 60 else leaf.value[:57] + "..."
                shown = f" in {value!r}" if value != found.group(0) else ""
                raise RaytrainError(
                    f"{path}:{line}: {leaf.key}: still the placeholder "
                    f"'{found.group(0)}'{shown}; put in your own value (the comments at the "
                    f"top of the file say what it is)"
                )


def _launcher_checks(path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    import json

    import jsonschema
    import ray.autoscaler
    from ray.autoscaler._private.util import prepare_config, validate_config

    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    ray_log = logging.getLogger("ray.autoscaler")
    level = ray_log.level
    ray_log.setLevel(logging.WARNING)  # Ray's notes on the defaults it merges in
    try:
        jsonschema.validate(raw, schema)
        prepared = prepare_config(copy.deepcopy(raw))
        validate_config(prepared)
    except jsonschema.ValidationError as e:
        key = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        raise RaytrainError(f"{path}: {key}: {e.message} (Ray's cluster-config schema)") from None
    except ValueError as e:
        raise RaytrainError(f"{path}: {e}") from None
    finally:
        ray_log.setLevel(level)
    return prepared


def _local_files(path: Path, raw: dict[str, Any]) -> None:
    for remote, local in (raw.get("file_mounts") or {}).items():
        source = Path(os.path.expanduser(str(local)))
        if not source.is_absolute():
            source = Path.cwd() / source  # `ray up` resolves these from where it runs
        if not source.exists():
            hint = (
                " (make it with `ray get-auth-token --generate`)"
                if str(local).endswith(".ray/auth_token")
                else ""
            )
            raise RaytrainError(
                f"{path}: file_mounts.{remote}: {local} does not exist on this machine{hint}"
            )
    key = (raw.get("auth") or {}).get("ssh_private_key")
    if key and not Path(os.path.expanduser(str(key))).exists():
        raise RaytrainError(f"{path}: auth.ssh_private_key: {key} does not exist")


def check_cluster_config(path: str | Path) -> str:
    """Check one file of `cluster/` (see the module docstring); one line saying what it is,
    or a `RaytrainError` naming the first problem."""
    path = Path(path)
    docs, nodes = _read(path)
    check_placeholders(path, nodes)
    kinds = [d.get("kind") for d in docs]
    if any(kinds):  # KubeRay manifests: the operator validates the rest when applied
        names = ", ".join(f"{d.get('kind')}/{(d.get('metadata') or {}).get('name')}" for d in docs)
        return f"{path}: ok (Kubernetes manifests: {names})"
    (raw,) = docs[:1]
    prepared = _launcher_checks(path, raw)
    _local_files(path, raw)
    provider = prepared["provider"]["type"]
    types = ", ".join(sorted(prepared["available_node_types"]))
    name = prepared["cluster_name"]
    return f"{path}: ok (cluster {name}, provider {provider}, node types {types})"
