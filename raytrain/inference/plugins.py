"""`plugins.yaml`: registered models configured as an application's plugins.

    plugins:
      edge_detectors:
        - name: my-custom-edge-detector
          enabled: true
          config:
            model_path: models/edge_v1.0.0.pth    # or edge:1.0.0, or models/edge/1.0.0
            threshold: 0.5
            input_size: [64, 64]
            use_gpu: true

Each enabled entry becomes an initialized `Predictor` named after the entry. The file is
checked whole before anything is returned: a typo in a category or key, a model that does not
exist or is of the wrong type stops loading with a message naming the file, line and entry,
because an application that silently runs without its tamper detector is worse than one that
refuses to start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raytrain.artifacts.registry import INDEX
from raytrain.config.yaml_io import KeyLines, load_file
from raytrain.errors import PluginError, RaytrainError, did_you_mean
from raytrain.inference.predictor import Predictor
from raytrain.inference.source import looks_like_path

#: plugins.yaml category -> the task its models must solve.
CATEGORIES: dict[str, str] = {
    "edge_detectors": "edges",
    "coefficient_optimizers": "regression",
    "anomaly_detectors": "anomaly",
    "classifiers": "classification",
}
ENTRY_KEYS = ("name", "enabled", "config")


def _where(path: Path, lines: KeyLines, *key: str) -> str:
    line = lines.get(tuple(key))
    return f"{path}:{line}" if line else str(path)


def _categories(data: Any, path: Path, lines: KeyLines) -> dict[str, Any]:
    if not isinstance(data, dict) or "plugins" not in data:
        raise PluginError(f"{path}: expected a top-level 'plugins:' mapping")
    extra = [k for k in data if k != "plugins"]
    if extra:
        raise PluginError(
            f"{_where(path, lines, str(extra[0]))}: unknown top-level key "
            f"'{extra[0]}'; only 'plugins' is read"
        )
    cats = data["plugins"] or {}
    if not isinstance(cats, dict):
        raise PluginError(
            f"{_where(path, lines, 'plugins')}: 'plugins' must be a mapping of "
            f"categories ({', '.join(CATEGORIES)})"
        )
    for cat in cats:
        if cat not in CATEGORIES:
            raise PluginError(
                f"{_where(path, lines, 'plugins', str(cat))}: unknown plugin "
                f"category '{cat}'{did_you_mean(str(cat), CATEGORIES)}; "
                f"known: {', '.join(CATEGORIES)}"
            )
    return cats


def _entry(item: Any, where: str, label: str) -> tuple[str, bool, dict[str, Any]]:
    """(name, enabled, config) of one list item, with its mistakes named."""
    if not isinstance(item, dict):
        raise PluginError(f"{where}: {label}: expected a mapping with name, enabled, config")
    for k in item:
        if k not in ENTRY_KEYS:
            raise PluginError(
                f"{where}: {label}: unknown key '{k}'"
                f"{did_you_mean(str(k), ENTRY_KEYS)}; known: "
                f"{', '.join(ENTRY_KEYS)}"
            )
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PluginError(f"{where}: {label}: needs a 'name' (a non-empty string)")
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise PluginError(f"{where}: {label} '{name}': enabled must be true or false")
    config = item.get("config")
    if not isinstance(config, dict) or "model_path" not in config:
        raise PluginError(f"{where}: {label} '{name}': needs a 'config' mapping with model_path")
    return name, enabled, dict(config)


def _relative_to(config: dict[str, Any], yaml_dir: Path) -> dict[str, Any]:
    """A relative model path is read from the current folder (as in a typical application,
    where the file sits in config/ and names models/...), else from the YAML file's folder."""
    ref = str(config["model_path"])
    p = Path(ref).expanduser()
    if not looks_like_path(ref) or p.is_absolute() or _findable(p):
        return config
    if _findable(yaml_dir / p):
        return {**config, "model_path": str(yaml_dir / p)}
    return config


def _findable(p: Path) -> bool:
    """The file or folder exists, or it is the `<registry>/<name>_v<version>.pth`."""
    return p.exists() or (p.parent / INDEX).exists()


def load_plugins(
    path: str | Path, registry_root: str | Path = "models"
) -> dict[str, list[Predictor]]:
    """Category -> initialized plugins (every known category present; disabled entries left
    out). `registry_root` is where bare `name[:version]` model refs are looked up."""
    path = Path(path)
    try:
        data, lines = load_file(path)
    except PluginError:
        raise
    except RaytrainError as e:  # a missing or malformed plugins.yaml
        raise PluginError(str(e)) from None
    cats = _categories(data, path, lines)
    out: dict[str, list[Predictor]] = {c: [] for c in CATEGORIES}
    seen: dict[str, str] = {}
    for cat, items in cats.items():
        if items is None:
            continue
        if not isinstance(items, list):
            raise PluginError(
                f"{_where(path, lines, 'plugins', cat)}: plugins.{cat} must be a list of entries"
            )
        for i, item in enumerate(items):
            where = _where(path, lines, "plugins", cat, str(i))
            label = f"plugins.{cat}[{i}]"
            name, enabled, config = _entry(item, where, label)
            if name in seen:
                raise PluginError(
                    f"{where}: {label}: plugin name '{name}' is already used by {seen[name]}"
                )
            seen[name] = label
            if enabled:
                out[cat].append(_configured(name, cat, config, path, where, label, registry_root))
    return out


def _configured(
    name: str,
    cat: str,
    config: dict[str, Any],
    path: Path,
    where: str,
    label: str,
    registry_root: str | Path,
) -> Predictor:
    plugin = Predictor(name=name)
    plugin.registry_root = Path(registry_root)
    try:
        plugin.initialize(_relative_to(config, path.parent))
    except RaytrainError as e:
        raise PluginError(f"{where}: {label} '{name}': {e}") from None
    if plugin.task != CATEGORIES[cat]:
        kind, ref = plugin.metadata.model_type, plugin.source.ref
        plugin.cleanup()
        raise PluginError(
            f"{where}: {label} '{name}': model '{ref}' is a {kind}, which does not belong in {cat}"
        )
    return plugin


class PluginRegistry:
    """Plugins by name. `register_plugin` takes an initialized plugin (or a class
    whose instances know their metadata); `get_plugin(name)` gives it back."""

    def __init__(self) -> None:
        self._plugins: dict[str, Predictor] = {}

    def register_plugin(self, plugin: Predictor | type[Predictor]) -> Predictor:
        instance = plugin() if isinstance(plugin, type) else plugin
        name = instance.metadata.name
        if name in self._plugins and self._plugins[name] is not instance:
            raise PluginError(f"plugin '{name}' is already registered")
        self._plugins[name] = instance
        return instance

    def get_plugin(self, name: str) -> Predictor:
        if name not in self._plugins:
            known = ", ".join(sorted(self._plugins)) or "none"
            raise PluginError(
                f"no plugin '{name}'{did_you_mean(name, self._plugins)}; registered: {known}"
            )
        return self._plugins[name]

    def list_plugins(self) -> list[str]:
        return sorted(self._plugins)

    @classmethod
    def from_file(cls, path: str | Path, registry_root: str | Path = "models") -> PluginRegistry:
        """Every enabled plugin of a plugins.yaml, initialized and registered."""
        reg = cls()
        for plugins in load_plugins(path, registry_root).values():
            for p in plugins:
                reg.register_plugin(p)
        return reg
