"""A user's training function named in the YAML (`objective: package.module:function`):
found, imported and checked, with the folder it came from."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from raytrain.errors import RaytrainError


def resolve_objective(spec: str, key: str = "objective") -> Callable[[dict[str, Any]], Any]:
    """`package.module:function` -> the function; a one-line RaytrainError naming `key` when
    the module does not import or the attribute is missing or not callable."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise RaytrainError(f"{key}: '{spec}' must be 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any import failure is the user's to see
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else ""
        raise RaytrainError(
            f"{key}: cannot import module '{module_name}' ({type(e).__name__}: {msg})"
        ) from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise RaytrainError(f"{key}: module '{module_name}' has no attribute '{attr}'")
        target = getattr(target, part)
    if not callable(target):
        raise RaytrainError(f"{key}: '{spec}' is not callable ({type(target).__name__})")
    return target


def module_root(spec: str) -> str | None:
    """The sys.path entry the objective's module was imported from in this process, so that
    trials on this machine import it even where Ray's workers would not find it (a module
    beside a notebook, a test's temp folder); None for an installed or built-in module."""
    import sys

    module = sys.modules.get(spec.partition(":")[0])
    file = getattr(module, "__file__", None)
    if not file:
        return None
    root = Path(file).resolve().parent
    if Path(file).name == "__init__.py":  # a package: its folder's parent
        root = root.parent
    for _ in range(spec.partition(":")[0].count(".")):
        root = root.parent
    return None if "site-packages" in root.parts else str(root)
