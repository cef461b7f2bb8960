"""Config honesty: every key the schema accepts reaches code that uses it.

For each field of `ExperimentConfig` (every section, every nested model), the package source
outside `raytrain/config/schema.py` must read it: an attribute access `.<field>`, a dotted
path `section.field` or a quoted key `"field"`. Fields read another way (through
`model_dump`, a parameter class, a validator that refuses them) are listed in ALLOWED with the
reason; a new field that nothing reads fails here.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

import raytrain
from raytrain.config.schema import ExperimentConfig

PACKAGE = Path(raytrain.__file__).parent
SCHEMA = PACKAGE / "config" / "schema.py"

#: dotted path -> why no attribute access reads it.
ALLOWED: dict[str, str] = {
    "evaluation.metrics": "refused when set (schema validator): `raytrain evaluate` reports them",
    "evaluation.save_predictions": "refused when set (schema validator): `raytrain evaluate`",
    "evaluation.compare_with_baseline": "refused when set (schema validator): `raytrain evaluate`",
    "logging.save_samples": "refused when set (schema validator): visualizations/ draws them",
    "quick": "applied by config.load before validation (the raw mapping's 'quick' key)",
    "training.mode": "a free-form tag: recorded (model_dump) in config.yaml, meta.json, the card",
    "dataset.augmentation.name": "read from model_dump() by data.augment (d.pop('name'))",
    "dataset.sample.image_size": "read as s.image_size, s = cfg.dataset.sample (data.sample)",
    "dataset.sample.seed": "read as s.seed, s = cfg.dataset.sample (data.sample)",
    "search_space.type": "read as entry.type / e.type per search-space entry",
    "scheduler.patience": "read as self.cfg.patience, cfg = the SchedulerSection (train.schedules)",
}


def _models(annotation: typing.Any) -> list[type[BaseModel]]:
    origin = typing.get_origin(annotation)
    if origin is not None:
        return [m for a in typing.get_args(annotation) for m in _models(a)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _fields(cls: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, info in cls.model_fields.items():
        path = f"{prefix}{name}"
        out.append(path)
        for sub in _models(info.annotation):
            if sub is not cls:
                out += _fields(sub, f"{path}.")
    return out


def _source() -> str:
    return "\n".join(p.read_text() for p in PACKAGE.rglob("*.py") if p != SCHEMA)


def test_every_schema_field_is_read_outside_the_schema() -> None:
    source = _source()
    unread = []
    paths = list(dict.fromkeys(_fields(ExperimentConfig)))
    names = [p.rsplit(".", 1)[-1] for p in paths]
    for path in paths:
        if path in ALLOWED:
            continue
        name = path.rsplit(".", 1)[-1]
        if names.count(name) > 1 and "." in path:  # shared by sections: name the section
            parent = path.rsplit(".", 2)[-2]
            patterns: tuple[str, ...] = (
                rf"\.{re.escape(parent)}\.{re.escape(name)}\b",
                re.escape(path),
            )
            if not any(re.search(p, source) for p in patterns):
                unread.append(path)
            continue
        patterns = (
            rf"\.{re.escape(name)}\b",  # cfg.section.field, getattr-free access
            rf"[\"']{re.escape(name)}[\"']",  # a key of a dumped mapping, getattr(x, "field")
            re.escape(path),  # the dotted path in an override or message
        )
        if not any(re.search(p, source) for p in patterns):
            unread.append(path)
    assert not unread, (
        f"schema fields nothing reads (use them, refuse them, or allow-list): {unread}"
    )


def test_allow_list_names_real_fields() -> None:
    fields = set(_fields(ExperimentConfig))
    assert set(ALLOWED) <= fields, set(ALLOWED) - fields


def test_refused_fields_are_refused_when_set() -> None:
    import pytest

    from raytrain.config import load_config_text
    from raytrain.errors import RaytrainError

    base = "model: {architecture: coefficient_optimizer}\n"
    for path, value in (
        ("evaluation.metrics", ["f1"]),
        ("evaluation.save_predictions", True),
        ("evaluation.compare_with_baseline", True),
        ("logging.save_samples", True),
    ):
        with pytest.raises(RaytrainError, match=rf"{path}.*not supported"):
            load_config_text(base, overrides={path: value})
