"""A function objective for fast searches (instant trials, a known optimum) and a YAML builder
for it; the `quad_module` fixture (tests/conftest.py; `quad_module_once` for a module's tests)
writes it where trials import it, and `run_quad` runs a real search of it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

FUNCTION = '''
import time

from raytrain.tune import report


def quad(config):
    """score peaks at x = 0.3 (higher with each epoch); cost grows with x: a trade-off."""
    for epoch in range(1, config["num_epochs"] + 1):
        time.sleep(config.get("sleep", 0.0))
        score = 1.0 - (config["x"] - 0.3) ** 2 - 0.1 / epoch + 0.01 * (config["kind"] == "b")
        report(epoch=epoch, score=score, cost=config["x"] + 0.001 * config["n"])
'''


def quad_yaml(
    module: str,
    out: Path,
    name: str,
    search: str,
    tune: str = "",
    extra: str = "",
    concurrent: int = 2,
) -> str:
    """A function search over x (float), kind (choice) and n (int) of `quad`."""
    return textwrap.dedent(
        f"""
        training: {{name: {name}, output_dir: {out}, seed: 3}}
        objective: {module}:quad
        training_params: {{num_epochs: 3}}
        search: {{metric: score, direction: maximize, {search}}}
        search_space:
          x: {{type: uniform, low: 0.0, high: 1.0}}
          kind: {{type: categorical, choices: [a, b]}}
          n: {{type: int, low: 1, high: 4}}
        resources: {{cpus_per_worker: 0.25, max_concurrent_trials: {concurrent}}}
        tune: {{scheduler: fifo, {tune}}}
        logging: {{visualizations: false}}
        """
    ) + textwrap.dedent(extra)


def run_quad(
    module: str,
    out: Path,
    name: str,
    search: str,
    tune: str = "",
    extra: str = "",
    concurrent: int = 2,
    edit: dict[str, str] | None = None,
) -> tuple[Any, dict[str, Any], str]:
    """A real search of `quad_yaml(...)` (each `edit` old -> new applied to its text) under
    `out`: (its SearchResult, its summary.json, what it printed)."""
    from raytrain.config import load_config_text
    from raytrain.tune.runner import run_search

    text = quad_yaml(module, out, name, search, tune, extra, concurrent)
    for old, new in (edit or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    lines: list[str] = []
    result = run_search(load_config_text(text), echo=lines.append)
    summary = json.loads((result.experiment_dir / "summary.json").read_text())
    return result, summary, "\n".join(lines)
