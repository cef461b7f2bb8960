"""Augmentation from the YAML: named presets or a list of albumentations
transforms with their arguments.

Geometric transforms move edge maps with their image (passed as albumentations' `mask`, which
uses nearest-neighbour interpolation so the map stays binary). Validation data is never
augmented. Normalization is not an augmentation here: the train loop scales uint8 to [0, 1]
on the worker, so the bytes that cross the object store stay 4x smaller.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

from raytrain.errors import RaytrainError, did_you_mean


def _import_albumentations() -> ModuleType:
    """albumentations, minus what it costs a fresh Ray Data task worker to import it.

    Its `__init__` imports `albumentations.pytorch` (for `ToTensorV2`, which raytrain never uses:
    the train loop makes tensors itself), and so torch: 1.1 of its 1.5 s on 2 cores, paid by
    every new task worker before the first batch can be decoded. That import sits in a
    `suppress(ImportError)`, so it is skipped here when torch is not loaded yet; a later
    `import albumentations.pytorch` still works. It also asks PyPI for a newer version on every
    import (up to a 2 s timeout on a cluster without internet): off unless the user set
    `NO_ALBUMENTATIONS_UPDATE`.
    """
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    if "albumentations" in sys.modules or "torch" in sys.modules:
        import albumentations

        return albumentations
    sys.modules["albumentations.pytorch"] = None  # type: ignore[assignment]  # -> ImportError
    try:
        import albumentations
    finally:
        del sys.modules["albumentations.pytorch"]
    return albumentations


A = _import_albumentations()


def _basic() -> list[A.BasicTransform]:
    return [
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.3),
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
    ]


def _advanced() -> list[A.BasicTransform]:
    # The classic preset, in albumentations 2 spelling (ShiftScaleRotate -> Affine,
    # GaussNoise(var_limit=(10, 50)) -> std_range on the 0..1 scale: sqrt(10..50)/255).
    return [
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.3),
        A.Rotate(limit=30, p=0.5),
        A.Affine(translate_percent=(-0.1, 0.1), scale=(0.8, 1.2), rotate=(-30, 30), p=0.5),
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
        A.GaussNoise(std_range=(0.012, 0.028), p=0.3),
        A.GaussianBlur(blur_limit=(3, 7), p=0.3),
    ]


def _domain_specific() -> list[A.BasicTransform]:
    # This preset is for fine-tuning on a new domain: keep the geometry
    # (the pretrained model knows it) and vary appearance more.
    return [
        A.HorizontalFlip(p=0.5),
        A.RandomBrightnessContrast(brightness_limit=0.3, contrast_limit=0.3, p=0.7),
        A.RandomGamma(p=0.3),
        A.GaussNoise(std_range=(0.012, 0.028), p=0.3),
        A.GaussianBlur(blur_limit=(3, 5), p=0.3),
    ]


PRESETS = {
    "none": list,
    "basic": _basic,
    "advanced": _advanced,
    "domain_specific": _domain_specific,
}


def _custom(specs: list[Any]) -> list[A.BasicTransform]:
    out = []
    for i, spec in enumerate(specs):
        d = spec.model_dump() if hasattr(spec, "model_dump") else dict(spec)
        d.update(getattr(spec, "model_extra", None) or {})
        name = d.pop("name")
        cls = getattr(A, name, None)
        if not (isinstance(cls, type) and issubclass(cls, A.BasicTransform)):
            names = [n for n in dir(A) if isinstance(getattr(A, n), type)]
            raise RaytrainError(
                f"dataset.augmentation.{i}.name: unknown albumentations "
                f"transform '{name}'{did_you_mean(name, names)}"
            )
        try:
            out.append(cls(**d))
        except (TypeError, ValueError) as e:
            raise RaytrainError(f"dataset.augmentation.{i} ({name}): {e}") from None
    return out


def build_augmentation(spec: str | list[Any], seed: int | None = None) -> A.Compose | None:
    """An albumentations pipeline for a preset name or a list of transform specs; None = none."""
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise RaytrainError(
                f"dataset.augmentation: unknown preset '{spec}'"
                f"{did_you_mean(spec, PRESETS)}; known: {', '.join(PRESETS)}"
            )
        transforms = PRESETS[spec]()
    else:
        transforms = _custom(spec)
    if not transforms:
        return None
    return A.Compose(transforms, seed=seed)
